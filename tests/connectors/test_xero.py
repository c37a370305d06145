"""The Xero connector against its contract double; every exchange is checked
against Xero's published OpenAPI description (the `xero` fixture asserts no
violations at the end of each test)."""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import timezone

from commerce_sync.core.models import Connection, PushItem, SyncRun
from commerce_sync.core.services import syncs
from commerce_sync.core.services.merchants import (
    connection_create,
    merchant_create,
    sync_configuration_save,
)
from commerce_sync.errors import (
    CredentialsRevoked,
    DocumentRejected,
    PlatformUnavailable,
    RateLimited,
    SubscriptionExpired,
)
from connectors import registry
from connectors.protocols import CommerceBatch
from connectors.xero.adapter import XeroTarget
from connectors.xero.client import idempotency_key
from connectors.xero.oauth import xero_tenant_select, xero_tenants
from mapping.preview import preview
from tests.doubles.xero_double import PAYABLE, RECEIVABLE, XeroBooks, XeroDouble

SCENARIOS = Path(__file__).resolve().parents[3] / "shared" / "scenarios"
CUSTOMER = "0f5a4a8e-1f40-4a6e-9d55-5b7f3c0c0001"
SUPPLIER = "0f5a4a8e-1f40-4a6e-9d55-5b7f3c0c0002"
NOW = datetime(2026, 11, 10, 9, 0, tzinfo=UTC)


def uk_books() -> XeroBooks:
    bank = {"Type": "BANK"}
    return XeroBooks(
        accounts=[
            {"Code": "1000", "Name": "Cash clearing", **bank},
            {"Code": "1100", "Name": "Card clearing", **bank},
            {"Code": "1110", "Name": "Online card clearing", **bank},
            {"Code": "1200", "Name": "Business bank", **bank},
            {"Code": "2150", "Name": "Tips owed", "Type": "CURRLIAB"},
            {"Code": "2200", "Name": "VAT", "Type": "CURRLIAB"},
            # Gift cards redeemed are "payments" into the liability, so it takes them.
            {
                "Code": "2300",
                "Name": "Gift cards",
                "Type": "CURRLIAB",
                "EnablePaymentsToAccount": True,
            },
            {"Code": "4000", "Name": "Sales", "Type": "REVENUE"},
            {"Code": "4010", "Name": "Service charges", "Type": "REVENUE"},
            {"Code": "6100", "Name": "Card fees", "Type": "EXPENSE"},
            {"Code": "200", "Name": "Old sales", "Type": "REVENUE", "Status": "ARCHIVED"},
        ],
        contacts=[
            {"ContactID": CUSTOMER, "Name": "POS sales", "IsCustomer": True},
            {"ContactID": SUPPLIER, "Name": "Card processor", "IsSupplier": True},
        ],
        tax_rates=[
            {"TaxType": "OUTPUT2", "Name": "20% (VAT on Income)", "EffectiveRate": 20},
            {"TaxType": "ZERORATEDOUTPUT", "Name": "Zero Rated Income", "EffectiveRate": 0},
            {"TaxType": "NONE", "Name": "No VAT", "EffectiveRate": 0},
        ],
    )


@pytest.fixture
def xero(settings: Any) -> Iterator[XeroDouble]:
    with XeroDouble(uk_books()) as double:
        settings.XERO_API_URL = double.api_url
        settings.XERO_IDENTITY_URL = double.url
        settings.XERO_CLIENT_ID = "client-id"
        settings.XERO_CLIENT_SECRET = "client-secret"
        yield double
    assert double.violations == []


def xero_connection(merchant: Any, xero: XeroDouble, *, expires_in: int = 1800) -> Connection:
    return connection_create(
        merchant=merchant,
        platform_key="xero",
        source_type=Connection.SourceType.ACCOUNTING,
        credentials={
            "access_token": "at-0",
            "refresh_token": "rt-0",
            "expires_at": (timezone.now() + timedelta(seconds=expires_in)).isoformat(),
        },
        settings={"tenant_id": xero.tenant_id, "bank_contact_id": SUPPLIER},
        status=Connection.Status.LINKED,
    )


@pytest.fixture
def connection(merchant: Any, xero: XeroDouble) -> Connection:
    return xero_connection(merchant, xero)


@pytest.fixture
def target(connection: Connection) -> XeroTarget:
    built = registry.accounting_target(connection)
    assert isinstance(built, XeroTarget)
    return built


