"""The site's URLs. Each app's pages come from two kinds of module, named for where they
are included:

- `<app>/account_urls.py`: the pages about one's own account, included under /account/
  (the comment above each include names the pages it brings);
- `<app>/public_urls.py`: the app's pages outside the account, included under the
  prefix given here (/accounts/wallet/, /models/, /legal/).
"""

from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.urls import include, path, re_path

from accounts import address_views
from gateway.api import api as gateway_api
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
    # Sign-In with Ethereum, beside allauth's sign-in pages.
    path("accounts/wallet/", include("accounts.public_urls")),
    # Before allauth's own: the confirmation link under the portal's rule for addresses.
    re_path(
        r"^accounts/confirm-email/(?P<key>[-:\w]+)/$",
        address_views.confirm_email,
        name="account_confirm_email",
    ),
    path("accounts/", include("allauth.urls")),
    # The hub /account/, the profile /account/profile/, the wallets /account/wallets/ and
    # the security notices' "It was me" /account/security-notices/dismiss/.
    path("account/", include("accounts.account_urls")),
    # API keys /account/keys/, logging and provider choices /account/privacy/, and each
    # request with its text /account/activity/.
    path("account/", include("logging_prefs.account_urls")),
    # Download and delete one's data /account/data/, delete the account /account/manage/,
    # and the goodbye page /account/deleted/ (shown signed out).
    path("account/", include("privacy.account_urls")),
    # The catalog's models with their providers, prices and data policies.
    path("models/", include("catalog.public_urls")),
    # /legal/privacy/ (the policy and its versions), /legal/cookies/
    path("legal/", include("privacy.public_urls")),
    # How to reach support, and the form that files a ticket.
    path("contact/", include("support.public_urls")),
    path("admin/", admin.site.urls),
]

handler400 = "portal.views.bad_request"
handler403 = "portal.views.permission_denied"
handler404 = "portal.views.page_not_found"
handler500 = "portal.views.server_error"
