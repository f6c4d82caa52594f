"""Only what the benchmark drives: /o/token/ and /o/introspect/ (form bodies), plus /healthz."""

from django.http import HttpRequest, JsonResponse
from django.urls import path
from oauth2_provider.views import IntrospectTokenView, TokenView


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


urlpatterns = [
    path("healthz", healthz),
    path("o/token/", TokenView.as_view(), name="token"),
    path("o/introspect/", IntrospectTokenView.as_view(), name="introspect"),
]
