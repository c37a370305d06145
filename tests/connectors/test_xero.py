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
from commerce_sync.core.services.connections import connection_create, connection_target
from commerce_sync.core.services.merchants import (
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
from commerce_sync.syncs.runs import sync_run_execute
from connectors import registry
from connectors.protocols import CommerceBatch
from connectors.xero import translate
from connectors.xero.adapter import XeroTarget
from connectors.xero.client import idempotency_key
from connectors.xero.oauth import xero_tenant_select, xero_tenants
from mapping.preview import preview
from tests.doubles.xero_double import PAYABLE, RECEIVABLE, XeroBooks, XeroDouble
from tests.recorded_dates import business_days, xero_dates

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
            "access_token": "xero-access-0",
            "refresh_token": "xero-refresh-0",
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
    built = connection_target(connection=connection)
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
    supplier = target.create_contact(name="Fees Co", kind="supplier")
    assert xero.books.contacts[supplier]["Name"] == "Fees Co"
    # Every call carries the tenant and asks for JSON.
    assert {h["xero-tenant-id"] for _, _, h in xero.requests} == {xero.tenant_id}
    assert {h["Accept"] for _, _, h in xero.requests} == {"application/json"}


def test_tenant_selection(xero: XeroDouble) -> None:
    tenants = xero_tenants(access_token="xero-access-0")
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
        target = connection_target(connection=xero_connection(merchant, double))
        ids = {d["key"]: target.write_document(key=d["key"], document=d) for d in documents}
        assert_books_match(double, expected)
        # Each document can be found again by its key, by a fresh adapter too.
        fresh = XeroTarget(target.client)
        assert {key: fresh.find_document(key=key) for key in ids} == ids
    assert double.violations == []
    # Every document Xero recorded carries the period's business day.
    recorded = xero_dates(double.books.documents)
    assert len(recorded) == len(documents)
    assert set(recorded.values()) <= business_days(scenario["period"]), recorded


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
    xero.books.write("Invoices", translate.to_elements(invoice["key"], invoice, target))
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
    assert connection.credentials["access_token"] == "xero-access-1"
    assert connection.credentials["refresh_token"] == "xero-refresh-1"  # rotated and kept


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
    assert "xero-access-0" not in everything and "xero-refresh-0" not in everything


def test_an_expiring_token_is_refreshed_before_the_call(merchant: Any, xero: XeroDouble) -> None:
    connection = xero_connection(merchant, xero, expires_in=60)  # under the 2-minute margin
    target = connection_target(connection=connection)
    assert target.list_accounts()
    assert xero.refreshes == 1
    authorizations = {h["Authorization"] for _, _, h in xero.requests}
    assert authorizations == {"Bearer xero-access-1"}


# -- the operator command -----------------------------------------------------------


def test_connect_command_links_xero_without_printing_tokens(
    merchant: Any, xero: XeroDouble, capsys: pytest.CaptureFixture[str]
) -> None:
    import io

    call_command(
        "connect",
        "--merchant",
        str(merchant.pk),
        "--platform",
        "xero",
        "--tokens-from",
        "-",
        "--tenant-id",
        xero.tenant_id,
        "--bank-contact-id",
        "C-STRIPE",
        stdin=io.StringIO('{"access_token": "secret-access", "refresh_token": "xero-refresh-0"}'),
    )
    out = capsys.readouterr().out
    assert "secret-access" not in out and "xero-refresh-0" not in out
    connection = Connection.objects.get(merchant=merchant, platform_key="xero")
    assert connection.status == Connection.Status.LINKED
    assert connection.settings == {"tenant_id": xero.tenant_id, "bank_contact_id": "C-STRIPE"}
    # The stored access token counts as expired: the first call refreshes it.
    target = connection_target(connection=connection)
    assert target.list_accounts()
    assert xero.refreshes == 1


def test_connect_command_refuses_missing_tenant(merchant: Any) -> None:
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="tenant"):
        call_command("connect", "--merchant", str(merchant.pk), "--platform", "xero")
    with pytest.raises(CommandError, match="bank-contact-id"):
        call_command(
            "connect", "--merchant", str(merchant.pk), "--platform", "xero", "--tenant-id", "T"
        )


