from __future__ import annotations

from datetime import timedelta

import pytest
from allauth.account.models import EmailAddress
from django.test import Client
from django.utils import timezone

from accounts.models import User
from tests.factories.accounts import UserFactory
from tests.helpers.accounts import (
    SIGNUP_URL,
    VERIFICATION_SENT_URL,
    form_errors,
    is_signed_in,
    link_in,
    mails_to,
    page_without_tokens,
    signup,
    signup_data,
)

pytestmark = pytest.mark.django_db


def test_signup_page_asks_for_email_password_and_13_plus_confirmation(client):
    response = client.get(SIGNUP_URL)
    assert response.status_code == 200
    content = response.content.decode()
    assert 'name="email"' in content
    assert 'name="password1"' in content
    assert 'name="password2"' in content
    assert 'name="age_confirmation"' in content
    assert "I am 13 years of age or older" in content


def test_signup_creates_an_unverified_account_with_the_13_plus_confirmation_time(
    client, mailoutbox
):
    before = timezone.now()
    response = signup(client, "New.Person@Example.com")
    after = timezone.now()

    assert response.status_code == 302
    assert response.url == VERIFICATION_SENT_URL
    user = User.objects.get()
    assert user.email == "new.person@example.com"
    assert user.age_confirmed_at is not None
    assert before <= user.age_confirmed_at <= after
    address = EmailAddress.objects.get(user=user)
    assert (address.email, address.primary, address.verified) == (
        "new.person@example.com",
        True,
        False,
    )
    # Mandatory verification: signing up does not sign in.
    assert not is_signed_in(client)


def test_signup_sends_a_verification_mail_with_a_confirmation_link(client, mailoutbox):
    signup(client, "new@example.com")

    [message] = mailoutbox
    assert message.to == ["new@example.com"]
    assert message.subject.startswith("[Portal] ")
    assert link_in(message).startswith("/accounts/confirm-email/")


def test_signup_verification_sent_page_tells_the_person_to_check_their_mail(client):
    response = signup(client, "new@example.com")
    page = client.get(response.url)
    assert page.status_code == 200
    assert b"We have sent an email to you for verification" in page.content


def test_signup_stores_the_password_hashed_with_argon2(client):
    signup(client, "new@example.com", password="violet-otter-quietly-7-lanterns")

    user = User.objects.get()
    assert user.password.startswith("argon2")
    assert "violet-otter-quietly-7-lanterns" not in user.password
    assert user.check_password("violet-otter-quietly-7-lanterns")


def test_factory_users_have_argon2_password_hashes():
    assert UserFactory().password.startswith("argon2")


def test_signup_without_13_plus_confirmation_is_refused(client, mailoutbox):
    response = signup(client, "young@example.com", age=False)

    assert response.status_code == 200
    assert "You must be 13 or older to use this service." in response.content.decode()
    assert "age_confirmation" in response.context["form"].errors
    assert not User.objects.exists()
    assert not EmailAddress.objects.exists()
    assert mailoutbox == []


@pytest.mark.parametrize("value", ["", "false", "False"])
def test_signup_with_a_falsy_13_plus_confirmation_is_refused(client, mailoutbox, value):
    data = signup_data("young@example.com", age=False)
    data["age_confirmation"] = value
    response = client.post(SIGNUP_URL, data)

    assert response.status_code == 200
    assert "age_confirmation" in response.context["form"].errors
    assert not User.objects.exists()
    assert mailoutbox == []


@pytest.mark.parametrize(
    "email",
    [
        "",
        "not-an-email",
        "missing-at.example.com",
        "two@@example.com",
        "trailing-dot@example.com.",
        "spaces in@example.com",
        "user@exa mple.com",
        "@example.com",
        "user@",
        "user@-example-.com",
        "<script>alert(1)</script>@example.com",
        "nul\x00byte@example.com",
        "a" * 250 + "@example.com",
        "user@" + "b" * 300 + ".com",
    ],
)
def test_signup_with_a_malformed_email_is_refused_with_a_field_error(client, mailoutbox, email):
    response = signup(client, email)

    assert response.status_code == 200
    assert "email" in response.context["form"].errors
    assert form_errors(response)
    assert not User.objects.exists()
    assert mailoutbox == []


@pytest.mark.parametrize(
    ("password1", "password2", "expected"),
    [
        ("short", "short", "This password is too short."),
        ("password123", "password123", "This password is too common."),
        ("84736251904857", "84736251904857", "This password is entirely numeric."),
        ("violet-otter-quietly-7", "violet-otter-quietly-8", "same password each time"),
        ("", "", "This field is required."),
    ],
)
def test_signup_with_a_weak_or_mismatched_password_is_refused(
    client, mailoutbox, password1, password2, expected
):
    response = client.post(
        SIGNUP_URL,
        {
            "email": "new@example.com",
            "password1": password1,
            "password2": password2,
            "age_confirmation": "on",
        },
    )

    assert response.status_code == 200
    assert any(expected in error for error in form_errors(response)), form_errors(response)
    assert not User.objects.exists()
    assert mailoutbox == []


