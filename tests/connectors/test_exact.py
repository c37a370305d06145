"""The Exact Online connector against a local contract double whose traffic
is checked against the model classes of Exact's SDK (tests/doubles/exact_double.py)."""

from __future__ import annotations

import json
import time
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
from connectors.exact import ExactTarget, translate
from connectors.exact.client import odata_date, odata_date_read
from connectors.exact.oauth import (
    exact_division_select,
    exact_divisions,
    exact_oauth_client,
)
from connectors.protocols import ACCOUNT_ROLES
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
from tests.doubles.exact_double import ExactDouble, check, models, services
from tests.recorded_dates import business_days

SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "reference" / "exactonline" / "samples"
TOKEN = "exact-good-token"


def _seed(exact: ExactDouble) -> None:
    books = exact.books
    books.seed_account("1000", "Kas", 10)
    for code in ("1100", "1110", "1200"):
        books.seed_account(code, f"Bank {code}", 12)
    books.seed_account("1300", "Debiteuren", 20)
    books.seed_account("1600", "Crediteuren", 22, side="C")
    for code in ("2150", "2200", "2300", "2310", "2320"):
        books.seed_account(code, f"Liability {code}", 24 if code.startswith("22") else 90, side="C")
    books.seed_account("4000", "Omzet", 110, side="C")
    books.seed_account("4010", "Bezorging", 110, side="C")
    books.seed_account("4050", "Retouren", 110, side="C")
    books.seed_account("6100", "Kosten", 120)
    books.seed_account("4999", "Oude omzet", 110, blocked=True, side="C")
    books.seed_vat("OUTPUT2", "20", to_pay="2200", to_claim="2200")
    books.seed_vat("ZERORATEDOUTPUT", "0", to_pay="2200")
    books.seed_vat("NONE", "0")
    books.seed_vat("OLD", "6", blocked=True)
    books.seed_party("CUST-POS", "Kassa")
    books.seed_party("SUPP-PROC", "Betaalprovider", customer=False)


@pytest.fixture
def exact() -> Iterator[ExactDouble]:
    with ExactDouble() as double:
        _seed(double)
        yield double
        assert double.violations == []  # every request matched the SDK's models


def _target(exact: ExactDouble, **kwargs: Any) -> ExactTarget:
    options: dict[str, Any] = {"tokens": FakeTokens(TOKEN, TOKEN), "limiter": FakeLimiter()}
    options.update(kwargs)
    return ExactTarget(division=exact.division, base_url=exact.url, **options)


@pytest.fixture
def target(exact: ExactDouble) -> ExactTarget:
    return _target(exact)


def _writes(exact: ExactDouble) -> list[tuple[str, str, dict[str, str]]]:
    return [r for r in exact.requests if r[0] == "POST"]


# -- the contract itself: the SDK's model classes, parsed at test time --


def test_the_double_reads_the_sdk_models_and_the_samples_fit_them() -> None:
    found = models()
    assert {"GeneralJournalEntry", "GeneralJournalEntryLine", "SalesInvoice"} <= set(found)
    journal = found["GeneralJournalEntry"]
    assert (journal.create, journal.read, journal.update, journal.delete) == (
        True,
        True,
        False,
        False,
    )
    assert found["SalesInvoice"].properties["InvoiceDate"].read_only
    assert not found["SalesInvoice"].properties["OrderDate"].read_only
    assert found["GeneralJournalEntryLine"].properties["AmountDC"].read_only
    assert services()["generaljournalentry/generaljournalentries"] == "GeneralJournalEntry"
    checked = 0
    for path in sorted(SAMPLES.glob("Response_Json_*.json")):
        answer = json.loads(path.read_text(), parse_float=Decimal)["d"]
        for row in answer.get("results", [answer]):
            kind = row["__metadata"]["type"].rsplit(".", 1)[-1]
            assert check(kind, row, path.name, writing=False) == []
            checked += 1
    assert checked == 6
    # And it can fail: a sample row with a property renamed does not fit.
    row = json.loads((SAMPLES / "Response_Json_Object_GLAccount.json").read_text())["d"]
    row["Descripton"] = row.pop("Description")
    assert check("GLAccount", row, "x", writing=False) == [
        "x.Descripton is not a property of GLAccount"
    ]


def _raw(exact: ExactDouble, method: str, path: str, body: Any = None) -> requests.Response:
    return requests.request(
        method,
        f"{exact.url}/api/v1/{exact.division}/{path}",
        json=body,
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=5,
    )


