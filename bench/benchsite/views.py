"""The ceiling: the cheapest JSON response Django can give through Heimdall's middleware."""

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_http_methods


@require_http_methods(["GET", "POST"])
def hello(request: HttpRequest) -> JsonResponse:
    # The body (the bench POSTs the same body as /v1/authorize) is deliberately not parsed.
    return JsonResponse({"hello": "world"})
