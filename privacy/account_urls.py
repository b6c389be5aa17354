"""Account pages about rights: /account/data/ and /account/manage/, and the public
goodbye page /account/deleted/ shown once the account is deleted (signed out)."""

from django.urls import path

from privacy import views

urlpatterns = [
    path("data/", views.account_data, name="account_data"),
    path("data/download/", views.account_data_download, name="account_data_download"),
    path(
        "data/requests/<int:request_id>/cancel/",
        views.cancel_deletion_request,
        name="account_deletion_request_cancel",
    ),
    path("manage/", views.account_manage, name="account_manage"),
    path("deleted/", views.account_deleted, name="account_deleted"),
]