def test_a_request_exact_would_refuse_never_reaches_the_books(exact: ExactDouble) -> None:
    account = exact.books.gl("1100")["ID"]
    refused = {
        "read-only InvoiceDate": (
            "POST",
            "salesinvoice/SalesInvoices",
            {"Journal": "70", "InvoiceDate": odata_date("2026-11-02")},
        ),
        "unknown field": ("POST", "generaljournalentry/GeneralJournalEntries", {"Memo": "x"}),
        "amount as text": (
            "POST",
            "generaljournalentry/GeneralJournalEntries",
            {"GeneralJournalEntryLines": [{"GLAccount": account, "AmountFC": "10.00"}]},
        ),
        "ISO date": (
            "POST",
            "generaljournalentry/GeneralJournalEntries",
            {"GeneralJournalEntryLines": [{"GLAccount": account, "Date": "2026-11-02"}]},
        ),
        "not a GUID": ("POST", "salesinvoice/SalesInvoices", {"OrderedBy": "CUST-POS"}),
        "update of a journal entry": (
            "PUT",
            "generaljournalentry/GeneralJournalEntries",
            {"JournalCode": "90"},
        ),
        "unmapped endpoint": ("GET", "financial/Ledger", None),
        "VatPercentages cannot be created": ("POST", "vat/VatPercentages", {"Percentage": 0.2}),
    }
    for label, (method, path, body) in refused.items():
        response = _raw(exact, method, path, body)
        assert response.status_code == 400, label
        assert response.json()["error"]["message"]["value"], label
    taken = exact.harness.take()
    assert len(taken) == len(refused), taken
    assert any("InvoiceDate is read-only in SalesInvoice" in v for v in taken)
    assert any("'10.00' is not a double" in v for v in taken)
    assert any("cannot be updated" in v for v in taken)
    assert exact.books.creates == {}
    # $select and $filter may only name the entity's properties.
    assert _raw(exact, "GET", "financial/GLAccounts?$select=ID,Colour").status_code == 400
    assert "Colour" in exact.harness.take()[0]


# -- reads for the setup flow --


def test_setup_reads_page_to_the_end() -> None:
    with ExactDouble(page_size=4) as exact:
        _seed(exact)
        target = _target(exact)
        accounts = {a.id: a for a in target.list_accounts()}
        assert len(accounts) == 16  # four pages of four
        assert accounts["4000"].type == "Income" and accounts["1100"].type == "Asset"
        assert accounts["1600"].type == "Liability" and accounts["6100"].type == "Expense"
        assert accounts["4999"].status == "Archived" and accounts["4000"].status == "Active"
        pages = [r for r in exact.requests if r[1].endswith("financial/GLAccounts")]
        assert len(pages) == 4 and pages[-1][2]["$skiptoken"] == "12"
        rates = {r.id: r.rate for r in target.list_tax_rates()}
        assert rates == {"OUTPUT2": "20", "ZERORATEDOUTPUT": "0", "NONE": "0"}  # OLD is blocked
        customers = target.list_customers()
        assert [c["name"] for c in customers] == ["Kassa"]
        assert [s["name"] for s in target.list_suppliers()] == ["Betaalprovider"]
        assert "EUR" in target.list_currencies()
        assert exact.violations == []


def test_create_account_keeps_our_code(target: ExactTarget, exact: ExactDouble) -> None:
    created = target.create_account(account_id="4020", name="Fooi", account_type="Income")
    assert (created.id, created.type, created.status) == ("4020", "Income", "Active")
    assert exact.books.gl("4020")["Type"] == 110
    assert "4020" in {a.id for a in target.list_accounts()}


def test_dates_are_odata_milliseconds() -> None:
    assert odata_date("2026-11-02") == "/Date(1793577600000)/"
    assert str(odata_date_read("/Date(1793577600000)/")) == "2026-11-02"
    assert odata_date_read("2026-11-02") is None


# -- writes, exactly once --


def test_every_document_kind_is_written_and_found_by_key(
    target: ExactTarget, exact: ExactDouble
) -> None:
    documents = _documents("uk-cafe-invoice.json")
    kinds = {d["type"] for d in documents}
    assert kinds == {
        "invoice",
        "creditNote",
        "payment",
        "bill",
        "billPayment",
        "deposit",
        "transfer",
    }
    results = target.write_documents([(d["key"], d) for d in documents])
    assert all(isinstance(v, str) for v in results.values()), results
    assert exact.books.creates == {
        "SalesInvoice": 2,
        "PrintedSalesInvoice": 2,  # each processed: in the ledger, numbered
        "GeneralJournalEntry": len(documents) - 2,
    }
    invoices = exact.books.rows["salesinvoice/salesinvoices"]
    assert [(i["Status"], bool(i["InvoiceNumber"])) for i in invoices] == [(50, True)] * 2
    assert exact.books.sent_to_customer == 0  # nothing mailed to the till's customer
    # Each payment's receivable line names the customer and the number of
    # the invoice (or credit note) it settles: one match in Exact.
    by_key = {i["Remarks"]: i for i in invoices}
    payments = [d for d in documents if d["type"] == "payment"]
    assert payments
    for payment in payments:
        settled = by_key[payment["links"][0]["id"]]
        receivable = [
            line
            for entry in exact.books.rows["generaljournalentry/generaljournalentries"]
            for line in entry["GeneralJournalEntryLines"]
            if line["Notes"] == payment["key"] and line.get("Account")
        ]
        assert [(x["Account"], x.get("OurRef")) for x in receivable] == [
            (settled["OrderedBy"], settled["InvoiceNumber"])
        ]
    credit = next(i for i in invoices if i["Type"] == 8021)
    assert credit["AmountFC"] == Decimal("-3.30") and credit["VATAmountFC"] == Decimal("-0.55")
    assert {i["OrderDate"] for i in invoices} == {odata_date("2026-11-02")}
    assert_found_by_key_and_not_written_again(exact, lambda: _target(exact), documents, results)


def test_a_lost_answer_is_found_by_key_and_not_written_again(exact: ExactDouble) -> None:
    document = _documents("uk-cafe-journal.json")[0]
    assert_lost_answer_found_by_key(
        exact,
        lambda: _target(exact),
        document,
        created="GeneralJournalEntry",
        id_prefix="GeneralJournalEntry:",
    )


