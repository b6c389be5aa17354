"""Account pages about logging: API keys, privacy choices and activity.

Views read through logging_prefs.selectors and write only through the actions.
"""

from __future__ import annotations

import csv
import datetime as dt

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core import signing
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.actions import do_create_api_key, do_rename_api_key, do_revoke_api_key
from accounts.models import ApiKey
from catalog.privacy_price import catalog_price_of_privacy
from logging_prefs.actions import (
    do_set_api_key_logging,
    do_set_api_key_provider_rules,
    do_set_logging_preferences,
    do_set_text_retention,
)
from logging_prefs.activity_rows import period_rows, request_rows
from logging_prefs.charts import buckets, usage_charts
from logging_prefs.eligibility import effective_provider_policy
from logging_prefs.forms import (
    ACTIVITY_PERIODS,
    DEFAULT_ACTIVITY_PERIOD,
    KEY_RULES_HELP,
    LOG_PROMPTS_LABEL,
    PROVIDER_POLICY_CHOICES,
    TEXT_RETENTION_LABEL,
    ActivityFilterForm,
    ApiKeyCreateForm,
    ApiKeyLoggingForm,
    ApiKeyProviderRulesForm,
    ApiKeyRenameForm,
    ApiKeyRevokeForm,
    PrivacyForm,
    TextRetentionForm,
    in_region_label,
    key_rule_choices,
)
from logging_prefs.models import Generation, LoggingPreference
from logging_prefs.selectors import (
    ActivityFilters,
    activity_page_for_user,
    activity_rows_for_user,
    api_key_for_user,
    api_key_queryset_for_user,
    api_keys_for_user,
    generation_for_user,
    logging_preference_for_user,
    preference_history_for_user,
    recent_models_for_user,
    usage_summary_for_user,
)
from portal import regions
from privacy.deletion.one_request import do_delete_generation_text

# The raw key of a just-created key waits here for exactly one display.
NEW_KEY_SESSION_KEY = "logging_prefs.new_api_key"


def _posted(request: HttpRequest):
    """The POST data, or None for a GET. Not `request.POST or None`: an empty POST (every
    box unticked, no field sent) must still bind the form and be validated."""
    return request.POST if request.method == "POST" else None


# --- API keys ------------------------------------------------------------------------


def _taken_names(keys: list[ApiKey], *, exclude: ApiKey | None = None) -> set[str]:
    return {
        key.name.casefold()
        for key in keys
        if key.is_active and (exclude is None or key.pk != exclude.pk)
    }


def _own_key_or_404(request: HttpRequest, key_id: int) -> ApiKey:
    api_key = api_key_for_user(user=request.user, key_id=key_id)
    if api_key is None:
        raise Http404("No such key.")
    return api_key


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def keys(request: HttpRequest) -> HttpResponse:
    user_keys = api_keys_for_user(user=request.user)
    form = ApiKeyCreateForm(_posted(request), taken_names=_taken_names(user_keys))
    if request.method == "POST" and form.is_valid():
        api_key, raw_key = do_create_api_key(
            user=request.user,
            acting_user=request.user,
            name=form.cleaned_data["name"],
            logging=form.cleaned_data["logging"],
            provider_rules=form.key_rules(),
        )
        # Kept server-side in the session, never in a URL or a message, and removed
        # by the very next display of this page.
        request.session[NEW_KEY_SESSION_KEY] = {
            "id": api_key.pk,
            "name": api_key.name,
            "raw": raw_key,
        }
        messages.success(request, f"Key “{api_key.name}” created.")
        return redirect("account_keys")
    for api_key in user_keys:
        api_key.rules_summary = key_rules_summary(api_key)
    new_key = request.session.pop(NEW_KEY_SESSION_KEY, None) if request.method == "GET" else None
    return render(
        request,
        "logging_prefs/keys.html",
        {
            "keys": user_keys,
            "form": form,
            "new_key": new_key,
            "preference": logging_preference_for_user(user=request.user),
            "key_rules_help": KEY_RULES_HELP,
        },
    )


