"""``/files/...``: signed, expiring links to stored files (local storage; S3 links go to the bucket)."""

from django.urls import URLPattern, path

from cutout.files import views

urlpatterns: list[URLPattern] = [
    path("<str:token>", views.file_download, name="file_download"),
]
