"""Forms of the account pages about logging. Every bad input is a form error."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts.models import ApiKey
from logging_prefs.models import Generation, LoggingPreference
from portal import regions

# --- API keys ------------------------------------------------------------------------

KEY_LOGGING_HELP = (
    "“As my account” stores prompts and completions only while your account’s privacy "
    "setting allows it. “Never log” never stores them for this key, whatever the "
    "account setting. A key can make logging stricter than your account, never looser."
)


def _clean_key_name(value: str, taken: set[str]) -> str:
    name = " ".join(value.split())
    if not name:
        raise ValidationError("Enter a name for the key.")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise ValidationError("The name cannot contain control characters.")
    if name.casefold() in taken:
        raise ValidationError(
            "You already have an active key with this name. Choose another name, so you "
            "can tell your keys apart."
        )
    return name


class _KeyNameMixin:
    def clean_name(self) -> str:
        return _clean_key_name(self.cleaned_data["name"], self.taken_names)


def key_in_region_label() -> str:
    return f"Keep this key's requests in {regions.data_region_name()}"


def key_rule_choices() -> dict[str, tuple[str, str]]:
    """The key's own provider rules (ApiKey.PROVIDER_RULE_FIELDS): name -> (label, one
    line of what ticking it does). A function: the region's label names the region
    from the settings."""
    return {
        "zdr_only": (
            "Zero-data-retention endpoints only, for this key",
            "Ticked, this key uses only providers that keep nothing once a request is "
            "answered, even while your account allows others.",
        ),
        "no_training": (
            "No endpoints that may train on prompts, for this key",
            "Ticked, this key never uses an endpoint that may train on prompts, paid or "
            "free, even while your account allows them.",
        ),
        "in_region_only": (
            key_in_region_label(),
            "Ticked, this key's requests go only to endpoints there, even while your "
            "account allows other regions.",
        ),
    }


KEY_RULES_HELP = (
    "Unticked, a rule follows your account. A key can narrow your account's choices, "
    "never widen them: it can keep requests closer than its account, never send them "
    "further."
)


class _KeyRulesMixin:
    """The key's own provider rules as three checkboxes, labelled when the form is built."""

    def _add_key_rule_fields(self) -> None:
        for name, (label, explanation) in key_rule_choices().items():
            self.fields[name] = StrictBooleanField(label=label, help_text=explanation)

    def key_rule_fields(self):
        return [self[name] for name in ApiKey.PROVIDER_RULE_FIELDS]

    def key_rules(self) -> dict[str, bool]:
        return {name: self.cleaned_data[name] for name in ApiKey.PROVIDER_RULE_FIELDS}


class ApiKeyProviderRulesForm(_KeyRulesMixin, forms.Form):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._add_key_rule_fields()


class ApiKeyCreateForm(_KeyNameMixin, _KeyRulesMixin, forms.Form):
    name = forms.CharField(
        max_length=ApiKey.NAME_MAX_LENGTH,
        strip=True,
        help_text=f"Up to {ApiKey.NAME_MAX_LENGTH} characters, e.g. the app that uses it.",
        error_messages={"required": "Enter a name for the key."},
    )
    logging = forms.ChoiceField(
        choices=ApiKey.Logging.choices,
        initial=ApiKey.Logging.AS_ACCOUNT,
        widget=forms.RadioSelect,
        label="Prompt logging for this key",
        help_text=KEY_LOGGING_HELP,
        error_messages={"invalid_choice": "Choose “As my account” or “Never log”."},
    )

    def __init__(self, *args, taken_names: set[str], **kwargs):
        super().__init__(*args, **kwargs)
        # Case-folded names of the user's active keys.
        self.taken_names = taken_names
        self._add_key_rule_fields()


