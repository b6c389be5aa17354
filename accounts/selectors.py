"""Reads about accounts that more than one caller needs."""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import NoReverseMatch, reverse

from accounts.models import User


@dataclass(frozen=True)
class AccountSection:
    title: str
    url: str
    description: str


# (url name, title, description). A section appears in the hub only once its URL
# exists, so the hub never links to a page that is not there.
_SECTIONS = [
    ("account_profile", "Profile", "Your display name and other details you can change."),
    ("account_email", "Email addresses", "Add, verify or remove addresses; choose the primary."),
    ("account_change_password", "Password", "Change your password."),
    ("usersessions_list", "Sessions", "Where you are signed in; end the other sessions."),
    ("account_keys", "API keys", "Create, name and revoke the keys the API accepts."),
    ("account_wallets", "Wallets", "Ethereum wallets you sign in with."),
    ("account_privacy", "Privacy", "Prompt logging and the provider data policies you accept."),
    ("account_activity", "Activity", "Your requests: model, provider, app, tokens and cost."),
    ("account_data", "Your data", "Download your data or delete stored prompts."),
    ("account_manage", "Manage account", "Delete your account and personal data."),
]


def account_sections(*, user: User) -> list[AccountSection]:
    sections = []
    for url_name, title, description in _SECTIONS:
        try:
            url = reverse(url_name)
        except NoReverseMatch:
            continue
        sections.append(AccountSection(title=title, url=url, description=description))
    return sections
