"""get-configuration / set-configuration: Codat's `Configuration`, options
read live from the accounting software (cached), every problem named."""

from __future__ import annotations

import copy
from datetime import date
from pathlib import Path

import pytest
from codat_sync_for_commerce.models import shared as sdk
from django.core.cache import cache
from django.utils import timezone

from commerce_sync.core.models import AuditLog, Connection, SyncConfigurationVersion
from commerce_sync.core.services import configuration as configuration_service
from commerce_sync.core.services.demo import DEMO_ACCOUNTS, demo_seed
from commerce_sync.core.services.partners import partner_api_key_create
from commerce_sync.errors import PlatformUnavailable
from commerce_sync.syncs.runs import sync_run_execute
from tests.api.helpers import Api, assert_error, codat_properties, error_items
from tests.factories import MerchantFactory, PartnerFactory


@pytest.fixture
def demo(db, settings, tmp_path: Path):
    settings.LEDGER_DIR = str(tmp_path / "ledgers")
    cache.clear()
    return demo_seed(days=2, orders_per_day=8, today=timezone.localdate())


@pytest.fixture
def api(client, demo) -> Api:
    _, key = partner_api_key_create(partner=demo.merchant.partner, name="test")
    return Api(client, key)


def path(merchant) -> str:
    return f"/config/companies/{merchant.pk}/sync/commerce"


def test_get_configuration_with_live_options(api, demo):
    response = api.get(path(demo.merchant))
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) - {"warnings"} == codat_properties("Configuration")
    assert body["warnings"] == []
    sdk.Configuration.model_validate(body)  # Codat's client reads it
    assert body["companyId"] == str(demo.merchant.pk)
    assert body["configured"] is True and body["enable"] is True
    schedule = body["schedule"]
    assert schedule["selectedFrequency"] == "Daily" and schedule["syncHour"] == 0
    assert schedule["timeZone"] == "Europe/London"
    assert schedule["startDate"].startswith(str(demo.merchant.sync_configuration.start_date))
    config = body["configuration"]
    assert set(config) <= {
        "countryCode",
        "mapSettings",
        "sales",
        "payments",
        "fees",
        "newPayments",
    }
    sales_account = config["sales"]["accounts"]["sales"]
    assert sales_account["selectedAccountId"] == "Income:Sales:Other"
    assert set(sales_account) <= {
        "labelText",
        "descriptionText",
        "selectedAccountId",
        "required",
        "accountOptions",
    }
    options = {o["id"] for o in sales_account["accountOptions"]}
    assert options == {account for account, *_ in DEMO_ACCOUNTS}
    # Slots not configured yet are offered empty, with the same options.
    assert config["payments"]["accounts"]["invoice"]["selectedAccountId"] is None
    assert config["payments"]["accounts"]["invoice"]["accountOptions"]
    # The ledger's tax rates (its VAT liability account) are offered.
    rates = config["sales"]["newTaxRates"]["accountingTaxRateOptions"]
    assert rates == [{"id": "Liabilities:VAT:Output", "name": "VAT on sales"}]


def test_options_are_cached_per_connection(api, demo, monkeypatch):
    calls = []
    real = configuration_service.connection_target

    def counting(*, connection):
        calls.append(connection.pk)
        return real(connection=connection)

    monkeypatch.setattr(configuration_service, "connection_target", counting)
    for _ in range(3):
        assert api.get(path(demo.merchant)).status_code == 200
    assert len(calls) == 1


def test_a_failing_accounting_target_gives_the_configuration_without_options(
    api, demo, monkeypatch
):
    class Down:
        platform_key = "beancount"

        def list_accounts(self):
            raise PlatformUnavailable("the ledger is unreachable")

    monkeypatch.setattr(configuration_service, "connection_target", lambda **_: Down())
    response = api.get(path(demo.merchant))
    assert response.status_code == 200
    body = response.json()
    assert body["configuration"]["sales"]["accounts"]["sales"]["accountOptions"] is None
    assert body["configuration"]["sales"]["accounts"]["sales"]["selectedAccountId"] == (
        "Income:Sales:Other"
    )
    [warning] = body["warnings"]
    assert "could not be read" in warning["message"] and "unreachable" in warning["message"]

    # Setting needs the accounting software: 503, retryable, nothing saved.
    edited = {"configuration": body["configuration"]}
    failed = assert_error(api.post(path(demo.merchant), edited), 503)
    assert failed["canBeRetried"] == "True"
    assert demo.merchant.sync_configuration_versions.count() == 1


