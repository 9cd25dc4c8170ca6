from django.urls import path

from cutout import views

urlpatterns = [
    path("", views.landing, name="landing"),
    path("app/", views.home, name="home"),
]
