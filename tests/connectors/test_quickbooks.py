"""The QuickBooks Online connector against a local contract double whose
entities are checked against Intuit's Finance.xsd."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from commerce_sync.errors import (
    CredentialsRevoked,
    DocumentRejected,
    PlatformUnavailable,
    RateLimited,
    SubscriptionExpired,
)
from connectors.quickbooks import QuickBooksTarget, oauth
from connectors.quickbooks.client import request_id_for
from connectors.quickbooks.translate import doc_number
from mapping.preview import preview
from tests.connectors.bursts import writes_from_workers
from tests.doubles.quickbooks_double import QuickBooksDouble
from tests.recorded_dates import business_days, quickbooks_dates

SCENARIOS = Path(__file__).resolve().parents[3] / "shared" / "scenarios"


class FakeTokens:
    def __init__(self, token: str = "good-token", refreshed: str = "good-token") -> None:  # noqa: S107
        self.token = token
        self.refreshed = refreshed
        self.refreshes: list[str] = []

    def access_token(self) -> str:
        return self.token

    def refresh_now(self, *, rejected: str) -> str:
        self.refreshes.append(rejected)
        self.token = self.refreshed
        return self.token


class FakeLimiter:
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def acquire(self, key: str) -> None:
        self.events.append(("acquire", key))

    def release(self, key: str) -> None:
        self.events.append(("release", key))


def _scenario(name: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    scenario = json.loads((SCENARIOS / name).read_text(), parse_float=Decimal)
    result = preview(scenario)
    assert not result.errors
    return scenario, [json.loads(json.dumps(d.as_json())) for d in result.documents]


@pytest.fixture
def qbo() -> Iterator[QuickBooksDouble]:
    with QuickBooksDouble() as double:
        company = double.company
        for account in ("1000", "1100", "1110", "1200"):
            company.seed_account(account)
        for account in ("2150", "2200", "2300"):
            company.seed_account(account, kind="Liability")
        company.seed_account("4000", "Sales", "Revenue")
        company.seed_account("4010", "Delivery", "Revenue")
        company.seed_account("6100", "Card fees", "Expense")
        company.seed_account("4999", "Old sales", "Revenue", active=False)
        company.add("Customer", {"DisplayName": "Point of sale"}, "CUST-POS")
        company.add("Vendor", {"DisplayName": "Card processor"}, "SUPP-PROC")
        company.add("Class", {"Name": "Shop"}, "C1")
        company.add("Department", {"Name": "High Street"}, "D1")
        company.seed_tax_code("OUTPUT2", "20")
        company.seed_tax_code("ZERORATEDOUTPUT", "0")
        company.seed_tax_code("NONE", None)
        yield double
        assert company.schema_problems == []  # every entity matched Finance.xsd


@pytest.fixture
def tokens() -> FakeTokens:
    return FakeTokens()


@pytest.fixture
def limiter() -> FakeLimiter:
    return FakeLimiter()


@pytest.fixture
def target(qbo: QuickBooksDouble, tokens: FakeTokens, limiter: FakeLimiter) -> QuickBooksTarget:
    return QuickBooksTarget(realm_id=qbo.realm, tokens=tokens, limiter=limiter, base_url=qbo.url)


def _writes(qbo: QuickBooksDouble) -> list[tuple[str, str, dict[str, str]]]:
    return [r for r in qbo.requests if r[0] == "POST"]


# -- reads --


def test_setup_reads(target: QuickBooksTarget) -> None:
    accounts = {a.id: a for a in target.list_accounts()}
    assert accounts["4000"].type == "Income" and accounts["4000"].status == "Active"
    assert accounts["4999"].status == "Archived"  # inactive accounts are listed too
    assert accounts["6100"].type == "Expense"
    rates = {r.id: r.rate for r in target.list_tax_rates()}
    assert Decimal(rates["OUTPUT2"]) == 20 and Decimal(rates["NONE"]) == 0
    assert target.list_customers() == [
        {"id": "CUST-POS", "name": "Point of sale", "status": "Active"}
    ]
    assert [v["id"] for v in target.list_vendors()] == ["SUPP-PROC"]
    assert [c["name"] for c in target.list_classes()] == ["Shop"]
    assert [d["name"] for d in target.list_departments()] == ["High Street"]
    assert target.home_currency() == "GBP"


def test_queries_page_through_long_lists(target: QuickBooksTarget, qbo: QuickBooksDouble) -> None:
    for n in range(1000):
        qbo.company.add("Vendor", {"DisplayName": f"Vendor {n}"})
    assert len(target.list_vendors()) == 1001
    queries = [p["query"] for _, path, p in qbo.requests if path.endswith("/query")]
    assert [q.split(" STARTPOSITION ")[1] for q in queries] == [
        "1 MAXRESULTS 1000",
        "1001 MAXRESULTS 1000",
    ]


def test_create_account(target: QuickBooksTarget, qbo: QuickBooksDouble) -> None:
    created = target.create_account(account_id="4100", name="Online sales", account_type="Income")
    stored = qbo.company.entities["Account"][created.id]
    assert stored["AcctNum"] == "4100" and stored["AccountType"] == "Income"
    assert created.name == "Online sales"


# -- writes --


def test_every_document_type_is_written_and_found_by_key(
    target: QuickBooksTarget, qbo: QuickBooksDouble
) -> None:
    _, invoice_day = _scenario("uk-cafe-invoice.json")
    _, journal_day = _scenario("uk-cafe-journal.json")
    documents = invoice_day + journal_day
    kinds = {d["type"] for d in documents}
    assert kinds == {
        "invoice", "creditNote", "payment", "bill", "billPayment", "deposit", "transfer", "journalEntry",
    }  # fmt: skip
    written = {d["key"]: target.write_document(key=d["key"], document=d) for d in documents}
    fresh = QuickBooksTarget(
        realm_id=qbo.realm, tokens=FakeTokens(), limiter=FakeLimiter(), base_url=qbo.url
    )
    for document in documents:
        entity, _, entity_id = written[document["key"]].partition(":")
        stored = qbo.company.entities[entity][entity_id]
        assert stored["PrivateNote"] == document["key"]
        assert stored["DocNumber"] == doc_number(document["key"])
        assert fresh.find_document(key=document["key"]) == written[document["key"]]
    refund = next(d for d in invoice_day if d["key"].endswith("payment:Card:refund"))
    assert written[refund["key"]].startswith("JournalEntry:")  # see translate.py for why
    invoice = qbo.company.entities["Invoice"][written[invoice_day[0]["key"]].split(":")[1]]
    assert invoice["TotalAmt"] == Decimal("100.60")
    assert fresh.find_document(key="no-such-key:invoice") is None


def test_invoice_day_in_batches_matches_expected_balances(
    target: QuickBooksTarget, qbo: QuickBooksDouble
) -> None:
    scenario, documents = _scenario("uk-cafe-invoice.json")
    results = target.write_documents([(d["key"], d) for d in documents])
    assert all(isinstance(v, str) for v in results.values()), results
    expected = {k: Decimal(v) for k, v in scenario["expected"]["invoice"]["balances"].items()}
    balances = qbo.company.balances()
    assert balances.pop("AR", Decimal(0)) == 0 and balances.pop("AP", Decimal(0)) == 0
    assert balances == expected
    # Nothing is left open: the invoice is paid, and the credit memo is
    # applied to the journal that paid the refund back.
    assert qbo.company.open_items() == {}
    # Invoice and credit note first, then what links to them: two batches.
    # Besides: 8 existence queries (one per entity type), 2 tax lookups, the
    # A/R account, 4 income items looked up and created once per company,
    # and the refund's 0.00 payment applying the credit memo (looked up by
    # its key, then created).
    assert sum(1 for r in qbo.requests if r[1].endswith("/batch")) == 2
    assert target.calls == 2 + 8 + 2 + 1 + 4 * 2 + 2
    # Running the same day again finds everything and writes nothing.
    again = target.write_documents([(d["key"], d) for d in documents])
    assert again == results
    # + 4 income items and the refund's applying payment
    assert sum(qbo.company.creates.values()) == len(documents) + 4 + 1


def test_journal_day_matches_expected_balances(
    target: QuickBooksTarget, qbo: QuickBooksDouble
) -> None:
    scenario, documents = _scenario("uk-cafe-journal.json")
    for document in documents:
        target.write_document(key=document["key"], document=document)
    (group,) = scenario["expected"]["journal"]["groups"]
    assert qbo.company.balances() == {k: Decimal(v) for k, v in group["balances"].items()}


def _transfer(key: str, amount: str = "10.00") -> dict[str, Any]:
    return {
        "type": "transfer", "key": key, "currency": "GBP", "date": "2026-11-02",
        "group": {"currency": "GBP", "locationId": None}, "description": "Payout",
        "fromAccountRef": {"id": "1100"}, "toAccountRef": {"id": "1200"}, "amount": amount,
        "sourceRefs": [],
    }  # fmt: skip


def test_batches_hold_thirty_operations(target: QuickBooksTarget, qbo: QuickBooksDouble) -> None:
    items = [(f"m1:2026-11-02:transfer:T-{n}", _transfer(f"k{n}")) for n in range(31)]
    results = target.write_documents(items)
    assert len({*results.values()}) == 31
    assert qbo.company.creates["Transfer"] == 31
    assert sum(1 for r in qbo.requests if r[1].endswith("/batch")) == 2  # 30 + 1
    assert qbo.company.balances()["1200"] == Decimal("310.00")


# -- idempotency and recovery --


def test_requestid_replay_returns_the_same_entity(
    target: QuickBooksTarget, qbo: QuickBooksDouble
) -> None:
    key = "merchant-1:2026-11-02:GBP:-:day:transfer:T-6"
    first = target.write_document(key=key, document=_transfer(key))
    second = target.write_document(key=key, document=_transfer(key))
    assert first == second and qbo.company.creates["Transfer"] == 1
    assert _writes(qbo)[-1][2]["requestid"] == key
    assert all(params["minorversion"] == "75" for _, _, params in qbo.requests)


def test_lost_answer_is_found_by_key(target: QuickBooksTarget, qbo: QuickBooksDouble) -> None:
    key = "merchant-1:2026-11-02:GBP:-:day:transfer:T-7"
    qbo.lose_next_answer = True
    with pytest.raises(PlatformUnavailable):
        target.write_document(key=key, document=_transfer(key))
    recovered = QuickBooksTarget(
        realm_id=qbo.realm, tokens=FakeTokens(), limiter=FakeLimiter(), base_url=qbo.url
    )
    found = recovered.find_document(key=key)
    assert found is not None and found.startswith("Transfer:")
    assert recovered.write_document(key=key, document=_transfer(key)) == found  # requestid replay
    assert qbo.company.creates["Transfer"] == 1


def test_lost_payment_is_found_without_docnumber_filter(
    target: QuickBooksTarget, qbo: QuickBooksDouble
) -> None:
    _, documents = _scenario("uk-cafe-invoice.json")
    invoice, payment = documents[0], documents[2]
    target.write_document(key=invoice["key"], document=invoice)
    written = target.write_document(key=payment["key"], document=payment)
    recovered = QuickBooksTarget(
        realm_id=qbo.realm, tokens=FakeTokens(), limiter=FakeLimiter(), base_url=qbo.url
    )
    assert recovered.find_document(key=payment["key"]) == written
    queries = [p["query"] for _, path, p in qbo.requests if path.endswith("/query")]
    assert not any("from Payment where DocNumber" in q for q in queries)


def test_long_keys_are_shortened_deterministically() -> None:
    key = "7c9e6679-7425-40de-944b-e07fc1f90ae7:2026-11-02:GBP:location-42:day:payment:OnlineCard:sale"
    assert len(request_id_for(key)) <= 50 and request_id_for(key) == request_id_for(key)
    assert request_id_for(key) != request_id_for(key + "x")
    assert len(doc_number(key)) == 21 and doc_number(key) == doc_number(key)


# -- errors --


def test_validation_fault_carries_quickbooks_words(target: QuickBooksTarget) -> None:
    key = "m1:2026-11-02:transfer:T-9"
    document = _transfer(key) | {"toAccountRef": {"id": "4999"}}
    with pytest.raises(DocumentRejected, match=r"Account Old sales \(4999\) is inactive"):
        target.write_document(key=key, document=document)


def test_batch_fault_fails_only_its_item(target: QuickBooksTarget) -> None:
    good, bad = _transfer("a"), _transfer("b") | {"toAccountRef": {"id": "nope"}}
    results = target.write_documents([("k:good", good), ("k:bad", bad)])
    assert isinstance(results["k:good"], str)
    assert isinstance(results["k:bad"], DocumentRejected)
    assert "Account nope does not exist" in results["k:bad"].message


def test_rate_limit_and_outage(target: QuickBooksTarget, qbo: QuickBooksDouble) -> None:
    qbo.fail_next(
        429, {"Fault": {"Error": [{"Message": "ThrottleExceeded"}]}}, {"Retry-After": "7"}
    )
    with pytest.raises(RateLimited) as limited:
        target.list_accounts()
    assert limited.value.retry_after == 7.0 and limited.value.transient
    qbo.fail_next(503, {"message": "down"})
    with pytest.raises(PlatformUnavailable):
        target.list_accounts()


def test_expired_subscription(target: QuickBooksTarget, qbo: QuickBooksDouble) -> None:
    fault = {
        "Error": [{"Message": "ApplicationAuthorizationFailed", "code": "003100"}],
        "type": "AuthorizationFault",
    }
    qbo.fail_next(403, {"Fault": fault})
    with pytest.raises(SubscriptionExpired) as expired:
        target.list_accounts()
    assert expired.value.status_code == 4260


def test_401_refreshes_once_then_succeeds(qbo: QuickBooksDouble, limiter: FakeLimiter) -> None:
    qbo.token = "rotated-token"
    tokens = FakeTokens(token="stale-token", refreshed="rotated-token")
    target = QuickBooksTarget(realm_id=qbo.realm, tokens=tokens, limiter=limiter, base_url=qbo.url)
    assert target.list_accounts()
    assert tokens.refreshes == ["stale-token"]


def test_revoked_grant(qbo: QuickBooksDouble, limiter: FakeLimiter) -> None:
    tokens = FakeTokens(token="stale-token", refreshed="still-bad-token")
    target = QuickBooksTarget(realm_id=qbo.realm, tokens=tokens, limiter=limiter, base_url=qbo.url)
    with pytest.raises(CredentialsRevoked) as revoked:
        target.list_accounts()
    assert tokens.refreshes == ["stale-token"]  # one refresh, not a loop
    assert revoked.value.status_code == 4040
    assert "token" not in str(revoked.value).lower().replace("reconnect", "")
    assert "still-bad-token" not in repr(target.client) + str(revoked.value.detail)


def test_limiter_wraps_every_call(
    target: QuickBooksTarget, limiter: FakeLimiter, qbo: QuickBooksDouble
) -> None:
    target.list_accounts()
    target.write_document(key="k:1", document=_transfer("k:1"))
    assert len(limiter.events) == 2 * len(qbo.requests)
    assert limiter.events[0::2] == [("acquire", f"quickbooks:{qbo.realm}")] * len(qbo.requests)
    assert limiter.events[1::2] == [("release", f"quickbooks:{qbo.realm}")] * len(qbo.requests)


# -- OAuth parameters --


def test_oauth_parameters(settings: Any) -> None:
    settings.QUICKBOOKS_CLIENT_ID = "app-id"
    url = oauth.authorize_url(redirect_uri="https://example.test/cb", state="s1")
    assert url.startswith(settings.QUICKBOOKS_AUTHORIZE_URL + "?")
    assert "scope=com.intuit.quickbooks.accounting" in url and "state=s1" in url
    assert oauth.realm_from_callback({"realmId": "9130357", "code": "c"}) == "9130357"
    with pytest.raises(Exception, match="realmId"):
        oauth.realm_from_callback({"code": "c"})
    assert oauth.refresh_form(refresh_token="r")["grant_type"] == "refresh_token"


# -- the registry --


@pytest.mark.django_db
def test_registry_builds_the_target_for_a_connection() -> None:
    from commerce_sync.core.services.connections import connection_target
    from commerce_sync.errors import ConfigurationError
    from tests.factories import ConnectionFactory

    connection = ConnectionFactory(
        accounting=True, platform_key="quickbooks", settings={"realm_id": "42"}
    )
    target = connection_target(connection=connection)
    assert isinstance(target, QuickBooksTarget) and target.client.limit_key == "quickbooks:42"
    connection.settings = {}
    with pytest.raises(ConfigurationError, match="realm"):
        connection_target(connection=connection)


# -- the operator command --


@pytest.mark.django_db
def test_connect_command_links_quickbooks_without_printing_tokens(
    merchant: Any, capsys: pytest.CaptureFixture[str], raw_credentials: Any, tmp_path: Any
) -> None:
    from django.core.management import call_command

    from commerce_sync.core.models import Connection
    from commerce_sync.core.services.connections import connection_target

    tokens = tmp_path / "tokens.json"
    tokens.write_text('{"access_token": "qb-secret-access", "refresh_token": "qb-secret-refresh"}')
    call_command(
        "connect", "--merchant", str(merchant.pk), "--platform", "quickbooks",
        "--tokens-from", str(tokens), "--realm-id", "9130357",
    )  # fmt: skip
    out = capsys.readouterr().out
    assert "qb-secret" not in out and "quickbooks" in out
    connection = Connection.objects.get(merchant=merchant, platform_key="quickbooks")
    assert connection.status == Connection.Status.LINKED
    assert connection.source_type == Connection.SourceType.ACCOUNTING
    assert connection.settings == {"realm_id": "9130357"}
    assert connection.credentials["refresh_token"] == "qb-secret-refresh"
    stored = raw_credentials(connection.pk)
    assert "qb-secret" not in stored  # encrypted at rest
    target = connection_target(connection=connection)
    assert isinstance(target, QuickBooksTarget)
    assert target.client.limit_key == "quickbooks:9130357"


@pytest.mark.django_db
def test_connect_command_refuses_a_missing_realm(merchant: Any) -> None:
    from django.core.management import call_command
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="realm-id"):
        call_command(
            "connect", "--merchant", str(merchant.pk), "--platform", "quickbooks",
        )  # fmt: skip


# -- locations as departments or classes --


def _located(target_kwargs: dict[str, Any], qbo: QuickBooksDouble) -> QuickBooksTarget:
    return QuickBooksTarget(
        realm_id=qbo.realm,
        tokens=FakeTokens(),
        limiter=FakeLimiter(),
        base_url=qbo.url,
        **target_kwargs,
    )


def _at(location: str | None, documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d | {"group": {**d["group"], "locationId": location}} for d in documents]


def test_locations_become_departments(qbo: QuickBooksDouble) -> None:
    target = _located({"locations": {"by": "Department", "map": {"HIGH-ST": "D1"}}}, qbo)
    _, documents = _scenario("uk-cafe-invoice.json")
    documents = _at("HIGH-ST", documents)
    results = target.write_documents([(d["key"], d) for d in documents])
    assert all(isinstance(v, str) for v in results.values()), results
    for written in results.values():
        entity, _, entity_id = str(written).partition(":")
        assert qbo.company.entities[entity][entity_id]["DepartmentRef"] == {"value": "D1"}
    by_department = qbo.company.balances(lambda row: row.get("DepartmentRef") == {"value": "D1"})
    assert by_department == qbo.company.balances()


def test_locations_become_classes_on_lines(qbo: QuickBooksDouble) -> None:
    target = _located({"locations": {"by": "Class", "map": {"HIGH-ST": "C1"}}}, qbo)
    _, invoice_day = _scenario("uk-cafe-invoice.json")
    _, journal_day = _scenario("uk-cafe-journal.json")
    written = {
        d["key"]: target.write_document(key=d["key"], document=d)
        for d in _at("HIGH-ST", invoice_day + journal_day)
    }
    classed = 0
    for document_id in written.values():
        entity, _, entity_id = document_id.partition(":")
        stored = qbo.company.entities[entity][entity_id]
        assert "DepartmentRef" not in stored
        if entity == "Transfer":
            assert stored["ClassRef"] == {"value": "C1"}
            classed += 1
        for line in stored.get("Line", []):
            detail = line.get(line.get("DetailType", ""))
            if line.get("DetailType") != "TaxLineDetail" and detail is not None:
                assert detail["ClassRef"] == {"value": "C1"}
                classed += 1
    assert classed > 10
    # Finance.xsd gives a Payment no class: it stays without one (the
    # fixture's schema check would catch a ClassRef where none may be).
    payments = qbo.company.entities["Payment"].values()
    assert payments and all("ClassRef" not in p for p in payments)


def test_an_unmapped_location_is_refused_by_name(qbo: QuickBooksDouble) -> None:
    target = _located({"locations": {"by": "Department", "map": {"HIGH-ST": "D1"}}}, qbo)
    key = "m1:2026-11-02:transfer:T-loc"
    document = _transfer(key) | {"group": {"currency": "GBP", "locationId": "HARBOUR"}}
    with pytest.raises(DocumentRejected, match="Location HARBOUR is not mapped"):
        target.write_document(key=key, document=document)
    results = target.write_documents([(key, document)])
    assert isinstance(results[key], DocumentRejected) and "HARBOUR" in results[key].message
    assert not _writes(qbo)
    # A department the company does not hold is QuickBooks' refusal.
    target = _located({"locations": {"by": "Department", "map": {"HARBOUR": "D9"}}}, qbo)
    with pytest.raises(DocumentRejected, match="Department D9 does not exist"):
        target.write_document(key=key, document=document)
    # Documents without a location, or connections without the map, are untracked.
    target.write_document(key=key + "x", document=_transfer(key + "x"))
    assert "DepartmentRef" not in next(iter(qbo.company.entities["Transfer"].values()))


def test_locations_setting_must_name_department_or_class(qbo: QuickBooksDouble) -> None:
    from commerce_sync.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="Department or Class"):
        _located({"locations": {"by": "Tag", "map": {}}}, qbo)


# -- customers and vendors --


def test_create_contact(target: QuickBooksTarget, qbo: QuickBooksDouble) -> None:
    customer = target.create_contact(name="Online shop", kind="customer")
    vendor = target.create_contact(name="Card processor 2", kind="supplier")
    assert qbo.company.entities["Customer"][customer]["DisplayName"] == "Online shop"
    assert qbo.company.entities["Vendor"][vendor]["DisplayName"] == "Card processor 2"
    # Asking again finds the one that exists (QuickBooks refuses duplicate names).
    assert target.create_contact(name="Online shop", kind="customer") == customer
    assert target.create_contact(name="Card processor", kind="supplier") == "SUPP-PROC"
    assert qbo.company.creates == {"Customer": 1, "Vendor": 1}
    with pytest.raises(ValueError, match="customer or a supplier"):
        target.create_contact(name="x", kind="employee")


# -- the check before a sync --


def test_check_references_names_what_would_fail(
    target: QuickBooksTarget, qbo: QuickBooksDouble
) -> None:
    _, documents = _scenario("uk-cafe-invoice.json")
    assert target.check_references(documents) == []
    company = qbo.company
    company.entities["Account"]["6100"]["Active"] = False
    company.entities["TaxCode"]["OUTPUT2"]["Active"] = False
    del company.entities["TaxCode"]["ZERORATEDOUTPUT"]
    company.entities["Customer"]["CUST-POS"]["Active"] = False
    company.entities["Vendor"]["SUPP-PROC"]["Active"] = False
    calls = target.calls
    assert target.check_references(documents) == [
        "Account Card fees (6100) is inactive in QuickBooks",
        "Tax code OUTPUT2 is inactive in QuickBooks",
        "Tax code ZERORATEDOUTPUT does not exist in QuickBooks",
        "Customer Point of sale (CUST-POS) is inactive in QuickBooks",
        "Vendor Card processor (SUPP-PROC) is inactive in QuickBooks",
    ]
    assert target.calls - calls == 4  # one query per kind, not per document
    assert not _writes(qbo)


def test_check_references_covers_locations(qbo: QuickBooksDouble) -> None:
    qbo.company.add("Department", {"Name": "Closed shop", "Active": False}, "D2")
    target = _located({"locations": {"by": "Department", "map": {"A": "D1", "B": "D2"}}}, qbo)
    documents = [
        _transfer("k:a") | {"group": {"currency": "GBP", "locationId": location}}
        for location in ("A", "B", "C")
    ]
    assert target.check_references(documents) == [
        "Location C is not mapped to a QuickBooks department; map it in the connection's settings",
        "Department Closed shop (D2) is inactive in QuickBooks",
    ]


# -- every shared scenario, end to end into the double --

FORMATS = {"journal": "JournalEntry", "invoice": "Invoice"}


def _seed_for(company: Any, scenario: dict[str, Any], documents: list[dict[str, Any]]) -> None:
    """The accounts, tax codes, customers, vendors and departments the
    scenario's documents name."""
    config = scenario["configuration"]
    sales = config.get("sales") or {}
    percent_of = {str(v["selectedTaxRateId"]): k for k, v in (sales.get("taxRates") or {}).items()}
    zero = (sales.get("newTaxRates") or {}).get("selectedDefaultZeroTaxRateId")
    accounts: set[str] = set()
    codes: dict[str, str | None] = {}
    for document in documents:
        for ref in ("accountRef", "fromAccountRef", "toAccountRef"):
            if document.get(ref):
                accounts.add(document[ref]["id"])
        for line in document.get("journalLines", []) + document.get("lineItems", []):
            accounts.add(line["accountRef"]["id"])
            code = (line.get("taxRateRef") or {}).get("id")
            if code:
                tax, net = Decimal(line.get("taxAmount") or 0), Decimal(line["subTotal"])
                if code in percent_of:
                    codes[code] = percent_of[code]
                elif tax and net:
                    codes[code] = str((tax / net * 100).quantize(Decimal("0.001")))
                else:
                    codes.setdefault(code, "0" if code != zero else None)
        if (
            document.get("customerRef")
            and document["customerRef"]["id"] not in company.entities["Customer"]
        ):
            company.add("Customer", {"DisplayName": "Sales"}, document["customerRef"]["id"])
        if (
            document.get("supplierRef")
            and document["supplierRef"]["id"] not in company.entities["Vendor"]
        ):
            company.add("Vendor", {"DisplayName": "Fees"}, document["supplierRef"]["id"])
    for account in sorted(accounts):
        company.seed_account(account)
    for code, percent in codes.items():
        company.seed_tax_code(code, percent)


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.json")), ids=lambda p: p.stem)
def test_every_shared_scenario_gives_its_expected_balances(path: Path) -> None:
    scenario = json.loads(path.read_text(), parse_float=Decimal)
    assert scenario.get("expected"), f"{path.name} has no expected figures"
    for kind, expected in scenario["expected"].items():
        variant = json.loads(path.read_text(), parse_float=Decimal)
        variant["configuration"].setdefault("mapSettings", {})["outputFormat"] = FORMATS[kind]
        result = preview(variant)
        assert not result.errors, result.errors
        documents = [json.loads(json.dumps(d.as_json())) for d in result.documents]
        locations = sorted(
            {d["group"]["locationId"] for d in documents if d["group"].get("locationId")}
        )
        with QuickBooksDouble() as qbo:
            _seed_for(qbo.company, scenario, documents)
            for location in locations:
                qbo.company.add("Department", {"Name": f"Store {location}"}, f"D-{location}")
            target = _located(
                {"locations": {"by": "Department", "map": {x: f"D-{x}" for x in locations}}}, qbo
            )
            assert target.check_references(documents) == []
            results = target.write_documents([(d["key"], d) for d in documents])
            assert all(isinstance(v, str) for v in results.values()), results
            assert qbo.company.schema_problems == []
            # Every entity QuickBooks recorded carries the period's business day.
            recorded = quickbooks_dates(qbo.company.entities)
            applying = [  # the 0.00 payments closing credit memos (adapter.complete_document)
                r for r in qbo.company.entities["Payment"].values()
                if r["PrivateNote"].endswith(":apply")
            ]  # fmt: skip
            assert len(recorded) == len(documents) + len(applying), recorded
            # A fully paid day leaves nothing open for the customer.
            assert qbo.company.open_items() == {}
            assert set(recorded.values()) <= business_days(scenario["period"]), recorded
            groups = expected.get("groups") or [{"balances": expected["balances"]}]
            for group in groups:
                keys = {
                    d["key"]
                    for d in documents
                    if group.get("currency", d["group"]["currency"]) == d["group"]["currency"]
                    and (
                        "groups" not in expected
                        or group.get("locationId") == d["group"].get("locationId")
                    )
                }
                assert keys, group
                balances = qbo.company.balances(
                    lambda row, keys=keys: row.get("PrivateNote") in keys
                )
                # The receivable and payable net to zero over the day.
                assert balances.pop("AR", Decimal(0)) == 0
                assert balances.pop("AP", Decimal(0)) == 0
                assert balances == {
                    k: Decimal(v) for k, v in group["balances"].items() if Decimal(v)
                }
                if group.get("locationId"):
                    department = {"value": f"D-{group['locationId']}"}
                    for entity_rows in qbo.company.entities.values():
                        for row in entity_rows.values():
                            if row.get("PrivateNote") in keys:
                                assert row["DepartmentRef"] == department


