from datetime import date

import pytest
from django.core.exceptions import ValidationError

from commerce_sync.core import selectors
from commerce_sync.core.keys import api_key_hash
from commerce_sync.core.models import AuditLog, Connection, SyncConfigurationVersion
from commerce_sync.core.services.audit import audit_log_write, partner_actor
from commerce_sync.core.services.connections import connection_create
from commerce_sync.core.services.merchants import (
    merchant_create,
    sync_configuration_save,
)
from commerce_sync.core.services.partners import (
    partner_api_key_create,
    partner_api_key_revoke,
    partner_create,
)
from tests.factories import ConnectionFactory, MerchantFactory, SyncRunFactory

pytestmark = pytest.mark.django_db

ACTOR = "operator:alice"


def audit_actions(obj=None):
    rows = AuditLog.objects.order_by("at", "id")
    if obj is not None:
        rows = rows.filter(object_type=obj._meta.label_lower, object_id=str(obj.pk))
    return list(rows.values_list("action", flat=True))


def test_partner_create_is_audited():
    partner = partner_create(name="Till Co", slug="till-co", branding={"displayName": "Till"})
    assert partner.branding == {"displayName": "Till"}
    assert audit_actions(partner) == ["partner.create"]


def test_partner_create_validates_the_slug():
    with pytest.raises(ValidationError):
        partner_create(name="Bad", slug="not a slug")


def test_api_key_is_shown_once_and_stored_hashed(partner):
    key, plaintext = partner_api_key_create(partner=partner, name="production", actor=ACTOR)
    assert key.prefix == plaintext[:8]
    assert key.hashed_key == api_key_hash(plaintext)
    assert plaintext not in key.hashed_key
    assert selectors.partner_get_by_api_key(plaintext=plaintext) == partner
    assert selectors.partner_get_by_api_key(plaintext=plaintext[:8] + "x" * 35) is None
    assert audit_actions(key) == ["partner_api_key.create"]

    partner_api_key_revoke(key=key, actor=ACTOR)
    assert key.revoked_at is not None
    assert selectors.partner_get_by_api_key(plaintext=plaintext) is None


def test_merchant_create(partner):
    merchant = merchant_create(
        partner=partner,
        name="Corner Café",
        country="GB",
        currency="GBP",
        time_zone="Europe/London",
        external_id="m-1",
        actor=partner_actor(partner.slug),
    )
    assert merchant.enabled and not merchant.configured
    row = AuditLog.objects.get(action="merchant.create")
    assert row.merchant == merchant
    assert row.actor == f"partner:{partner.slug}"
    assert selectors.merchant_get(merchant_id=merchant.pk, partner=partner) == merchant


@pytest.mark.parametrize(
    "field,value",
    [("currency", "gbp"), ("country", "GBR"), ("time_zone", "Europe/Atlantis")],
)
def test_merchant_create_refuses_bad_values(partner, field, value):
    values = {"name": "M", "country": "GB", "currency": "GBP", "time_zone": "UTC"}
    values[field] = value
    with pytest.raises(ValidationError) as excinfo:
        merchant_create(partner=partner, **values)
    assert field in excinfo.value.error_dict


def test_merchant_create_refuses_duplicate_external_id(merchant):
    with pytest.raises(ValidationError):
        merchant_create(
            partner=merchant.partner,
            name="Twin",
            country="GB",
            currency="GBP",
            time_zone="UTC",
            external_id=merchant.external_id,
        )


def test_merchant_get_scopes_to_partner_and_tolerates_bad_ids(merchant):
    other = MerchantFactory()
    assert selectors.merchant_get(merchant_id=other.pk, partner=merchant.partner) is None
    assert selectors.merchant_get(merchant_id="not-a-uuid") is None


