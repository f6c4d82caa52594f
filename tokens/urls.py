"""Routes of the tokens app: the OAuth endpoints, authorize, keys and discovery, clients, me.

The hot paths come first (Django tries patterns in order)."""

from django.urls import path

from tokens.authorize import AuthorizeView
from tokens.clients_api import router as clients_router
from tokens.keys_api import DiscoveryView, JwksView, OAuthMetadataView
from tokens.me_api import MeView
from tokens.oauth_api import IntrospectView, RevokeView, TokenView

hot_paths = [
    path("authorize", AuthorizeView.as_view()),
    path("oauth/token", TokenView.as_view()),
    path("oauth/introspect", IntrospectView.as_view()),
    path("oauth/revoke", RevokeView.as_view()),
]

urlpatterns = [
    path("apps/<str:slug>/jwks.json", JwksView.as_view()),
    path("apps/<str:slug>/.well-known/openid-configuration", DiscoveryView.as_view()),
    path("apps/<str:slug>/.well-known/oauth-authorization-server", OAuthMetadataView.as_view()),
    path("me", MeView.as_view()),
    *clients_router.urls,
]
