"""The core domain: partners, merchants, connections, configuration, syncs.

Models hold fields and constraints only; behaviour lives in `services/` and
reads in `selectors.py`. Services that `save(update_fields=...)` must list
`updated_at` too, or `auto_now` is not applied.
"""

import uuid

from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import MaxValueValidator, RegexValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from commerce_sync.core.validators import validate_time_zone
from commerce_sync.errors import StatusCode
from connectors.credentials import EncryptedJSONField


class Partner(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100, unique=True)
    # display name, logo URL, colours for the setup flow
    branding = models.JSONField(default=dict, blank=True)
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
    country = models.CharField(
        max_length=2, validators=[RegexValidator(r"^[A-Z]{2}$", "ISO 3166 alpha-2 code.")]
    )
    currency = models.CharField(
        max_length=3, validators=[RegexValidator(r"^[A-Z]{3}$", "ISO 4217 code.")]
    )
    time_zone = models.CharField(max_length=64, validators=[validate_time_zone])
    enabled = models.BooleanField(default=True)
    configured = models.BooleanField(default=False)
    disabled_reason = models.TextField(blank=True)
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
        indexes = [models.Index(fields=["merchant", "period_start"])]
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
        indexes = [models.Index(fields=["merchant", "status"])]

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