def scenario_documents(name: str) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The scenario's documents, its contacts swapped for the double's, and
    its expected balances."""
    scenario = json.loads((SCENARIOS / name).read_text(), parse_float=Decimal)
    config = scenario["configuration"]
    config["sales"]["salesCustomer"] = {"selectedCustomerId": CUSTOMER}
    config["fees"]["feesSupplier"] = {"selectedSupplierId": SUPPLIER}
    result = preview(scenario)
    assert not result.errors
    documents = json.loads(json.dumps([d.as_json() for d in result.documents]))
    expected = scenario["expected"]
    if "invoice" in expected:
        return documents, expected["invoice"]["balances"]
    # The double keeps one set of books: the groups' movements add up.
    balances: dict[str, Decimal] = defaultdict(Decimal)
    for group in expected["journal"]["groups"]:
        for account, amount in group["balances"].items():
            balances[account] += Decimal(amount)
    return documents, {k: str(v) for k, v in balances.items() if v}


def assert_books_match(xero: XeroDouble, expected: dict[str, str]) -> None:
    balances = xero.books.nonzero_balances()
    assert balances.pop(RECEIVABLE, Decimal(0)) == 0
    assert balances.pop(PAYABLE, Decimal(0)) == 0
    assert balances == {k: Decimal(v) for k, v in expected.items()}


# -- reads ---------------------------------------------------------------------


def test_setup_reads(target: XeroTarget, xero: XeroDouble) -> None:
    accounts = {a.id: a for a in target.list_accounts()}
    assert accounts["4000"].type == "Income" and accounts["4000"].status == "Active"
    assert accounts["200"].status == "Archived"
    assert accounts["1100"].type == "Asset"
    assert {r.id: r.rate for r in target.list_tax_rates()}["OUTPUT2"] == "20"
    assert [c.id for c in target.list_contacts()] == [CUSTOMER]
    assert [c.id for c in target.list_contacts(suppliers=True)] == [SUPPLIER]
    assert target.list_tracking_options() == []
    assert target.list_currencies() == ["GBP"]
    assert target.base_currency() == "GBP"
    created = target.create_account(account_id="4090", name="Other sales", account_type="Income")
    assert created.id == "4090" and created.type == "Income"
    assert xero.books.accounts["4090"]["Type"] == "REVENUE"
    supplier = target.create_contact(name="Fees Co", supplier=True)
    assert supplier.id in xero.books.contacts
    # Every call carries the tenant and asks for JSON.
    assert {h["xero-tenant-id"] for _, _, h in xero.requests} == {xero.tenant_id}
    assert {h["Accept"] for _, _, h in xero.requests} == {"application/json"}


def test_tenant_selection(xero: XeroDouble) -> None:
    tenants = xero_tenants(access_token="at-0")
    assert xero_tenant_select(tenants).tenant_id == xero.tenant_id
    with pytest.raises(CredentialsRevoked):
        xero_tenants(access_token="wrong")


# -- writes --------------------------------------------------------------------


def scenario_books(documents: list[dict[str, Any]], configuration: dict[str, Any]) -> XeroBooks:
    """An organisation holding every account and tax rate the documents use:
    payment clearing and payout accounts are bank accounts (Xero takes
    payments, bank transactions and transfers only there)."""
    payment_accounts = {
        name: ref["selectedAccountId"]
        for name, ref in configuration.get("payments", {}).get("accounts", {}).items()
    }
    banks = {a for name, a in payment_accounts.items() if name != "prepaidPayment"}
    refs = set(banks) | {payment_accounts.get("prepaidPayment")} - {None}
    tax_rates = set()
    for doc in documents:
        for line in doc.get("journalLines", []) + doc.get("lineItems", []):
            refs.add(line["accountRef"]["id"])
            if line.get("taxRateRef"):
                tax_rates.add(line["taxRateRef"]["id"])
        refs |= {doc[k]["id"] for k in ("accountRef", "fromAccountRef", "toAccountRef") if k in doc}
    accounts = [
        {"Code": code, "Name": code, "Type": "BANK" if code in banks else "CURRENT"}
        | ({"EnablePaymentsToAccount": True} if code not in banks else {})
        for code in sorted(refs)
    ]
    return XeroBooks(
        accounts=accounts,
        contacts=[
            {"ContactID": CUSTOMER, "Name": "POS sales", "IsCustomer": True},
            {"ContactID": SUPPLIER, "Name": "Card processor", "IsSupplier": True},
        ],
        tax_rates=[{"TaxType": t, "Name": t} for t in sorted(tax_rates | {"NONE"})],
    )


@pytest.mark.parametrize("name", sorted(p.name for p in SCENARIOS.glob("*.json")))
def test_every_shared_scenario_lands_with_its_expected_balances(
    merchant: Any, settings: Any, name: str
) -> None:
    scenario = json.loads((SCENARIOS / name).read_text(), parse_float=Decimal)
    documents, expected = scenario_documents(name)
    with XeroDouble(scenario_books(documents, scenario["configuration"])) as double:
        settings.XERO_API_URL = double.api_url
        settings.XERO_IDENTITY_URL = double.url
        target = registry.accounting_target(xero_connection(merchant, double))
        ids = {d["key"]: target.write_document(key=d["key"], document=d) for d in documents}
        assert_books_match(double, expected)
        # Each document can be found again by its key, by a fresh adapter too.
        fresh = XeroTarget(target.client)
        assert {key: fresh.find_document(key=key) for key in ids} == ids
    assert double.violations == []


def test_every_document_type_is_written_and_read_back(target: XeroTarget, xero: XeroDouble) -> None:
    documents, _ = scenario_documents("uk-cafe-invoice.json")
    journals, _ = scenario_documents("uk-cafe-journal.json")
    kinds = {d["type"] for d in documents + journals}
    assert kinds == {
        "journalEntry",
        "invoice",
        "creditNote",
        "payment",
        "bill",
        "billPayment",
        "deposit",
        "transfer",
    }
    for doc in documents + journals:
        target.write_document(key=doc["key"], document=doc)
    stored = xero.books.documents
    invoice = next(d for d in documents if d["type"] == "invoice")
    (sale,) = [i for i in stored["Invoices"] if i["Type"] == "ACCREC"]
    assert sale["Reference"] == invoice["key"]
    assert sale["Total"] == Decimal(invoice["totalAmount"])
    assert sale["Status"] == "AUTHORISED" and sale["AmountDue"] == 0  # paid in full
    (bill,) = [i for i in stored["Invoices"] if i["Type"] == "ACCPAY"]
    assert bill["InvoiceNumber"] == next(d["key"] for d in documents if d["type"] == "bill")
    assert bill["AmountDue"] == 0
    (credit,) = stored["CreditNotes"]
    assert credit["Type"] == "ACCRECCREDIT" and credit["RemainingCredit"] == 0
    (journal,) = stored["ManualJournals"]
    assert journal["Narration"].endswith(f"[{journals[0]['key']}]")
    assert len(stored["BankTransactions"]) == len(stored["BankTransfers"]) == 1
    assert stored["BankTransactions"][0]["Contact"]["ContactID"] == SUPPLIER
    # Writes carry the key as Idempotency-Key; reads do not.
    puts = [h for method, _, h in xero.requests if method == "PUT"]
    assert len(puts) == len(documents) + len(journals)
    assert all(h["Idempotency-Key"] for h in puts)
    assert not any("Idempotency-Key" in h for m, _, h in xero.requests if m == "GET")


def test_payments_link_to_documents_written_by_an_earlier_run(
    target: XeroTarget, xero: XeroDouble
) -> None:
    documents, expected = scenario_documents("uk-cafe-invoice.json")
    for doc in documents:
        # A new adapter per document: the link is found by the invoice's Reference.
        XeroTarget(target.client, bank_contact_id=SUPPLIER).write_document(
            key=doc["key"], document=doc
        )
    assert_books_match(xero, expected)


def test_idempotent_writes(target: XeroTarget, xero: XeroDouble) -> None:
    documents, _ = scenario_documents("uk-cafe-journal.json")
    journal = documents[0]
    first = target.write_document(key=journal["key"], document=journal)
    # The same key again (a retry after a lost answer): Xero replays, nothing new.
    again = XeroTarget(target.client).write_document(key=journal["key"], document=journal)
    assert again == first
    assert len(xero.books.documents["ManualJournals"]) == 1
    assert XeroTarget(target.client).find_document(key=journal["key"]) == first
    assert XeroTarget(target.client).find_document(key="never-written") is None


def test_a_lost_response_is_recovered_by_find_document(
    target: XeroTarget, xero: XeroDouble
) -> None:
    documents, _ = scenario_documents("uk-cafe-invoice.json")
    invoice = next(d for d in documents if d["type"] == "invoice")
    # Xero stored the invoice but its answer never reached us.
    xero.books.write("Invoices", [target._sales_document(invoice["key"], invoice, "ACCREC")])
    found = XeroTarget(target.client).find_document(key=invoice["key"])
    assert found == xero.books.documents["Invoices"][0]["InvoiceID"]


def test_long_keys_are_hashed_for_the_header() -> None:
    assert idempotency_key("k" * 128) == "k" * 128
    assert len(idempotency_key("k" * 300)) == 64
    assert idempotency_key("k" * 300) == idempotency_key("k" * 300)


# -- errors --------------------------------------------------------------------


def _journal(account: str) -> dict[str, Any]:
    return {
        "type": "journalEntry",
        "key": f"m:2026-11-01:journal:{account}",
        "currency": "GBP",
        "date": "2026-11-01",
        "description": "Daily sales",
        "journalLines": [
            {"accountRef": {"id": "1000"}, "netAmount": "10.00", "description": "cash"},
            {"accountRef": {"id": account}, "netAmount": "-10.00", "description": "sales"},
        ],
    }


def test_an_archived_account_is_refused_in_plain_words(target: XeroTarget) -> None:
    with pytest.raises(DocumentRejected) as refused:
        target.write_document(key="k1", document=_journal("200"))
    assert refused.value.message == "Account 200 is archived in Xero"
    with pytest.raises(DocumentRejected, match="Account 999 does not exist in Xero"):
        target.write_document(key="k2", document=_journal("999"))


def test_429_carries_retry_after(target: XeroTarget, xero: XeroDouble) -> None:
    xero.fail_next(429, headers={"Retry-After": "7"}, body={"Title": "Too many requests"})
    with pytest.raises(RateLimited) as limited:
        target.list_accounts()
    assert limited.value.retry_after == 7
    assert target.list_accounts()  # the next call goes through
    assert xero.undescribed == [429]


def test_5xx_and_unreachable_are_transient(target: XeroTarget, xero: XeroDouble) -> None:
    xero.fail_next(503)
    with pytest.raises(PlatformUnavailable):
        target.list_accounts()
    target.client.api_url = "http://127.0.0.1:9"  # nothing listens there
    with pytest.raises(PlatformUnavailable):
        target.list_accounts()


def test_expired_subscription(target: XeroTarget, xero: XeroDouble) -> None:
    xero.fail_next(
        403, body={"Title": "Forbidden", "Detail": "The organisation's subscription has expired"}
    )
    with pytest.raises(SubscriptionExpired) as expired:
        target.list_accounts()
    assert expired.value.status_code == 4260


def test_401_refreshes_once_then_retries(
    target: XeroTarget, xero: XeroDouble, connection: Connection
) -> None:
    xero.access_tokens.clear()  # Xero stopped accepting the token early
    assert target.list_accounts()
    assert xero.refreshes == 1
    connection.refresh_from_db()
    assert connection.credentials["access_token"] == "at-1"
    assert connection.credentials["refresh_token"] == "rt-1"  # rotated and kept


def test_a_revoked_grant_is_credentials_revoked_without_tokens_in_logs(
    target: XeroTarget, xero: XeroDouble, caplog: pytest.LogCaptureFixture
) -> None:
    xero.revoke_grant()
    caplog.set_level(logging.DEBUG)
    with pytest.raises(CredentialsRevoked) as revoked:
        target.list_accounts()
    assert revoked.value.status_code == 4040
    assert "connect Xero again" in revoked.value.message
    everything = caplog.text + str(revoked.value) + repr(target.client) + repr(target.client.tokens)
    assert "at-0" not in everything and "rt-0" not in everything


def test_an_expiring_token_is_refreshed_before_the_call(merchant: Any, xero: XeroDouble) -> None:
    connection = xero_connection(merchant, xero, expires_in=60)  # under the 2-minute margin
    target = registry.accounting_target(connection)
    assert target.list_accounts()
    assert xero.refreshes == 1
    authorizations = {h["Authorization"] for _, _, h in xero.requests}
    assert authorizations == {"Bearer at-1"}


# -- the operator command -----------------------------------------------------------


def test_connect_command_links_xero_without_printing_tokens(
    merchant: Any, xero: XeroDouble, capsys: pytest.CaptureFixture[str]
) -> None:
    call_command(
        "connect",
        "--merchant",
        str(merchant.pk),
        "--platform",
        "xero",
        "--access-token",
        "secret-access",
        "--refresh-token",
        "rt-0",
        "--tenant-id",
        xero.tenant_id,
    )
    out = capsys.readouterr().out
    assert "secret-access" not in out and "rt-0" not in out
    connection = Connection.objects.get(merchant=merchant, platform_key="xero")
    assert connection.status == Connection.Status.LINKED
    assert connection.settings == {"tenant_id": xero.tenant_id}
    # The stored access token counts as expired: the first call refreshes it.
    target = registry.accounting_target(connection)
    assert target.list_accounts()
    assert xero.refreshes == 1


def test_connect_command_refuses_missing_tenant(merchant: Any) -> None:
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="tenant"):
        call_command(
            "connect",
            "--merchant",
            str(merchant.pk),
            "--platform",
            "xero",
            "--access-token",
            "a",
            "--refresh-token",
            "b",
        )


def test_the_double_reports_what_breaks_the_description(
    target: XeroTarget, xero: XeroDouble
) -> None:
    # A request Xero's description does not allow: a line amount type that
    # does not exist. The double must notice (then we clear the finding).
    target.client.request(
        "PUT",
        "/ManualJournals",
        body={"ManualJournals": [{"Narration": "x", "LineAmountTypes": "Gross"}]},
        key="bad-shape",
    )
    assert any("ManualJournals request" in v for v in xero.violations)
    xero.violations.clear()


# -- a whole sync through the engine --------------------------------------------


class ScenarioSource:
    """A commerce source serving one scenario file's records."""

    platform_key = "scenario"

    def __init__(self, commerce: dict[str, list[dict[str, Any]]]) -> None:
        self.commerce = commerce

    def read_period(self, *, start: Any, end: Any) -> CommerceBatch:
        c = self.commerce
        return CommerceBatch(
            orders=c.get("orders", []),
            transactions=c.get("transactions", []),
            products=c.get("products", []),
            product_categories=c.get("productCategories", []),
            locations=c.get("locations", []),
            tax_components=c.get("taxComponents", []),
            payment_methods=c.get("paymentMethods", []),
        )


