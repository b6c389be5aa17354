"""Sign-In with Ethereum, beside allauth's pages under /accounts/ (DESIGN.md)."""

from django.urls import path

from accounts import wallet_views

urlpatterns = [
    path("nonce/", wallet_views.nonce, name="wallet_nonce"),
    path("login/", wallet_views.login, name="wallet_login"),
    path("signup/", wallet_views.signup, name="wallet_signup"),
    path("reauthenticate/", wallet_views.reauthenticate, name="wallet_reauthenticate"),
]
