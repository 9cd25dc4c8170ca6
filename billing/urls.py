from django.urls import URLPattern, URLResolver, path

from billing import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("billing/", views.billing, name="billing"),
    path("billing/checkout", views.checkout, name="billing_checkout"),
    path("billing/transfer", views.transfer, name="billing_transfer"),
    path("billing/success", views.success, name="billing_success"),
    path("billing/cancel", views.cancel, name="billing_cancel"),
    path("billing/stripe/webhook", views.stripe_webhook, name="stripe_webhook"),
    path("staff/usage", views.usage, name="usage"),
]
