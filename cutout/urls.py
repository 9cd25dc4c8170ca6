from django.contrib import admin
from django.urls import include, path

from cutout import health, source

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("source", source.source, name="source"),
    path("admin/", admin.site.urls),
    path("", include("accounts.urls")),
    path("", include("billing.urls")),
    path("files/", include("cutout.files.urls")),
    path("", include("cutout.webhook_views")),
    path("", include("cutout.api.urls")),
    path("", include("cutout.web_urls")),
]
