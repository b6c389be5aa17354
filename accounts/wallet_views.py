"""Wallet sign-in (EIP-4361): sign in or sign up, link and unlink wallets, and confirm
it is you before a sensitive change.

Every page offers two ways to sign the portal's message: a browser wallet
(static/js/wallet.js asks it to sign), or by hand, for any wallet or tool that signs
text: give the address, copy the message, paste the signature back. The signed form is
posted the same way in both cases.
"""

from __future__ import annotations

import time

from allauth.account.adapter import get_adapter
from allauth.account.app_settings import EmailVerificationMethod
from allauth.account.models import Login
from allauth.core import ratelimit
from allauth.core.exceptions import ReauthenticationRequired
from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts import wallets
from accounts.actions import (
    LastSignInMethod,
    WalletTaken,
    do_add_wallet,
    do_record_wallet_use,
    do_remove_wallet,
    do_sign_up_with_wallet,
    signs_in_with_password,
)
from accounts.models import User, Wallet
from portal.compat import (
    allauth_ratelimit,
    get_authentication_records,
    is_reauthentication_required,
    perform_login,
    record_authentication,
    resume_request,
)
from portal.redirects import requested_next
from privacy.models import PolicyAcknowledgement, TermsAcknowledgement
from privacy.policy import CURRENT, do_acknowledge_policy
from privacy.terms import CURRENT as CURRENT_TERMS
from privacy.terms import do_acknowledge_terms

SIGNUP_SESSION_KEY = "wallet_signup"
_TOO_MANY = "Too many signature requests from your network: wait a minute and try again."


class SignedMessageForm(forms.Form):
    message = forms.CharField(
        strip=False,
        max_length=wallets.MESSAGE_MAX_LENGTH,
        error_messages={"required": "The signed message is missing."},
    )
    signature = forms.CharField(
        max_length=wallets.SIGNATURE_MAX_LENGTH,
        error_messages={"required": "The signature is missing."},
    )


class WalletSignupForm(forms.Form):
    display_name = forms.CharField(
        max_length=User.DISPLAY_NAME_MAX_LENGTH,
        required=False,
        label="Display name (optional)",
        help_text="How the portal addresses you.",
    )
    age_confirmation = forms.BooleanField(
        label="I am 13 or older",
        error_messages={
            "required": "You must be 13 or older to use Portal (see the privacy policy)."
        },
    )


def _challenge_allowed(request: HttpRequest) -> bool:
    """Counts a challenge against ACCOUNT_RATE_LIMITS["wallet_challenge"]. Challenges
    are made by GET requests, which allauth's public consume() never limits."""
    usage = allauth_ratelimit.consume(
        request, app="allauth.account", action="wallet_challenge", limit_get=True
    )
    return usage is not None


def _first_error(form: forms.Form) -> str:
    return next(iter(form.errors.values()))[0]


def _verify(request: HttpRequest, purpose: str) -> tuple[str | None, str | None]:
    """(address, None) for an accepted signed message in the POST, (None, why) if not."""
    form = SignedMessageForm(request.POST)
    if not form.is_valid():
        request.session.pop(wallets.NONCE_SESSION_KEY, None)
        return None, _first_error(form)
    try:
        address = wallets.verify(
            request,
            purpose=purpose,
            message=form.cleaned_data["message"],
            signature=form.cleaned_data["signature"],
        )
    except wallets.WalletError as exc:
        return None, str(exc)
    return address, None


def _signing_context(request: HttpRequest, purpose: str, **extra) -> dict:
    """The page's two ways to sign: the address step (by hand) and, once an address is
    given, the message with a fresh nonce."""
    context = {"purpose": purpose, "address": "", "message": None, "address_error": None}
    address = request.GET.get("address", "")
    if request.method == "GET" and address:
        context["address"] = address[:100]
        if not _challenge_allowed(request):
            context["address_error"] = _TOO_MANY
        else:
            try:
                context["address"] = wallets.checksum_address(address)
                context["message"] = wallets.challenge(
                    request, purpose=purpose, address=address
                ).message
            except wallets.WalletError as exc:
                context["address_error"] = str(exc)
    context["next"] = requested_next(request) or ""
    context.update(extra)
    return context


def _page(request, template, purpose, *, error=None, status=200, **extra) -> HttpResponse:
    context = _signing_context(request, purpose, error=error, **extra)
    return render(request, template, context, status=status)


