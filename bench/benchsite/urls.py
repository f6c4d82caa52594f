"""Heimdall's routes plus `bench/hello`; never part of the product's URLconf."""

from django.urls import include, path

from benchsite.views import hello
from heimdall.urls import handler400, handler403, handler404, handler500  # noqa: F401

urlpatterns = [
    path("bench/hello", hello),
    path("", include("heimdall.urls")),
]
