from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError

from commerce_sync.core import models
from tests import factories

pytestmark = pytest.mark.django_db

ALL_FACTORIES = [
    factories.PartnerFactory,
    factories.PartnerApiKeyFactory,
    factories.MerchantFactory,
    factories.ConnectionFactory,
    factories.SyncConfigurationFactory,
    factories.SyncConfigurationVersionFactory,
    factories.SyncRunFactory,
    factories.PushItemFactory,
    factories.SourceRecordFactory,
    factories.AuditLogFactory,
]


@pytest.mark.parametrize("factory", ALL_FACTORIES, ids=lambda f: f.__name__)
def test_factory_builds_a_valid_saved_row(factory):
    obj = factory()
    obj.full_clean()
    assert type(obj).objects.filter(pk=obj.pk).exists()


def test_child_factories_follow_the_given_run():
    run = factories.SyncRunFactory()
    item = factories.PushItemFactory(sync_run=run)
    record = factories.SourceRecordFactory(posted_run=run)
    assert item.merchant == run.merchant
    assert record.merchant == run.merchant
    assert factories.PushItemFactory(merchant=run.merchant).sync_run.merchant == run.merchant


def test_push_key_unique_per_merchant_but_not_across():
    item = factories.PushItemFactory(key="journalEntry:2024-03-01")
    factories.PushItemFactory(key=item.key)  # another merchant: fine
    with pytest.raises(IntegrityError), transaction.atomic():
        factories.PushItemFactory(sync_run=item.sync_run, key=item.key)


@pytest.mark.parametrize("currency", ["gbp", "Gbp", "GB", "G1P", "", "ÉUR"])
def test_currency_must_be_three_uppercase_letters(currency):
    with pytest.raises(IntegrityError), transaction.atomic():
        factories.MerchantFactory(currency=currency)


@pytest.mark.parametrize("hour", [-1, 24])
def test_sync_hour_outside_0_to_23_is_refused(hour):
    with pytest.raises(IntegrityError), transaction.atomic():
        factories.SyncConfigurationFactory(sync_hour=hour)


def test_sync_hour_bounds_are_accepted():
    factories.SyncConfigurationFactory(sync_hour=0)
    factories.SyncConfigurationFactory(sync_hour=23)


def test_one_accounting_connection_per_merchant_unless_unlinked():
    first = factories.ConnectionFactory(accounting=True)
    merchant = first.merchant
    with pytest.raises(IntegrityError), transaction.atomic():
        factories.ConnectionFactory(accounting=True, merchant=merchant)

    # Commerce connections are not limited; an Unlinked accounting one is history.
    factories.ConnectionFactory(merchant=merchant)
    factories.ConnectionFactory(merchant=merchant)
    first.status = models.Connection.Status.UNLINKED
    first.save(update_fields=["status", "updated_at"])
    factories.ConnectionFactory(accounting=True, merchant=merchant)
    factories.ConnectionFactory(
        accounting=True, merchant=merchant, status=models.Connection.Status.UNLINKED
    )


def test_deauthorized_accounting_connection_still_counts():
    first = factories.ConnectionFactory(
        accounting=True, status=models.Connection.Status.DEAUTHORIZED
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        factories.ConnectionFactory(accounting=True, merchant=first.merchant)


def test_period_end_must_follow_start():
    start = factories.PERIOD_START
    with pytest.raises(IntegrityError), transaction.atomic():
        factories.SyncRunFactory(period_start=start, period_end=start)
    with pytest.raises(IntegrityError), transaction.atomic():
        factories.SyncRunFactory(period_start=start, period_end=start - timedelta(hours=1))


def test_external_id_unique_per_partner_when_not_empty():
    merchant = factories.MerchantFactory(external_id="shop-1")
    factories.MerchantFactory(external_id="shop-1")  # another partner
    factories.MerchantFactory(partner=merchant.partner, external_id="")
    factories.MerchantFactory(partner=merchant.partner, external_id="")
    with pytest.raises(IntegrityError), transaction.atomic():
        factories.MerchantFactory(partner=merchant.partner, external_id="shop-1")


def test_source_record_unique_per_merchant_kind_and_id():
    record = factories.SourceRecordFactory(source_id="A1")
    factories.SourceRecordFactory(
        merchant=record.merchant, source_id="A1", kind=models.SourceRecord.Kind.TRANSACTION
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        factories.SourceRecordFactory(merchant=record.merchant, source_id="A1")


def test_configuration_version_unique_per_merchant():
    version = factories.SyncConfigurationVersionFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        factories.SyncConfigurationVersionFactory(
            merchant=version.merchant, version=version.version
        )


def test_partner_cannot_be_deleted_while_it_has_merchants():
    merchant = factories.MerchantFactory()
    with pytest.raises(ProtectedError):
        merchant.partner.delete()


def test_time_zone_is_validated():
    merchant = factories.MerchantFactory.build(time_zone="Mars/Olympus_Mons")
    with pytest.raises(ValidationError) as excinfo:
        merchant.full_clean(exclude=["partner"])
    assert "time_zone" in excinfo.value.error_dict


def test_decimal_counters_and_payloads_are_stored_as_json():
    run = factories.SyncRunFactory(counters={"total": Decimal("12.50")})
    item = factories.PushItemFactory(sync_run=run, payload={"amount": Decimal("1.005")})
    run.refresh_from_db()
    item.refresh_from_db()
    assert run.counters == {"total": "12.50"}
    assert item.payload == {"amount": "1.005"}
