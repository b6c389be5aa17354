"""Public pages: anonymous usage categories per model under /models/."""

from django.urls import path

urlpatterns: list = []
