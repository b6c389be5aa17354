from __future__ import annotations

from allauth.account.decorators import reauthentication_required
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.db.models import Q
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from portal import regions
from portal.redirects import safe_next
from privacy import analytics, cookies, policy, terms
from privacy.deletion.account import do_delete_account
from privacy.deletion.requests import do_cancel_deletion_request, do_delete_stored_prompts
from privacy.errors import DeletionRequestError
from privacy.export import do_record_data_download, start_download
from privacy.forms import DeleteAccountForm, DeleteStoredPromptsForm
from privacy.models import (
    DeletionRequest,
    PolicyAcknowledgement,
    ServiceProvider,
    TermsAcknowledgement,
)
from privacy.policy import UnknownPolicyVersion, do_acknowledge_policy
from privacy.selectors import (
    data_page_for_user,
    deletion_request_for_user,
)
from privacy.terms import UnknownTermsVersion, do_acknowledge_terms
from privacy.versions import find


def privacy_policy(request: HttpRequest, version: str | None = None) -> HttpResponse:
    """The policy in force, or (at /legal/privacy/<version>/) any published version."""
    return _published(
        request,
        version,
        versions=policy.VERSIONS,
        acknowledgements=PolicyAcknowledgement.objects,
        template="privacy/policy.html",
        unknown="No such version of the privacy policy.",
    )


@require_GET
def cookie_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "privacy/cookies.html",
        {"cookies": cookies.cookies(), "consent": analytics.consent(request)},
    )


def _remember_answer(response: HttpResponse, value: str) -> None:
    response.set_cookie(
        cookies.NOTICE_COOKIE,
        value,
        max_age=cookies.NOTICE_MAX_AGE,
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )


@require_POST
def cookie_notice_read(request: HttpRequest) -> HttpResponse:
    """The cookie notice's "OK" (while no analytics is offered): remember it was read,
    then go back. An answer already given about analytics is kept."""
    response = HttpResponseRedirect(safe_next(request, fallback="home"))
    if analytics.consent(request) is None:
        _remember_answer(response, cookies.NOTICE_READ)
    return response


@require_POST
def cookie_consent(request: HttpRequest) -> HttpResponse:
    """Accept or refuse analytics, from the cookie notice or /legal/cookies/ (a plain
    form: no script needed), then go back. Refusing also deletes the cookies the
    analytics script may have set while it was accepted."""
    answer = request.POST.get("analytics", "")
    site = analytics.configured_site()
    if answer not in (cookies.CONSENT_ACCEPTED, cookies.CONSENT_REFUSED):
        messages.error(request, "Choose to accept or to refuse analytics.")
        return redirect("cookie_list")
    if site is None and answer == cookies.CONSENT_ACCEPTED:
        messages.info(request, "This site runs no analytics: there is nothing to accept.")
        return redirect("cookie_list")
    response = HttpResponseRedirect(safe_next(request, fallback="cookie_list"))
    _remember_answer(response, answer)
    if answer == cookies.CONSENT_REFUSED:
        for name in cookies.analytics_cookie_names(request.COOKIES):
            response.delete_cookie(name, samesite="Lax")
    if site is not None:
        messages.success(
            request,
            f"Analytics accepted: pages now load {site.name}."
            if answer == cookies.CONSENT_ACCEPTED
            else "Analytics refused: pages load nothing from another site.",
        )
    return response


@require_GET
def service_providers(request: HttpRequest) -> HttpResponse:
    """Who we share with: each service provider, with analytics only while configured."""
    site = analytics.configured_site()
    shown = Q(analytics="") | Q(analytics=site.provider) if site else Q(analytics="")
    return render(
        request,
        "privacy/service_providers.html",
        {
            "providers": ServiceProvider.objects.filter(shown),
            "analytics_site": site,
            "consent": analytics.consent(request),
        },
    )


# What /legal/data-location/ names, in the order of portal.regions.data_locations().
_DATA_LOCATION_LABELS = {
    "account": "Your account: email address, sign-ins, API keys, privacy choices, "
    "request metadata and billing records",
    "prompts": "Your stored prompts and completions (only while prompt logging is on)",
    "backups": "Backups of the database",
    "mail": "The mail we send you (our mail provider)",
}


