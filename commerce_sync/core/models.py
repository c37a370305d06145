"""The core domain: partners, merchants, connections, configuration, syncs.

Models hold fields and constraints only; behaviour lives in `services/` and
reads in `selectors.py`. Services that `save(update_fields=...)` must list
`updated_at` too, or `auto_now` is not applied.
"""

import uuid

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from commerce_sync.core.validators import (
    validate_country_code,
    validate_currency_code,
    validate_email_list,
    validate_time_zone,
)
from commerce_sync.errors import StatusCode
from connectors.credentials import EncryptedJSONField


class Partner(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100, unique=True)
    # display name, logo URL, colours for the setup flow
    branding = models.JSONField(default=dict, blank=True)
    # Where the partner's support team hears of incidents (with ALERT_EMAILS),
    # a list of addresses; and after how many failing days a failing sync alerts.
    alert_emails = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_email_list],
        help_text="Support team addresses that receive alerts and the daily digest.",
    )
    alert_after_failing_days = models.PositiveSmallIntegerField(
        default=1,
        validators=[MinValueValidator(1), MaxValueValidator(31)],
        help_text="Alert on a failing sync once it has failed this many days in a row (1-31).",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    def __str__(self) -> str:
        return self.name


class PartnerApiKey(models.Model):
    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=8, unique=True)
    hashed_key = models.CharField(max_length=64)  # sha256 hex; the plaintext is never stored
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "partner API key"

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name})"


