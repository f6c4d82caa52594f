"""Routes of the rbac app: permissions and roles."""

from django.urls import path

from rbac.api import PermissionDetailView, PermissionListView, RoleDetailView, RoleListView

urlpatterns = [
    path("permissions", PermissionListView.as_view()),
    path("permissions/<str:name>", PermissionDetailView.as_view()),
    path("roles", RoleListView.as_view()),
    path("roles/<str:name>", RoleDetailView.as_view()),
]
