"""allauth's email-confirmation page under the portal's rule: an address added to an
account that already has a way in is confirmed only from a session of that account
(accounts.selectors.confirmation_needs_account_session)."""

from __future__ import annotations

from allauth.account.views import ConfirmEmailView
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.http import urlencode

from accounts.selectors import confirmation_needs_account_session


class AccountSessionConfirmEmailView(ConfirmEmailView):
    def _refusal(self) -> str | None:
        """Why this session may not confirm the address, or None when it may."""
        if self.object is None or not confirmation_needs_account_session(self.object.email_address):
            return None
        user = self.request.user
        if user.is_authenticated and user.pk == self.object.email_address.user_id:
            return None
        return "other_account" if user.is_authenticated else "sign_in"

    def get(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        try:
            self.object = self.get_object()
        except Http404:
            self.object = None
        refusal = self._refusal()
        if refusal is None:
            return super().get(request, *args, **kwargs)
        return self._refuse(refusal, status=200)

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        try:
            self.object = self.get_object()
        except Http404:
            self.object = None
        refusal = self._refusal()
        if refusal is None:
            return super().post(request, *args, **kwargs)
        return self._refuse(refusal, status=403)

    def _refuse(self, refusal: str, *, status: int) -> HttpResponse:
        # Neither the account nor its other ways in are named: the reader of this page
        # may be the address's owner, who never asked for it to be added.
        login_url = reverse("account_login")
        context = self.get_context_data()
        context.update(
            {
                "refusal": refusal,
                "can_confirm": False,
                "login_url": f"{login_url}?{urlencode({REDIRECT_FIELD_NAME: self.request.path})}",
            }
        )
        return self.render_to_response(context, status=status)


confirm_email = AccountSessionConfirmEmailView.as_view()
