"""The MYOB Business connector against a local contract double whose traffic
is checked against MYOB's SDK contract classes (tests/doubles/myob_double.py)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests

from commerce_sync.errors import (
    CredentialsRevoked,
    DocumentRejected,
    PlatformUnavailable,
    RateLimited,
    SubscriptionExpired,
)
from connectors.myob import MyobTarget, translate
from tests.connectors.accounting_targets import (
    SCENARIOS,
    assert_connect_command_links,
    assert_found_by_key_and_not_written_again,
    assert_lost_answer_found_by_key,
    assert_two_workers_refresh_once,
    payout_transfer,
)
from tests.connectors.accounting_targets import scenario_documents as _documents
from tests.connectors.bursts import writes_from_workers
from tests.connectors.crashes import killed_writer_trials, write_then_exit, write_under_faults
from tests.connectors.test_quickbooks import FakeLimiter, FakeTokens
from tests.doubles.myob_double import API_KEY, TOKEN, MyobDouble, check, properties

FORMATS = {"journal": "JournalEntry", "invoice": "Invoice"}
CF = "6f8e9c1a-7b2d-4c3e-9f10-112233445566"  # a company file id: MYOB's are GUIDs


def _seed(myob: MyobDouble) -> None:
    books = myob.books
    for display_id in ("1000", "1100", "1110", "1200", "1300"):
        books.seed_account(display_id)
    for display_id in ("1600", "2150", "2200", "2300", "2310", "2320"):
        books.seed_account(display_id, classification="Liability")
    for display_id in ("4000", "4010", "4050"):
        books.seed_account(display_id, classification="Income")
    books.seed_account("6100", classification="Expense")
    books.seed_account("4999", "Old sales", "Income", active=False)
    books.seed_account("4-0000", "Income", "Income", header=True)
    books.seed_tax("OUTPUT2", "20", collected="2200", paid="2200")
    books.seed_tax("ZERORATEDOUTPUT", "0", collected="2200", paid="2200")
    books.seed_tax("NONE", "0")
    books.seed_customer("CUST-POS", "Till")
    books.seed_customer("CUST-OLD", "Gone", active=False)
    books.seed_customer("SUPP-CARD", "Card processor", path="Contact/Supplier")


@pytest.fixture
def myob() -> Iterator[MyobDouble]:
    with MyobDouble() as double:
        _seed(double)
        yield double
        assert double.violations == []  # every request fitted the SDK's contracts


def _target(myob: MyobDouble, **kwargs: Any) -> MyobTarget:
    options: dict[str, Any] = {
        "tokens": FakeTokens(TOKEN, TOKEN),
        "limiter": FakeLimiter(),
        "receivable_account": "1300",
        "payable_account": "1600",
    }
    options.update(kwargs)
    return MyobTarget(company_file=myob.company_file, api_key=API_KEY, base_url=myob.url, **options)


@pytest.fixture
def target(myob: MyobDouble) -> MyobTarget:
    return _target(myob)


def _writes(myob: MyobDouble) -> list[tuple[str, str, dict[str, str]]]:
    return [r for r in myob.requests if r[0] == "POST"]


# -- the contract itself: the SDK's classes, parsed at test time --


def test_the_double_reads_the_sdk_contracts_and_can_refuse() -> None:
    invoice = properties("ServiceInvoice")
    assert invoice["Lines"][0] == "IEnumerable<ServiceInvoiceLine>"  # generic put in
    assert {"JournalMemo", "CustomerPurchaseOrderNumber", "Date", "UID"} <= set(invoice)
    assert properties("GeneralJournalLine")["IsCredit"] == ("bool", False)
    assert "ETag" not in properties("GeneralJournal")  # [JsonIgnore]
    good = {
        "Account": {"UID": "0b5c8f4e-1d2a-4c3b-9e8f-7a6b5c4d3e2f"},
        "Amount": 5,
        "IsCredit": True,
    }
    assert check("GeneralJournalLine", good, "l") == []
    assert check("GeneralJournalLine", {**good, "Credit": True}, "l") == [
        "l.Credit is not a property of GeneralJournalLine"
    ]
    assert check("GeneralJournalLine", {**good, "Amount": "5"}, "l") == [
        "l.Amount = '5' is not a decimal"
    ]
    assert check("CustomerPayment", {"DepositTo": "Bank"}, "p") == [
        "p.DepositTo = 'Bank' is not a DepositTo"
    ]
    assert {"Invoice", "Account", "Amount", "Memo", "ForeignCurrency"} <= set(
        properties("CreditRefund")
    )  # its own and SupportMulticurrencyEntity's
    assert check("CreditRefund", {"Amount": "3.30", "CreditNote": {}}, "r") == [
        "r.Amount = '3.30' is not a decimal",
        "r.CreditNote is not a property of CreditRefund",
    ]


def test_a_request_myob_would_refuse_never_reaches_the_books(myob: MyobDouble) -> None:
    url = f"{myob.url}/accountright/{myob.company_file}/GeneralLedger/GeneralJournal"
    headers = {"Authorization": f"Bearer {TOKEN}", "x-myobapi-key": API_KEY}
    answer = requests.post(
        url, json={"DateOccured": "2026-11-02T00:00:00"}, headers=headers, timeout=5
    )
    assert answer.status_code == 400
    found = myob.harness.take()
    assert any("x-myobapi-version" in v for v in found)
    assert any("DateOccured is not a property of GeneralJournal" in v for v in found)
    assert myob.books.creates == Counter()


def test_setup_reads_page_to_the_end() -> None:
    with MyobDouble(page_max=3) as myob:
        _seed(myob)
        target = _target(myob)
        accounts = target.list_accounts()
        assert len(accounts) == 16  # the header account left out
        assert {a.id: a.status for a in accounts}["4999"] == "Archived"
        assert {a.id: a.type for a in accounts}["6100"] == "Expense"
        rates = {r.id: r.rate for r in target.list_tax_rates()}
        assert rates == {"OUTPUT2": "20", "ZERORATEDOUTPUT": "0", "NONE": "0"}
        pages = [r for r in myob.requests if r[1].endswith("GeneralLedger/Account")]
        assert len(pages) == 6  # 17 rows, 3 a page
        for n in range(4):  # a second page of customers
            myob.books.seed_customer(f"CUST-{n}", f"Guest {n}")
        customers = {c["name"]: c for c in target.list_customers()}
        assert len(customers) == 6 and customers["Gone"]["status"] == "Archived"
        till = customers["Till"]
        assert till["status"] == "Active" and target.customer(till["id"]) == till["id"]
        assert len([r for r in myob.requests if r[1].endswith("Contact/Customer")]) == 2
        assert target.list_suppliers() == [
            {"id": myob.books.rows["Contact/Supplier"][0]["UID"], "name": "Card processor",
             "status": "Active"}
        ]  # fmt: skip
        assert myob.violations == []


def test_every_call_carries_the_myob_headers_and_goes_through_the_limiter(
    myob: MyobDouble,
) -> None:
    limiter = FakeLimiter()
    target = _target(myob, limiter=limiter)
    target.list_tax_rates()
    assert limiter.events == [("acquire", f"myob:{API_KEY}"), ("release", f"myob:{API_KEY}")]
    # A number outside MYOB's numbering is refused in words, before any call.
    with pytest.raises(DocumentRejected, match="'7000' is not valid: write it as MYOB does"):
        target.create_account(account_id="7000", name="Fees", account_type="Expense")
    assert len(limiter.events) == 2


def test_every_document_kind_is_written_and_found_by_key(
    target: MyobTarget, myob: MyobDouble
) -> None:
    documents = _documents("uk-cafe-invoice.json")
    results = target.write_documents([(d["key"], d) for d in documents])
    assert all(isinstance(v, str) for v in results.values()), results
    payments = [d for d in documents if translate.is_customer_payment(d)]
    assert myob.books.creates == {
        "ServiceInvoice": 2,
        "CustomerPayment": len(payments),
        "CreditRefund": 1,
        "GeneralJournal": len(documents) - 3 - len(payments),
    }
    invoices = myob.books.rows["Sale/Invoice/Service"]
    credit = next(i for i in invoices if i["TotalAmount"] < 0)
    assert credit["TotalAmount"] == Decimal("-3.30") and credit["TotalTax"] == Decimal("-0.55")
    sale = next(i for i in invoices if i["TotalAmount"] > 0)
    assert sale["BalanceDueAmount"] == sale["TotalAmount"] - sum(
        Decimal(p["totalAmount"]) for p in payments
    )
    assert {i["Date"] for i in invoices} == {"2026-11-02T00:00:00"}
    assert sale["CustomerPurchaseOrderNumber"] == translate.purchase_order_number(
        sale["JournalMemo"]
    )
    assert_found_by_key_and_not_written_again(myob, lambda: _target(myob), documents, results)


def test_a_lost_answer_is_found_by_key_and_not_written_again(myob: MyobDouble) -> None:
    document = _documents("uk-cafe-journal.json")[0]
    assert_lost_answer_found_by_key(
        myob, lambda: _target(myob), document, created="GeneralJournal", id_prefix="GeneralJournal:"
    )
    row = myob.books.rows["GeneralLedger/GeneralJournal"][0]
    assert row["Memo"] == document["key"]


def _seed_for(myob: MyobDouble, documents: list[dict[str, Any]]) -> None:
    """The accounts and tax codes the scenario's documents name that the
    standard seed lacks (a new tax code collects on 2200)."""
    books = myob.books
    known = {r["DisplayID"] for r in books.rows["GeneralLedger/Account"]}
    codes = {r["Code"] for r in books.rows["GeneralLedger/TaxCode"]}
    for document in documents:
        refs = [document.get(r) for r in ("accountRef", "fromAccountRef", "toAccountRef")]
        lines = document.get("journalLines", []) + document.get("lineItems", [])
        for ref in [*refs, *(line["accountRef"] for line in lines)]:
            if ref and ref["id"] not in known:
                books.seed_account(ref["id"])
                known.add(ref["id"])
        for line in lines:
            code = (line.get("taxRateRef") or {}).get("id")
            if code and code not in codes:
                net, tax = Decimal(line["subTotal"]), Decimal(line["taxAmount"])
                rate = (tax / net * 100).quantize(Decimal("0.001")) if net else Decimal(0)
                books.seed_tax(code, str(rate), collected="2200", paid="2200")
                codes.add(code)


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.json")), ids=lambda p: p.stem)
def test_every_shared_scenario_gives_its_expected_balances(path: Path) -> None:
    scenario = json.loads(path.read_text(), parse_float=Decimal)
    assert scenario.get("expected"), f"{path.name} has no expected figures"
    for kind, expected in scenario["expected"].items():
        documents = _documents(path.name, FORMATS[kind])
        locations = sorted({d["group"]["locationId"] for d in documents} - {None})
        with MyobDouble() as myob:
            _seed(myob)
            _seed_for(myob, documents)
            # Each location under its own MYOB category, as the Locations page sets.
            categories = {loc: myob.books.seed_category(f"CAT-{loc}", loc) for loc in locations}
            target = _target(myob, categories=categories if locations else None)
            assert target.check_references(documents) == []
            results = target.write_documents([(d["key"], d) for d in documents])
            assert all(isinstance(v, str) for v in results.values()), results
            assert myob.violations == []
            for group in expected.get("groups") or [{"balances": expected["balances"]}]:
                keys = {
                    d["key"]
                    for d in documents
                    if group.get("currency", d["group"]["currency"]) == d["group"]["currency"]
                    and group.get("locationId") == d["group"].get("locationId")
                }
                assert keys, group
                balances = myob.books.balances(lambda p, keys=keys: p.key in keys)
                # Receivable and payable net to zero over the day.
                assert balances.pop("1300", Decimal(0)) == 0
                assert balances.pop("1600", Decimal(0)) == 0
                wanted: Counter[str] = Counter()
                for account, amount in group["balances"].items():
                    # The tax of a code lands on its collected/paid account (2200).
                    wanted["2200" if account.startswith("TAX:") else account] += Decimal(amount)
                assert balances == {k: v for k, v in wanted.items() if v}, (kind, group)
                # Every invoice and journal of a location carries its category;
                # payments have none in MYOB (their invoice says the location).
                location = group.get("locationId")
                if location:
                    carried = {p.category for p in myob.books.postings if p.key in keys}
                    assert carried == {f"CAT-{location}"}, (kind, group, carried)
            if locations:
                assert {p.category for p in myob.books.postings} == {
                    f"CAT-{loc}" for loc in locations
                }


# -- refusals and the connection's troubles, in plain words --


def test_check_references_names_what_would_fail(target: MyobTarget, myob: MyobDouble) -> None:
    document = _documents("uk-cafe-invoice.json")[0]
    document["lineItems"][0]["accountRef"]["id"] = "4999"
    document["lineItems"][1]["accountRef"]["id"] = "4-0000"
    document["lineItems"][2]["accountRef"]["id"] = "4321"
    document["lineItems"][2]["taxRateRef"]["id"] = "GONE"
    document["customerRef"]["id"] = "CUST-OLD"
    assert target.check_references([document]) == [
        "Account 4-0000 (Income) is a header account in MYOB; choose a detail account under it",
        "Account 4321 does not exist in MYOB",
        "Account 4999 (Old sales) is inactive in MYOB",
        "Tax code GONE does not exist in MYOB",
        "Customer CUST-OLD is inactive in MYOB",
    ]
    assert _writes(myob) == []
    # Tax on a 0 % code cannot be carried by MYOB's per-line working.
    document = _documents("uk-cafe-invoice.json")[0]
    zero = next(i for i in document["lineItems"] if i["taxRateRef"]["id"] != "OUTPUT2")
    zero["taxAmount"] = "0.07"
    problems = target.check_references([document])
    assert len(problems) == 1 and "carry tax 0.07" in problems[0], problems


def test_a_till_that_rounds_tax_per_sale_books_its_own_tax_to_the_cent(
    target: MyobTarget, myob: MyobDouble
) -> None:
    """MYOB works each line's tax out itself (20 % of 39.49 is 7.90); the
    till rounded per sale and carried 7.91. A labelled pair of lines (0.05
    at OUTPUT2, whose tax MYOB makes 0.01, and -0.05 untaxed) makes MYOB's
    tax, net and total the sales' own, and the invoice is paid in full."""
    documents = _documents("uk-cafe-invoice.json")
    invoice = documents[0]
    line = next(i for i in invoice["lineItems"] if i["taxRateRef"]["id"] == "OUTPUT2")
    worked = (Decimal(line["subTotal"]) * Decimal("0.20")).quantize(Decimal("0.01"))
    line["taxAmount"] = str(worked + Decimal("0.01"))
    tax = sum(Decimal(i.get("taxAmount") or 0) for i in invoice["lineItems"])
    total = sum(Decimal(i["subTotal"]) for i in invoice["lineItems"]) + tax
    assert target.check_references([invoice]) == []
    outcome = target.write_documents([(invoice["key"], invoice)])
    assert not isinstance(outcome[invoice["key"]], Exception), outcome
    (row,) = [
        r for r in myob.books.rows["Sale/Invoice/Service"] if r["JournalMemo"] == invoice["key"]
    ]
    assert (row["TotalTax"], row["TotalAmount"]) == (tax, total)
    pair = [ln for ln in row["Lines"] if "rounding" in ln["Description"].lower()]
    assert [ln["Total"] for ln in pair] == [Decimal("0.05"), Decimal("-0.05")]