@pytest.mark.parametrize("lost", ["invoice", "processing"])
def test_an_invoice_is_processed_exactly_once_across_a_lost_answer(
    target: ExactTarget, exact: ExactDouble, lost: str
) -> None:
    """An open SalesInvoice is not in Exact's ledger: it is processed
    (PrintedSalesInvoices) once, whichever answer is lost, and not again."""
    document = next(d for d in _documents("uk-cafe-invoice.json") if d["type"] == "invoice")
    assert document["status"] == "Submitted"
    books = exact.books
    if lost == "invoice":
        exact.lose_next_answer = True  # the invoice is created, its answer lost
    else:  # the invoice is created; processing it meets an outage
        outage = {"error": {"message": {"value": "Service unavailable"}}}
        exact.scripted_for["/printedsalesinvoices"] = (503, outage, {})
    with pytest.raises(PlatformUnavailable):
        target.write_document(key=document["key"], document=document)
    invoice = books.rows["salesinvoice/salesinvoices"][0]
    assert invoice["Status"] == 20 and books.balances() == {}  # open: nothing booked yet
    # Tried again (the same target, or a fresh one after a crash): found, processed once.
    retry = target if lost == "processing" else _target(exact)
    written = retry.write_documents([(document["key"], document)])[document["key"]]
    assert written == f"SalesInvoice:{invoice['InvoiceID']}"
    assert (books.creates["SalesInvoice"], books.creates["PrintedSalesInvoice"]) == (1, 1)
    assert invoice["Status"] == 50 and books.balances()["1300"] > 0
    # And never again: the processed invoice reads back as processed.
    _target(exact).write_documents([(document["key"], document)])
    assert books.creates["PrintedSalesInvoice"] == 1


def test_a_draft_invoice_stays_open_for_the_accountant(
    target: ExactTarget, exact: ExactDouble
) -> None:
    document = next(d for d in _documents("uk-cafe-invoice.json") if d["type"] == "invoice")
    document["status"] = "Draft"
    target.write_documents([(document["key"], document)])
    assert exact.books.rows["salesinvoice/salesinvoices"][0]["Status"] == 20
    assert "PrintedSalesInvoice" not in exact.books.creates


FORMATS = {"journal": "JournalEntry", "invoice": "Invoice"}


def _seed_for(exact: ExactDouble, documents: list[dict[str, Any]]) -> None:
    """The accounts, VAT codes and parties the scenario's documents name
    that the standard seed lacks."""
    books = exact.books
    known = {r["Code"] for r in books.rows["financial/glaccounts"]}
    for document in documents:
        refs = [document.get(r) for r in ("accountRef", "fromAccountRef", "toAccountRef")]
        lines = document.get("journalLines", []) + document.get("lineItems", [])
        for ref in [*refs, *(line["accountRef"] for line in lines)]:
            if ref and ref["id"] not in known:
                books.seed_account(ref["id"])
                known.add(ref["id"])


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.json")), ids=lambda p: p.stem)
def test_every_shared_scenario_gives_its_expected_balances(path: Path) -> None:
    scenario = json.loads(path.read_text(), parse_float=Decimal)
    assert scenario.get("expected"), f"{path.name} has no expected figures"
    for kind, expected in scenario["expected"].items():
        documents = _documents(path.name, FORMATS[kind])
        locations = sorted(
            {d["group"]["locationId"] for d in documents if d["group"]["locationId"]}
        )
        with ExactDouble() as exact:
            _seed(exact)
            _seed_for(exact, documents)
            centres = {location: f"CC-{location}" for location in locations}
            for centre in centres.values():
                exact.books.seed_cost_centre(centre)
            target = _target(exact, cost_centres=centres)
            assert target.check_references(documents) == []
            results = target.write_documents([(d["key"], d) for d in documents])
            assert all(isinstance(v, str) for v in results.values()), results
            assert exact.violations == []
            books = exact.books
            # Every entry carries the period's business day.
            days = {
                str(odata_date_read(line["Date"]))
                for entry in books.rows["generaljournalentry/generaljournalentries"]
                for line in entry["GeneralJournalEntryLines"]
            } | {
                str(odata_date_read(i["OrderDate"]))
                for i in books.rows["salesinvoice/salesinvoices"]
            }
            assert days <= business_days(scenario["period"]), days
            for group in expected.get("groups") or [{"balances": expected["balances"]}]:
                keys = {
                    d["key"]
                    for d in documents
                    if group.get("currency", d["group"]["currency"]) == d["group"]["currency"]
                    and group.get("locationId") == d["group"].get("locationId")
                }
                assert keys, group
                balances = books.balances(lambda row, keys=keys: row["key"] in keys)
                # Receivable and payable net to zero over the day.
                assert balances.pop("1300", Decimal(0)) == 0
                assert balances.pop("1600", Decimal(0)) == 0
                wanted: dict[str, Decimal] = Counter()  # type: ignore[assignment]
                for account, amount in group["balances"].items():
                    # The VAT of a code lands on its "to pay" account (2200).
                    code = "2200" if account.startswith("TAX:") else account
                    wanted[code] += Decimal(amount)
                assert balances == {k: v for k, v in wanted.items() if v}
                if group.get("locationId"):
                    centre = f"CC-{group['locationId']}"
                    for entry in books.rows["generaljournalentry/generaljournalentries"]:
                        for line in entry["GeneralJournalEntryLines"]:
                            if line["Notes"] in keys:
                                assert line["CostCenter"] == centre


