"""Account pages about logging: /account/keys/, /account/privacy/, /account/activity/."""

from django.urls import path

from logging_prefs import views

urlpatterns = [
    path("keys/", views.keys, name="account_keys"),
    path("keys/<int:key_id>/", views.key_detail, name="account_key_detail"),
    path("keys/<int:key_id>/rename/", views.key_rename, name="account_key_rename"),
    path("keys/<int:key_id>/logging/", views.key_logging, name="account_key_logging"),
    path("keys/<int:key_id>/rules/", views.key_rules, name="account_key_rules"),
    path("keys/<int:key_id>/revoke/", views.key_revoke, name="account_key_revoke"),
    path("privacy/", views.privacy, name="account_privacy"),
    path("privacy/retention/", views.privacy_retention, name="account_privacy_retention"),
    path("activity/", views.activity, name="account_activity"),
    path("activity/export.csv", views.activity_csv, name="account_activity_csv"),
    path(
        "activity/<int:generation_id>/",
        views.activity_detail,
        name="account_activity_detail",
    ),
    path(
        "activity/<int:generation_id>/delete-text/",
        views.activity_delete_text,
        name="account_activity_delete_text",
    ),
]
