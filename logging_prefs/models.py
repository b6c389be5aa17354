"""What gets logged: the account's logging opt-out and provider data policies, their
audit history, the generation records the gateway posts, the anonymous billing ledger
they leave when an account is deleted, and anonymous aggregates."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models.functions import MD5
from django.utils import timezone


def default_log_prompts() -> bool:
    return settings.PORTAL_PROMPT_LOGGING_DEFAULT


class LoggingPreference(models.Model):
    """One row per account, created with the account: the database is the source of
    truth for every preference the gateway enforces."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="logging_preference",
    )
    log_prompts = models.BooleanField(default=default_log_prompts)
    # Provider data policies the account accepts; the gateway routes only to endpoints
    # whose policy every one of these allows.
    allow_training_paid = models.BooleanField(default=False)
    allow_training_free = models.BooleanField(default=False)
    allow_retention = models.BooleanField(default=True)
    allow_publication = models.BooleanField(default=False)
    zdr_only = models.BooleanField(default=False)
    # "Keep my requests in <region>": only endpoints in PORTAL_DATA_REGION. On by
    # default, for the policy's "We do not transfer your personal data internationally".
    in_region_only = models.BooleanField(default=True)
    # How many days stored prompt and completion text is kept, as the person chose it
    # (1 to PORTAL_PROMPT_RETENTION_DAYS). NULL: never chosen, the portal's period. A
    # choice longer than the portal's period (the setting lowered since) counts as the
    # portal's: logging_prefs.eligibility.effective_retention_days.
    text_retention_days = models.PositiveSmallIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    PROVIDER_POLICY_FIELDS = (
        "allow_training_paid",
        "allow_training_free",
        "allow_retention",
        "allow_publication",
        "zdr_only",
        "in_region_only",
    )
    FIELDS = ("log_prompts", *PROVIDER_POLICY_FIELDS)

    class Meta:
        constraints = [
            # At least a day: the expiry and the rule compute the owner's cutoff from it.
            models.CheckConstraint(
                condition=models.Q(text_retention_days__isnull=True)
                | models.Q(text_retention_days__gte=1),
                name="pref_retention_at_least_a_day",
            ),
        ]
        indexes = [
            # The chosen-retention expiry asks for the shortest period anyone chose
            # (logging_prefs/retention.py): only the few preferences with a choice.
            models.Index(
                fields=["text_retention_days"],
                condition=models.Q(text_retention_days__isnull=False),
                name="pref_chosen_retention",
            ),
        ]

    def __str__(self) -> str:
        return f"logging preference of user {self.user_id}"

    def provider_policy(self) -> dict[str, bool]:
        return {name: getattr(self, name) for name in self.PROVIDER_POLICY_FIELDS}

    @property
    def retention_days(self) -> int:
        """How many days this person's stored text is kept now."""
        from logging_prefs.eligibility import effective_retention_days

        return effective_retention_days(self.text_retention_days)


