"""Routes: every API path lives under /v1; probes and docs at the root."""

from pathlib import Path

import drf_spectacular_sidecar
from django.urls import URLPattern, URLResolver, include, path, re_path
from django.views.static import serve
from drf_spectacular.views import SpectacularJSONAPIView, SpectacularSwaggerView

from core import health
from tenants.api import AppDetailView, AppListView, CurrentAppView
from tokens.api import (
    ClientDetailView,
    ClientListView,
    ClientSecretView,
    DiscoveryView,
    IntrospectView,
    JwksView,
    OAuthMetadataView,
    RevokeView,
    TokenView,
)
from tokens.authorize import AuthorizeView

handler400 = "core.errors.handler400"
handler403 = "core.errors.handler403"
handler404 = "core.errors.handler404"
handler500 = "core.errors.handler500"

# The hot paths first: Django tries patterns in order.
v1: list[URLPattern | URLResolver] = [
    path("authorize", AuthorizeView.as_view()),
    path("oauth/token", TokenView.as_view()),
    path("oauth/introspect", IntrospectView.as_view()),
    path("oauth/revoke", RevokeView.as_view()),
    path("apps", AppListView.as_view()),
    path("apps/<str:slug>", AppDetailView.as_view()),
    path("apps/<str:slug>/jwks.json", JwksView.as_view()),
    path("apps/<str:slug>/.well-known/openid-configuration", DiscoveryView.as_view()),
    path("apps/<str:slug>/.well-known/oauth-authorization-server", OAuthMetadataView.as_view()),
    path("app", CurrentAppView.as_view()),
    path("", include("rbac.urls")),  # permissions, roles
    path("", include("accounts.urls")),  # users, me
    path("clients", ClientListView.as_view()),
    path("clients/<str:client_id>", ClientDetailView.as_view()),
    path("clients/<str:client_id>/secrets", ClientSecretView.as_view()),
    path("", include("audit.urls")),  # audit-events
    path("openapi.json", SpectacularJSONAPIView.as_view(), name="openapi"),
]

urlpatterns = [
    path("v1/", include(v1)),
    path("healthz", health.healthz),
    path("readyz", health.readyz),
    path("docs", SpectacularSwaggerView.as_view(url_name="openapi")),
    re_path(
        r"^static/(?P<path>drf_spectacular_sidecar/.+)$",
        serve,
        {"document_root": Path(drf_spectacular_sidecar.__file__).parent / "static"},
    ),
]