def test_connect_command_never_takes_tokens_on_the_command_line(merchant: Any, tmp_path) -> None:
    from django.core.management.base import CommandError

    base = ["connect", "--merchant", str(merchant.pk), "--platform", "xero"]
    base += ["--tenant-id", "T", "--bank-contact-id", "C"]
    with pytest.raises(CommandError, match="/proc"):
        call_command(*base, "--access-token", "a", "--refresh-token", "b")
    with pytest.raises(CommandError, match="tokens-from"):
        call_command(*base)
    broken = tmp_path / "tokens.json"
    broken.write_text('{"access_token": "a"}')
    with pytest.raises(CommandError, match="refresh_token"):
        call_command(*base, "--tokens-from", str(broken))
    assert not Connection.objects.filter(merchant=merchant, platform_key="xero").exists()


def test_the_double_refuses_what_breaks_the_description_before_handling_it(
    target: XeroTarget, xero: XeroDouble
) -> None:
    # A line amount type that does not exist, and neither lines nor a date:
    # refused with Xero's 400 before the double's books see it.
    with pytest.raises(DocumentRejected, match="Gross"):
        target.client.request(
            "PUT",
            "/ManualJournals",
            body={"ManualJournals": [{"Narration": "x", "LineAmountTypes": "Gross"}]},
            key="bad-shape",
        )
    found = xero.harness.take()
    assert any("LineAmountTypes" in v or "Gross" in v for v in found), found
    assert any("ManualJournals[0].Date is required" in v for v in found), found
    assert any("ManualJournals[0].JournalLines is required" in v for v in found), found
    assert xero.books.documents["ManualJournals"] == []


def test_a_field_or_query_parameter_xero_does_not_define_is_a_violation(
    target: XeroTarget, xero: XeroDouble
) -> None:
    journal = {
        "Narration": "x",
        "Date": "2026-11-02",
        "JournalLines": [],
        "Memo": "not a Xero field",
    }
    with pytest.raises(DocumentRejected):
        target.client.request(
            "PUT", "/ManualJournals", body={"ManualJournals": [journal]}, key="k1"
        )
    with pytest.raises(DocumentRejected):
        target.client.request("GET", "/Invoices", params={"filter": 'Status=="PAID"'})
    found = xero.harness.take()
    assert any("ManualJournals[0].Memo: not a field" in v for v in found), found
    assert any("query parameter 'filter'" in v for v in found), found


def test_a_malformed_body_is_a_violation_not_a_crash_of_the_double(
    target: XeroTarget, xero: XeroDouble
) -> None:
    # No "JournalLines" key at all and a line without AccountCode would make
    # the double's own bookkeeping fail; the harness refuses it first.
    body = {"ManualJournals": [{"Narration": "x", "Date": "2026-11-02", "JournalLines": [{}]}]}
    with pytest.raises(DocumentRejected):
        target.client.request("PUT", "/ManualJournals", body=body, key="k2")
    assert xero.harness.take()


def test_without_a_fault_every_exchange_of_a_test_holds(xero: XeroDouble) -> None:
    # The autouse fixture would fail this test on any left-over violation.
    assert xero.harness.violations == []


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
    merchant = scenario_merchant(partner, scenario, monkeypatch, lambda m: xero_connection(m, xero))
    return merchant, scenario


def scenario_merchant(
    partner: Any,
    scenario: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    connect: Any,
) -> Any:
    """A UK merchant reading `scenario`'s records from 2026-11-02 under its
    configuration; `connect(merchant)` attaches the accounting connection."""
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
    connect(merchant)
    sync_configuration_save(
        merchant=merchant,
        document=scenario["configuration"],
        start_date=date(2026, 11, 2),
        sync_hour=0,
        time_zone="Europe/London",
        actor="test",
    )
    return merchant