@require_GET
def nonce(request: HttpRequest) -> JsonResponse:
    """DESIGN.md: `{"nonce": …}`; given `address`, also the exact `message` to sign."""
    purpose = request.GET.get("purpose", "login")
    if purpose in wallets.PURPOSES and purpose != "login" and not request.user.is_authenticated:
        response = JsonResponse({"error": "Sign in first."}, status=403)
    elif not _challenge_allowed(request):
        response = JsonResponse({"error": _TOO_MANY}, status=429)
    else:
        try:
            challenge = wallets.challenge(
                request, purpose=purpose, address=request.GET.get("address") or None
            )
        except wallets.WalletError as exc:
            response = JsonResponse({"error": str(exc)}, status=400)
        else:
            data = {"nonce": challenge.nonce}
            if challenge.message is not None:
                data["message"] = challenge.message
            response = JsonResponse(data)
    add_never_cache_headers(response)
    return response


def _sign_in(request: HttpRequest, wallet: Wallet, *, signup: bool = False) -> HttpResponse:
    user = wallet.user
    if not user.is_active:
        return get_adapter(request).respond_user_inactive(request, user)
    record_authentication(request, user, method="wallet", address=wallet.address)
    do_record_wallet_use(wallet=wallet)
    # allauth's login flow, so its second-factor step asks an account that has one (a
    # wallet signature alone must not pass it) and its signal lists the session, which
    # is how deletion and termination end it. Not its email-verification step: the
    # wallet's signature is the proof of who signs in, and a wallet account may have no
    # address to verify.
    login = Login(
        user=user,
        email_verification=EmailVerificationMethod.NONE,
        redirect_url=requested_next(request),
        signup=signup,
    )
    return perform_login(request, login)


