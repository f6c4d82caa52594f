"""Routes of the audit app, included under /v1 by heimdall.urls."""

from rest_framework.routers import SimpleRouter

from audit.api import AuditEventViewSet

# Path converters, not regexes: the routes read exactly as the hand-written ones did
# (`roles/<str:name>`, dots allowed), and the OpenAPI parameters stay as documented.
router = SimpleRouter(trailing_slash=False, use_regex_path=False)
router.register("audit-events", AuditEventViewSet, basename="audit-event")

urlpatterns = router.urls
