"""The web app, under ``/app/`` (the landing page is the site's root, see :mod:`cutout.urls`)."""

from django.urls import URLPattern, URLResolver, path

from cutout.web.views import batches, cutouts, editor, home, library, usage

urlpatterns: list[URLPattern | URLResolver] = [
    path("", home.home, name="home"),
    path("upload", home.upload, name="upload"),
    path("library/", library.library, name="library"),
    path("library/undo", library.library_undo, name="library_undo"),
    path("cutouts/<str:cutout_id>/", cutouts.cutout_detail, name="cutout_detail"),
    path("cutouts/<str:cutout_id>/rerender", cutouts.cutout_rerender, name="cutout_rerender"),
    path(
        "cutouts/<str:cutout_id>/download/<str:fmt>",
        cutouts.cutout_download,
        name="cutout_download",
    ),
    path("cutouts/<str:cutout_id>/thumb", cutouts.cutout_thumb, name="cutout_thumb"),
    path("cutouts/<str:cutout_id>/edit.json", editor.cutout_edit_state, name="cutout_edit_state"),
    path("cutouts/<str:cutout_id>/refine", editor.cutout_refine_json, name="cutout_refine"),
    path("cutouts/<str:cutout_id>/delete", cutouts.cutout_delete, name="cutout_delete"),
    path("batches/", batches.batches, name="batches"),
    path("batches/<str:job_id>/", batches.batch_detail, name="batch_detail"),
    path("batches/<str:job_id>/status.json", batches.batch_status, name="batch_status"),
    path("batches/<str:job_id>/results.zip", batches.batch_zip, name="batch_zip"),
    path("batches/<str:job_id>/resume", batches.batch_resume, name="batch_resume"),
    path("usage/", usage.workspace_usage, name="workspace_usage"),
]