def test_myob_words_reach_the_merchant(target: MyobTarget, myob: MyobDouble) -> None:
    document = _documents("uk-cafe-journal.json")[0]
    document["journalLines"][0]["netAmount"] = str(
        Decimal(document["journalLines"][0]["netAmount"]) + 1
    )
    outcome = target.write_documents([(document["key"], document)])[document["key"]]
    assert isinstance(outcome, DocumentRejected)
    assert "debits and credits are not equal" in str(outcome)


def test_401_refreshes_once_then_a_second_401_is_a_revoked_grant(myob: MyobDouble) -> None:
    tokens = FakeTokens("stale", TOKEN)
    assert _target(myob, tokens=tokens).list_tax_rates()
    assert tokens.refreshes == ["stale"]
    with pytest.raises(CredentialsRevoked, match="reconnect MYOB"):
        _target(myob, tokens=FakeTokens("stale", "still-bad")).list_tax_rates()


def test_rate_limits_and_outages(target: MyobTarget, myob: MyobDouble) -> None:
    myob.throttle_next = 2
    assert target.list_tax_rates()
    assert target.client.throttled == 2  # 429s waited out
    myob.day_spent = True
    with pytest.raises(RateLimited, match="rate limiting"):
        target.list_tax_rates()
    myob.day_spent = False
    myob.fail_next = 403
    with pytest.raises(SubscriptionExpired, match="Failure 403"):
        target.list_tax_rates()
    myob.fail_next = 503
    with pytest.raises(PlatformUnavailable, match="503"):
        target.list_tax_rates()


