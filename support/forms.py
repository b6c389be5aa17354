from __future__ import annotations

from django import forms

from support.models import Ticket


class ContactForm(forms.Form):
    kind = forms.ChoiceField(
        label="What is it about?",
        choices=Ticket.Kind.choices,
        widget=forms.RadioSelect,
        error_messages={
            "required": "Choose what your message is about.",
            "invalid_choice": "Choose one of the listed subjects.",
        },
    )
    email = forms.EmailField(
        label="Your email address",
        max_length=254,
        help_text="We send a confirmation and our answer here. For a request about an "
        "account, use the address the account confirmed.",
        error_messages={"required": "Enter the address we should answer."},
    )
    message = forms.CharField(
        label="Your message",
        max_length=Ticket.MESSAGE_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 8}),
        help_text=f"At most {Ticket.MESSAGE_MAX_LENGTH} characters. For an under-13 report or "
        "an appeal, name the account (its email or wallet address).",
        error_messages={"required": "Write your message."},
    )

    def clean_message(self) -> str:
        message = self.cleaned_data["message"].strip()
        if not message:
            raise forms.ValidationError("Write your message.")
        if "\x00" in message:
            raise forms.ValidationError("The message contains a character we cannot store.")
        return message
