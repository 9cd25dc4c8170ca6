"""``/webhooks/``: the workspace's webhook endpoints and delivery log."""

from django.urls import URLPattern, path

from cutout.webhooks import views

urlpatterns: list[URLPattern] = [
    path("", views.webhooks_page, name="webhooks"),
]