@require_http_methods(["GET", "POST"])
def login(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect(settings.LOGIN_REDIRECT_URL)
    template = "accounts/wallet_login.html"
    if request.method == "GET":
        return _page(request, template, "login")
    limited = ratelimit.consume_or_429(request, action="login")
    if limited:
        return limited
    address, error = _verify(request, "login")
    if error:
        return _page(request, template, "login", error=error, status=400)
    wallet = Wallet.objects.select_related("user").filter(address=address).first()
    if wallet is not None:
        return _sign_in(request, wallet)
    # A wallet the portal does not know: the person signs up, which needs the
    # 13-or-older confirmation (the policy's children section) first.
    request.session[SIGNUP_SESSION_KEY] = {"address": address, "at": time.time()}
    url = reverse("wallet_signup")
    next_url = requested_next(request)
    return redirect(f"{url}?{urlencode({'next': next_url})}" if next_url else url)


def _pending_signup(request: HttpRequest) -> str | None:
    pending = request.session.get(SIGNUP_SESSION_KEY)
    if (
        not isinstance(pending, dict)
        or time.time() - float(pending.get("at", 0)) > wallets.CHALLENGE_TTL_SECONDS
    ):
        return None
    return pending.get("address")


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect(settings.LOGIN_REDIRECT_URL)
    address = _pending_signup(request)
    if address is None:
        messages.info(request, "Sign the message with your wallet first; it has expired.")
        return redirect("wallet_login")
    if request.method == "POST":
        limited = ratelimit.consume_or_429(request, action="signup")
        if limited:
            return limited
    form = WalletSignupForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            with transaction.atomic():
                user = do_sign_up_with_wallet(
                    address=address, display_name=form.cleaned_data["display_name"]
                )
                # Signing up is done under the policy and the terms in force (the page
                # links them).
                do_acknowledge_policy(
                    user=user, version=CURRENT.version, how=PolicyAcknowledgement.How.SIGNUP
                )
                do_acknowledge_terms(
                    user=user, version=CURRENT_TERMS.version, how=TermsAcknowledgement.How.SIGNUP
                )
        except WalletTaken:
            request.session.pop(SIGNUP_SESSION_KEY, None)
            messages.error(request, "This wallet already has an account: sign in with it.")
            return redirect("wallet_login")
        request.session.pop(SIGNUP_SESSION_KEY, None)
        messages.success(request, "Your account is ready. Welcome to Portal.")
        return _sign_in(request, user.wallets.get(), signup=True)
    status = 400 if request.method == "POST" else 200
    return render(
        request,
        "accounts/wallet_signup.html",
        {"form": form, "address": address, "next": requested_next(request) or ""},
        status=status,
    )


def _other_confirmations(request: HttpRequest) -> list[dict]:
    """The other ways this account can confirm it is you (a password, an authenticator
    app, a passkey), each keeping the page to come back to."""
    next_url = requested_next(request)
    query = f"?{urlencode({'next': next_url})}" if next_url else ""
    return [
        {"description": method["description"], "url": method["url"] + query}
        for method in get_adapter(request).get_reauthentication_methods(request.user)
        if method["id"] != "wallet_reauthenticate"
    ]


@login_required
@require_http_methods(["GET", "POST"])
def reauthenticate(request: HttpRequest) -> HttpResponse:
    template = "accounts/wallet_reauthenticate.html"
    linked = list(request.user.wallets.all())
    if request.method == "GET":
        return _page(
            request,
            template,
            "reauthenticate",
            wallets=linked,
            alternatives=_other_confirmations(request),
        )
    limited = ratelimit.consume_or_429(request, action="reauthenticate", user=request.user)
    if limited:
        return limited
    address, error = _verify(request, "reauthenticate")
    wallet = next((w for w in linked if w.address == address), None)
    if error is None and wallet is None:
        error = "That wallet is not linked to this account; sign with one that is."
    if error:
        return _page(
            request,
            template,
            "reauthenticate",
            error=error,
            status=400,
            wallets=linked,
            alternatives=_other_confirmations(request),
        )
    record_authentication(
        request, request.user, method="wallet", address=address, reauthenticated=True
    )
    do_record_wallet_use(wallet=wallet)
    return resume_request(request) or redirect("account_home")


def _needs_confirmation(request: HttpRequest) -> bool:
    return is_reauthentication_required(request, app="allauth.account")


def _confirm_url(request: HttpRequest) -> str:
    methods = get_adapter(request).get_reauthentication_methods(request.user)
    return (
        f"{methods[0]['url']}?{urlencode({'next': reverse('account_wallets')})}" if methods else ""
    )


def _wallets_page(request: HttpRequest, *, error=None, status=200) -> HttpResponse:
    user = request.user
    needs_confirmation = _needs_confirmation(request)
    return _page(
        request,
        "accounts/wallets.html",
        "link",
        error=error,
        status=status,
        wallets=list(user.wallets.all()),
        password_signs_in=signs_in_with_password(user),
        needs_confirmation=needs_confirmation,
        confirm_url=_confirm_url(request) if needs_confirmation else "",
    )


@login_required
@require_GET
def wallet_list(request: HttpRequest) -> HttpResponse:
    return _wallets_page(request)


@login_required
@require_POST
def wallet_add(request: HttpRequest) -> HttpResponse:
    # Linking adds a way into the account: like adding an email address, it needs a
    # recent confirmation that it is the account's owner at the keyboard, not only
    # proof of owning the wallet. Not by replaying this request after the
    # confirmation (its message's nonce would be spent by then): the page asks again.
    if _needs_confirmation(request):
        request.session.pop(wallets.NONCE_SESSION_KEY, None)
        messages.info(request, "Confirm it is you, then link the wallet.")
        return redirect(_confirm_url(request) or "account_wallets")
    limited = ratelimit.consume_or_429(request, action="manage_email", user=request.user)
    if limited:
        return limited
    address, error = _verify(request, "link")
    if error:
        return _wallets_page(request, error=error, status=400)
    try:
        do_add_wallet(user=request.user, acting_user=request.user, address=address)
    except WalletTaken:
        owner = Wallet.objects.filter(address=address).values_list("user_id", flat=True).first()
        error = (
            "This wallet is already linked to your account."
            if owner == request.user.pk
            else "This wallet is linked to another account. Remove it there first."
        )
        return _wallets_page(request, error=error, status=400)
    messages.success(request, f"Wallet {address} linked: you can sign in with it.")
    return redirect("account_wallets")


@login_required
@require_POST
def wallet_remove(request: HttpRequest, pk: int) -> HttpResponse:
    wallet = get_object_or_404(Wallet, pk=pk, user=request.user)
    if _needs_confirmation(request):
        raise ReauthenticationRequired  # confirmed, the removal goes through
    try:
        ended = do_remove_wallet(
            wallet=wallet, acting_user=request.user, keep_session_key=request.session.session_key
        )
    except LastSignInMethod:
        return _wallets_page(
            request,
            error=(
                f"{wallet.address} is how you sign in: link another wallet, or add and "
                "verify an email address and set a password, before removing it."
            ),
            status=400,
        )
    messages.success(request, _removed_message(request, wallet.address, ended))
    return redirect("account_wallets")


def _removed_message(request: HttpRequest, address: str, ended: int) -> str:
    """What removing a wallet did to the sessions, as it is."""
    if ended == 0:
        sessions = "No other session was signed in with it."
    elif ended == 1:
        sessions = "The other session it signed in has been signed out."
    else:
        sessions = f"The {ended} other sessions it signed in have been signed out."
    this_one = any(
        record.get("address", "").lower() == address.lower()
        for record in get_authentication_records(request, request.user)
    )
    if this_one:
        sessions += " This session, which you signed in with it, stays open until you sign out."
    return f"Wallet {address} removed; it no longer signs you in. {sessions}"
