from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.urls import include, path, re_path

from accounts import address_views
from logging_prefs.api import api as gateway_api
from portal import views
from portal.middleware import GATEWAY_API_PATH

admin.site.site_header = "Portal support"
admin.site.site_title = "Portal support"
admin.site.index_title = "Requests, accounts and records"
# Staff sign in where everyone does: allauth's rate-limited sign-in with its second-factor
# step. The admin's own form has neither; a signed-in person who is not staff gets a 403.
admin.site.login = secure_admin_login(admin.site.login)

urlpatterns = [
    # First: the gateway's calls (its hot path) are resolved without trying the others.
    path(GATEWAY_API_PATH.removeprefix("/"), gateway_api.urls),
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("accounts/wallet/", include("accounts.wallet_urls")),
    # Before allauth's own: the confirmation link under the portal's rule for addresses.
    re_path(
        r"^accounts/confirm-email/(?P<key>[-:\w]+)/$",
        address_views.confirm_email,
        name="account_confirm_email",
    ),
    path("accounts/", include("allauth.urls")),
    path("account/", include("accounts.urls")),
    path("account/", include("logging_prefs.urls")),
    path("account/", include("privacy.account_urls")),
    path("models/", include("logging_prefs.public_urls")),
    path("legal/", include("privacy.urls")),
    path("admin/", admin.site.urls),
]

handler400 = "portal.views.bad_request"
handler403 = "portal.views.permission_denied"
handler404 = "portal.views.page_not_found"
handler500 = "portal.views.server_error"
