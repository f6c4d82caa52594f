"""Routes of the rbac app, included under /v1 by heimdall.urls."""

from rest_framework.routers import SimpleRouter

from rbac.api import PermissionViewSet, RoleViewSet

# Path converters, not regexes: the routes read exactly as the hand-written ones did
# (`roles/<str:name>`, dots allowed), and the OpenAPI parameters stay as documented.
router = SimpleRouter(trailing_slash=False, use_regex_path=False)
router.register("permissions", PermissionViewSet, basename="permission")
router.register("roles", RoleViewSet, basename="role")

urlpatterns = router.urls
