from django.apps import AppConfig
from django.conf import settings


class CutoutConfig(AppConfig):
    name = "cutout"
    verbose_name = "Cutouts"

    def ready(self) -> None:
        # The Celery app, created here in every Django process (web, commands, tests) and not on
        # `import cutout`, so that the engine imports without Django or Celery. Creating it makes it
        # Celery's current app: @shared_task tasks then publish with our broker settings.
        import cutout.celery
        import cutout.checks  # noqa: F401  (registers the system checks)

        # Every process (web, worker, command) runs the engine with the configured threads and
        # model folder. Cheap: no model is loaded until first use (or a worker's preload).
        from cutout import engine

        engine.configure(
            threads=settings.CUTOUT_INTRA_OP_THREADS, model_dir=settings.CUTOUT_MODEL_DIR
        )