# -- the shared rate limiter under a burst --

# QuickBooks allows 500 calls a minute per company; scaled down here so a
# burst of 200 writes takes seconds: 40 calls per half second. The limiter's
# window is longer by MARGIN, as the real one counts 61 s against Intuit's
# minute: a call is recorded just before it leaves, and measured here the
# double sees it up to ~25 ms later (the first call of a worker ~100 ms).
CALLS, WINDOW, MARGIN = 40, 0.5, 0.15


def _burst(qbo: QuickBooksDouble, limits: Any, *, workers: int, writes: int) -> list[Any]:
    """`workers` workers writing `writes` transfers each (`writes_from_workers`)."""
    return writes_from_workers(
        lambda limiter: QuickBooksTarget(
            realm_id=qbo.realm, tokens=FakeTokens(), limiter=limiter, base_url=qbo.url
        ),
        limits,
        _transfer,
        workers=workers,
        writes=writes,
    )


def _burst_double(calls: int = CALLS) -> QuickBooksDouble:
    double = QuickBooksDouble(rate_limit=(calls, WINDOW))
    for account in ("1100", "1200"):
        double.company.seed_account(account)
    return double


@pytest.mark.django_db(transaction=True)
def test_a_burst_from_two_workers_stays_under_the_limit() -> None:
    from connectors.limits import RateLimits

    limits = RateLimits(calls=CALLS, window_seconds=WINDOW + MARGIN, concurrent=10)
    with _burst_double() as qbo:
        results = _burst(qbo, limits, workers=2, writes=100)
        assert not [r for r in results if isinstance(r, Exception)], results
        written = [document_id for ids, _ in results for document_id in ids]
        assert len(set(written)) == 200 and qbo.company.creates["Transfer"] == 200
        # The shared limiter keeps both workers under: the double never accepts
        # more than the limit. On a loaded machine a call held up between the
        # limiter and the socket can still arrive late and be refused; such a
        # 429 is waited out (the writes above all landed once), so allow a couple.
        assert qbo.most_in_window() <= CALLS
        assert len(qbo.refused) <= 2, qbo.refused
        assert qbo.company.balances()["1200"] == Decimal("2000.00")


