"""Forms of the account pages about rights. Every bad input is a form error."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts.models import User

DATE_INVALID = "Enter a date as year-month-day, for example 2024-05-31."


class DeleteStoredPromptsForm(forms.Form):
    """Which stored prompts and completions to erase: all, or those older than a date."""

    ALL = "all"
    OLDER = "older"

    which = forms.ChoiceField(
        choices=[
            (ALL, "All of them"),
            (OLDER, "Only those older than a date"),
        ],
        widget=forms.RadioSelect,
        label="Which prompts and completions",
        error_messages={
            "required": "Choose whether to delete all of them or only those older than a date.",
            "invalid_choice": "Choose “All of them” or “Only those older than a date”.",
        },
    )
    older_than = forms.DateField(
        required=False,
        label="Older than",
        # Only the format <input type="date"> sends: "03/04/2024" is ambiguous.
        input_formats=["%Y-%m-%d"],
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text="Requests made before the start of this day (UTC) lose their text.",
        error_messages={"invalid": DATE_INVALID},
    )

    def clean_older_than(self) -> dt.date | None:
        value = self.cleaned_data.get("older_than")
        if value is not None and value > timezone.localdate():
            raise ValidationError(
                "Choose today or a day in the past: nothing stored is older than a future date."
            )
        return value

    def clean(self) -> dict:
        cleaned = super().clean()
        which = cleaned.get("which")
        has_date_error = "older_than" in self.errors
        if which == self.OLDER and cleaned.get("older_than") is None and not has_date_error:
            self.add_error("older_than", "Choose the date: text older than it is deleted.")
        if which == self.ALL and (cleaned.get("older_than") is not None or has_date_error):
            # A destructive form does not guess which of two contradicting answers was meant.
            self.add_error(
                "older_than",
                "You chose “All of them”: clear the date, or choose “Only those older "
                "than a date”.",
            )
        return cleaned

    def older_than_moment(self) -> dt.datetime | None:
        """The moment the request compares creation times with: the chosen day's start."""
        if self.cleaned_data["which"] != self.OLDER:
            return None
        day = self.cleaned_data["older_than"]
        return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


class DeleteAccountForm(forms.Form):
    """Typing the account's email address (or, for a wallet account, its wallet's
    address): it proves the person means this account (some people have more than
    one), which a button alone does not."""

    confirmation = forms.CharField(max_length=254, strip=True)

    def __init__(self, *args, user: User, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.identity = user.identity
        self.what = "email address" if user.email else "wallet address"
        field = self.fields["confirmation"]
        field.label = f"Type your {self.what} to confirm"
        field.error_messages["required"] = f"Type your {self.what} to confirm; nothing was deleted."

    def clean_confirmation(self) -> str:
        value = self.cleaned_data["confirmation"]
        if value.casefold() != self.identity.casefold():
            raise ValidationError(
                f"That is not this account’s {self.what}. Type {self.identity} exactly; "
                "nothing was deleted."
            )
        return value