def test_signup_with_an_existing_address_answers_exactly_like_a_fresh_signup(client, mailoutbox):
    owner = UserFactory(email="taken@example.com")
    fresh = signup(client, "fresh@example.com")
    fresh_page = client.get(fresh.url)

    other = Client()
    duplicate = signup(other, "taken@example.com")
    duplicate_page = other.get(duplicate.url)

    assert duplicate.status_code == fresh.status_code == 302
    assert duplicate.url == fresh.url == VERIFICATION_SENT_URL
    assert duplicate_page.status_code == fresh_page.status_code == 200
    # The page echoes the address typed, and nothing else differs.
    assert page_without_tokens(duplicate_page).replace(b"taken@example.com", b"ADDRESS") == (
        page_without_tokens(fresh_page).replace(b"fresh@example.com", b"ADDRESS")
    )
    assert not is_signed_in(other)
    # No second account and the owner's password and confirmation are untouched.
    assert User.objects.filter(email__iexact="taken@example.com").count() == 1
    owner_after = User.objects.get(pk=owner.pk)
    assert owner_after.password == owner.password
    assert EmailAddress.objects.filter(email__iexact="taken@example.com").count() == 1


def test_signup_with_an_existing_address_mails_the_owner_that_the_account_exists(
    client, mailoutbox
):
    UserFactory(email="taken@example.com")
    signup(client, "Taken@Example.com")

    [message] = mails_to(mailoutbox, "taken@example.com")
    assert len(mailoutbox) == 1
    assert "an account using that email address already exists" in message.body
    assert "/accounts/password/reset/" in message.body
    assert "/accounts/confirm-email/" not in message.body


def test_signing_up_with_an_address_another_account_never_confirmed_makes_an_account_of_ones_own(
    client, mailoutbox
):
    squatter = UserFactory(email="pending@example.com", verified=False)
    response = signup(client, "pending@example.com")

    assert response.status_code == 302
    assert response.url == VERIFICATION_SENT_URL
    [mine] = User.objects.filter(email="pending@example.com").exclude(pk=squatter.pk)
    assert EmailAddress.objects.get(user=mine).email == "pending@example.com"
    # The mail is the ordinary confirmation of a new account, not "you already have one".
    [message] = mailoutbox
    assert "Someone signed up for Portal with this address" in message.body


def test_signing_up_with_a_confirmed_address_makes_no_account_and_says_nothing_new(
    client, mailoutbox
):
    owner = UserFactory(email="owner@example.com")
    response = signup(client, "owner@example.com")

    # The same answer as for a new address (no enumeration); the owner is mailed.
    assert response.status_code == 302
    assert response.url == VERIFICATION_SENT_URL
    assert list(User.objects.filter(email="owner@example.com")) == [owner]
    [message] = mailoutbox
    assert message.to == ["owner@example.com"]
    assert "/accounts/confirm-email/" not in message.body


def test_signup_by_a_signed_in_user_creates_nothing(client):
    user = UserFactory()
    client.force_login(user)
    response = signup(client, "second@example.com")

    assert response.status_code == 302
    assert not User.objects.filter(email="second@example.com").exists()


def test_signup_does_not_accept_a_backdated_13_plus_confirmation(client):
    # The time comes from the server, whatever the form carries.
    data = signup_data("new@example.com")
    data["age_confirmed_at"] = "2000-01-01T00:00:00Z"
    client.post(SIGNUP_URL, data)

    user = User.objects.get()
    assert timezone.now() - user.age_confirmed_at < timedelta(minutes=1)


def _address_of_length(length: int) -> str:
    # A syntactically valid address: 64-character local part, 63-character labels.
    head = "a" * 64 + "@" + "b" * 63 + "." + "c" * 63 + "."
    tail = ".com"
    return head + "d" * (length - len(head) - len(tail)) + tail


def test_signup_with_an_address_longer_than_254_characters_is_refused_not_truncated(
    client, mailoutbox
):
    email = _address_of_length(255)
    response = signup(client, email)

    assert response.status_code == 200
    assert response.context["form"].errors["email"] == [
        "An email address can have at most 254 characters (this one has 255)."
    ]
    assert not User.objects.exists()
    assert not EmailAddress.objects.exists()
    assert mailoutbox == []


def test_signup_with_an_address_of_exactly_254_characters_is_accepted(client, mailoutbox):
    email = _address_of_length(254)
    response = signup(client, email)

    assert response.status_code == 302
    assert User.objects.get().email == email
    assert EmailAddress.objects.get().email == email
    assert mailoutbox[0].to == [email]


def test_signup_is_rate_limited_per_ip_with_the_custom_429_page(client, mailoutbox):
    # allauth's signup limit: 20 attempts a minute from one IP address.
    for n in range(20):
        response = signup(client, f"person{n}@example.com", age=False)
        assert response.status_code == 200

    limited = signup(client, "one-more@example.com")

    assert limited.status_code == 429
    content = limited.content.decode()
    assert "<h1>Too many requests</h1>" in content
    assert "Nothing was changed." in content
    assert not User.objects.exists()
    assert mailoutbox == []


def test_signup_rate_limit_does_not_block_another_ip_address(client):
    for n in range(21):
        signup(client, f"person{n}@example.com", age=False)

    response = Client(REMOTE_ADDR="198.51.100.7").post(SIGNUP_URL, signup_data("ok@example.com"))

    assert response.status_code == 302
    assert User.objects.filter(email="ok@example.com").exists()