# -- journal-format VAT on Exact's VAT return --


def _seed_dutch(exact: ExactDouble) -> None:
    """A typical Dutch chart (4-digit codes, Dutch names) with BTW codes
    paying to 1500 "Te betalen btw"."""
    books = exact.books
    books.seed_account("1000", "Kas", 10)
    books.seed_account("1100", "ING Bank", 12)
    books.seed_account("1110", "Rabobank", 12)
    books.seed_account("1150", "Kruisposten", 90)
    books.seed_account("1190", "Tussenrekening pinbetalingen", 16)
    books.seed_account("1300", "Debiteuren", 20)
    books.seed_account("1500", "Te betalen btw", 24, side="C")
    books.seed_account("1520", "Te vorderen btw", 24)
    books.seed_account("1600", "Crediteuren", 22, side="C")
    books.seed_account("0500", "Eigen vermogen", 50, side="C")
    books.seed_account("4500", "Bankkosten", 121)
    books.seed_account("4600", "Algemene kosten", 120)
    books.seed_account("7000", "Inkoopwaarde van de omzet", 111)
    books.seed_account("8000", "Omzet hoog tarief", 110, side="C")
    books.seed_account("8010", "Omzet laag tarief", 110, side="C")
    books.seed_vat("2", "21", to_pay="1500", to_claim="1520")
    books.seed_vat("1", "9", to_pay="1500", to_claim="1520")
    books.seed_vat("0", "0", to_pay="1500")
    books.seed_party("KASSA", "Kassaverkopen")


def _dutch_day() -> dict[str, Any]:
    """A hand-worked journal-format day: six coffees at 0.99 incl. 21 % BTW
    (net 0.82 + BTW 0.17 each, as the till rounds per sale) and four cakes at
    2.50 incl. 9 % (net 2.29 + BTW 0.21 each), all paid in cash. Per sale the
    BTW is 6 x 0.17 = 1.02 and 4 x 0.21 = 0.84, 1.86 in all; at the day's
    nets Exact would compute 4.92 x 21 % = 1.0332 -> 1.03 and 9.16 x 9 % =
    0.8244 -> 0.82: both rates a cent off the till's."""
    coffees = [f"o{n}" for n in range(6)]
    cakes = [f"c{n}" for n in range(4)]
    return {
        "type": "journalEntry",
        "key": "m1:2026-11-30:journal",
        "currency": "EUR",
        "date": "2026-11-30",
        "group": {"currency": "EUR", "locationId": None},
        "description": "Daily sales summary 2026-11-30",
        "journalLines": [
            {
                "accountRef": {"id": "1000"},
                "netAmount": "15.94",
                "description": "Cash payments",
                "sourceRefs": coffees + cakes,
            },
            {
                "accountRef": {"id": "8000"},
                "netAmount": "-4.92",
                "description": "Sales 21%",
                "sourceRefs": coffees,
                "taxAmount": "-1.02",
            },
            {
                "accountRef": {"id": "8010"},
                "netAmount": "-9.16",
                "description": "Sales 9%",
                "sourceRefs": cakes,
                "taxAmount": "-0.84",
            },
            {
                "accountRef": {"id": "1500"},
                "netAmount": "-1.86",
                "description": "Tax",
                "sourceRefs": coffees + cakes,
            },
        ],
    }


@pytest.mark.parametrize("stated", [True, False], ids=["line-tax-stated", "rates-only"])
def test_journal_vat_reaches_exacts_vat_return_to_the_cent(stated: bool) -> None:
    with ExactDouble() as exact:
        _seed_dutch(exact)
        target = _target(exact)
        day = _dutch_day()
        if not stated:  # a journal without its lines' tax: computed, rounding on the largest
            for line in day["journalLines"]:
                line.pop("taxAmount", None)
        assert target.check_references([day]) == []
        target.write_document(key=day["key"], document=day)
        assert exact.violations == []
        sent = next(body for method, _path, body in exact.bodies if method == "POST")
        lines = sent["GeneralJournalEntryLines"]
        # No line of our own on the VAT account: Exact makes it from the codes.
        assert len(lines) == 3
        assert exact.books.gl("1500")["ID"] not in {x["GLAccount"] for x in lines}
        high, low = (
            (Decimal("1.02"), Decimal("0.84")) if stated else (Decimal("1.03"), Decimal("0.83"))
        )
        assert [
            (x["VATCode"], Decimal(str(x["AmountVATFC"]))) for x in lines if "VATCode" in x
        ] == [
            ("2", -high),
            ("1", -low),
        ]
        # The VAT return sees each rate's base and the till's BTW, in all to the cent.
        assert exact.books.vat_return() == {
            "2": (Decimal("4.92"), high),
            "1": (Decimal("9.16"), low),
        }
        assert exact.books.balances() == {
            "1000": Decimal("15.94"),
            "8000": Decimal("-4.92"),
            "8010": Decimal("-9.16"),
            "1500": Decimal("-1.86"),
        }


