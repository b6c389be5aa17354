"""The legal pages under /legal/: the privacy policy in force and every published
version, its acknowledgement, and the cookie list with its notice."""

from django.urls import path

from privacy import views

urlpatterns = [
    path("cookies/", views.cookie_list, name="cookie_list"),
    path("cookies/ok/", views.cookie_notice_read, name="cookie_notice_read"),
    path("privacy/", views.privacy_policy, name="privacy_policy"),
    path("privacy/acknowledge/", views.acknowledge_policy, name="privacy_policy_acknowledge"),
    path("privacy/<str:version>/", views.privacy_policy, name="privacy_policy_version"),
]