def uk_cafe_merchant(
    partner: Any, xero: XeroDouble, monkeypatch: pytest.MonkeyPatch
) -> tuple[Any, dict[str, Any]]:
    """A merchant configured as the uk-cafe scenario, reading its records and
    booking into the double."""
    scenario = json.loads((SCENARIOS / "uk-cafe-invoice.json").read_text(), parse_float=Decimal)
    config = scenario["configuration"]
    config["sales"]["salesCustomer"] = {"selectedCustomerId": CUSTOMER}
    config["fees"]["feesSupplier"] = {"selectedSupplierId": SUPPLIER}
    monkeypatch.setitem(
        registry.COMMERCE_SOURCES, "scenario", lambda c: ScenarioSource(scenario["commerce"])
    )
    merchant = merchant_create(
        partner=partner, name="UK Café", country="GB", currency="GBP", time_zone="Europe/London"
    )
    connection_create(
        merchant=merchant,
        platform_key="scenario",
        source_type=Connection.SourceType.COMMERCE,
        credentials={},
        settings={},
        status=Connection.Status.LINKED,
    )
    xero_connection(merchant, xero)
    sync_configuration_save(
        merchant=merchant,
        document=config,
        start_date=date(2026, 11, 2),
        sync_hour=0,
        time_zone="Europe/London",
        actor="test",
    )
    return merchant, scenario


