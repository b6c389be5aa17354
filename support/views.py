"""/contact/: how to reach support, and a form that files a ticket (support/README.md).

Anyone may write, signed in or not. The answer is the same page whatever the address
(whether an account holds it is never shown), and each ticket mails a confirmation to
the address given, so filing is rate-limited per visitor (IP) and per address
(ACCOUNT_RATE_LIMITS "contact" and "contact_address", counted in the shared cache).
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from accounts.selectors import verified_addresses
from portal.compat import allauth_ratelimit
from support.actions import do_file_ticket
from support.forms import ContactForm

LIMITED = (
    "Too many messages were sent from here or to this address in a short time, so this "
    "one was not sent. Please wait an hour and try again, or write to us by email."
)


def _allowed(request: HttpRequest, email: str | None) -> bool:
    """Counts the message against the visitor's limit and, for a valid address, the
    address's; False once either is reached."""
    if allauth_ratelimit.consume(request, app="allauth.account", action="contact") is None:
        return False
    if email is None:
        return True
    usage = allauth_ratelimit.consume(
        request, app="allauth.account", action="contact_address", key=email.lower()
    )
    return usage is not None


def _initial(request: HttpRequest) -> dict:
    """A signed-in person's address (the one account mail goes to), filled in."""
    user = request.user
    if user.is_authenticated and user.email:
        addresses = verified_addresses(user)
        if addresses:
            return {"email": addresses[0]}
    return {}


@require_http_methods(["GET", "POST"])
def contact(request: HttpRequest) -> HttpResponse:
    status = 200
    limited = False
    if request.method == "POST":
        form = ContactForm(request.POST)
        valid = form.is_valid()
        email = form.cleaned_data.get("email") if valid else None
        if not _allowed(request, email):
            limited, status = True, 429
        elif valid:
            data = form.cleaned_data
            do_file_ticket(
                kind=data["kind"], email=data["email"], message=data["message"], user=request.user
            )
            return redirect("contact_sent")
    else:
        form = ContactForm(initial=_initial(request))
    context = {"form": form, "limited": LIMITED if limited else ""}
    return render(request, "support/contact.html", context, status=status)


@require_GET
def contact_sent(request: HttpRequest) -> HttpResponse:
    return render(request, "support/contact_sent.html")