# -- faults and SIGKILL: every document exactly once --


def test_under_faults_every_document_is_written_exactly_once(myob: MyobDouble) -> None:
    documents = _documents("uk-cafe-invoice.json")

    def fail_next() -> None:
        myob.fail_next = 503

    faults = write_under_faults(myob, lambda: _target(myob), documents, fail_next)
    assert faults["rounds"] > 1 and faults["lost"] >= 1, faults
    assert myob.keys_written() == Counter({d["key"]: 1 for d in documents})


def test_a_writer_killed_at_any_moment_leaves_nothing_doubled_or_missing() -> None:
    documents = _documents("uk-cafe-invoice.json")

    def opened() -> MyobDouble:
        # 5 ms an answer: the child's day (about 35 calls) takes ~0.2 s.
        double = MyobDouble(delay=0.005)
        _seed(double)
        return double

    def check(myob: MyobDouble) -> None:
        assert myob.keys_written() == Counter({d["key"]: 1 for d in documents})
        assert myob.violations == []

    killed = killed_writer_trials(
        opened,
        lambda myob: (write_then_exit, (_target, myob, documents)),
        _target,
        documents,
        check,
    )
    assert killed, "no trial killed the writer mid-way; lengthen the day"


# -- OAuth, company files, registration and the setup flow --


