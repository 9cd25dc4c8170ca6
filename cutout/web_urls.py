from django.urls import URLPattern, URLResolver, path

from cutout import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.landing, name="landing"),
    path("app/", views.home, name="home"),
    path("app/upload", views.upload, name="upload"),
    path("app/library/", views.library, name="library"),
    path("app/cutouts/<str:cutout_id>/", views.cutout_detail, name="cutout_detail"),
    path("app/cutouts/<str:cutout_id>/rerender", views.cutout_rerender, name="cutout_rerender"),
    path(
        "app/cutouts/<str:cutout_id>/download/<str:fmt>",
        views.cutout_download,
        name="cutout_download",
    ),
    path("app/cutouts/<str:cutout_id>/thumb", views.cutout_thumb, name="cutout_thumb"),
    path("app/cutouts/<str:cutout_id>/delete", views.cutout_delete, name="cutout_delete"),
    path("app/batches/", views.batches, name="batches"),
    path("app/batches/<str:job_id>/", views.batch_detail, name="batch_detail"),
    path("app/batches/<str:job_id>/status.json", views.batch_status, name="batch_status"),
    path("app/batches/<str:job_id>/results.zip", views.batch_zip, name="batch_zip"),
    path("app/usage/", views.workspace_usage, name="workspace_usage"),
]
