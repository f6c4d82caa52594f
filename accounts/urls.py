"""Routes of the accounts app, included under /v1 by heimdall.urls (`/v1/me` is tokens')."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from accounts.api import MePasswordView, UserViewSet

# Path converters, not regexes: the routes read exactly as the hand-written ones did
# (`roles/<str:name>`, dots allowed), and the OpenAPI parameters stay as documented.
router = SimpleRouter(trailing_slash=False, use_regex_path=False)
router.register("users", UserViewSet, basename="user")

urlpatterns = [
    *router.urls,
    path("me/password", MePasswordView.as_view()),
]