def test_oauth_parameters(settings: Any) -> None:
    from connectors.myob.oauth import myob_oauth_client

    settings.MYOB_OAUTH_URL = "https://secure.myob.com"
    settings.MYOB_CLIENT_ID = "myob-app"
    client = myob_oauth_client()
    assert client.platform.authorize_url == "https://secure.myob.com/oauth2/account/authorize"
    assert client.platform.token_url == "https://secure.myob.com/oauth2/v1/authorize"
    assert client.platform.credentials_in_body
    assert client.platform.refresh_margin_seconds == 60  # as MYOB's SDK
    request = client.authorization_request(redirect_uri="https://cs.example/cb")
    assert request.url.startswith("https://secure.myob.com/oauth2/account/authorize?")
    assert "client_id=myob-app" in request.url and "scope=CompanyFile" in request.url


def test_company_files_are_listed_and_chosen(settings: Any) -> None:
    from commerce_sync.errors import ConfigurationError
    from connectors.myob.oauth import myob_company_file_select, myob_company_files

    with MyobDouble(other_files=("Shop Books",)) as myob:
        settings.MYOB_API_URL = myob.url
        settings.MYOB_CLIENT_ID = API_KEY
        found = myob_company_files(access_token=TOKEN)
        assert [f.name for f in found] == ["Cafe Books", "Shop Books"]
        assert myob_company_file_select(found, myob.company_file).name == "Cafe Books"
        with pytest.raises(ConfigurationError, match="'nope' is not a company file id"):
            myob_company_file_select(found, "nope")
        with pytest.raises(ConfigurationError, match="not one this authorisation reaches"):
            myob_company_file_select(found, CF)
        assert myob_company_file_select(found, myob.company_file.upper()).name == "Cafe Books"
        with pytest.raises(CredentialsRevoked):
            myob_company_files(access_token="wrong-token")
        assert myob.violations == []