def _render_key_page(
    request: HttpRequest,
    api_key: ApiKey,
    *,
    rename_form: ApiKeyRenameForm | None = None,
    logging_form: ApiKeyLoggingForm | None = None,
    rules_form: ApiKeyProviderRulesForm | None = None,
) -> HttpResponse:
    preference = logging_preference_for_user(user=request.user)
    return render(
        request,
        "logging_prefs/key_detail.html",
        {
            "key": api_key,
            "rename_form": rename_form
            or ApiKeyRenameForm(initial={"name": api_key.name}, taken_names=set()),
            "logging_form": logging_form or ApiKeyLoggingForm(initial={"logging": api_key.logging}),
            "rules_form": rules_form or ApiKeyProviderRulesForm(initial=api_key.provider_rules()),
            "region_name": regions.data_region_name(),
            "preference": preference,
            "effective_rules": effective_rules_rows(preference, api_key),
            "key_rules_summary": key_rules_summary(api_key),
            "key_rules_help": KEY_RULES_HELP,
        },
    )


_REVOKED_ERROR = "This key is revoked; it can no longer be changed."


@login_required
@require_GET
def key_detail(request: HttpRequest, key_id: int) -> HttpResponse:
    return _render_key_page(request, _own_key_or_404(request, key_id))


@login_required
@require_POST
def key_rename(request: HttpRequest, key_id: int) -> HttpResponse:
    api_key = _own_key_or_404(request, key_id)
    taken = _taken_names(api_keys_for_user(user=request.user), exclude=api_key)
    form = ApiKeyRenameForm(request.POST, taken_names=taken)
    if not api_key.is_active:
        form.is_valid()
        form.add_error(None, _REVOKED_ERROR)
    elif form.is_valid():
        if form.cleaned_data["name"] == api_key.name:
            messages.info(request, "The name is unchanged.")
        else:
            do_rename_api_key(
                api_key=api_key, acting_user=request.user, name=form.cleaned_data["name"]
            )
            messages.success(request, f"Key renamed to “{api_key.name}”.")
        return redirect("account_key_detail", key_id=api_key.pk)
    return _render_key_page(request, api_key, rename_form=form)


@login_required
@require_POST
def key_logging(request: HttpRequest, key_id: int) -> HttpResponse:
    api_key = _own_key_or_404(request, key_id)
    form = ApiKeyLoggingForm(request.POST)
    if not api_key.is_active:
        form.is_valid()
        form.add_error(None, _REVOKED_ERROR)
    elif form.is_valid():
        change = do_set_api_key_logging(
            api_key=api_key, acting_user=request.user, logging=form.cleaned_data["logging"]
        )
        if change is None:
            messages.info(request, "The key’s logging setting is unchanged.")
        else:
            messages.success(
                request,
                f"Logging for “{api_key.name}” is now “{api_key.get_logging_display()}”.",
            )
        return redirect("account_key_detail", key_id=api_key.pk)
    return _render_key_page(request, api_key, logging_form=form)


def key_rules_summary(api_key: ApiKey) -> str:
    """The key's own provider rules in a few words, as the keys list shows them."""
    words = {
        "zdr_only": "zero-data-retention only",
        "no_training": "no training",
        "in_region_only": f"only {regions.data_region_name()}",
    }
    on = [words[name] for name, value in api_key.provider_rules().items() if value]
    return ", ".join(on).capitalize() if on else "As my account"


def effective_rules_rows(preference: LoggingPreference, api_key: ApiKey) -> list[dict]:
    """Each provider choice as the account makes it and as it holds for this key (the
    account's, narrowed by the key's own rules), in the privacy page's words."""
    effective = effective_provider_policy(preference.provider_policy(), api_key.provider_rules())
    labels = {name: label for name, (label, _) in PROVIDER_POLICY_CHOICES.items()}
    labels["in_region_only"] = in_region_label()
    rows = []
    for name in LoggingPreference.PROVIDER_POLICY_FIELDS:
        account = getattr(preference, name)
        rows.append(
            {
                "label": labels[name],
                "account": _value_label(name, "on" if account else "off"),
                "key": _value_label(name, "on" if effective[name] else "off"),
                "narrowed": effective[name] != account,
            }
        )
    return rows


@login_required
@require_POST
def key_rules(request: HttpRequest, key_id: int) -> HttpResponse:
    api_key = _own_key_or_404(request, key_id)
    form = ApiKeyProviderRulesForm(request.POST)
    if not api_key.is_active:
        form.is_valid()
        form.add_error(None, _REVOKED_ERROR)
    elif form.is_valid():
        changes = do_set_api_key_provider_rules(
            api_key=api_key, acting_user=request.user, changes=form.key_rules()
        )
        if not changes:
            messages.info(request, "The key’s provider rules are unchanged.")
        else:
            labels = key_rule_choices()
            for change in changes:
                rule = change.setting.removeprefix("key_")
                state = "on" if getattr(api_key, rule) else "off, as your account"
                messages.success(request, f"“{api_key.name}”: {labels[rule][0]} is now {state}.")
        return redirect("account_key_detail", key_id=api_key.pk)
    return _render_key_page(request, api_key, rules_form=form)


