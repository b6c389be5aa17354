from django.urls import path

from privacy import views

urlpatterns = [
    path("privacy/", views.privacy_policy, name="privacy_policy"),
    path("privacy/acknowledge/", views.acknowledge_policy, name="privacy_policy_acknowledge"),
    path("privacy/<str:version>/", views.privacy_policy, name="privacy_policy_version"),
]