def _in_currency(document: dict[str, Any], currency: str) -> dict[str, Any]:
    moved = json.loads(json.dumps(document))
    moved["currency"] = moved["group"]["currency"] = currency
    return moved


def test_a_day_in_another_currency_is_refused_not_booked_as_local_money(
    myob: MyobDouble,
) -> None:
    """This connector writes no `ForeignCurrency`: a EUR day written as is
    would land as that many GBP. It is named before writing and refused
    alone, with nothing sent to MYOB; the home-currency day still goes in."""
    documents = _documents("uk-cafe-invoice.json")
    invoice = next(d for d in documents if d["type"] == "invoice")
    journal = _documents("uk-cafe-journal.json")[0]
    euro = _in_currency({**invoice, "key": invoice["key"] + ":eur"}, "EUR")
    target = _target(myob, currency="GBP")
    assert target.check_references([invoice, journal]) == []
    problems = target.check_references([invoice, euro, journal])
    assert problems == [
        "MYOB: the day's EUR documents cannot be written: this connection writes amounts in "
        "GBP (the company file's own currency) only, and would book EUR amounts as GBP; "
        "nothing in EUR was written"
    ]
    before = len(_writes(myob))
    results = target.write_documents([(euro["key"], euro), (journal["key"], journal)])
    refused = results[euro["key"]]
    assert isinstance(refused, DocumentRejected) and "EUR" in refused.message
    assert isinstance(results[journal["key"]], str)
    assert len(_writes(myob)) - before == 1  # the GBP journal only
    with pytest.raises(DocumentRejected, match="would book EUR amounts as GBP"):
        target.write_document(key=euro["key"], document=euro)


@pytest.mark.django_db
def test_registry_builds_the_target(settings: Any) -> None:
    from commerce_sync.core.platforms import platform_get
    from commerce_sync.core.services.connections import connection_target
    from commerce_sync.errors import ConfigurationError
    from tests.factories import ConnectionFactory

    settings.MYOB_CLIENT_ID = "myob-app"
    connection = ConnectionFactory(
        accounting=True, platform_key="myob", settings={"company_file": CF}
    )
    target = connection_target(connection=connection)
    assert isinstance(target, MyobTarget) and target.client.limit_key == "myob:myob-app"
    assert target.client.url("GeneralLedger/Account") == (
        f"https://api.myob.com/accountright/{CF}/GeneralLedger/Account"
    )
    assert (target.receivable_account, target.payable_account) == ("1-1200", "2-1200")
    assert target.currency == connection.merchant.currency  # the company file's money
    connection.settings = {}
    with pytest.raises(ConfigurationError, match="no company file"):
        connection_target(connection=connection)
    # Anything but a GUID would make a broken URL: refused, naming it.
    for bad in ("cf-1", "../GeneralLedger", CF + "x", "{" + CF + "}"):
        connection.settings = {"company_file": bad}
        with pytest.raises(
            ConfigurationError, match="is not a company file id: MYOB's ids are GUIDs"
        ):
            connection_target(connection=connection)
    connection.settings = {"company_file": CF.upper()}
    assert connection_target(connection=connection).client.company_file == CF  # type: ignore[attr-defined]
    platform = platform_get("myob")
    assert platform is not None and platform.name == "MYOB Business"
    assert platform.source_type == "Accounting" and platform.needs_authorization
    from django.contrib.staticfiles import finders

    # The integrations list shows its logos (our own static files).
    assert finders.find("integrations/myob.svg") and finders.find("integrations/myob-square.svg")


@pytest.mark.django_db
def test_the_setup_flow_connects_myob_and_asks_which_company_file(
    client: Any, partner: Any, settings: Any
) -> None:
    from tests.setup_flow.helpers import accounting_consent_and_picker, organisation_choose

    with MyobDouble(other_files=("Shop Books",)) as myob:
        _seed(myob)
        settings.MYOB_API_URL = settings.MYOB_OAUTH_URL = myob.url
        settings.MYOB_CLIENT_ID, settings.MYOB_CLIENT_SECRET = myob.client
        books, screen, body = accounting_consent_and_picker(
            client, partner, platform_key="myob", country="AU"
        )
        assert "Allow access to MYOB?" in screen
        assert "Cafe Books" in body and "Shop Books" in body
        # A tampered picker (not a GUID, or a file the grant does not reach)
        # is the picker again with its error, nothing linked, no 500.
        for bad in ("../../GeneralLedger/Account", CF):
            again = client.post("/setup/organisation", {"organisation": bad})
            assert again.status_code == 400
            assert "Choose one of the organisations listed." in again.content.decode()
            books.refresh_from_db()
            assert books.status == "PendingAuth" and "company_file" not in books.settings
        options = organisation_choose(client, books, myob.company_file)
        assert books.settings == {
            "company_file": myob.company_file,
            "company_file_name": "Cafe Books",
        }
        assert books.credentials["access_token"] == TOKEN
        # The options come from that company file: accounts by DisplayID.
        ids = [a["id"] for a in options]
        assert "4000" in ids and "4-0000" not in ids
        # And the customers and suppliers the setup flow offers.
        from commerce_sync.core.services.configuration import accounting_options_get

        offered = accounting_options_get(connection=books)
        assert {c["name"]: c["status"] for c in offered.customers or []} == {
            "Till": "Active",
            "Gone": "Archived",
        }
        assert [s["name"] for s in offered.suppliers or []] == ["Card processor"]
        assert myob.violations == []


