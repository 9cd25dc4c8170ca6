"""The site's URLs. Each room has its own URLconf under its own prefix; read on from there."""

from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path

from cutout import health, scrape, source
from cutout.api import urls as api
from cutout.web.views.home import landing

urlpatterns: list[URLPattern | URLResolver] = [
    path("", landing, name="landing"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.healthz, name="readyz"),
    path("livez", health.livez, name="livez"),
    path("metrics", scrape.metrics_view, name="metrics"),
    path("source", source.source, name="source"),
    path("admin/", admin.site.urls),
    # Accounts at the top level: signup/, login/, logout/, account/, password-reset/,
    # workspaces/, team/, invitations/, api-keys/.
    path("", include("accounts.urls")),
    # Billing: billing/ and staff/usage.
    path("", include("billing.urls")),
    path("app/", include("cutout.web.urls")),
    path("files/", include("cutout.files.urls")),
    path("webhooks/", include("cutout.webhooks.urls")),
    # The API: the native one and its docs, then each drop-in dialect under its own prefix.
    path("api/v1/", include(api.native_patterns)),
    path("api/cutout/", include(api.ailab_patterns)),
    path("api/", include(api.docs_patterns)),
    path("v1/", include(api.v1_patterns)),
    path("v1.0/", include(api.removebg_patterns)),
    path("remove-background/", include(api.clipdrop_patterns)),
    path("img-bg-removal/v1/", include(api.api4ai_patterns)),
]

# Unhandled errors: an outage is a 503 page; unreadable requests answer JSON to JSON clients.
handler500 = "cutout.web.error_pages.server_error"
handler400 = "cutout.web.error_pages.bad_request"
