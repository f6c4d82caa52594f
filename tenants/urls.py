"""Routes of the tenants app: the caller's own App."""

from django.urls import path

from tenants.api import CurrentAppView

urlpatterns = [
    path("app", CurrentAppView.as_view()),
]
