"""Routes of the social app, included under /v1 by heimdall.urls."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from social.api import (
    AuthorizeRedirectView,
    CallbackView,
    IdentityProviderViewSet,
    MeIdentitiesView,
    MeIdentityView,
)

router = SimpleRouter(trailing_slash=False, use_regex_path=False)
router.register("identity-providers", IdentityProviderViewSet, basename="identity-provider")

urlpatterns = [
    path("oauth/authorize", AuthorizeRedirectView.as_view()),
    path("oauth/callback", CallbackView.as_view()),
    path("me/identities", MeIdentitiesView.as_view()),
    path("me/identities/<str:identity_id>", MeIdentityView.as_view()),
    *router.urls,
]