@pytest.mark.django_db(transaction=True)
def test_429s_are_waited_out() -> None:
    from connectors.limits import RateLimits

    # Another app spends part of the company's allowance: the limiter lets
    # through more than QuickBooks will take, and QuickBooks says when to retry.
    # QuickBooks takes a small part of what the limiter lets through: 4 calls
    # per half second, which two workers exceed even on a loaded machine
    # (each call is validated against Intuit's XSD, ~15 ms of CPU).
    limits = RateLimits(calls=CALLS * 2, window_seconds=WINDOW, concurrent=10)
    with _burst_double(calls=4) as qbo:
        results = _burst(qbo, limits, workers=2, writes=25)
        assert not [r for r in results if isinstance(r, Exception)], results
        assert qbo.refused and sum(waited for _, waited in results) == len(qbo.refused)
        assert qbo.company.creates["Transfer"] == 50  # each exactly once
        assert qbo.most_in_window() <= 4


def test_a_long_retry_after_goes_up_to_the_engine(
    target: QuickBooksTarget, qbo: QuickBooksDouble
) -> None:
    qbo.fail_next(
        429, {"Fault": {"Error": [{"Message": "ThrottleExceeded"}]}}, {"Retry-After": "0.05"}
    )
    assert target.list_accounts()  # a short wait is waited out here
    assert target.client.throttled == 1
    qbo.fail_next(
        429, {"Fault": {"Error": [{"Message": "ThrottleExceeded"}]}}, {"Retry-After": "60"}
    )
    with pytest.raises(RateLimited) as limited:
        target.list_accounts()
    assert limited.value.retry_after == 60.0


