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


class User(AbstractBaseUser, PermissionsMixin):
    DISPLAY_NAME_MAX_LENGTH = 80

    # The opaque account id other services see (the gateway, exports); never the pk.
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # None for an account created with a wallet (Sign-In with Ethereum) that has not
    # added an address; unique among the accounts that have one.
    email = models.EmailField("email address", max_length=254, unique=True, null=True, blank=True)
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

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        constraints = [
            # Addresses are stored lower-cased; this guards against a path that forgets.
            models.UniqueConstraint(Lower("email"), name="accounts_user_email_ci_unique"),
        ]

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
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "-created_at"], name="apikey_user_created")]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


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
