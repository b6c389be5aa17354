"""Identity: the portal's own user model, keyed by email address (no username), and the
Ethereum wallets a person signs in with (an account may have either or both)."""

from __future__ import annotations

import hashlib
import secrets
import uuid

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra_fields) -> User:
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra_fields) -> User:
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra_fields)

    def create_superuser(self, email: str, password: str | None = None, **extra_fields) -> User:
        extra_fields["is_staff"] = True
        extra_fields["is_superuser"] = True
        extra_fields.setdefault("age_confirmed_at", timezone.now())
        return self._create_user(email, password, **extra_fields)

    def get_by_natural_key(self, username: str | None) -> User:
        """The account that owns `username` as an email address: the one that verified
        it, else the only one holding it. Several accounts may hold an address they
        have not verified (`User.email`), and then none of them is "the" account."""
        from allauth.account.models import EmailAddress

        email = (username or "").lower()
        owner = EmailAddress.objects.filter(email=email, verified=True).values("user_id")
        users = list(self.filter(pk__in=owner)[:1]) or list(self.filter(email=email)[:2])
        if len(users) != 1:
            raise self.model.DoesNotExist(f"No single account holds {email!r}.")
        return users[0]


class User(AbstractBaseUser, PermissionsMixin):
    DISPLAY_NAME_MAX_LENGTH = 80

    # The opaque account id other services see (the gateway, exports); never the pk.
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # The primary address, a copy of allauth's primary EmailAddress; None for an
    # account created with a wallet (Sign-In with Ethereum) that has not added one.
    # Not unique: ownership is a *verified* EmailAddress, unique among all accounts
    # (allauth's unique_verified_email constraint). An address nobody has verified may
    # be held by several accounts, so that signing up with it first, or adding it to
    # an account, never takes it from the person who can read its mail.
    email = models.EmailField(  # noqa: DJ001 (NULL is "no address", as it always was here)
        "email address", max_length=254, null=True, blank=True, db_index=True
    )
    display_name = models.CharField(
        max_length=DISPLAY_NAME_MAX_LENGTH,
        blank=True,
        help_text="How the portal addresses you. Optional.",
    )
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(
        default=False, help_text="Can sign in to the admin site (support staff)."
    )
    date_joined = models.DateTimeField(default=timezone.now)
    # The children's section of the policy: sign-up asks "I am 13 or older" and we
    # keep when that was confirmed.
    age_confirmed_at = models.DateTimeField(
        null=True, blank=True, help_text="When the user confirmed being 13 or older."
    )
    # The newest privacy policy version (its date) the person acknowledged; the history
    # is privacy.PolicyAcknowledgement. Kept here so that deciding whether a page shows
    # the "the policy changed" notice costs no query.
    policy_acknowledged = models.CharField(
        max_length=10,
        blank=True,
        help_text="The newest privacy policy version the user acknowledged.",
    )
    # When the newest security notice the person has not dismissed was written (NULL:
    # none), so that deciding whether a page shows notices costs no query.
    security_notice_at = models.DateTimeField(
        null=True, blank=True, help_text="When the newest unread security notice was written."
    )

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    def save(self, *args, **kwargs) -> None:
        # An emptied address (the admin's blank field) is "no address", not a second "".
        if not self.email:
            self.email = None
        super().save(*args, **kwargs)

    def __str__(self) -> str:
        return self.email or f"account {self.public_id}"

    @property
    def identity(self) -> str:
        """What the person signs in with, as they would recognise it: the email address,
        or for a wallet-only account its first wallet's address."""
        if self.email:
            return self.email
        wallet = self.wallets.order_by("created_at", "pk").first()
        return wallet.address if wallet else str(self)

    def get_full_name(self) -> str:
        return self.display_name or self.identity

    def get_short_name(self) -> str:
        if self.display_name:
            return self.display_name
        return self.email.split("@", 1)[0] if self.email else self.identity


API_KEY_PREFIX = "sk-pt-"