@require_GET
def data_location(request: HttpRequest) -> HttpResponse:
    """Where the account data, the stored prompts, the backups and the mail are kept,
    from the settings (PORTAL_DATA_REGION, PORTAL_BACKUP_REGION, PORTAL_MAIL_REGION)."""
    home = regions.data_region()
    return render(
        request,
        "privacy/data_location.html",
        {
            "data_region_name": regions.data_region_name(),
            "locations": [
                {
                    "what": _DATA_LOCATION_LABELS[what],
                    "region": code,
                    "region_name": name,
                    "abroad": code != home,
                }
                for what, code, name in regions.data_locations()
            ],
        },
    )


def terms_of_service(request: HttpRequest, version: str | None = None) -> HttpResponse:
    """The terms in force, or (at /legal/terms/<version>/) any published version."""
    return _published(
        request,
        version,
        versions=terms.VERSIONS,
        acknowledgements=TermsAcknowledgement.objects,
        template="privacy/terms.html",
        unknown="No such version of the Terms of Service.",
    )


def _published(
    request: HttpRequest, version, *, versions, acknowledgements, template: str, unknown: str
) -> HttpResponse:
    """A versioned document's page (privacy/versions.py): the version in force, or the one
    asked for, with when the signed-in person acknowledged it."""
    shown = versions[-1] if version is None else find(versions, version)
    if shown is None:
        raise Http404(unknown)
    acknowledged_at = None
    if request.user.is_authenticated:
        acknowledged_at = (
            acknowledgements.filter(user=request.user, version=shown.version)
            .values_list("acknowledged_at", flat=True)
            .first()
        )
    return render(
        request,
        template,
        {
            "shown": shown,
            "current": versions[-1],
            "versions": list(reversed(versions)),
            "acknowledged_at": acknowledged_at,
        },
    )


@login_required
@require_POST
def acknowledge_terms(request: HttpRequest) -> HttpResponse:
    """The terms notice's "I have read them": records the version the notice showed."""
    next_url = safe_next(request, fallback="terms_of_service")
    try:
        do_acknowledge_terms(
            user=request.user,
            version=request.POST.get("version", ""),
            how=TermsAcknowledgement.How.NOTICE,
        )
    except UnknownTermsVersion:
        messages.error(request, "That version of the Terms of Service does not exist.")
        return redirect("terms_of_service")
    return HttpResponseRedirect(next_url)


@login_required
@require_POST
def acknowledge_policy(request: HttpRequest) -> HttpResponse:
    """The notice's "I have read it": records the version the notice showed."""
    next_url = safe_next(request, fallback="privacy_policy")
    try:
        do_acknowledge_policy(
            user=request.user,
            version=request.POST.get("version", ""),
            how=PolicyAcknowledgement.How.NOTICE,
        )
    except UnknownPolicyVersion:
        messages.error(request, "That version of the privacy policy does not exist.")
        return redirect("privacy_policy")
    return HttpResponseRedirect(next_url)


# --- Account pages: /account/data/, /account/manage/, /account/deleted/ ---------------
#
# Both pages are behind allauth's reauthentication: opening them asks for the password
# (then comes back to the form), and every POST needs a recent one too (a form left open
# past ACCOUNT_REAUTHENTICATION_TIMEOUT asks again, then allauth replays the POST).

# Set in the fresh, signed-out session after an account deletion: the goodbye page and a
# repeated submission (double click, back button) answer with it.
ACCOUNT_DELETED_SESSION_KEY = "privacy.account_deleted"

_ALREADY_OPEN = (
    "Nothing new was requested: your earlier request to delete stored prompts and "
    "completions (received {received:%d %b %Y, %H:%M} UTC) is still in progress. When it "
    "is done you can ask again; if it has not started yet you can cancel it below."
)


