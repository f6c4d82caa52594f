"""Heimdall's routes plus `bench/hello`; never part of the product's URLconf."""

from django.urls import path

from benchsite.views import hello
from heimdall.urls import handler400, handler403, handler404, handler500  # noqa: F401
from heimdall.urls import urlpatterns as heimdall_urlpatterns

# Heimdall's own patterns, not an include of them: an include would add a resolver level to every
# request, so the benchmark would measure a deeper URL resolution than production has.
urlpatterns = [
    path("bench/hello", hello),
    *heimdall_urlpatterns,
]