def test_a_sync_run_writes_the_day_once_even_when_a_response_is_lost(
    partner: Any, xero: XeroDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    merchant, scenario = uk_cafe_merchant(partner, xero, monkeypatch)
    # The credit note reaches Xero, but Xero's answer is lost on the way back.
    xero.fail_next(504, path="/api.xro/2.0/CreditNotes", methods=("PUT",), after_write=True)

    run = syncs.sync_run_execute(
        merchant=merchant, first=date(2026, 11, 2), until=date(2026, 11, 3), now=NOW
    )

    assert run.status == SyncRun.Status.SUCCEEDED, run.messages
    assert run.counters["push_items"]["found_in_target"] == 1
    assert len(xero.books.documents["CreditNotes"]) == 1
    assert_books_match(xero, scenario["expected"]["invoice"]["balances"])
    items = list(run.push_items.all())
    assert all(i.status == PushItem.Status.PUSHED and i.target_id for i in items)


def test_a_revoked_grant_deauthorises_the_connection_and_ends_the_sync_with_4040(
    partner: Any, xero: XeroDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    merchant, _ = uk_cafe_merchant(partner, xero, monkeypatch)
    xero.revoke_grant()

    run = syncs.sync_run_execute(
        merchant=merchant, first=date(2026, 11, 2), until=date(2026, 11, 3), now=NOW
    )

    assert run.status_code == 4040
    connection = Connection.objects.get(merchant=merchant, platform_key="xero")
    assert connection.status == Connection.Status.DEAUTHORIZED
    assert "connect Xero again" in connection.last_error
    assert xero.books.documents == {}