# -- the strict harness: Intuit's XSD by a validator, and its documented requirements --


def _post(qbo: QuickBooksDouble, entity: str, body: dict[str, Any], **params: str) -> Any:
    import requests

    return requests.post(
        f"{qbo.url}/v3/company/{qbo.realm}/{entity.lower()}",
        params={"minorversion": "75", "requestid": f"r-{entity}-{len(qbo.requests)}", **params},
        json=body,
        headers={"Authorization": "Bearer good-token"},
        timeout=30,
    )


def test_an_entity_the_xsd_or_the_docs_refuse_never_reaches_the_books(qbo: QuickBooksDouble):
    journal = {
        "Line": [
            {
                "Amount": "5.00",
                "DetailType": "JournalEntryLineDetail",
                "JournalEntryLineDetail": {
                    "PostingType": "Sideways",
                    "AccountRef": {"value": "1000"},
                },
            }
        ],
        "Memo": "not an element of JournalEntry",
    }
    refused = _post(qbo, "JournalEntry", journal)
    unknown_param = _post(
        qbo,
        "Transfer",
        {
            "FromAccountRef": {"value": "1100"},
            "ToAccountRef": {"value": "1200"},
            "Amount": "1.00",
            "TxnDate": "2026-11-02",
        },
        include="allowduplicatedocnum",
    )
    found = qbo.harness.take()
    assert refused.status_code == unknown_param.status_code == 400
    assert refused.json()["Fault"]["type"] == "ValidationFault"
    assert any("Sideways" in v for v in found), found  # PostingTypeEnum, by the validator
    assert any("'Memo' does not match any declared element" in v for v in found), found
    assert any("JournalEntry.TxnDate: required" in v for v in found), found
    assert any("query parameter 'include'" in v for v in found), found
    assert qbo.company.creates == {}