def test_the_standard_set_proposes_a_dutch_chart_by_its_gl_types() -> None:
    """A Dutch chart names nothing in English: the proposal goes by what
    Exact says each G/L account is (its Type), not by the words of its name."""
    from commerce_sync.core.services.merchant_setup import FlowOptions, standard_set

    with ExactDouble() as exact:
        _seed_dutch(exact)
        target = _target(exact)
        accounts = [
            {"id": a.id, "name": a.name, "type": a.type, "status": a.status, "role": a.role}
            for a in target.list_accounts()
        ]
        assert exact.violations == []
    roles = {a["id"]: a["role"] for a in accounts}
    assert set(translate.ROLES.values()) | set(roles.values()) - {""} <= ACCOUNT_ROLES
    assert (roles["1500"], roles["1520"], roles["8000"]) == ("salesTax", "purchaseTax", "revenue")
    options = FlowOptions(accounts=accounts, payment_types=["Card", "Cash"], platform_key="exact")
    proposed = {(p.section, p.key): (p.account_id, p.exists) for p in standard_set(options=options)}
    assert proposed == {
        ("sales", "sales"): ("8000", True),  # Omzet hoog tarief: the first revenue account
        ("sales", "refund"): ("8000", True),
        ("sales", "tax"): ("1500", True),  # Te betalen btw, not Te vorderen btw
        ("fees", "paymentFee"): ("4500", True),  # Bankkosten
        ("payments", "payout"): ("1100", True),  # ING Bank
        ("payments", "card"): ("1190", True),  # Tussenrekening pinbetalingen (payment services)
        ("payments", "cash"): ("1000", True),  # Kas
    }


def test_journal_vat_that_its_lines_do_not_explain_is_refused_in_plain_words() -> None:
    with ExactDouble() as exact:
        _seed_dutch(exact)
        target = _target(exact)
        day = _dutch_day()
        # 0.20 more BTW than the rates give: not rounding (ten sales, 5 cents at most).
        day["journalLines"][3]["netAmount"] = "-2.06"
        day["journalLines"][0]["netAmount"] = "16.14"
        problems = target.check_references([day])
        assert len(problems) == 1 and "more than rounding explains" in problems[0]
        with pytest.raises(DocumentRejected, match="VAT return would be wrong"):
            target.write_document(key=day["key"], document=day)
        # A rate with no VAT code paying to the tax account is named too.
        exact.books.rows["vat/vatcodes"] = [
            v for v in exact.books.rows["vat/vatcodes"] if v["Code"] != "1"
        ]
        day = _dutch_day()
        target = _target(exact)
        with pytest.raises(DocumentRejected, match="more than rounding explains"):
            target.write_document(key=day["key"], document=day)
        assert exact.books.rows["generaljournalentry/generaljournalentries"] == []


def test_the_double_refuses_journal_vat_at_the_wrong_rate_or_sign(exact: ExactDouble) -> None:
    books = exact.books
    cash, sales = books.gl("1000")["ID"], books.gl("4000")["ID"]
    day = "/Date(1764460800000)/"

    def entry(vat: str, code: str = "OUTPUT2") -> int:
        status, _ = books.create(
            "generaljournalentry/generaljournalentries",
            {
                "JournalCode": "90",
                "Currency": "GBP",
                "GeneralJournalEntryLines": [
                    {"GLAccount": cash, "AmountFC": Decimal("12.00"), "Date": day},
                    {
                        "GLAccount": sales,
                        "AmountFC": Decimal("-10.00"),
                        "Date": day,
                        "VATCode": code,
                        "AmountVATFC": Decimal(vat),
                    },
                ],
            },
        )
        return int(status)

    assert entry("-1.00") == 400  # 10 %, not the code's 20 %
    assert entry("2.00") == 400  # the sign of a debit on a credit line
    assert entry("-2.00", code="OLD") == 400  # a blocked code
    assert entry("-2.00") == 201


# -- refusals and the connection's troubles, in plain words --


def test_exact_words_reach_the_merchant(target: ExactTarget, exact: ExactDouble) -> None:
    document = _documents("uk-cafe-journal.json")[0]
    exact.fail_next(
        400, {"error": {"code": "", "message": {"lang": "", "value": "Boekjaar 2026 is gesloten"}}}
    )
    with pytest.raises(DocumentRejected, match="Exact Online rejected the request: Boekjaar 2026"):
        target.write_document(key=document["key"], document=document)
    blocked = {**document, "journalLines": [dict(line) for line in document["journalLines"]]}
    blocked["journalLines"][0]["accountRef"] = {"id": "4999"}
    with pytest.raises(DocumentRejected, match="G/L account 4999 is blocked in Exact Online"):
        target.write_document(key="k:blocked", document=blocked)


def test_check_references_names_what_would_fail(target: ExactTarget, exact: ExactDouble) -> None:
    documents = _documents("uk-cafe-invoice.json")
    invoice = next(d for d in documents if d["type"] == "invoice")
    invoice["lineItems"][0]["accountRef"] = {"id": "4999"}
    invoice["lineItems"][1]["taxRateRef"] = {"id": "OLD"}
    invoice["lineItems"][2]["taxRateRef"] = {"id": "GONE"}
    exact.books.rows["crm/accounts"][1]["Blocked"] = True
    problems = target.check_references(documents)
    assert problems == [
        "G/L account 4999 (Oude omzet) is blocked in Exact Online",
        "VAT code GONE does not exist in Exact Online",
        "VAT code OLD (VAT OLD) is blocked in Exact Online",
        "Supplier SUPP-PROC (Betaalprovider) is blocked in Exact Online",
    ]
    located = _target(exact, cost_centres={})
    documents[0]["group"]["locationId"] = "LOC-9"
    assert "Location LOC-9 has no Exact Online cost centre" in " ".join(
        located.check_references(documents[:1])
    )