def test_set_configuration_saves_a_new_version_from_what_get_returned(api, demo):
    body = api.get(path(demo.merchant)).json()
    edited = copy.deepcopy(body)
    edited["configuration"]["sales"]["accounts"]["sales"]["selectedAccountId"] = (
        "Income:Sales:Coffee"
    )
    edited["schedule"]["syncHour"] = 5
    edited["schedule"]["startDate"] = "2026-01-01T00:00:00Z"
    response = api.post(path(demo.merchant), edited)
    assert response.status_code == 200, response.content
    saved = response.json()
    assert saved["configuration"]["sales"]["accounts"]["sales"]["selectedAccountId"] == (
        "Income:Sales:Coffee"
    )
    assert saved["schedule"]["syncHour"] == 5
    config = demo.merchant.sync_configuration
    config.refresh_from_db()
    assert config.version == 2 and config.sync_hour == 5
    assert config.start_date == date(2026, 1, 1)
    # Only the choices are stored: no options, no labels, no empty slots.
    stored = config.document
    assert stored["sales"]["accounts"]["sales"] == {"selectedAccountId": "Income:Sales:Coffee"}
    assert "invoice" not in stored["payments"]["accounts"]
    assert "accountOptions" not in str(stored) and "labelText" not in str(stored)
    version = SyncConfigurationVersion.objects.get(merchant=demo.merchant, version=2)
    assert version.created_by == f"partner:{demo.merchant.partner.slug}"
    assert AuditLog.objects.filter(action="sync_configuration.save", actor=version.created_by)


def test_set_configuration_refuses_with_every_problem_named(api, demo, settings):
    merchant = demo.merchant
    # Some history, so the payment types in the data are known (Card, Cash, ...):
    # fixed generated days, so that Cash is among them whatever the merchant id.
    Connection.objects.filter(merchant=merchant, platform_key="sandbox").update(
        settings={"orders_per_day": 40, "seed": "configuration-fixture"}
    )
    assert sync_run_execute(merchant=merchant).status_code == 2000
    with open(demo.ledger_path, "a") as ledger:
        ledger.write(f"\n{timezone.localdate()} close Assets:Clearing:OnlineCard\n")
    cache.clear()

    body = api.get(path(merchant)).json()
    bad = copy.deepcopy(body)
    config = bad["configuration"]
    config["sales"]["accounts"]["sales"]["selectedAccountId"] = "Income:Nowhere"
    config["payments"]["accounts"]["card"]["selectedAccountId"] = "Assets:Bank:Current"  # = payout
    config["payments"]["accounts"]["cash"]["selectedAccountId"] = None  # Cash is in the data
    config["fees"]["accounts"]["paymentFee"]["selectedAccountId"] = None
    config["sales"]["newTaxRates"]["selectedDefaultZeroTaxRateId"] = "NO-SUCH-RATE"
    bad["schedule"] = {"syncHour": 25, "timeZone": "Mars/Olympus", "startDate": "someday"}
    bad["enable"] = False

    response = api.post(path(merchant), bad)
    items = error_items(assert_error(response, 400))
    for item in (
        "configuration.sales.accounts.sales.selectedAccountId",  # not in the ledger
        "configuration.payments.accounts.onlineCard.selectedAccountId",  # archived
        "configuration.payments.accounts.cash.selectedAccountId",  # seen, unmapped
        "configuration.fees.accounts.paymentFee.selectedAccountId",  # required
        "configuration.sales.newTaxRates.selectedDefaultZeroTaxRateId",
        "configuration",  # card = payout (the mapping's own rule)
        "schedule.syncHour",
        "schedule.timeZone",
        "schedule.startDate",
        "enable",
    ):
        assert item in items, (item, items)
    assert any("payout" in m for m in items["configuration"])
    assert any(
        "archived" in m
        for m in items["configuration.payments.accounts.onlineCard.selectedAccountId"]
    )
    assert merchant.sync_configuration_versions.count() == 1