def hash_api_key(raw_key: str) -> str:
    """SHA-256 of the key. Keys are 256 random bits, so a fast hash is safe here (no
    dictionary to guess from) and keeps the gateway decision a single index lookup."""
    return hashlib.sha256(raw_key.encode()).hexdigest()


def generate_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


class ApiKey(models.Model):
    class Logging(models.TextChoices):
        AS_ACCOUNT = "account", "As my account"
        NEVER = "never", "Never log"

    NAME_MAX_LENGTH = 100

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=NAME_MAX_LENGTH)
    # The first characters of the key, shown so a user can tell their keys apart.
    prefix = models.CharField(max_length=16)
    hashed_key = models.CharField(max_length=64, unique=True)
    # A key can make logging stricter than its account, never looser.
    logging = models.CharField(max_length=8, choices=Logging, default=Logging.AS_ACCOUNT)
    # Likewise for the region: True keeps this key's requests in PORTAL_DATA_REGION even
    # when the account allows others; False means "as the account", so never wider.
    in_region_only = models.BooleanField(default=False)
    # Likewise for the provider data policies: True uses only zero-data-retention
    # endpoints, or no endpoint that may train on prompts (paid or free), whatever the
    # account allows; False means "as the account". How each narrows the account's
    # choices is logging_prefs.eligibility.effective_provider_policy.
    zdr_only = models.BooleanField(default=False)
    no_training = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    # The key's own provider rules, in the order the key's page shows them.
    PROVIDER_RULE_FIELDS = ("zdr_only", "no_training", "in_region_only")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "-created_at"], name="apikey_user_created")]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def provider_rules(self) -> dict[str, bool]:
        return {name: getattr(self, name) for name in self.PROVIDER_RULE_FIELDS}


class Wallet(models.Model):
    """An Ethereum account the person proved they control by signing a Sign-In with
    Ethereum (EIP-4361) message; signing such a message again signs them in."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="wallets")
    # EIP-55 checksummed ("0x" and 40 hex digits, mixed case): one spelling per address.
    address = models.CharField(max_length=42, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [
            # A path that forgets the checksum spelling still cannot link one address twice.
            models.UniqueConstraint(Lower("address"), name="accounts_wallet_address_ci_unique"),
        ]

    def __str__(self) -> str:
        return self.address


class SecurityNotice(models.Model):
    """A change to how the account can be entered, told to the person on every page
    until they dismiss it (beside a mail to each verified address): if it was not them,
    the notice offers to end every other session at once."""

    class Kind(models.TextChoices):
        ADDRESS_VERIFIED = "address_verified", "An email address was verified"
        ADDRESS_RELEASED = "address_released", "An unverified address was removed"
        PASSWORD_SET = "password_set", "A password was set"
        PASSWORD_CHANGED = "password_changed", "The password was changed"
        PASSWORD_RESET = "password_reset", "The password was reset"
        WALLET_ADDED = "wallet_added", "A wallet was linked"
        SECOND_FACTOR_ADDED = "second_factor_added", "A second factor was added"

    # Kinds that add a way in: the notice asks "was it you?".
    ADDS_A_WAY_IN = frozenset(
        {
            Kind.ADDRESS_VERIFIED,
            Kind.PASSWORD_SET,
            Kind.PASSWORD_CHANGED,
            Kind.PASSWORD_RESET,
            Kind.WALLET_ADDED,
            Kind.SECOND_FACTOR_ADDED,
        }
    )

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="security_notices")
    kind = models.CharField(max_length=24, choices=Kind)
    # What was added or removed, as the person knows it: an address or a wallet.
    subject = models.CharField(max_length=254, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    dismissed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(
                fields=["user", "-created_at"],
                condition=models.Q(dismissed_at__isnull=True),
                name="securitynotice_unread",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.subject}" if self.subject else self.kind

    @property
    def adds_a_way_in(self) -> bool:
        return self.kind in self.ADDS_A_WAY_IN
