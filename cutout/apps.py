from django.apps import AppConfig


class CutoutConfig(AppConfig):
    name = "cutout"
    verbose_name = "Cutouts"
