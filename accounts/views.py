from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from accounts.actions import do_dismiss_security_notices, do_update_profile
from accounts.forms import ProfileForm
from accounts.selectors import account_sections
from portal.redirects import safe_next


@login_required
def account_home(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/home.html", {"sections": account_sections(user=request.user)})


@login_required
@require_http_methods(["GET", "POST"])
def profile(request: HttpRequest) -> HttpResponse:
    form = ProfileForm(request.POST or None, instance=request.user)
    if request.method == "POST" and form.is_valid():
        do_update_profile(
            user=request.user,
            acting_user=request.user,
            display_name=form.cleaned_data["display_name"],
        )
        messages.success(request, "Your profile has been saved.")
        return redirect("account_profile")
    return render(request, "accounts/profile.html", {"form": form})


@login_required
@require_POST
def dismiss_security_notices(request: HttpRequest) -> HttpResponse:
    """The notices' "It was me": the person recognised the changes."""
    do_dismiss_security_notices(user=request.user, acting_user=request.user)
    return redirect(safe_next(request, fallback="account_home"))