# -- the shared limiter and the row-lock refresh under two workers --


def _transfer(key: str) -> dict[str, Any]:
    return payout_transfer(key, "AUD")


@pytest.mark.django_db(transaction=True)
def test_two_workers_stay_under_eight_calls_a_second() -> None:
    from connectors.myob.adapter import myob_limits

    # Each write is a lookup and a create: 2 x 2 x 6 = 24 calls, about 3 s.
    with MyobDouble(rate_limit=(8, 1.0)) as myob:
        _seed(myob)
        results = writes_from_workers(
            lambda limiter: _target(myob, limiter=limiter),
            myob_limits(),
            _transfer,
            workers=2,
            writes=6,
        )
        assert not [r for r in results if isinstance(r, Exception)], results
        assert myob.books.creates["GeneralJournal"] == 12
        assert myob.refused == [] and myob.most_in_window() <= 8
        assert myob.books.balances()["1200"] == Decimal("120.00")


@pytest.mark.django_db(transaction=True)
def test_two_workers_refreshing_at_once_spend_the_refresh_token_once(settings: Any) -> None:
    with MyobDouble() as myob:
        _seed(myob)
        settings.MYOB_API_URL = settings.MYOB_OAUTH_URL = myob.url
        settings.MYOB_CLIENT_ID, settings.MYOB_CLIENT_SECRET = myob.client
        assert_two_workers_refresh_once(
            myob,
            "myob",
            settings={"company_file": myob.company_file},
            access_token=TOKEN,
            seconds_left=30,  # inside the 60 s margin MYOB's SDK keeps
            rotated=("myob-access-0001", "myob-refresh-0002"),
        )


@pytest.mark.django_db
def test_connect_command_links_myob_without_printing_tokens(
    merchant: Any, capsys: pytest.CaptureFixture[str], tmp_path: Any
) -> None:
    from commerce_sync.core.services.connections import connection_target

    connection = assert_connect_command_links(
        merchant,
        "myob",
        tmp_path,
        capsys,
        refused=[
            ([], "--company-file"),
            (["--company-file", "cf-42"], "is not a company file id"),
        ],
        options=["--company-file", f" {CF} "],
        settings={"company_file": CF},
    )
    target = connection_target(connection=connection)
    assert target.client.company_file == CF  # type: ignore[attr-defined]


def test_translation_says_where_the_key_is_kept(target: MyobTarget, myob: MyobDouble) -> None:
    key = "m1:2026-11-02:AUD:-:day:invoice"
    assert len(translate.purchase_order_number(key)) == translate.PURCHASE_ORDER_MAX == 20
    assert translate.purchase_order_number("a") != translate.purchase_order_number("b")
    document = _documents("uk-cafe-invoice.json")[0]
    path, body = translate.to_entity(key, document, target)
    assert path == "Sale/Invoice/Service" and body["JournalMemo"] == key
    del document["lineItems"][0]["taxRateRef"]
    with pytest.raises(DocumentRejected, match="MYOB needs one on every line"):
        translate.to_entity(key, document, target)
    refund = next(d for d in _documents("uk-cafe-invoice.json") if d["key"].endswith(":refund"))
    with pytest.raises(DocumentRejected, match="credit note this refund pays back"):
        translate.to_entity(refund["key"], refund, target)  # not written yet
    refund["links"] = []  # money back tied to no credit note: a journal
    path, body = translate.to_entity(refund["key"], refund, target)
    assert path == "GeneralLedger/GeneralJournal" and body["Memo"] == refund["key"]
    assert [(line["Amount"], line["IsCredit"]) for line in body["Lines"]] == [
        (Decimal("3.30"), True),  # the card account pays the money back
        (Decimal("3.30"), False),  # against the receivable
    ]