def test_cost_centres_are_listed_and_checked_for_the_locations_page(
    target: ExactTarget, exact: ExactDouble
) -> None:
    books = exact.books
    books.seed_cost_centre("100", "Soho")
    books.seed_cost_centre("200", "Leeds")
    books.seed_cost_centre("900", "Closed", active=False)
    options = target.list_tracking_options()
    assert [(o.category, o.option_id, o.option) for o in options] == [
        ("CostCenter", "100", "100 Soho"),
        ("CostCenter", "200", "200 Leeds"),
    ]
    document = _documents("uk-cafe-journal.json")[0]
    document["group"]["locationId"] = "SOHO"
    for centres, problem in (
        ({"SOHO": "100"}, None),
        ({"SOHO": "300"}, "Cost centre 300 of location SOHO does not exist in Exact Online"),
        ({"SOHO": "900"}, "Cost centre 900 of location SOHO is inactive in Exact Online"),
        ({}, "Location SOHO has no Exact Online cost centre; choose one on the Locations page"),
    ):
        found = _target(exact, cost_centres=centres).check_references([document])
        assert found == ([problem] if problem else []), centres
    # The double refuses a line naming a cost centre the division lacks, as Exact would.
    with pytest.raises(DocumentRejected, match="cost centre 300 does not exist"):
        _target(exact, cost_centres={"SOHO": "300"}).write_document(
            key=document["key"], document=document
        )
    assert exact.books.creates == {}


def test_401_refreshes_once_then_a_second_401_is_a_revoked_grant(exact: ExactDouble) -> None:
    tokens = FakeTokens("expired-token", TOKEN)
    target = _target(exact, tokens=tokens)
    assert target.list_accounts()
    assert tokens.refreshes == ["expired-token"]
    revoked = _target(exact, tokens=FakeTokens("dead-token", "still-dead"))
    with pytest.raises(CredentialsRevoked, match="reconnect Exact Online"):
        revoked.list_accounts()


def test_forbidden_and_outages(target: ExactTarget, exact: ExactDouble) -> None:
    exact.fail_next(403, {"error": {"message": {"value": "Forbidden"}}})
    with pytest.raises(SubscriptionExpired, match="Forbidden"):
        target.list_accounts()
    exact.fail_next(503, {"error": {"message": {"value": "Maintenance"}}})
    with pytest.raises(PlatformUnavailable):
        target.list_accounts()


def test_429_is_waited_out_by_its_reset_and_a_long_one_goes_up(
    target: ExactTarget, exact: ExactDouble
) -> None:
    soon = int((time.time() + 0.05) * 1000)
    exact.fail_next(
        429,
        {"error": {"message": {"value": "Too many"}}},
        {"X-RateLimit-Minutely-Remaining": "0", "X-RateLimit-Minutely-Reset": str(soon)},
    )
    assert target.list_accounts()
    assert target.client.throttled == 1
    later = int(time.time() + 3600)
    exact.fail_next(
        429,
        {"error": {"message": {"value": "Too many"}}},
        {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(later)},
    )
    with pytest.raises(RateLimited) as limited:
        target.list_accounts()
    assert 3500 < (limited.value.retry_after or 0) <= 3600


def test_a_spent_day_stops_before_calling_again() -> None:
    with ExactDouble(daily=(5000, 4999)) as exact:
        _seed(exact)
        target = _target(exact)
        assert target.list_accounts()  # the last call of the day
        assert target.client.limits["daily"][0] == 0
        sent = len(exact.requests)
        with pytest.raises(RateLimited, match="daily allowance"):
            target.list_tax_rates()
        assert len(exact.requests) == sent  # nothing sent


# -- OAuth and the division choice --


def test_oauth_parameters_per_country(settings: Any) -> None:
    settings.EXACT_BASE_URL = ""
    settings.EXACT_CLIENT_ID = "exact-app"
    client = exact_oauth_client("co.uk")
    assert client.platform.token_url == "https://start.exactonline.co.uk/api/oauth2/token"
    assert client.platform.authorize_url == "https://start.exactonline.co.uk/api/oauth2/auth"
    assert client.platform.credentials_in_body
    assert client.platform.refresh_margin_seconds < 30  # Exact renews only in the last 30 s
    request = client.authorization_request(redirect_uri="https://cs.example/cb")
    assert request.url.startswith("https://start.exactonline.co.uk/api/oauth2/auth?")
    assert "client_id=exact-app" in request.url


