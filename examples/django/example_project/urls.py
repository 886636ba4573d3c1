"""The example's routes."""

from django.urls import path

from example_project.views import Admin, Logout, Me

urlpatterns = [
    path("me", Me.as_view()),
    path("logout", Logout.as_view()),
    path("admin", Admin.as_view()),
]