@login_required
@require_http_methods(["GET", "POST"])
def key_revoke(request: HttpRequest, key_id: int) -> HttpResponse:
    api_key = _own_key_or_404(request, key_id)
    form = ApiKeyRevokeForm(_posted(request))
    if request.method == "POST" and form.is_valid():
        if do_revoke_api_key(api_key=api_key, acting_user=request.user):
            messages.success(request, f"Key “{api_key.name}” revoked.")
        else:
            messages.info(request, f"Key “{api_key.name}” was already revoked.")
        return redirect("account_keys")
    return render(request, "logging_prefs/key_revoke.html", {"key": api_key, "form": form})


# --- Privacy ---------------------------------------------------------------------------

_SETTING_LABELS = {
    "log_prompts": LOG_PROMPTS_LABEL,
    **{name: label for name, (label, _) in PROVIDER_POLICY_CHOICES.items()},
    "text_retention_days": TEXT_RETENTION_LABEL,
}
_KEY_LOGGING_VALUES = dict(ApiKey.Logging.choices)


def _value_label(setting: str, value: str) -> str:
    if setting == "text_retention_days":
        return _days(int(value)) if value.isdigit() else value
    if setting == "key_logging":
        return _KEY_LOGGING_VALUES.get(value, value)
    if setting.startswith("key_") and setting[4:] in ApiKey.PROVIDER_RULE_FIELDS:
        return {"on": "On", "off": "As my account"}.get(value, value)
    if setting.startswith("allow_"):
        return {"on": "Allowed", "off": "Not allowed"}.get(value, value)
    return {"on": "On", "off": "Off"}.get(value, value)


def _history_rows(changes) -> list[dict]:
    key_rules = key_rule_choices()
    rows = []
    for change in changes:
        if change.setting == "key_logging":
            key = change.api_key
            setting = "Prompt logging of key"
            key_label = f"{key.name} ({key.prefix}…)" if key else "a deleted key"
        elif change.setting.startswith("key_") and change.setting[4:] in key_rules:
            key = change.api_key
            setting = key_rules[change.setting[4:]][0]
            key_label = f"{key.name} ({key.prefix}…)" if key else "a deleted key"
        elif change.setting == "in_region_only":
            setting = in_region_label()
            key_label = ""
        else:
            setting = _SETTING_LABELS.get(change.setting, change.setting)
            key_label = ""
        if change.actor_is_user:
            who = "You"
        elif change.actor_id is not None:
            who = "Support"
        else:
            who = "The portal (automatic)"
        rows.append(
            {
                "changed_at": change.changed_at,
                "setting": setting,
                "key": key_label,
                "old": _value_label(change.setting, change.old_value),
                "new": _value_label(change.setting, change.new_value),
                "who": who,
            }
        )
    return rows


