"""The account hub under /account/: the hub itself, the profile, the security notices'
"It was me", and the wallets an account signs in with."""

from django.urls import path

from accounts import views, wallet_views

urlpatterns = [
    path("", views.account_home, name="account_home"),
    path("profile/", views.profile, name="account_profile"),
    path(
        "security-notices/dismiss/",
        views.dismiss_security_notices,
        name="account_security_notices_dismiss",
    ),
    path("wallets/", wallet_views.wallet_list, name="account_wallets"),
    path("wallets/add/", wallet_views.wallet_add, name="account_wallet_add"),
    path("wallets/<int:pk>/remove/", wallet_views.wallet_remove, name="account_wallet_remove"),
]