def test_a_cash_refund_closes_its_credit_note_exactly_once(
    target: MyobTarget, myob: MyobDouble
) -> None:
    documents = _documents("uk-cafe-invoice.json")
    credit_note = next(d for d in documents if d["type"] == "creditNote")
    refund = next(d for d in documents if d["key"].endswith(":refund"))
    target.write_document(key=credit_note["key"], document=credit_note)
    credit = myob.books.rows["Sale/Invoice/Service"][0]
    assert (credit["BalanceDueAmount"], credit["Status"]) == (Decimal("-3.30"), "Credit")
    before = myob.books.balances()
    myob.lose_next_answer = True  # MYOB refunds, the answer never arrives
    with pytest.raises(PlatformUnavailable):
        target.write_document(key=refund["key"], document=refund)
    fresh = _target(myob)  # after a crash: nothing cached
    found = fresh.find_document(key=refund["key"])
    assert found is not None and found.startswith("CreditRefund:")
    assert fresh.write_document(key=refund["key"], document=refund) == found
    assert myob.books.creates["CreditRefund"] == 1 and myob.keys_written()[refund["key"]] == 1
    body = myob.books.rows["Sale/CreditRefund"][0]
    assert body["Invoice"]["UID"] == credit["UID"] and body["Amount"] == Decimal("3.30")
    assert (credit["BalanceDueAmount"], credit["Status"]) == (Decimal("0"), "Closed")
    after = myob.books.balances()
    assert after.get("1100", 0) - before.get("1100", 0) == Decimal("-3.30")  # card account paid
    assert after.get("1300", 0) - before.get("1300", 0) == Decimal("3.30")  # credit used up
    # A second refund of the same credit note is refused by MYOB, in its words.
    with pytest.raises(DocumentRejected, match="not an open credit note"):
        _target(myob).write_document(key=refund["key"] + ":again", document=refund)
    assert myob.books.creates["CreditRefund"] == 1


# -- locations tracked by MYOB categories (the Locations page) --


def _located(documents: list[dict[str, Any]], location: str) -> list[dict[str, Any]]:
    for document in documents:
        document["group"]["locationId"] = location
        document["key"] = document["key"].replace(":-:", f":{location}:")
        for link in document.get("links") or []:
            link["id"] = str(link["id"]).replace(":-:", f":{location}:")
    return documents


def test_categories_are_listed_for_the_locations_page(target: MyobTarget, myob: MyobDouble) -> None:
    soho = myob.books.seed_category("SOHO", "Soho shop")
    myob.books.seed_category("OLD", "Closed shop", active=False)
    options = target.list_tracking_options()
    assert [(o.category, o.option_id, o.option) for o in options] == [
        ("Category", soho, "SOHO Soho shop")
    ]


def test_a_two_location_invoice_day_puts_each_location_under_its_category(
    myob: MyobDouble,
) -> None:
    books = myob.books
    categories = {
        "SOHO": books.seed_category("SOHO", "Soho"),
        "LEEDS": books.seed_category("LEEDS", "Leeds"),
    }
    documents = _located(_documents("uk-cafe-invoice.json"), "SOHO") + _located(
        _documents("uk-cafe-invoice.json"), "LEEDS"
    )
    target = _target(myob, categories=categories)
    assert target.check_references(documents) == []
    results = target.write_documents([(d["key"], d) for d in documents])
    assert all(isinstance(v, str) for v in results.values()), results
    for location in ("SOHO", "LEEDS"):
        invoices = [
            r for r in books.rows["Sale/Invoice/Service"] if f":{location}:" in r["JournalMemo"]
        ]
        assert invoices and all(i["Category"] == {"UID": categories[location]} for i in invoices)
        journals = [
            r for r in books.rows["GeneralLedger/GeneralJournal"] if f":{location}:" in r["Memo"]
        ]
        assert all(j["Category"] == {"UID": categories[location]} for j in journals)
        # The payments carry none (no Category in CustomerPayment.cs).
        assert all("Category" not in p for p in books.rows["Sale/CustomerPayment"])
        tracked = {i["JournalMemo"] for i in invoices} | {j["Memo"] for j in journals}
        kept = {p.category for p in books.postings if p.key in tracked}
        assert kept == {location}
    # Both locations' books are the one-location day's, twice.
    assert myob.violations == []


def test_a_location_without_a_usable_category_is_named_before_writing(
    myob: MyobDouble,
) -> None:
    books = myob.books
    soho = books.seed_category("SOHO", "Soho")
    gone = books.seed_category("GONE", "Closed", active=False)
    documents = _located(_documents("uk-cafe-invoice.json"), "SOHO")
    leeds = _located(_documents("uk-cafe-invoice.json"), "LEEDS")
    target = _target(myob, categories={"SOHO": soho})
    assert target.check_references(documents + leeds) == [
        "Location LEEDS has no MYOB category; choose one on the Locations page"
    ]
    with pytest.raises(DocumentRejected, match="Location LEEDS has no MYOB category"):
        target.write_document(key=leeds[0]["key"], document=leeds[0])
    inactive = _target(myob, categories={"SOHO": gone})
    assert inactive.check_references(documents) == [
        "The MYOB category of location SOHO (GONE) is inactive in MYOB; "
        "make it active there or choose another"
    ]
    missing = _target(myob, categories={"SOHO": CF})
    assert "does not exist in MYOB any more" in missing.check_references(documents)[0]
    assert _writes(myob) == []
    # Untracked, the same documents go without a category.
    untracked = _target(myob)
    assert untracked.check_references(documents) == []
    # The double refuses a category the file does not have, as MYOB would.
    url = f"{myob.url}/accountright/{myob.company_file}/GeneralLedger/GeneralJournal"
    headers = {"Authorization": f"Bearer {TOKEN}", "x-myobapi-key": API_KEY,
               "x-myobapi-version": "v2"}  # fmt: skip
    one = books.by_display("1100")["UID"]
    other = books.by_display("1200")["UID"]
    body = {
        "DateOccurred": "2026-11-02T00:00:00",
        "Memo": "k",
        "Category": {"UID": CF},
        "Lines": [
            {"Account": {"UID": one}, "Amount": 5, "IsCredit": False},
            {"Account": {"UID": other}, "Amount": 5, "IsCredit": True},
        ],
    }
    assert requests.post(url, json=body, headers=headers, timeout=5).status_code == 400
    assert books.creates == Counter()