def _render_privacy(
    request: HttpRequest,
    preference: LoggingPreference,
    form: PrivacyForm,
    retention_form: TextRetentionForm,
) -> HttpResponse:
    history = preference_history_for_user(user=request.user)
    price_of_privacy = [
        {
            "label": form[effect.choice].label,
            "now": getattr(preference, effect.choice),
            "effect": effect,
        }
        for effect in catalog_price_of_privacy(preference.provider_policy())
    ]
    return render(
        request,
        "logging_prefs/privacy.html",
        {
            "price_of_privacy": price_of_privacy,
            "form": form,
            "retention_form": retention_form,
            "preference": preference,
            "history": _history_rows(history.changes),
            "history_total": history.total,
            "retention_days": preference.retention_days,
            "longest_retention_days": settings.PORTAL_PROMPT_RETENTION_DAYS,
            "activity_retention_days": settings.PORTAL_ACTIVITY_RETENTION_DAYS,
            "data_region_name": regions.data_region_name(),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def privacy(request: HttpRequest) -> HttpResponse:
    preference = logging_preference_for_user(user=request.user)
    form = PrivacyForm(_posted(request), initial=PrivacyForm.initial_from(preference))
    if request.method == "POST" and form.is_valid():
        changes = do_set_logging_preferences(
            user=request.user,
            acting_user=request.user,
            changes={name: form.cleaned_data[name] for name in LoggingPreference.FIELDS},
        )
        if changes:
            messages.success(request, "Your privacy choices have been saved.")
        else:
            messages.info(request, "Nothing changed: your privacy choices were already these.")
        return redirect("account_privacy")
    retention_form = TextRetentionForm(current=preference.retention_days)
    return _render_privacy(request, preference, form, retention_form)


@login_required
@require_POST
def privacy_retention(request: HttpRequest) -> HttpResponse:
    """How long the account's stored prompts and completions are kept."""
    preference = logging_preference_for_user(user=request.user)
    retention_form = TextRetentionForm(request.POST, current=preference.retention_days)
    if not retention_form.is_valid():
        form = PrivacyForm(initial=PrivacyForm.initial_from(preference))
        return _render_privacy(request, preference, form, retention_form)
    old = preference.retention_days
    days = retention_form.cleaned_data["days"]
    change = do_set_text_retention(user=request.user, acting_user=request.user, days=days)
    if change is None:
        messages.info(request, f"Nothing changed: your stored text was already kept {_days(days)}.")
    elif days < old:
        messages.success(
            request,
            f"Saved: your stored prompts and completions are now kept {_days(days)}. Text "
            "already stored that is older than that is deleted at the next nightly "
            "clean-up, and no longer used meanwhile.",
        )
    else:
        messages.success(
            request,
            f"Saved: your stored prompts and completions are now kept {_days(days)}. Text "
            "already deleted stays deleted.",
        )
    return redirect(f"{reverse('account_privacy')}#retention-title")


def _days(n: int) -> str:
    return f"{n} day" if n == 1 else f"{n} days"


# --- Activity --------------------------------------------------------------------------

_CURSOR_SALT = "logging_prefs.activity.cursor"
_CURSOR_MAX_LENGTH = 200


class BadCursor(ValueError):
    pass


def encode_cursor(position: tuple[dt.datetime, int]) -> str:
    """An opaque, signed token for "older than this row" (no id or time in clear)."""
    created_at, pk = position
    return signing.dumps([created_at.isoformat(), pk], salt=_CURSOR_SALT, compress=True)


def decode_cursor(token: str) -> tuple[dt.datetime, int]:
    if len(token) > _CURSOR_MAX_LENGTH:
        raise BadCursor("too long")
    try:
        value = signing.loads(token, salt=_CURSOR_SALT)
    except (signing.BadSignature, ValueError, TypeError, UnicodeError) as exc:
        raise BadCursor("bad signature") from exc
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not isinstance(value[0], str)
        or not isinstance(value[1], int)
        or isinstance(value[1], bool)
        or not 0 < value[1] < 2**63
    ):
        raise BadCursor("bad shape")
    try:
        created_at = dt.datetime.fromisoformat(value[0])
    except ValueError as exc:
        raise BadCursor("bad time") from exc
    if created_at.tzinfo is None:
        raise BadCursor("naive time")
    return created_at, value[1]


def _chart_range(filters: ActivityFilters) -> tuple[dt.date | None, dt.date]:
    """The first and last day the chart shows (first None: from the first request)."""
    first = filters.created_from.astimezone(dt.UTC).date() if filters.created_from else None
    if filters.created_before is not None:
        last = filters.created_before.astimezone(dt.UTC).date() - dt.timedelta(days=1)
    else:
        last = timezone.now().astimezone(dt.UTC).date()
    return first, last


@login_required
@require_GET
def activity(request: HttpRequest) -> HttpResponse:
    keys_queryset = api_key_queryset_for_user(user=request.user)
    form = ActivityFilterForm(request.GET, keys=keys_queryset)
    before = None
    token = request.GET.get("cursor", "")
    if token:
        try:
            before = decode_cursor(token)
        except BadCursor:
            messages.error(
                request,
                "That page link is not valid (it may be damaged); showing your newest requests.",
            )
    page = None
    next_url = None
    summary = charts = None
    unit, bars = "day", []
    if form.is_valid():
        filters = ActivityFilters(**form.as_filters())
        page = activity_page_for_user(user=request.user, filters=filters, before=before)
        summary = usage_summary_for_user(user=request.user, filters=filters)
        if summary.total.requests:
            unit, bars = buckets(summary.by_day, *_chart_range(filters))
            charts = usage_charts(bars, unit)
        if page.next_position is not None:
            query = request.GET.copy()
            query["cursor"] = encode_cursor(page.next_position)
            next_url = f"{reverse('account_activity')}?{query.urlencode()}"
    first_url = None
    if before is not None:
        query = request.GET.copy()
        query.pop("cursor", None)
        first_url = f"{reverse('account_activity')}?{query.urlencode()}"
    # The period the select shows (the default while the form is in error).
    period = DEFAULT_ACTIVITY_PERIOD
    if form.is_valid():
        period = form.cleaned_data.get("period") or DEFAULT_ACTIVITY_PERIOD
    return render(
        request,
        "logging_prefs/activity.html",
        {
            "form": form,
            "requests": request_rows(page.generations) if page else [],
            "next_url": next_url,
            "first_url": first_url,
            "recent_models": recent_models_for_user(user=request.user),
            "summary": summary,
            "charts": charts,
            "unit": unit,
            "period_rows": period_rows(bars, unit),
            "period": period,
            "period_label": _period_label(form),
            "activity_retention_days": settings.PORTAL_ACTIVITY_RETENTION_DAYS,
            "csv_url": f"{reverse('account_activity_csv')}?{_filter_query(request)}",
        },
    )


def _period_label(form: ActivityFilterForm) -> str:
    """The period the totals are for, in words."""
    if not form.is_valid():
        return ""
    data = form.cleaned_data
    date_from, date_to = data.get("date_from"), data.get("date_to")
    if date_from and date_to:
        return f"{date_from:%-d %b %Y} to {date_to:%-d %b %Y}"
    if date_from:
        return f"Since {date_from:%-d %b %Y}"
    if date_to:
        return f"Up to {date_to:%-d %b %Y}"
    return ACTIVITY_PERIODS[data.get("period") or DEFAULT_ACTIVITY_PERIOD][0]


def _filter_query(request: HttpRequest) -> str:
    """The request's filters as a query string, without the page cursor."""
    query = request.GET.copy()
    query.pop("cursor", None)
    return query.urlencode()


# Spreadsheets run a cell that starts with one of these as a formula: text that starts
# with one (an app title is whatever the caller sent) gets a leading apostrophe.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(value: object) -> object:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


class _Echo:
    """A file-like object whose write() hands back the line csv.writer wrote."""

    def write(self, value: str) -> str:
        return value


_CSV_HEADER = (
    "time_utc",
    "request_id",
    "model",
    "provider",
    "app_title",
    "app_url",
    "key_name",
    "key_prefix",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
    # Whether the text is stored, and if not why (never the text itself).
    "text_state",
    # "ok", or "error" for a provider call that failed, with the kind of failure.
    "status",
    "error_type",
)


@never_cache
@login_required
@require_GET
def activity_csv(request: HttpRequest) -> HttpResponse:
    """The activity with the page's filters as CSV: metadata only, never the text.

    Streamed: the rows come from a server-side cursor a chunk at a time and go out as
    they come, so memory stays bounded whatever the number of rows. Bad filters send
    the person back to the page, which names them."""
    keys_queryset = api_key_queryset_for_user(user=request.user)
    form = ActivityFilterForm(request.GET, keys=keys_queryset)
    if not form.is_valid():
        return redirect(f"{reverse('account_activity')}?{_filter_query(request)}")
    rows = activity_rows_for_user(user=request.user, filters=ActivityFilters(**form.as_filters()))
    writer = csv.writer(_Echo())

    def lines():
        yield writer.writerow(_CSV_HEADER)
        for row in rows:
            yield writer.writerow([_csv_cell(value) for value in row])

    today = timezone.now().astimezone(dt.UTC).date()
    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="activity-{today}.csv"'
    return response


@login_required
@require_GET
def activity_detail(request: HttpRequest, generation_id: int) -> HttpResponse:
    generation = generation_for_user(user=request.user, generation_id=generation_id)
    if generation is None:
        raise Http404("No such request.")
    preference = logging_preference_for_user(user=request.user)
    return render(
        request,
        "logging_prefs/activity_detail.html",
        {"generation": generation, "retention_days": preference.retention_days},
    )


@login_required
@require_POST
def activity_delete_text(request: HttpRequest, generation_id: int) -> HttpResponse:
    """Delete this one request's prompt and completion now (the receipt goes to
    /account/data/). Another person's request, or an unknown id, is a 404; a request
    whose text is already gone changes nothing."""
    try:
        deletion = do_delete_generation_text(
            user=request.user, acting_user=request.user, generation_id=generation_id
        )
    except Generation.DoesNotExist:
        raise Http404("No such request.") from None
    if deletion is None:
        messages.info(request, "Nothing to delete: this request holds no prompt or completion.")
    else:
        messages.success(
            request,
            "The prompt and completion of this request are deleted. The receipt is under "
            "Your data.",
        )
    return redirect("account_activity_detail", generation_id=generation_id)