def test_token_request_carries_the_app_credentials_in_the_form(settings: Any) -> None:
    settings.EXACT_CLIENT_ID = "exact-app"
    settings.EXACT_CLIENT_SECRET = "exact-app-secret"

    class Session:
        sent: dict[str, Any] = {}

        def post(self, url: str, **kwargs: Any) -> Any:
            Session.sent = {"url": url, **kwargs}
            response = requests.Response()
            response.status_code = 200
            response._content = json.dumps(
                {
                    "access_token": "new-at-123456",
                    "refresh_token": "new-rt-123456",
                    "expires_in": 600,
                }
            ).encode()
            return response

    tokens = exact_oauth_client("nl", session=Session()).refresh("old-rt-123456")
    assert Session.sent["auth"] is None
    assert Session.sent["data"]["client_secret"] == "exact-app-secret"
    assert Session.sent["data"]["refresh_token"] == "old-rt-123456"
    assert 590 <= (tokens.expires_at.timestamp() - time.time()) <= 600


@pytest.mark.django_db
def test_exact_tokens_are_renewed_only_in_their_last_seconds(settings: Any) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from commerce_sync.core.services.credentials import ConnectionTokenSource
    from tests.factories import ConnectionFactory

    class OAuth:
        platform = exact_oauth_client("nl").platform
        refreshed = 0

        def refresh(self, refresh_token: str) -> Any:
            from connectors.oauth import TokenSet

            OAuth.refreshed += 1
            return TokenSet(
                "at-renewed-1234", "rt-renewed-1234", timezone.now() + timedelta(minutes=10)
            )

    def connection(seconds_left: int) -> Any:
        expires = (timezone.now() + timedelta(seconds=seconds_left)).isoformat()
        return ConnectionFactory(
            accounting=True,
            platform_key="exact",
            settings={"division": 1},
            credentials={
                "access_token": "at-current-1234",
                "refresh_token": "rt-1234567",
                "expires_at": expires,
            },
        )

    # Two minutes left: a Xero token would be renewed; Exact would refuse.
    assert ConnectionTokenSource(connection(100), OAuth()).access_token() == "at-current-1234"  # type: ignore[arg-type]
    assert OAuth.refreshed == 0
    assert ConnectionTokenSource(connection(20), OAuth()).access_token() == "at-renewed-1234"  # type: ignore[arg-type]
    assert OAuth.refreshed == 1


def test_divisions_are_listed_and_chosen(settings: Any) -> None:
    with ExactDouble(divisions=(499156, 2001, 2002), page_size=2) as exact:
        settings.EXACT_BASE_URL = exact.url
        found = exact_divisions(access_token=TOKEN, host="nl")
        assert [d.code for d in found] == [499156, 2001, 2002]  # the open one first, all pages
        assert exact_division_select(found, "2001").code == 2001
        from commerce_sync.errors import ConfigurationError

        with pytest.raises(ConfigurationError, match="not one this authorisation reaches"):
            exact_division_select(found, "7")
        with pytest.raises(CredentialsRevoked):
            exact_divisions(access_token="wrong-token", host="nl")


@pytest.mark.django_db
def test_registry_builds_the_target_and_the_partner_api_lists_it(client: Any, partner: Any) -> None:
    from commerce_sync.core.platforms import platform_get
    from commerce_sync.core.services.connections import connection_target
    from commerce_sync.errors import ConfigurationError
    from tests.factories import ConnectionFactory

    connection = ConnectionFactory(
        accounting=True, platform_key="exact", settings={"division": 499156, "host": "be"}
    )
    target = connection_target(connection=connection)
    assert isinstance(target, ExactTarget) and target.client.limit_key == "exact:499156"
    assert target.client.base_url == "https://start.exactonline.be"
    connection.settings = {"host": "nl"}
    with pytest.raises(ConfigurationError, match="administration"):
        connection_target(connection=connection)
    connection.settings = {"division": 1, "host": "xx"}
    with pytest.raises(ConfigurationError, match="no host"):
        connection_target(connection=connection)
    platform = platform_get("exact")
    assert platform is not None and platform.name == "Exact Online"
    assert platform.source_type == "Accounting" and platform.needs_authorization


def test_translation_says_where_the_key_is_kept() -> None:
    assert len(translate.your_ref("m1:2026-11-02:GBP:-:day:invoice")) == 20
    assert translate.your_ref("a") == translate.your_ref("a") != translate.your_ref("b")


# -- the shared rate limiter under a burst from two workers --

CALLS, WINDOW, MARGIN = 20, 0.5, 0.15


def _transfer(key: str) -> dict[str, Any]:
    return payout_transfer(key, "EUR")


def _burst(exact: ExactDouble, limits: Any, *, workers: int, writes: int) -> list[Any]:
    return writes_from_workers(
        lambda limiter: _target(exact, limiter=limiter),
        limits,
        _transfer,
        workers=workers,
        writes=writes,
    )


@pytest.mark.django_db(transaction=True)
def test_two_workers_stay_under_the_limit_and_429s_are_waited_out() -> None:
    from connectors.limits import RateLimits

    # Each write is a lookup and a create: 2 x 2 x 25 = 100 calls.
    limits = RateLimits(calls=CALLS, window_seconds=WINDOW + MARGIN, concurrent=5)
    with ExactDouble(rate_limit=(CALLS, WINDOW)) as exact:
        _seed(exact)
        results = _burst(exact, limits, workers=2, writes=25)
        assert not [r for r in results if isinstance(r, Exception)], results
        written = [document_id for ids, _ in results for document_id in ids]
        assert len(set(written)) == 50 and exact.books.creates["GeneralJournalEntry"] == 50
        assert exact.most_in_window() <= CALLS
        assert len(exact.refused) <= 2, exact.refused
        assert exact.books.balances()["1200"] == Decimal("500.00")
    # Another app spends most of the minute: the limiter lets through more
    # than Exact takes, and Exact's 429s (with their reset) are waited out.
    limits = RateLimits(calls=CALLS * 4, window_seconds=WINDOW, concurrent=5)
    with ExactDouble(rate_limit=(4, WINDOW)) as exact:
        _seed(exact)
        results = _burst(exact, limits, workers=2, writes=5)
        assert not [r for r in results if isinstance(r, Exception)], results
        assert exact.refused and exact.books.creates["GeneralJournalEntry"] == 10
        assert exact.most_in_window() <= 4