def test_a_refund_paid_in_cash_closes_its_credit_memo_once_even_after_a_crash(
    qbo: QuickBooksDouble, monkeypatch
) -> None:
    """Issue 13's leftover: money paid back in cash against a credit note was
    a journal (A/R debit for the customer, cash credit) that left the credit
    memo and the journal both open in QuickBooks. A 0.00 payment applies
    one to the other, under its own key, exactly once across a crash."""
    scenario = json.loads((SCENARIOS / "uk-cafe-invoice.json").read_text(), parse_float=Decimal)
    refund = next(o for o in scenario["commerce"]["orders"] if o["id"] == "O-1006")
    refund["payments"][0]["type"] = "Cash"  # the refund leaves the till
    result = preview(scenario)
    assert not result.errors
    documents = [json.loads(json.dumps(d.as_json())) for d in result.documents]
    cash_refund = next(d for d in documents if d["key"].endswith("payment:Cash:refund"))
    assert cash_refund["totalAmount"] == "-3.30" and cash_refund["accountRef"] == {"id": "1000"}

    def target() -> QuickBooksTarget:
        return QuickBooksTarget(
            realm_id=qbo.realm, tokens=FakeTokens(), limiter=FakeLimiter(), base_url=qbo.url
        )

    # The process dies after writing the day and before applying anything.
    crashed = target()
    monkeypatch.setattr(crashed, "complete_document", lambda **_: None)
    crashed.write_documents([(d["key"], d) for d in documents])
    assert set(qbo.company.open_items()) == {"CreditMemo:106", "JournalEntry:113"}
    # The next run finds every document by its key and closes what is open.
    results = target().write_documents([(d["key"], d) for d in documents])
    assert all(isinstance(v, str) for v in results.values()), results
    assert qbo.company.open_items() == {}
    (applying,) = [
        p for p in qbo.company.entities["Payment"].values() if p["PrivateNote"].endswith(":apply")
    ]
    assert applying["PrivateNote"] == f"{cash_refund['key']}:apply"
    assert applying["TotalAmt"] == 0
    assert {(line["Amount"], line["LinkedTxn"][0]["TxnType"]) for line in applying["Line"]} == {
        (Decimal("3.30"), "CreditMemo"),
        (Decimal("3.30"), "JournalEntry"),
    }
    # A third run (or a crash after the payment was made) writes nothing more.
    creates = sum(qbo.company.creates.values())
    target().write_documents([(d["key"], d) for d in documents])
    assert sum(qbo.company.creates.values()) == creates
    # The customer owes nothing; the till is down by the cash paid back.
    balances = qbo.company.balances()
    assert balances.pop("AR", Decimal(0)) == 0
    paid_back = qbo.company.balances(lambda row: row.get("PrivateNote") == cash_refund["key"])
    assert paid_back == {"AR": Decimal("3.30"), "1000": Decimal("-3.30")}
    assert qbo.company.schema_problems == []


def test_the_double_refuses_a_payment_linking_what_quickbooks_does_not_apply(
    qbo: QuickBooksDouble, target: QuickBooksTarget
) -> None:
    """The double holds a customer payment's LinkedTxn to the types Intuit
    lists (Invoice, CreditMemo, JournalEntry): a `CreditNote` link is ours,
    not QuickBooks', and is refused before the double's code sees it."""
    with pytest.raises(DocumentRejected):
        target.client.create(
            "Payment",
            {
                "TxnDate": "2026-11-02",
                "CustomerRef": {"value": "CUST-POS"},
                "TotalAmt": Decimal(0),
                "Line": [
                    {"Amount": Decimal(1), "LinkedTxn": [{"TxnId": "1", "TxnType": "CreditNote"}]}
                ],
            },
            key="bad-link",
        )
    (problem,) = qbo.harness.take()
    assert "'CreditNote' is not one a customer payment links" in problem
