from __future__ import annotations

from django import forms

from accounts.models import User


class SignupForm(forms.Form):
    """Extra sign-up fields; allauth mixes this into its own sign-up form."""

    # allauth honours field_order: the confirmation comes last, just above the button.
    field_order = ["email", "password1", "password2", "age_confirmation"]

    age_confirmation = forms.BooleanField(
        required=True,
        label_suffix="",
        label="I am 13 years of age or older",
        error_messages={
            "required": "You must be 13 or older to use this service. "
            "Please confirm your age to continue."
        },
    )

    def signup(self, request, user: User) -> None:
        """Called by allauth after the user is saved; the adapter stamped the time."""


class ProfileForm(forms.ModelForm):
    class Meta:
        model = User
        fields = ["display_name"]
        help_texts = {
            "display_name": f"Up to {User.DISPLAY_NAME_MAX_LENGTH} characters. "
            "Leave empty to be addressed by your email address."
        }

    def clean_display_name(self) -> str:
        # An empty field clears the name; a request without the field must not.
        field = self.fields["display_name"]
        if field.widget.value_omitted_from_data(
            self.data, self.files, self.add_prefix("display_name")
        ):
            raise forms.ValidationError("The display name is missing from the form.")
        name = " ".join(self.cleaned_data["display_name"].split())
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
            raise forms.ValidationError("The display name cannot contain control characters.")
        return name
