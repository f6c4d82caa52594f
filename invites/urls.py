"""Routes of the invites app, included under /v1 by heimdall.urls."""

from rest_framework.routers import SimpleRouter

from invites.api import InviteViewSet

# List-level actions (lookup, accept) come before the detail route, so they are not ids.
router = SimpleRouter(trailing_slash=False, use_regex_path=False)
router.register("invites", InviteViewSet, basename="invite")

urlpatterns = router.urls