class Merchant(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="merchants")
    external_id = models.CharField(max_length=200, blank=True)  # the partner's own id
    name = models.CharField(max_length=200)
    # Codat's Company `description` and `tags` (free text, {key: value} strings).
    description = models.TextField(blank=True)
    tags = models.JSONField(default=dict, blank=True)
    country = models.CharField(max_length=2, validators=[validate_country_code])  # ISO 3166
    currency = models.CharField(max_length=3, validators=[validate_currency_code])  # ISO 4217
    time_zone = models.CharField(max_length=64, validators=[validate_time_zone])
    enabled = models.BooleanField(default=True)
    configured = models.BooleanField(default=False)
    disabled_reason = models.TextField(blank=True)
    # The merchant's own alerts: where, whether, and in which language.
    alert_email = models.EmailField(blank=True)
    alerts_opt_out = models.BooleanField(
        default=False, help_text="The merchant asked not to receive alert emails."
    )
    language = models.CharField(max_length=10, choices=settings.LANGUAGES, default="en")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["partner", "external_id"],
                condition=~Q(external_id=""),
                name="core_merchant_unique_external_id",
            ),
            models.CheckConstraint(
                condition=Q(currency__regex=r"^[A-Z]{3}$"),
                name="core_merchant_currency_iso4217",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class SetupLink(models.Model):
    """A single-use code that lets a merchant into the setup flow (the sync-flow
    start URL of the partner API). Only the code's sha256 is stored."""

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="setup_links")
    hashed_code = models.CharField(max_length=64, unique=True)  # sha256 hex
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    redirect_url = models.URLField(max_length=2000, blank=True)
    locale = models.CharField(max_length=10, blank=True)
    # An invitation to complete one stage of the flow (e.g. "accounting"):
    # its session sees that stage only. Empty: the whole flow.
    stage = models.CharField(max_length=20, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    def __str__(self) -> str:
        return f"{self.merchant} until {self.expires_at:%Y-%m-%d %H:%M:%S}"


class PartnerSyncFlowSettings(models.Model):
    """A partner's customisation of the setup flow and its defaults for new
    merchants: at most one row per partner, created on first write.

    * `texts`: {locale: {text key: text}}, overrides of the default texts
      (an empty string hides a text; a missing key shows the default).
    * `visible_accounts`: {platform key: [account keys]}; a missing platform
      shows every account.
    * `merchant_defaults`: {"country", "currency", "timeZone"} for merchants
      the API creates without them (else the MERCHANT_DEFAULT_* settings).
    """

    partner = models.OneToOneField(
        Partner, on_delete=models.CASCADE, related_name="sync_flow_settings"
    )
    texts = models.JSONField(default=dict, blank=True)
    visible_accounts = models.JSONField(default=dict, blank=True)
    merchant_defaults = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "partner sync-flow settings"
        verbose_name_plural = "partner sync-flow settings"

    def __str__(self) -> str:
        return f"{self.partner} sync-flow settings"


class Connection(models.Model):
    class SourceType(models.TextChoices):
        COMMERCE = "commerce", "Commerce"
        ACCOUNTING = "accounting", "Accounting"

    class Status(models.TextChoices):
        PENDING_AUTH = "PendingAuth", "Pending authorisation"
        LINKED = "Linked", "Linked"
        UNLINKED = "Unlinked", "Unlinked"
        DEAUTHORIZED = "Deauthorized", "Deauthorised"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="connections")
    platform_key = models.CharField(max_length=50)
    source_type = models.CharField(max_length=20, choices=SourceType.choices)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING_AUTH)
    credentials = EncryptedJSONField(default=dict, blank=True)
    # Non-secret platform settings, e.g. sandbox orders_per_day, beancount ledger_path.
    settings = models.JSONField(default=dict, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            # A merchant books into one ledger; an unlinked one is history.
            models.UniqueConstraint(
                fields=["merchant"],
                condition=Q(source_type="accounting") & ~Q(status="Unlinked"),
                name="core_connection_one_active_accounting",
                violation_error_message="This merchant already has an accounting connection.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.platform_key} ({self.get_status_display()})"


class Frequency(models.TextChoices):
    DAILY = "Daily", "Daily"


_sync_hour_validators = [MaxValueValidator(23)]


class SyncConfiguration(models.Model):
    merchant = models.OneToOneField(
        Merchant, on_delete=models.CASCADE, related_name="sync_configuration"
    )
    # Codat's `commerceConfiguration` object: sales, payments, fees, mapSettings ...
    document = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    frequency = models.CharField(max_length=20, choices=Frequency.choices, default=Frequency.DAILY)
    start_date = models.DateField()
    sync_hour = models.PositiveSmallIntegerField(validators=_sync_hour_validators)
    time_zone = models.CharField(max_length=64, validators=[validate_time_zone])
    version = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(sync_hour__gte=0, sync_hour__lte=23),
                name="core_syncconfiguration_sync_hour_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.merchant} v{self.version}"


class SyncConfigurationVersion(models.Model):
    """An immutable copy of every saved configuration."""

    merchant = models.ForeignKey(
        Merchant, on_delete=models.CASCADE, related_name="sync_configuration_versions"
    )
    version = models.PositiveIntegerField()
    document = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    frequency = models.CharField(max_length=20, choices=Frequency.choices, default=Frequency.DAILY)
    start_date = models.DateField()
    sync_hour = models.PositiveSmallIntegerField(validators=_sync_hour_validators)
    time_zone = models.CharField(max_length=64, validators=[validate_time_zone])
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.CharField(max_length=200)  # an audit actor string

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "version"], name="core_syncconfigurationversion_unique"
            ),
            models.CheckConstraint(
                condition=Q(sync_hour__gte=0, sync_hour__lte=23),
                name="core_syncconfigurationversion_sync_hour_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.merchant} v{self.version}"


class SyncRun(models.Model):
    class Kind(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        LATEST = "latest", "To latest"
        HISTORIC = "historic", "Historic range"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    # The taxonomy's enum, under the name callers have always used.
    StatusCode = StatusCode

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="sync_runs")
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.SCHEDULED)
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    status_code = models.PositiveSmallIntegerField(
        choices=StatusCode.choices(), default=StatusCode.IN_PROGRESS.value
    )
    messages = models.JSONField(default=list, blank=True, encoder=DjangoJSONEncoder)
    counters = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    timings = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    data_pushed = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(period_end__gt=F("period_start")),
                name="core_syncrun_period_end_after_start",
            ),
        ]
        indexes = [
            models.Index(fields=["merchant", "period_start"]),
            # The portal: newest-first lists, date ranges, a merchant's history, 1010s.
            # Covering (index-only scans): the dashboard's counts per day and status.
            models.Index(
                fields=["created_at"],
                include=["status", "merchant"],
                name="core_syncrun_created_cover",
            ),
            models.Index(
                fields=["merchant", "created_at"],
                include=["status"],
                name="core_syncrun_merchant_created",
            ),
            models.Index(fields=["status", "created_at"], name="core_syncrun_status_created"),
            models.Index(
                fields=["created_at"],
                condition=Q(status_code=1010),
                name="core_syncrun_long_running",
            ),
            # /metrics counts the runs finished lately by status code.
            models.Index(fields=["finished_at"], name="core_syncrun_finished_at"),
            # The partner API's reads (selectors.sync_run_latest, sync_runs_history,
            # sync_run_last_successful) touch only the rows they answer with,
            # however long the merchant's history.
            models.Index(fields=["merchant", "-created_at", "-id"], name="core_syncrun_latest"),
            models.Index(
                fields=["merchant", "-finished_at", "-created_at"],
                condition=Q(status="succeeded"),
                name="core_syncrun_last_successful",
            ),
        ]
        # Changing a run's state from the admin or the portal (retrying its
        # failed items) is its own permission, not the view permission.
        permissions = [("retry_syncrun", "Can retry the failed push items of a sync run")]

    def __str__(self) -> str:
        return f"{self.kind} {self.period_start:%Y-%m-%d %H:%M} ({self.status})"