def test_a_sync_run_writes_the_day_once_even_when_a_response_is_lost(
    partner: Any, xero: XeroDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    merchant, scenario = uk_cafe_merchant(partner, xero, monkeypatch)
    # The credit note reaches Xero, but Xero's answer is lost on the way back.
    xero.fail_next(504, path="/api.xro/2.0/CreditNotes", methods=("PUT",), after_write=True)

    run = sync_run_execute(
        merchant=merchant, first=date(2026, 11, 2), until=date(2026, 11, 3), now=NOW
    )

    assert run.status == SyncRun.Status.SUCCEEDED, run.messages
    # The engine writes through `write_documents`; its retry looks the keys
    # up first, finds the credit note and writes only what is missing.
    assert run.counters["push_items"]["failed"] == 0
    assert len(xero.books.documents["CreditNotes"]) == 1
    assert_books_match(xero, scenario["expected"]["invoice"]["balances"])
    recorded = xero_dates(xero.books.documents)
    assert recorded and set(recorded.values()) == {"2026-11-02"}, recorded  # the period's day
    items = list(run.push_items.all())
    assert all(i.status == PushItem.Status.PUSHED and i.target_id for i in items)


def test_a_revoked_grant_deauthorises_the_connection_and_ends_the_sync_with_4040(
    partner: Any, xero: XeroDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    merchant, _ = uk_cafe_merchant(partner, xero, monkeypatch)
    xero.revoke_grant()

    run = sync_run_execute(
        merchant=merchant, first=date(2026, 11, 2), until=date(2026, 11, 3), now=NOW
    )

    assert run.status_code == 4040
    connection = Connection.objects.get(merchant=merchant, platform_key="xero")
    assert connection.status == Connection.Status.DEAUTHORIZED
    assert "connect Xero again" in connection.last_error
    assert xero.books.documents == {}


# -- batch writes ------------------------------------------------------------------


def _calls(xero: XeroDouble) -> list[tuple[str, str]]:
    return [(method, path.removeprefix("/api.xro/2.0")) for method, path, _ in xero.requests]


def test_a_scenario_day_is_written_in_a_handful_of_calls(
    target: XeroTarget, xero: XeroDouble
) -> None:
    documents, expected = scenario_documents("uk-cafe-invoice.json")
    results = target.write_documents([(d["key"], d) for d in documents])
    assert all(isinstance(v, str) for v in results.values()), results
    assert set(results) == {d["key"] for d in documents}
    assert_books_match(xero, expected)
    calls = _calls(xero)
    # 13 documents: one look per endpoint (5), then one PUT per endpoint per
    # wave (invoice + bill share /Invoices; the 7 payments follow in one).
    assert sorted(c for c in calls if c[0] == "PUT") == [
        ("PUT", "/BankTransactions"),
        ("PUT", "/BankTransfers"),
        ("PUT", "/CreditNotes"),
        ("PUT", "/Invoices"),
        ("PUT", "/Payments"),
    ]
    assert len(calls) == 10
    # Each batch asks Xero to answer element by element.
    assert len(xero.books.documents["Payments"]) == 7
    # The same day again (a fresh adapter): everything is found, nothing written.
    before = len(xero.requests)
    again = XeroTarget(target.client).write_documents([(d["key"], d) for d in documents])
    assert again == results
    assert all(m == "GET" for m, _ in _calls(xero)[before:])
    assert len(xero.requests) - before == 5


def test_one_bad_document_fails_alone(target: XeroTarget, xero: XeroDouble) -> None:
    documents, _ = scenario_documents("uk-cafe-invoice.json")
    invoice = next(d for d in documents if d["type"] == "invoice")
    credit = next(d for d in documents if d["type"] == "creditNote")
    # The credit note's payment (the card refund) and the invoice's card payment.
    refund = next(d for d in documents if d["key"].endswith("payment:Card:refund"))
    card = next(d for d in documents if d["key"].endswith("payment:Card:sale"))
    bad_credit = json.loads(json.dumps(credit))
    bad_credit["lineItems"][0]["accountRef"]["id"] = "200"  # archived
    good, bad = _journal("4000"), _journal("200")
    results = target.write_documents(
        [
            (good["key"], good),
            (bad["key"], bad),
            (invoice["key"], invoice),
            (credit["key"], bad_credit),
            (card["key"], card),
            (refund["key"], refund),
        ]
    )
    assert isinstance(results[good["key"]], str)
    assert isinstance(results[invoice["key"]], str)
    assert isinstance(results[card["key"]], str)
    refused = results[bad["key"]]
    assert isinstance(refused, DocumentRejected)
    assert refused.message == "Account 200 is archived in Xero"
    assert isinstance(results[credit["key"]], DocumentRejected)
    assert "Account 200 is archived in Xero" in results[credit["key"]].message
    # The payment of the refused credit note is refused without a call.
    assert isinstance(results[refund["key"]], DocumentRejected)
    assert credit["key"] in results[refund["key"]].message
    stored = xero.books.documents
    assert len(stored["ManualJournals"]) == 1 and stored["CreditNotes"] == []
    assert len(stored["Invoices"]) == len(stored["Payments"]) == 1
    # Several documents went in one PUT each, answered element by element.
    journal_puts = [r for r in xero.requests if r[0] == "PUT" and r[1].endswith("ManualJournals")]
    assert len(journal_puts) == 1


def test_a_batch_retried_after_a_lost_response_writes_nothing_twice(
    target: XeroTarget, xero: XeroDouble
) -> None:
    documents, expected = scenario_documents("uk-cafe-invoice.json")
    items = [(d["key"], d) for d in documents]
    # Keys that have expired at Xero (or a retry after its window): only the
    # sync's own look-up can keep the retry from writing twice.
    xero.idempotency_window = 0
    # Xero stores the invoices (sale and bill) but the answer never arrives.
    xero.fail_next(504, path="/api.xro/2.0/Invoices", methods=("PUT",), after_write=True)
    with pytest.raises(PlatformUnavailable):
        target.write_documents(items)
    assert len(xero.books.documents["Invoices"]) == 2
    # The engine retries with a new adapter (a new run, after a crash).
    results = XeroTarget(target.client, bank_contact_id=SUPPLIER).write_documents(items)
    assert all(isinstance(v, str) for v in results.values()), results
    stored = xero.books.documents
    assert len(stored["Invoices"]) == 2 and len(stored["CreditNotes"]) == 1
    assert len(stored["Payments"]) == 7
    assert len(stored["BankTransactions"]) == len(stored["BankTransfers"]) == 1
    assert_books_match(xero, expected)
    ids = {row["InvoiceID"] for row in stored["Invoices"]}
    assert {results[d["key"]] for d in documents if d["type"] in ("invoice", "bill")} == ids
    assert xero.replays == 0


def test_a_repeated_idempotency_key_is_replayed_only_within_the_window(
    target: XeroTarget, xero: XeroDouble
) -> None:
    now = [1000.0]
    xero.clock = lambda: now[0]
    account = {"Code": "901", "Name": "Float", "Type": "CURRENT"}
    first = target.client.request("PUT", "/Accounts", body=account, key="acct-901")
    again = target.client.request("PUT", "/Accounts", body=account, key="acct-901")
    assert again == first and xero.replays == 1
    now[0] += xero.idempotency_window  # the key has expired: handled afresh
    with pytest.raises(DocumentRejected, match="unique Code"):
        target.client.request("PUT", "/Accounts", body=account, key="acct-901")
    assert xero.replays == 1


# -- tracking per location ------------------------------------------------------------


def _at(document: dict[str, Any], location: str) -> dict[str, Any]:
    return {**document, "group": {**document["group"], "locationId": location}}


@pytest.fixture
def tracked(target: XeroTarget, xero: XeroDouble) -> XeroTarget:
    xero.books.tracking_categories = uk_books_tracking()
    return XeroTarget(
        target.client,
        bank_contact_id=SUPPLIER,
        tracking={"category": "Location", "options": {"loc-1": "Soho", "loc-2": "Closed shop"}},
    )


def uk_books_tracking() -> list[dict[str, Any]]:
    return XeroBooks(
        accounts=[], contacts=[], tax_rates=[], tracking_categories={"Location": ["Soho", "Leeds"]}
    ).tracking_categories


def test_locations_are_tracked_on_lines(tracked: XeroTarget, xero: XeroDouble) -> None:
    documents, _ = scenario_documents("uk-cafe-invoice.json")
    journals, _ = scenario_documents("uk-cafe-journal.json")
    invoice = _at(next(d for d in documents if d["type"] == "invoice"), "loc-1")
    bill = _at(next(d for d in documents if d["type"] == "bill"), "loc-1")
    journal = _at(journals[0], "loc-1")
    results = tracked.write_documents([(d["key"], d) for d in (invoice, bill, journal)])
    assert all(isinstance(v, str) for v in results.values()), results
    expected = {"Name": "Location", "Option": "Soho"}
    stored = xero.books.documents
    for document in stored["Invoices"]:
        for line in document["LineItems"]:
            assert {k: line["Tracking"][0][k] for k in expected} == expected
    for line in stored["ManualJournals"][0]["JournalLines"]:
        assert {k: line["Tracking"][0][k] for k in expected} == expected
    # A location the settings do not map is refused, naming it; so is an
    # option the category does not have.
    credit = next(d for d in documents if d["type"] == "creditNote")
    with pytest.raises(DocumentRejected, match="Location loc-9 is not mapped"):
        tracked.write_document(key=credit["key"], document=_at(credit, "loc-9"))
    refused = tracked.write_documents([(credit["key"], _at(credit, "loc-2"))])[credit["key"]]
    assert isinstance(refused, DocumentRejected)
    assert "Closed shop" in refused.message and "loc-2" in refused.message
    # Without a location, nothing is tracked.
    plain = XeroTarget(tracked.client).write_document(key=credit["key"], document=credit)
    assert plain and "Tracking" not in stored["CreditNotes"][0]["LineItems"][0]


def test_the_double_refuses_a_tracking_option_that_does_not_exist(
    tracked: XeroTarget, xero: XeroDouble
) -> None:
    line = {"Description": "x", "AccountCode": "1000", "LineAmount": 1}
    tracking = [{"Name": "Location", "Option": "Nowhere"}]
    with pytest.raises(DocumentRejected, match="Nowhere does not exist in Location"):
        tracked.client.request(
            "PUT",
            "/ManualJournals",
            body={
                "ManualJournals": [
                    {
                        "Narration": "t",
                        "Date": "2026-11-02",
                        "JournalLines": [
                            line | {"Tracking": tracking},
                            line | {"LineAmount": -1, "AccountCode": "4000"},
                        ],
                    }
                ]
            },
            key="tracking-check",
        )


# -- contacts -----------------------------------------------------------------------


def test_contacts_are_created_once_and_listed(target: XeroTarget, xero: XeroDouble) -> None:
    customer = target.create_contact(name="Daily sales", kind="customer")
    supplier = target.create_contact(name=" Card fees ", kind="supplier")
    assert xero.books.contacts[customer]["Name"] == "Daily sales"
    assert xero.books.contacts[supplier]["Name"] == "Card fees"
    # The same name again finds the contact (Xero refuses duplicate names).
    assert target.create_contact(name="Daily sales") == customer
    assert len(xero.books.contacts) == 4
    customers = {c["id"]: c["name"] for c in target.list_customers()}
    suppliers = {c["id"]: c["name"] for c in target.list_suppliers()}
    # New contacts are neither customers nor suppliers to Xero yet: both lists.
    assert customers == {CUSTOMER: "POS sales", customer: "Daily sales", supplier: "Card fees"}
    assert suppliers == {SUPPLIER: "Card processor", customer: "Daily sales", supplier: "Card fees"}
    xero.books.contacts[CUSTOMER]["ContactStatus"] = "ARCHIVED"
    assert CUSTOMER not in {c["id"] for c in target.list_customers()}
    assert target.create_contact(name="POS sales") == CUSTOMER  # archived, still its name
    with pytest.raises(ValueError, match="customer or a supplier"):
        target.create_contact(name="x", kind="employee")


# -- the check before a sync -------------------------------------------------------------


def test_check_references_names_what_would_fail(target: XeroTarget, xero: XeroDouble) -> None:
    documents, _ = scenario_documents("uk-cafe-invoice.json")
    assert target.check_references(documents) == []
    xero.books.tax_rates["OUTPUT2"]["Status"] = "DELETED"
    xero.books.contacts[CUSTOMER]["ContactStatus"] = "ARCHIVED"
    xero.books.accounts["1000"]["Status"] = "ARCHIVED"
    before = len(xero.requests)
    problems = target.check_references([*documents, _journal("200")])
    assert problems == [
        "Account Cash clearing (1000) is archived in Xero",
        "Account Old sales (200) is archived in Xero",
        "Tax rate 20% (VAT on Income) (OUTPUT2) is deleted in Xero",
        "Contact POS sales (0f5a4a8e-1f40-4a6e-9d55-5b7f3c0c0001) is archived in Xero",
    ]
    assert len(xero.requests) - before == 3  # accounts, tax rates, contacts
    # Locations: an unmapped one is named before anything is written.
    tracked = XeroTarget(target.client, tracking={"category": "Location", "options": {}})
    xero.books.tracking_categories = uk_books_tracking()
    invoice = _at(next(d for d in documents if d["type"] == "invoice"), "loc-7")
    assert "Location loc-7 is not mapped to a Xero tracking option" in "; ".join(
        tracked.check_references([invoice])
    )