# -- creating an account (GeneralLedger/Account, POST) --


def test_an_account_is_created_in_myob_numbering(target: MyobTarget, myob: MyobDouble) -> None:
    books = myob.books
    books.seed_account("6-0000", "Expenses", "Expense", header=True, level=1)
    books.seed_account("6-1000", "Card fees", "Expense", header=True, level=2)
    books.seed_tax("N-T", "0")
    created = target.create_account(
        account_id="6-1100", name="Card processing", account_type="Expense"
    )
    assert created == translate.AccountOption("6-1100", "Card processing", "Expense")
    row = books.by_display("6-1100")
    assert row["Classification"] == "Expense" and row["Type"] == "Expense"
    assert (row["Number"], row["Level"], row["IsHeader"]) == (1100, 3, False)
    assert row["ParentAccount"]["DisplayID"] == "6-1000"
    assert row["TaxCode"]["UID"] == next(
        t["UID"] for t in books.rows["GeneralLedger/TaxCode"] if t["Code"] == "N-T"
    )
    income = target.create_account(account_id="4-1100", name="Sales", account_type="Income")
    assert income.type == "Income" and books.by_display("4-1100")["Level"] == 2
    assert {"6-1100", "4-1100"} <= {a.id for a in target.list_accounts()}
    assert books.creates["Account"] == 2
    assert myob.violations == []


@pytest.mark.parametrize(
    ("account_id", "name", "account_type", "message"),
    [
        ("4100", "Sales", "Income", "write it as MYOB does, the classification digit"),
        ("7-1100", "Sales", "Income", "write it as MYOB does"),
        ("4-110", "Sales", "Income", "write it as MYOB does"),
        (
            "6-1100",
            "Sales",
            "Income",
            "6-1100 is an Expense number \\(6-…\\), not Income; an "
            "Income account starts with 4- or 8-",
        ),
        ("4-1100", "", "Income", "1 to 60 characters"),
        ("4-1100", "x" * 61, "Income", "1 to 60 characters"),
        ("1-1200", "Again", "Asset", "1-1200 already exists"),
    ],
)
def test_an_account_myob_would_refuse_is_refused_in_plain_words(
    target: MyobTarget,
    myob: MyobDouble,
    account_id: str,
    name: str,
    account_type: str,
    message: str,
) -> None:
    myob.books.seed_account("1-1200", "Trade debtors")
    with pytest.raises(DocumentRejected, match=message):
        target.create_account(account_id=account_id, name=name, account_type=account_type)
    assert myob.books.creates == Counter()


def test_the_double_holds_a_new_account_to_the_contract(myob: MyobDouble) -> None:
    url = f"{myob.url}/accountright/{myob.company_file}/GeneralLedger/Account"
    headers = {"Authorization": f"Bearer {TOKEN}", "x-myobapi-key": API_KEY,
               "x-myobapi-version": "v2"}  # fmt: skip
    tax = myob.books.rows["GeneralLedger/TaxCode"][0]["UID"]
    good = {"DisplayID": "4-1100", "Name": "Sales", "Number": 1100, "Type": "Income",
            "Level": 2, "TaxCode": {"UID": tax}}  # fmt: skip
    for bad, words in (
        ({**good, "Classification": "Income"}, "Classification is read only"),
        ({**good, "ParentAccount": {"UID": tax}}, "ParentAccount is read only"),
        ({**good, "Level": 1}, "Level 1 is not 2, 3 or 4"),
        ({**good, "Number": 41100}, "four-digit number"),
        ({**good, "DisplayID": "6-1100"}, "is not 4-1100"),
        ({k: v for k, v in good.items() if k != "TaxCode"}, "TaxCode is required"),
        ({**good, "Type": "Sales"}, "member of AccountType"),
    ):
        answer = requests.post(url, json=bad, headers=headers, timeout=5)
        assert answer.status_code == 400
        assert any(words in v for v in myob.harness.take()), words
    assert requests.post(url, json=good, headers=headers, timeout=5).status_code == 201
    assert myob.books.by_display("4-1100")["Classification"] == "Income"
    assert myob.books.creates == Counter({"Account": 1})