def test_connection_create_audits_without_secrets(merchant):
    connection = connection_create(
        merchant=merchant,
        platform_key="beancount",
        source_type=Connection.SourceType.ACCOUNTING,
        credentials={"api_token": "hunter2-secret"},
        settings={"ledger_path": "m.beancount"},
        status=Connection.Status.LINKED,
    )
    row = AuditLog.objects.get(action="connection.create")
    assert row.merchant == merchant
    assert "hunter2-secret" not in str(row.changes)
    assert selectors.connection_accounting_get(merchant=merchant) == connection


def test_connection_create_refuses_a_second_accounting_connection(merchant):
    ConnectionFactory(merchant=merchant, accounting=True)
    with pytest.raises(ValidationError):
        connection_create(
            merchant=merchant,
            platform_key="xero",
            source_type=Connection.SourceType.ACCOUNTING,
            credentials={},
            settings={},
            status=Connection.Status.PENDING_AUTH,
        )


def save_configuration(merchant, **overrides):
    values = {
        "document": {"sales": {"accounts": {"sales": {"selectedAccountId": "4000"}}}},
        "start_date": date(2024, 3, 1),
        "sync_hour": 4,
        "time_zone": "Europe/London",
        "actor": ACTOR,
    }
    return sync_configuration_save(merchant=merchant, **values | overrides)


def test_configuration_versions(merchant):
    first = save_configuration(merchant)
    assert first.version == 1
    merchant.refresh_from_db()
    assert merchant.configured

    second = save_configuration(
        merchant, sync_hour=6, document={"mapSettings": {"outputFormat": "Invoice"}}
    )
    assert second.pk == first.pk
    assert second.version == 2

    versions = SyncConfigurationVersion.objects.filter(merchant=merchant).order_by("version")
    assert [(v.version, v.sync_hour, v.created_by) for v in versions] == [
        (1, 4, ACTOR),
        (2, 6, ACTOR),
    ]
    assert versions[0].document == {"sales": {"accounts": {"sales": {"selectedAccountId": "4000"}}}}

    rows = AuditLog.objects.filter(action="sync_configuration.save").order_by("id")
    assert [r.changes for r in rows][-1] == {"version": 2, "changed": ["document", "sync_hour"]}
    assert selectors.sync_configuration_get(merchant=merchant).version == 2


@pytest.mark.parametrize(
    "overrides",
    [
        {"sync_hour": 24},
        {"sync_hour": -1},
        {"time_zone": "Nowhere/Town"},
        {"document": {"sales": {"accounts": ["4000"]}}},
        {"document": {"mapSettings": {"outputFormat": "Spreadsheet"}}},
        {
            "document": {
                "payments": {
                    "accounts": {
                        "card": {"selectedAccountId": "1100"},
                        "payout": {"selectedAccountId": "1100"},
                    }
                }
            }
        },
    ],
)
def test_invalid_configuration_is_refused_and_keeps_no_version(merchant, overrides):
    with pytest.raises(ValidationError):
        save_configuration(merchant, **overrides)
    assert not SyncConfigurationVersion.objects.filter(merchant=merchant).exists()
    merchant.refresh_from_db()
    assert not merchant.configured


def test_audit_log_write_takes_the_merchant_from_the_object(merchant):
    run = SyncRunFactory(merchant=merchant)
    row = audit_log_write(actor="system", action="sync_run.start", obj=run)
    assert row.merchant_id == merchant.pk
    assert (row.object_type, row.object_id) == ("core.syncrun", str(run.pk))


def test_sync_runs_for_merchant_filters_by_overlap(merchant):
    march_1 = SyncRunFactory(merchant=merchant)
    march_2 = SyncRunFactory(merchant=merchant, period_start=march_1.period_end)
    SyncRunFactory()  # someone else's
    runs = selectors.sync_runs_for_merchant(merchant=merchant)
    assert list(runs) == [march_2, march_1]
    only_2 = selectors.sync_runs_for_merchant(merchant=merchant, period_from=march_1.period_end)
    assert list(only_2) == [march_2]