def _render_data_page(request: HttpRequest, form: DeleteStoredPromptsForm) -> HttpResponse:
    return render(
        request,
        "privacy/data.html",
        {"form": form, "page": data_page_for_user(user=request.user)},
    )


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
@reauthentication_required
def account_data(request: HttpRequest) -> HttpResponse:
    """Delete my stored prompts and completions (all, or older than a date), and see
    the progress and receipts of my requests."""
    if request.method == "GET":
        return _render_data_page(request, DeleteStoredPromptsForm())
    form = DeleteStoredPromptsForm(request.POST)
    if not form.is_valid():
        return _render_data_page(request, form)
    deletion, created = do_delete_stored_prompts(
        user=request.user, acting_user=request.user, older_than=form.older_than_moment()
    )
    if not created:
        messages.warning(request, _ALREADY_OPEN.format(received=deletion.received_at))
    else:
        messages.success(
            request,
            "Your request is scheduled: your stored prompts and completions are being "
            "deleted. This page shows its progress"
            + ("; we email you when it is done." if request.user.email else "."),
        )
    return redirect("account_data")


@never_cache
@login_required
@require_GET
@reauthentication_required
def account_data_download(request: HttpRequest) -> HttpResponse:
    """Download your data: every row the personal-data registry lists for you, as one
    JSON file (privacy/export.py), streamed so a large account does not fill memory.
    Behind a recent reauthentication like the rest of the page: the file holds every
    stored prompt. One at a time per account; each one is in the audit trail."""
    user = request.user
    now = timezone.now()
    download = start_download(user_id=user.pk, account=str(user.public_id), exported_at=now)
    if download is None:
        messages.warning(
            request,
            "A download of your data is already running. When it has finished, you can "
            "download again.",
        )
        return redirect("account_data")
    try:
        do_record_data_download(user=user)
    except BaseException:
        download.close()  # nothing was sent: the next click may start again
        raise
    response = StreamingHttpResponse(download, content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="portal-data-{now:%Y-%m-%d}.json"'
    return response


@never_cache
@login_required
@require_POST
@reauthentication_required
def cancel_deletion_request(request: HttpRequest, request_id: int) -> HttpResponse:
    """Cancel my request to delete stored prompts, while it has not started."""
    deletion = deletion_request_for_user(user=request.user, request_id=request_id)
    if deletion is None or deletion.scope != DeletionRequest.Scope.PROMPTS:
        raise Http404("No such request.")
    try:
        do_cancel_deletion_request(deletion_request=deletion, acting_user=request.user)
    except DeletionRequestError:
        deletion.refresh_from_db()
        if deletion.status == DeletionRequest.Status.CANCELLED:
            messages.info(request, "This request was already cancelled.")
        elif deletion.status in (DeletionRequest.Status.RUNNING, DeletionRequest.Status.COMPLETED):
            messages.error(
                request,
                "This request can no longer be cancelled: erasing has already started, and "
                "what is erased cannot be restored.",
            )
        else:
            messages.error(request, "This request can no longer be cancelled.")
    else:
        messages.success(
            request, "Request cancelled. Nothing more will be deleted for this request."
        )
    return redirect("account_data")


@never_cache
@require_http_methods(["GET", "POST"])
def account_manage(request: HttpRequest) -> HttpResponse:
    """Manage account: what deleting the account does, and doing it."""
    if not request.user.is_authenticated:
        if request.session.get(ACCOUNT_DELETED_SESSION_KEY):
            # The same form sent again (a double click, the back button): already done.
            messages.info(request, "Your account has already been deleted; nothing more to do.")
            return redirect("account_deleted")
        return redirect_to_login(request.get_full_path())
    return _account_manage(request)


@reauthentication_required
def _account_manage(request: HttpRequest) -> HttpResponse:
    user = request.user
    form = DeleteAccountForm(request.POST if request.method == "POST" else None, user=user)
    if request.method == "POST" and form.is_valid():
        # Closes the account in one transaction: deactivated, every session ended (this
        # one included), every API key revoked; the purge starts after commit. A second
        # call returns the same request.
        do_delete_account(user=user, acting_user=user)
        # This session is already gone from the store; logging out gives the browser a
        # fresh, anonymous one, so the response saves cleanly and the goodbye page shows.
        logout(request)
        request.session[ACCOUNT_DELETED_SESSION_KEY] = True
        return redirect("account_deleted")
    return render(
        request,
        "privacy/manage.html",
        {"form": form},
    )


@never_cache
@require_GET
def account_deleted(request: HttpRequest) -> HttpResponse:
    """The goodbye page (public: the person is signed out by now)."""
    return render(
        request,
        "privacy/deleted.html",
        {"just_deleted": bool(request.session.get(ACCOUNT_DELETED_SESSION_KEY))},
    )