class PushItem(models.Model):
    """One accounting document to write, keyed so it is written at most once."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        PUSHING = "pushing", "Pushing"
        PUSHED = "pushed", "Pushed"
        FAILED = "failed", "Failed"

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="push_items")
    sync_run = models.ForeignKey(SyncRun, on_delete=models.CASCADE, related_name="push_items")
    kind = models.CharField(max_length=50)  # journalEntry, invoice, payment ...
    key = models.CharField(max_length=200)  # deterministic idempotency key
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    payload = models.JSONField(default=dict, encoder=DjangoJSONEncoder)
    target_id = models.CharField(max_length=200, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["merchant", "key"], name="core_pushitem_unique_key"),
        ]
        indexes = [
            models.Index(fields=["merchant", "status"]),
            # The portal's failed-items figure and list, operators included.
            models.Index(
                fields=["created_at"],
                condition=Q(status="failed"),
                name="core_pushitem_failed_created",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.key} ({self.status})"


class SourceRecord(models.Model):
    """A commerce record as read, kept to detect edits and late arrivals."""

    class Kind(models.TextChoices):
        ORDER = "order", "Order"
        TRANSACTION = "transaction", "Transaction"

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="source_records")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    source_id = models.CharField(max_length=200)
    created_date = models.DateTimeField()
    modified_date = models.DateTimeField(null=True, blank=True)
    content_hash = models.CharField(max_length=64)  # sha256 hex of the payload
    payload = models.JSONField(encoder=DjangoJSONEncoder)
    posted_run = models.ForeignKey(
        SyncRun,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="posted_records",
    )
    # The version that was posted, to compute what an edit changed.
    posted_payload = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder)
    first_seen_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "kind", "source_id"], name="core_sourcerecord_unique"
            ),
        ]
        indexes = [models.Index(fields=["merchant", "created_date"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.source_id}"


class AuditLog(models.Model):
    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.CharField(max_length=200)  # system, operator:<username>, partner:<slug>
    # SET_NULL: the trail outlives the merchant; object_id still names it.
    merchant = models.ForeignKey(
        Merchant, on_delete=models.SET_NULL, null=True, blank=True, related_name="audit_logs"
    )
    action = models.CharField(max_length=100)
    object_type = models.CharField(max_length=100)
    object_id = models.CharField(max_length=100)
    changes = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)

    class Meta:
        indexes = [models.Index(fields=["object_type", "object_id"])]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor} {self.action}"


class Incident(models.Model):
    """Something about a merchant that support (and the merchant) must hear
    of: open from the first time it is seen until it is resolved. At most one
    open incident per merchant, kind and key, so an alert goes out once per
    incident however often the cause repeats; a new incident after recovery
    alerts again. Opened, alerted and resolved by `core/services/alerts.py`."""

    class Kind(models.TextChoices):
        SYNC_FAILED = "sync_failed", "Sync failing"
        SYNC_DISABLED = "sync_disabled", "Merchant disabled"
        CONNECTION_DEAUTHORIZED = "connection_deauthorized", "Connection deauthorised"
        PAYOUT_RESIDUAL = "payout_residual", "Payout residual"

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="incidents")
    kind = models.CharField(max_length=40, choices=Kind.choices)
    # What the incident is about within its kind: a connection id, a payout id; "" for one per merchant.
    key = models.CharField(max_length=200, blank=True)
    message = models.TextField(blank=True)
    # Kind-specific facts: failing days and the last run, the payout's figures ...
    detail = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    opened_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    alerted_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "kind", "key"],
                condition=Q(resolved_at__isnull=True),
                name="core_incident_one_open",
            ),
        ]
        indexes = [models.Index(fields=["resolved_at", "opened_at"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.key} ({'open' if self.resolved_at is None else 'resolved'})"


class Alert(models.Model):
    """One message sent (or refused) about an incident, or a partner's daily
    digest: the channel, the audience, the recipients and the text, as sent."""

    class Channel(models.TextChoices):
        EMAIL = "email", "Email"
        WEBHOOK = "webhook", "Webhook"

    class Audience(models.TextChoices):
        SUPPORT = "support", "Partner support"
        MERCHANT = "merchant", "Merchant"
        PARTNER_API = "partner_api", "Partner webhooks"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="alerts")
    merchant = models.ForeignKey(
        Merchant, on_delete=models.CASCADE, null=True, blank=True, related_name="alerts"
    )
    incident = models.ForeignKey(
        Incident, on_delete=models.CASCADE, null=True, blank=True, related_name="alerts"
    )
    # An incident's kind, "resolved" for its end, or "digest".
    kind = models.CharField(max_length=40)
    channel = models.CharField(max_length=20, choices=Channel.choices)
    audience = models.CharField(max_length=20, choices=Audience.choices)
    recipients = models.JSONField(default=list, blank=True)
    language = models.CharField(max_length=10, blank=True)
    subject = models.CharField(max_length=300, blank=True)
    body = models.TextField(blank=True)
    webhook_event_id = models.CharField(max_length=64, blank=True)
    # The digest's day (partner's digests are sent once per day).
    digest_date = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["partner", "digest_date", "channel", "audience"],
                condition=Q(kind="digest"),
                name="core_alert_one_digest_a_day",
            ),
        ]
        indexes = [models.Index(fields=["partner", "created_at"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.channel} to {self.audience} ({self.status})"


class RateLimitBucket(models.Model):
    """One rate limit's state when counted in the database
    (services/rate_limits.py, without RATE_LIMIT_REDIS_URL): the GCRA's
    theoretical arrival time, in seconds since the epoch. One row per
    partner and limit, updated in place; never needs purging."""

    key = models.CharField(max_length=200, primary_key=True)
    tat = models.FloatField()

    def __str__(self) -> str:
        return self.key
