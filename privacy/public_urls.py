"""The legal pages under /legal/: the privacy policy and the Terms of Service in force
and every published version, their acknowledgement, the cookie list with its notice and
the analytics choice, and the service providers we share with."""

from django.urls import path

from privacy import views

urlpatterns = [
    path("cookies/", views.cookie_list, name="cookie_list"),
    path("cookies/ok/", views.cookie_notice_read, name="cookie_notice_read"),
    path("cookies/consent/", views.cookie_consent, name="cookie_consent"),
    path("service-providers/", views.service_providers, name="service_providers"),
    path("terms/", views.terms_of_service, name="terms_of_service"),
    path("terms/acknowledge/", views.acknowledge_terms, name="terms_acknowledge"),
    path("terms/<str:version>/", views.terms_of_service, name="terms_of_service_version"),
    path("privacy/", views.privacy_policy, name="privacy_policy"),
    path("privacy/acknowledge/", views.acknowledge_policy, name="privacy_policy_acknowledge"),
    path("privacy/<str:version>/", views.privacy_policy, name="privacy_policy_version"),
]
