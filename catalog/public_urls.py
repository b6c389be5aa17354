"""The model pages, under /models/: the catalog's models, each with its providers, their
data policies and the anonymous usage categories."""

from django.urls import path

from catalog import views

urlpatterns = [
    path("", views.models_index, name="models_index"),
    # Models are named "author/slug" (openai/gpt-4o); a slug may hold dots and colons
    # (meta-llama/llama-3.1-8b-instruct:free), never a slash.
    path("<str:author>/<str:slug>/", views.model_detail, name="model_detail"),
]