# -- faults and SIGKILL: every document exactly once --


def _keys_in(exact: ExactDouble) -> Counter[str]:
    books = exact.books
    keys: Counter[str] = Counter(
        entry["GeneralJournalEntryLines"][0]["Notes"]
        for entry in books.rows["generaljournalentry/generaljournalentries"]
    )
    keys.update(i["Remarks"] for i in books.rows["salesinvoice/salesinvoices"])
    return keys


def test_under_faults_every_document_is_written_exactly_once(exact: ExactDouble) -> None:
    documents = _documents("uk-cafe-invoice.json")

    def fail_next() -> None:
        exact.fail_next(503, {"error": {"message": {"value": "busy"}}})

    faults = write_under_faults(exact, lambda: _target(exact), documents, fail_next)
    assert faults["rounds"] > 1 and faults["lost"] >= 1, faults
    assert _keys_in(exact) == Counter({d["key"]: 1 for d in documents})


def test_a_writer_killed_at_any_moment_leaves_nothing_doubled_or_missing() -> None:
    documents = _documents("uk-cafe-invoice.json")

    def opened() -> ExactDouble:
        # 5 ms an answer: the child's day (about 30 calls) takes ~0.2 s.
        double = ExactDouble(delay=0.005)
        _seed(double)
        return double

    def check(exact: ExactDouble) -> None:
        assert _keys_in(exact) == Counter({d["key"]: 1 for d in documents})
        assert exact.violations == []

    killed = killed_writer_trials(
        opened,
        lambda exact: (write_then_exit, (_target, exact, documents)),
        _target,
        documents,
        check,
    )
    assert killed, "no trial killed the writer mid-way; lengthen the day"


# -- the setup flow: consent on the country's host, then the division --


@pytest.mark.django_db
def test_the_setup_flow_connects_exact_and_asks_which_administration(
    client: Any, partner: Any, settings: Any
) -> None:
    from tests.setup_flow.helpers import accounting_consent_and_picker, organisation_choose

    names = {499156: "Bakkerij De Vries B.V.", 2001: "De Vries Holding B.V."}
    with ExactDouble(divisions=(499156, 2001), division_names=names) as exact:
        _seed(exact)
        settings.EXACT_BASE_URL = exact.url
        settings.EXACT_CLIENT_ID, settings.EXACT_CLIENT_SECRET = exact.client
        books, screen, body = accounting_consent_and_picker(
            client, partner, platform_key="exact", country="BE"
        )
        assert "Allow access to Exact Online?" in screen
        # The picker names each administration as its owner named it in Exact.
        assert "Bakkerij De Vries B.V." in body and "De Vries Holding B.V." in body
        assert books.settings == {"host": "be"}  # the merchant's country
        options = organisation_choose(client, books, "499156")
        assert books.settings == {
            "host": "be",
            "division": 499156,
            "division_name": "Bakkerij De Vries B.V.",
        }
        page = client.get("/setup/stage/accounting").content.decode()
        # Which one it posts to: the chosen administration's name, not the other's.
        assert "Administration: Bakkerij De Vries B.V." in page
        assert "De Vries Holding" not in page
        assert books.credentials["access_token"] == exact.token
        # The options come from that administration: G/L accounts by code.
        assert "Omzet" in [a["name"] for a in options]
        assert exact.violations == []


@pytest.mark.django_db(transaction=True)
def test_two_workers_refreshing_at_once_spend_the_refresh_token_once(settings: Any) -> None:
    with ExactDouble() as exact:
        _seed(exact)
        settings.EXACT_BASE_URL = exact.url
        settings.EXACT_CLIENT_ID, settings.EXACT_CLIENT_SECRET = exact.client
        assert_two_workers_refresh_once(
            exact,
            "exact",
            settings={"division": exact.division, "host": "nl"},
            access_token=exact.token,
            seconds_left=10,  # inside Exact's renewal window
            rotated=("exact-access-0001", "exact-refresh-0002"),
        )


@pytest.mark.django_db
def test_connect_command_links_exact_without_printing_tokens(
    merchant: Any, capsys: pytest.CaptureFixture[str], tmp_path: Any
) -> None:
    from commerce_sync.core.services.connections import connection_target

    connection = assert_connect_command_links(
        merchant,
        "exact",
        tmp_path,
        capsys,
        refused=[([], "--division"), (["--division", "7", "--exact-host", "uk"], "--exact-host")],
        options=["--division", "499156", "--exact-host", "co.uk"],
        settings={"division": 499156, "host": "co.uk"},
    )
    target = connection_target(connection=connection)
    assert target.client.base_url == "https://start.exactonline.co.uk"  # type: ignore[attr-defined]
