"""Public pages: anonymous usage categories per model under /models/."""

from django.urls import path

from logging_prefs import public_views

urlpatterns = [
    path("", public_views.models_index, name="models_index"),
    # Models are named "author/slug" (openai/gpt-4o); a slug may hold dots and colons
    # (meta-llama/llama-3.1-8b-instruct:free), never a slash.
    path("<str:author>/<str:slug>/", public_views.model_detail, name="model_detail"),
]