class PreferenceChange(models.Model):
    """Append-only history of every preference change, shown to the user."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="preference_changes"
    )
    # Who made the change: the user, or support acting for them. Kept as a plain id
    # so the row outlives the actor's account.
    actor_id = models.BigIntegerField(null=True, blank=True)
    actor_is_user = models.BooleanField(default=True)
    api_key = models.ForeignKey(
        "accounts.ApiKey", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    setting = models.CharField(max_length=40)
    old_value = models.CharField(max_length=40)
    new_value = models.CharField(max_length=40)
    changed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-changed_at", "-id"]
        indexes = [models.Index(fields=["user", "-changed_at"], name="prefchange_user_changed")]

    def __str__(self) -> str:
        return f"{self.setting}: {self.old_value} -> {self.new_value}"


class Generation(models.Model):
    """One request the gateway served. Metadata is billing data and is always kept;
    prompt and completion text only while the key's effective setting allowed it at
    write time, and until retention expiry or deletion."""

    class TextState(models.TextChoices):
        STORED = "stored", "Stored"
        NOT_LOGGED = "not_logged", "Not stored: logging was off"
        EXPIRED = "expired", "Expired after the retention period"
        DELETED = "deleted", "Deleted at your request"

    class Status(models.TextChoices):
        OK = "ok", "Answered"
        ERROR = "error", "Failed: the provider's call did not succeed"

    # The gateway's own id: posting the same generation again is a duplicate.
    gateway_id = models.CharField(max_length=64)
    # PROTECT on the account: a user's generations are archived by the purge engine
    # (their billing totals added into BillingDailyTotal, then the rows deleted) before
    # the account row can go; a plain delete must never take billing data with it.
    # No single-column indexes on these two: the partial indexes in Meta serve every
    # lookup by user or key, and skip rows without a person (see there).
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.PROTECT,
        related_name="generations",
        db_index=False,
    )
    # No database constraint and no PROTECT on the key, on purpose. Keys are revoked,
    # never deleted, except by the purge engine after it has archived the account's
    # generations (the registry erases Generation before ApiKey), and ingestion reads
    # each key row FOR SHARE until its batch commits: the purge's DELETE of a key waits
    # for a batch in flight, and a batch after it finds no key and rejects its records.
    # A rare late row is still held back by the account's own PROTECT link until the
    # next chunk archives it. What the constraint and PROTECT would cost: deleting a key
    # after a purge looks its generations up by key id, through an index that still
    # holds an entry for every row just deleted (until VACUUM): 1.1-1.7 s for a million
    # rows (bench/purge.py), and a key-row lock and index probe per ingested row.
    api_key = models.ForeignKey(
        "accounts.ApiKey",
        null=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="generations",
        db_index=False,
    )
    model = models.CharField(max_length=200)
    provider = models.CharField(max_length=100)
    app_url = models.CharField(max_length=2048, blank=True)
    app_title = models.CharField(max_length=200, blank=True)
    # NULL is "not stored" (see text_state), distinct from an empty prompt.
    prompt = models.TextField(null=True, blank=True)  # noqa: DJ001
    completion = models.TextField(null=True, blank=True)  # noqa: DJ001
    text_state = models.CharField(max_length=16, choices=TextState)
    prompt_tokens = models.PositiveIntegerField()
    completion_tokens = models.PositiveIntegerField()
    cost_usd = models.DecimalField(max_digits=14, decimal_places=8)
    # Whether the provider answered: a failed call is recorded too, with no text. The
    # database default lets rows written before the field, or by a writer that does
    # not know it, read as answered.
    status = models.CharField(max_length=8, choices=Status, default=Status.OK, db_default="ok")
    # For a failed call, the kind of failure as the gateway names it ("RateLimitError").
    error_type = models.CharField(max_length=100, blank=True, default="", db_default="")
    created_at = models.DateTimeField()
    received_at = models.DateTimeField(default=timezone.now)
    # Set once the anonymous categoriser has counted this generation.
    categorised = models.BooleanField(default=False)

    class Meta:
        constraints = [
            # A constraint rather than unique=True: on PostgreSQL unique=True on a
            # CharField adds a second, pattern-ops index no query here uses.
            models.UniqueConstraint(fields=["gateway_id"], name="gen_gateway_id_unique"),
        ]
        # Indexes on the person (user, key) are partial: a row without a person (user
        # and key NULL: anonymised in place, as rows were before the purge archived
        # them) is left out of them, and lookups by a user or key id still use them
        # (user_id = X implies user_id IS NOT NULL).
        indexes = [
            # The activity page: one user's generations newest first, keyset-paginated
            # on (created_at, id); the filtered variants keep a filter selective.
            models.Index(
                fields=["user", "-created_at", "-id"],
                condition=models.Q(user__isnull=False),
                name="gen_user_created",
            ),
            models.Index(
                fields=["user", "model", "-created_at", "-id"],
                condition=models.Q(user__isnull=False),
                name="gen_user_model",
            ),
            # The key filter (a key is one user's, so the key alone is selective). One
            # index on the key instead of (user, key, ...) plus (key): fewer indexes to
            # maintain on ingestion.
            models.Index(
                fields=["api_key", "-created_at", "-id"],
                condition=models.Q(api_key__isnull=False),
                name="gen_key_created",
            ),
            # Retention expiry and categorisation look only at rows that still hold text.
            models.Index(
                fields=["created_at"],
                condition=models.Q(text_state="stored"),
                name="gen_stored_created",
            ),
            # Categorisation scans only what it has not counted yet; counted rows stay
            # in gen_stored_created until expiry and would be skipped over every run.
            models.Index(
                fields=["created_at"],
                condition=models.Q(text_state="stored", categorised=False),
                name="gen_uncategorised_created",
            ),
        ]

    def __str__(self) -> str:
        return f"generation {self.gateway_id}"


class BillingDailyTotal(models.Model):
    """The anonymous billing ledger: what accounting keeps of the generations whose rows
    are gone (of deleted accounts, and of days older than PORTAL_ACTIVITY_RETENTION_DAYS,
    folded by logging_prefs/folding.py), as totals per UTC day, model and provider (how
    many generations, their tokens and cost), summed over every account. Nothing about a
    person: no account, key, app, text, request id or time of day. Every generation is
    counted exactly once, in Generation or here: a folded day is here already when its
    account is deleted, and its account's own totals of it (UsageDailyTotal) go.

    The purge adds a deleted account's generations into it (privacy/registry.py,
    logging_prefs/personal_data.py): in one transaction per chunk, the chunk's rows are
    deleted and their totals added, so a retried chunk finds the rows gone and counts
    nothing twice. Per-request rows were kept here before (gateway id and timestamp):
    those could be matched back to the gateway's own request logs, and writing a row
    per generation was a fifth of a purge's time (bench/purge.py).
    """

    day = models.DateField()
    model = models.CharField(max_length=200)
    provider = models.CharField(max_length=100)
    generations = models.PositiveBigIntegerField(default=0)
    prompt_tokens = models.PositiveBigIntegerField(default=0)
    completion_tokens = models.PositiveBigIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=20, decimal_places=8, default=0)

    class Meta:
        constraints = [
            # One row per day, model and provider: the purge adds into it (ON CONFLICT).
            models.UniqueConstraint(
                fields=["day", "model", "provider"], name="billing_day_model_provider"
            ),
        ]

    def __str__(self) -> str:
        return f"billing total {self.day} {self.model} ({self.provider})"


class CategoryDailyCount(models.Model):
    """Anonymous aggregate: how many generations of a model fell in a category on a
    day. No user, no key, no text."""

    model = models.CharField(max_length=200)
    category = models.CharField(max_length=32)
    day = models.DateField()
    count = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["model", "category", "day"], name="catcount_unique")
        ]
        indexes = [models.Index(fields=["model", "day"], name="catcount_model_day")]

    def __str__(self) -> str:
        return f"{self.model} {self.category} {self.day}: {self.count}"


# A UsageDailyTotal row that still names a key or an app: not folded yet.
UNFOLDED = models.Q(api_key__isnull=False) | ~models.Q(app_url="") | ~models.Q(app_title="")


class UsageDailyTotal(models.Model):
    """A person's usage per UTC day, API key, model, provider and app: how many
    generations, their tokens and cost. What the activity page's totals and chart read,
    so a view costs the same for a person with a million requests: a few hundred rows
    for a month instead of every request.

    Kept up to date by ingestion, in the batch's own transaction (one INSERT ... ON
    CONFLICT DO UPDATE per batch, for the rows the batch really stored: a re-posted
    duplicate adds nothing). Personal data (the account, key and app): erased and
    exported with the account (logging_prefs/personal_data.py).
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="usage_totals",
        db_index=False,  # usage_total_unique leads with the user
    )
    # Like Generation.api_key: no database constraint, so a key row is never locked or
    # probed per upsert; the registry erases these rows before the account's keys.
    api_key = models.ForeignKey(
        "accounts.ApiKey",
        null=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
        db_index=False,
    )
    day = models.DateField()
    model = models.CharField(max_length=200)
    provider = models.CharField(max_length=100)
    app_url = models.CharField(max_length=2048, blank=True)
    app_title = models.CharField(max_length=200, blank=True)
    generations = models.PositiveBigIntegerField(default=0)
    prompt_tokens = models.PositiveBigIntegerField(default=0)
    completion_tokens = models.PositiveBigIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=20, decimal_places=8, default=0)

    class Meta:
        constraints = [
            # One row per person, day, key, model, provider and app; ingestion adds into
            # it (ON CONFLICT on exactly these expressions). The app's URL and title go
            # in as md5: a 2,048-character URL would not fit in an index entry. The
            # user and day lead, so a period of one person's rows is one index range.
            models.UniqueConstraint(
                models.F("user"),
                models.F("day"),
                models.F("api_key"),
                models.F("model"),
                models.F("provider"),
                MD5("app_url"),
                MD5("app_title"),
                name="usage_total_unique",
                nulls_distinct=False,
            ),
        ]
        indexes = [
            # The fold finds the days still to fold, oldest first, without reading
            # every person's rows: only rows not folded yet are in it, and a folded
            # day leaves it.
            models.Index(
                fields=["day"],
                condition=UNFOLDED,
                name="usage_total_unfolded_day",
            ),
        ]
        # As a deletion receipt names them (privacy.selectors.kind_name).
        verbose_name = "daily usage total"
        verbose_name_plural = "daily usage totals"

    def __str__(self) -> str:
        return f"usage of user {self.user_id} on {self.day}: {self.model} ({self.provider})"
