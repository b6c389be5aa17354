"""Account pages about logging: /account/keys/, /account/privacy/, /account/activity/."""

from django.urls import path

urlpatterns: list = []
