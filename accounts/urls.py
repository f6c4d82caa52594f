"""Routes of the accounts app: users and the caller's own password."""

from django.urls import path

from accounts.api import (
    MePasswordView,
    UserDetailView,
    UserListView,
    UserPasswordResetView,
    UserReactivateView,
    UserRolesView,
    UserSuspendView,
)

urlpatterns = [
    path("users", UserListView.as_view()),
    path("users/<str:user_id>", UserDetailView.as_view()),
    path("users/<str:user_id>/suspend", UserSuspendView.as_view()),
    path("users/<str:user_id>/reactivate", UserReactivateView.as_view()),
    path("users/<str:user_id>/roles", UserRolesView.as_view()),
    path("users/<str:user_id>/password", UserPasswordResetView.as_view()),
    path("me/password", MePasswordView.as_view()),
]
