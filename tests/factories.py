"""factory-boy factories, one per core model.

Child rows follow their parent's merchant: `PushItemFactory(sync_run=run)`
uses `run.merchant`, `SyncRunFactory(merchant=m)` belongs to `m`.
"""

from datetime import UTC, date, datetime, timedelta
from typing import Any

import factory
from factory.django import DjangoModelFactory

from commerce_sync.core import models
from commerce_sync.core.keys import PREFIX_LENGTH, api_key_generate, api_key_hash

PERIOD_START = datetime(2024, 3, 1, 4, tzinfo=UTC)


class PartnerFactory(DjangoModelFactory):
    class Meta:
        model = models.Partner

    name = factory.Sequence(lambda n: f"Partner {n}")
    slug = factory.Sequence(lambda n: f"partner-{n}")
    branding = factory.LazyAttribute(lambda o: {"displayName": o.name, "primaryColor": "#1f6feb"})


class PartnerApiKeyFactory(DjangoModelFactory):
    class Meta:
        model = models.PartnerApiKey

    class Params:
        plaintext = factory.LazyFunction(api_key_generate)

    partner = factory.SubFactory(PartnerFactory)
    name = "default"
    prefix = factory.LazyAttribute(lambda o: o.plaintext[:PREFIX_LENGTH])
    hashed_key = factory.LazyAttribute(lambda o: api_key_hash(o.plaintext))


class MerchantFactory(DjangoModelFactory):
    class Meta:
        model = models.Merchant

    partner = factory.SubFactory(PartnerFactory)
    external_id = factory.Sequence(lambda n: f"ext-{n}")
    name = factory.Sequence(lambda n: f"Merchant {n}")
    country = "GB"
    currency = "GBP"
    time_zone = "Europe/London"


class ConnectionFactory(DjangoModelFactory):
    class Meta:
        model = models.Connection

    merchant = factory.SubFactory(MerchantFactory)
    platform_key = "sandbox"
    source_type = models.Connection.SourceType.COMMERCE
    status = models.Connection.Status.LINKED
    credentials = factory.Sequence(lambda n: {"access_token": f"tok-{n}-s3cr3t"})
    settings = factory.LazyFunction(lambda: {"orders_per_day": 20})

    class Params:
        accounting = factory.Trait(
            platform_key="beancount",
            source_type=models.Connection.SourceType.ACCOUNTING,
            credentials={},
            settings={"ledger_path": "ledger.beancount"},
        )


def _document() -> dict[str, Any]:
    # The demo café's mapping: a valid Codat-shaped configuration.
    from commerce_sync.core.services.demo import demo_configuration

    return demo_configuration()


class SyncConfigurationFactory(DjangoModelFactory):
    class Meta:
        model = models.SyncConfiguration

    merchant = factory.SubFactory(MerchantFactory, configured=True)
    document = factory.LazyFunction(_document)
    start_date = date(2024, 3, 1)
    sync_hour = 4
    time_zone = factory.SelfAttribute("merchant.time_zone")
    version = 1


class SyncConfigurationVersionFactory(DjangoModelFactory):
    class Meta:
        model = models.SyncConfigurationVersion

    merchant = factory.SubFactory(MerchantFactory)
    version = factory.Sequence(lambda n: n + 1)
    document = factory.LazyFunction(_document)
    start_date = date(2024, 3, 1)
    sync_hour = 4
    time_zone = factory.SelfAttribute("merchant.time_zone")
    created_by = "system"


class SyncRunFactory(DjangoModelFactory):
    class Meta:
        model = models.SyncRun

    merchant = factory.SubFactory(MerchantFactory)
    kind = models.SyncRun.Kind.SCHEDULED
    period_start = PERIOD_START
    period_end = factory.LazyAttribute(lambda o: o.period_start + timedelta(days=1))


class _MerchantFromRunMixin:
    """Take the merchant from the run the caller passed, unless given both."""

    _run_field = "sync_run"

    @classmethod
    def _generate(cls, strategy: Any, params: dict[str, Any]) -> Any:
        run = params.get(cls._run_field)
        if run is not None and "merchant" not in params:
            params["merchant"] = run.merchant
        return super()._generate(strategy, params)  # type: ignore[misc]


class PushItemFactory(_MerchantFromRunMixin, DjangoModelFactory):
    class Meta:
        model = models.PushItem

    merchant = factory.SubFactory(MerchantFactory)
    sync_run = factory.SubFactory(SyncRunFactory, merchant=factory.SelfAttribute("..merchant"))
    kind = "journalEntry"
    key = factory.Sequence(lambda n: f"journalEntry:2024-03-01:{n}")
    payload = factory.LazyFunction(lambda: {"type": "journalEntry", "lines": []})


class SourceRecordFactory(_MerchantFromRunMixin, DjangoModelFactory):
    class Meta:
        model = models.SourceRecord

    _run_field = "posted_run"

    merchant = factory.SubFactory(MerchantFactory)
    kind = models.SourceRecord.Kind.ORDER
    source_id = factory.Sequence(lambda n: f"order-{n}")
    created_date = PERIOD_START + timedelta(hours=2)
    content_hash = factory.Sequence(lambda n: f"{n:064x}")
    payload = factory.LazyAttribute(lambda o: {"id": o.source_id, "totalAmount": "12.50"})
    posted_run = None


class AuditLogFactory(DjangoModelFactory):
    class Meta:
        model = models.AuditLog

    actor = "system"
    merchant = factory.SubFactory(MerchantFactory)
    action = "merchant.update"
    object_type = "core.merchant"
    object_id = factory.LazyAttribute(lambda o: str(o.merchant.pk))
    changes = factory.LazyFunction(dict)