def test_unknown_nested_fields_are_refused_by_their_path_and_nothing_is_saved(api, demo):
    body = api.get(path(demo.merchant)).json()
    config = body["configuration"]
    config["sales"]["accounts"]["sales"]["selectedAcountId"] = "Income:Sales:Coffee"  # typo
    config["mapSettings"]["rounding"] = "up"
    config["sales"]["grouping"]["groupingLevels"] = {"invoiceLevel": {"byTill": True}}
    config["sales"]["newTaxRates"]["taxRateMappings"] = [
        {"selectedAccountingTaxRateId": "x", "rate": 1}
    ]
    config["payouts"] = {}
    response = api.post(path(demo.merchant), body)
    body = assert_error(response, 400)
    items = error_items(body)
    for where in (
        "configuration.sales.accounts.sales.selectedAcountId",
        "configuration.mapSettings.rounding",
        "configuration.sales.grouping.groupingLevels.invoiceLevel.byTill",
        "configuration.sales.newTaxRates.taxRateMappings.0.rate",
        "configuration.payouts",
    ):
        assert where in items, (where, items)
    assert "outputFormat" in items["configuration.mapSettings.rounding"][0]
    # Codat's ErrorMessage: each item names its path and the rule.
    names = {e["validatorName"] for e in body["validation"]["errors"]}
    assert "unknownField" in names
    assert demo.merchant.sync_configuration_versions.count() == 1


def test_invoices_need_a_customer_and_a_fees_supplier(api, demo):
    body = api.get(path(demo.merchant)).json()
    body["configuration"]["mapSettings"] = {"outputFormat": "Invoice"}
    items = error_items(assert_error(api.post(path(demo.merchant), body), 400))
    assert "configuration.sales.salesCustomer.selectedCustomerId" in items
    assert "configuration.fees.feesSupplier.selectedSupplierId" in items


def test_set_configuration_without_a_body_or_for_another_company(api, demo):
    items = error_items(assert_error(api.post(path(demo.merchant), raw=""), 400))
    assert "configuration" in items
    body = api.get(path(demo.merchant)).json()
    body["companyId"] = "someone-else"
    assert "companyId" in error_items(assert_error(api.post(path(demo.merchant), body), 400))


def test_without_accounting_software_the_default_is_offered_and_saved_with_a_warning(client, db):
    cache.clear()
    merchant = MerchantFactory()
    _, key = partner_api_key_create(partner=merchant.partner, name="k")
    api = Api(client, key)
    body = api.get(path(merchant)).json()
    assert body["configured"] is False
    assert body["configuration"]["sales"]["accounts"]["sales"] == {
        "selectedAccountId": None,
        "labelText": "Sales",
        "required": True,
        "accountOptions": None,
    }
    assert [w["validatorName"] for w in body["warnings"]] == ["NoOptions"]
    sdk.Configuration.model_validate(body)
    accounts = body["configuration"]
    for section, key_, account in (
        ("sales", "sales", "4000"),
        ("sales", "refund", "4000"),
        ("payments", "card", "1100"),
        ("payments", "payout", "1200"),
        ("fees", "paymentFee", "6100"),
    ):
        accounts[section]["accounts"][key_]["selectedAccountId"] = account
    response = api.post(path(merchant), body)
    assert response.status_code == 200, response.content
    saved = response.json()
    assert saved["configured"] is True
    assert "NotVerified" in [w["validatorName"] for w in saved["warnings"]]


def test_another_partner_gets_404_and_changes_nothing(api, demo, client):
    partner_b = PartnerFactory()
    _, key = partner_api_key_create(partner=partner_b, name="b")
    other = Api(client, key)
    body = api.get(path(demo.merchant)).json()
    assert_error(other.get(path(demo.merchant)), 404)
    assert_error(other.post(path(demo.merchant), body), 404)
    assert demo.merchant.sync_configuration_versions.count() == 1
    assert_error(other.get("/config/companies/not-a-uuid/sync/commerce"), 404)


@pytest.mark.parametrize(
    "body",
    [
        {"configuration": []},
        {"configuration": {"sales": "x", "payments": [], "fees": 3}},
        {"configuration": {"sales": {"accounts": []}}, "schedule": "daily"},
        {
            "configuration": {"mapSettings": {"outputFormat": "Ledger"}},
            "schedule": {"syncHour": "5"},
        },
        [1, 2],
    ],
)
def test_malformed_configurations_are_400s_never_500s(api, demo, body):
    response = api.post(path(demo.merchant), body)
    assert error_items(assert_error(response, 400))
    assert demo.merchant.sync_configuration_versions.count() == 1
