"""Batch jobs: a batch of images sharing one set of engine options, processed on workers.

- :mod:`~cutout.jobs.intake`: reading what was sent (image files or one ZIP) against the bounds;
- :mod:`~cutout.jobs.services`: accepting a batch, queueing its items, closing the job;
- :mod:`~cutout.jobs.processing`: one item on a worker, exactly once;
- :mod:`~cutout.jobs.results`: the results ZIP;
- :mod:`~cutout.jobs.selectors`: progress and the workspace's jobs;
- :mod:`~cutout.jobs.sweeps`: queueing again what a lost task left waiting.
"""