class ApiKeyRenameForm(_KeyNameMixin, forms.Form):
    name = forms.CharField(
        max_length=ApiKey.NAME_MAX_LENGTH,
        strip=True,
        label="New name",
        help_text=f"Up to {ApiKey.NAME_MAX_LENGTH} characters.",
        error_messages={"required": "Enter a name for the key."},
    )

    def __init__(self, *args, taken_names: set[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.taken_names = taken_names


class ApiKeyLoggingForm(forms.Form):
    logging = forms.ChoiceField(
        choices=ApiKey.Logging.choices,
        widget=forms.RadioSelect,
        label="Prompt logging for this key",
        help_text=KEY_LOGGING_HELP,
        error_messages={"invalid_choice": "Choose “As my account” or “Never log”."},
    )


class ApiKeyRevokeForm(forms.Form):
    confirm = forms.BooleanField(
        required=True,
        label="I understand that requests with this key will be refused from now on, "
        "and that a revoked key cannot be restored.",
        error_messages={"required": "Tick the box to confirm that you want to revoke the key."},
    )


# --- Privacy ---------------------------------------------------------------------------

_TRUE_VALUES = frozenset({"on", "true", "1"})
_FALSE_VALUES = frozenset({"off", "false", "0", ""})


def _is_checked(value: object) -> bool:
    return value is True or (isinstance(value, str) and value.lower() in _TRUE_VALUES)


class StrictCheckboxInput(forms.CheckboxInput):
    """A checkbox that hands the submitted value to the field as it came, so a forged
    value is refused instead of counting as "ticked" (Django's CheckboxInput treats any
    unknown string as True)."""

    def __init__(self, attrs=None):
        super().__init__(attrs, check_test=_is_checked)

    def value_from_datadict(self, data, files, name):
        values = data.getlist(name) if hasattr(data, "getlist") else [data.get(name)]
        if len(values) > 1:
            return values  # refused by the field: one box, one value
        return values[0] if values else None


class StrictBooleanField(forms.BooleanField):
    widget = StrictCheckboxInput

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def to_python(self, value):
        if value is None or value is False:
            return False
        if value is True:
            return True
        if isinstance(value, str):
            if value.lower() in _TRUE_VALUES:
                return True
            if value.lower() in _FALSE_VALUES:
                return False
        raise ValidationError("This box is either ticked or not; the value sent was not valid.")

    def has_changed(self, initial, data):
        return self.to_python(initial) != self.to_python(data)


# Field name -> (label, one-line plain explanation). The order is the page's order.
PROVIDER_POLICY_CHOICES = {
    "allow_training_paid": (
        "Allow paid endpoints that may train on prompts",
        "Some paid providers may use your prompts to improve their models.",
    ),
    "allow_training_free": (
        "Allow free endpoints that may train on prompts",
        "Free model endpoints are often free because the provider trains on what you send.",
    ),
    "allow_retention": (
        "Allow endpoints that retain prompts",
        "Some providers keep prompts for a while, e.g. to investigate abuse.",
    ),
    "allow_publication": (
        "Allow free endpoints that may publish prompts",
        "Some free endpoints may make prompts public, e.g. in a research data set.",
    ),
    "zdr_only": (
        "Zero-data-retention endpoints only",
        "Use only providers that keep nothing once your request is answered; "
        "fewer models are available.",
    ),
}

LOG_PROMPTS_LABEL = "Store my prompts and completions"


def in_region_label() -> str:
    """The region choice's label, naming the portal's region (PORTAL_DATA_REGION)."""
    return f"Keep my requests in {regions.data_region_name()}"


def in_region_help() -> str:
    return (
        f"Send your requests only to endpoints in {regions.data_region_name()}, where "
        "Portal runs, so they are not transferred abroad; models with no endpoint there "
        "are refused while this is on."
    )


class PrivacyForm(forms.Form):
    log_prompts = StrictBooleanField(label=LOG_PROMPTS_LABEL)
    allow_training_paid = StrictBooleanField(
        label=PROVIDER_POLICY_CHOICES["allow_training_paid"][0]
    )
    allow_training_free = StrictBooleanField(
        label=PROVIDER_POLICY_CHOICES["allow_training_free"][0]
    )
    allow_retention = StrictBooleanField(label=PROVIDER_POLICY_CHOICES["allow_retention"][0])
    allow_publication = StrictBooleanField(label=PROVIDER_POLICY_CHOICES["allow_publication"][0])
    zdr_only = StrictBooleanField(label=PROVIDER_POLICY_CHOICES["zdr_only"][0])
    # Labelled when the form is built: the label names the region from the settings.
    in_region_only = StrictBooleanField()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, (_, explanation) in PROVIDER_POLICY_CHOICES.items():
            self.fields[name].help_text = explanation
        self.fields["in_region_only"].label = in_region_label()
        self.fields["in_region_only"].help_text = in_region_help()

    @classmethod
    def initial_from(cls, preference: LoggingPreference) -> dict[str, bool]:
        return {name: getattr(preference, name) for name in LoggingPreference.FIELDS}

    def provider_policy_fields(self):
        return [self[name] for name in PROVIDER_POLICY_CHOICES]


# The periods offered for keeping stored text, in days, besides the portal's own (the
# longest): those shorter than it.
TEXT_RETENTION_STEPS = (1, 7, 14, 30, 90, 180, 365)
TEXT_RETENTION_LABEL = "Keep my stored prompts and completions for"


def text_retention_choices(current: int | None = None) -> list[tuple[str, str]]:
    """1 day up to PORTAL_PROMPT_RETENTION_DAYS, shortest first; `current` (the period
    in force) is always among them."""
    longest = settings.PORTAL_PROMPT_RETENTION_DAYS
    days = {step for step in TEXT_RETENTION_STEPS if step < longest} | {longest}
    if current is not None and 1 <= current <= longest:
        days.add(current)
    return [
        (
            str(n),
            f"{n} day{'s' if n != 1 else ''}" + (" (the longest we keep)" if n == longest else ""),
        )
        for n in sorted(days)
    ]


class TextRetentionForm(forms.Form):
    days = forms.TypedChoiceField(
        coerce=int,
        label=TEXT_RETENTION_LABEL,
        error_messages={
            "required": "Choose how long your stored prompts and completions are kept.",
            "invalid_choice": "Choose one of the periods in the list.",
        },
    )

    def __init__(self, *args, current: int, **kwargs):
        kwargs.setdefault("initial", {"days": str(current)})
        super().__init__(*args, **kwargs)
        self.fields["days"].choices = text_retention_choices(current)
        self.fields["days"].help_text = (
            "Text older than this is deleted by the nightly clean-up, which runs once a "
            "day: a shorter period takes effect at its next run, for text already stored "
            "too. Until then, text older than the new period is no longer used."
        )


# --- Activity --------------------------------------------------------------------------

MODEL_FILTER_MAX_LENGTH = Generation._meta.get_field("model").max_length
APP_FILTER_MAX_LENGTH = Generation._meta.get_field("app_url").max_length


class ApiKeyChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: ApiKey) -> str:
        label = f"{obj.name} ({obj.prefix}…)"
        return label if obj.is_active else f"{label}, revoked"


# The period choices of the activity page, in days back from today (UTC, today
# included); "all" has no bound. Dates, when given, take precedence.
ACTIVITY_PERIODS = {
    "7": ("Last 7 days", 7),
    "30": ("Last 30 days", 30),
    "90": ("Last 90 days", 90),
    "365": ("Last 12 months", 365),
    "all": ("All time", None),
}
DEFAULT_ACTIVITY_PERIOD = "30"


class ActivityFilterForm(forms.Form):
    period = forms.ChoiceField(
        required=False,
        choices=[(value, label) for value, (label, _) in ACTIVITY_PERIODS.items()],
        initial=DEFAULT_ACTIVITY_PERIOD,
        help_text="From and To below, when filled in, replace it.",
        error_messages={"invalid_choice": "Choose one of the periods in the list."},
    )
    # A free-text field with suggestions, not a <select> of every model the user ever
    # called: that list would need SELECT DISTINCT over all of their rows on each view.
    model = forms.CharField(
        required=False,
        max_length=MODEL_FILTER_MAX_LENGTH,
        strip=True,
        help_text="The exact model id, e.g. openai/gpt-4o.",
    )
    app = forms.CharField(
        required=False,
        max_length=APP_FILTER_MAX_LENGTH,
        strip=True,
        help_text="The app’s exact URL (https://…) or its exact title.",
    )
    key = ApiKeyChoiceField(
        queryset=ApiKey.objects.none(),
        required=False,
        label="API key",
        empty_label="All keys",
        error_messages={"invalid_choice": "Choose one of your API keys."},
    )
    date_from = forms.DateField(
        required=False,
        label="From",
        widget=forms.DateInput(attrs={"type": "date"}),
        error_messages={"invalid": "Enter a date as YYYY-MM-DD."},
    )
    date_to = forms.DateField(
        required=False,
        label="To",
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Both dates are included (UTC).",
        error_messages={"invalid": "Enter a date as YYYY-MM-DD."},
    )

    def __init__(self, *args, keys, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["key"].queryset = keys

    def _check_date(self, value: dt.date | None) -> dt.date | None:
        if value is not None and not (dt.date(2000, 1, 1) <= value <= dt.date(9998, 12, 31)):
            raise ValidationError("Enter a date between 2000 and 9998.")
        return value

    def clean_date_from(self):
        return self._check_date(self.cleaned_data.get("date_from"))

    def clean_date_to(self):
        return self._check_date(self.cleaned_data.get("date_to"))

    def clean(self):
        cleaned = super().clean()
        date_from, date_to = cleaned.get("date_from"), cleaned.get("date_to")
        if date_from and date_to and date_from > date_to:
            self.add_error("date_to", "The end date must be on or after the start date.")
        return cleaned

    def period_days(self) -> int | None:
        """The chosen period's length in days (None: all time, or dates given)."""
        data = self.cleaned_data
        if data.get("date_from") or data.get("date_to"):
            return None
        return ACTIVITY_PERIODS[data.get("period") or DEFAULT_ACTIVITY_PERIOD][1]

    def as_filters(self) -> dict:
        """The cleaned values as keyword arguments for ActivityFilters.

        Whole UTC days (TIME_ZONE is UTC): the usage totals are kept per UTC day."""
        data = self.cleaned_data
        tz = dt.UTC
        created_from = created_before = None
        if data.get("date_from"):
            created_from = dt.datetime.combine(data["date_from"], dt.time.min, tzinfo=tz)
        if data.get("date_to"):
            created_before = dt.datetime.combine(
                data["date_to"] + dt.timedelta(days=1), dt.time.min, tzinfo=tz
            )
        days = self.period_days()
        if days is not None:
            today = timezone.now().astimezone(tz).date()
            created_from = dt.datetime.combine(
                today - dt.timedelta(days=days - 1), dt.time.min, tzinfo=tz
            )
        return {
            "model": data.get("model") or "",
            "app": data.get("app") or "",
            "api_key_id": data["key"].pk if data.get("key") else None,
            "created_from": created_from,
            "created_before": created_before,
        }
