"""The Sage Accounting (v3.1) connector against a local contract double
whose traffic is checked against a hand-written contract
(tests/doubles/sage_double.py: README facts plus what v3.1 is publicly known
to use, not verified against Sage's published spec)."""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests

from commerce_sync.errors import (
    ConfigurationError,
    CredentialsRevoked,
    DocumentRejected,
    PlatformUnavailable,
    RateLimited,
    SubscriptionExpired,
)
from connectors.exact.translate import your_ref
from connectors.sage import SageTarget
from connectors.sage.oauth import sage_business_select, sage_businesses, sage_oauth_client
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
from tests.connectors.crashes import killed_writer_trials, write_then_exit
from tests.connectors.test_quickbooks import FakeLimiter, FakeTokens
from tests.doubles.sage_double import SageDouble
from tests.recorded_dates import business_days

TOKEN = "sage-good-token"
BANKS = ("1000", "1100", "1110", "1200")
WRITTEN = (
    "journals",
    "sales_invoices",
    "sales_credit_notes",
    "purchase_invoices",
    "contact_payments",
)


def _seed(sage: SageDouble) -> None:
    books = sage.books
    for code in BANKS:
        books.seed_account(code, f"Bank {code}", "BANK")
        books.seed_bank(code)
    books.seed_account("1300", "Debtors control", "CURRENT_ASSETS")
    books.seed_account("1600", "Creditors control", "CURRENT_LIABILITY")
    for code in ("2150", "2200", "2300", "2310", "2320"):
        books.seed_account(code, f"Liability {code}", "CURRENT_LIABILITY")
    for code in ("4000", "4010", "4050"):
        books.seed_account(code, f"Sales {code}", "SALES")
    books.seed_account("6100", "Fees", "OVERHEADS")
    books.seed_account("4999", "Old sales", "SALES", hidden=True)
    books.seed_tax("OUTPUT2", "20")
    books.seed_tax("ZERORATEDOUTPUT", "0")
    books.seed_tax("NONE", "0")
    books.seed_tax("OLD", "6", hidden=True)
    books.seed_contact("CUST-POS", "Till customer")
    books.seed_contact("SUPP-PROC", "Card processor", "VENDOR")


@pytest.fixture
def sage() -> Iterator[SageDouble]:
    with SageDouble(debtors="1300", creditors="1600") as double:
        _seed(double)
        yield double
        assert double.violations == []  # every request matched the contract


def _target(sage: SageDouble, **kwargs: Any) -> SageTarget:
    options: dict[str, Any] = {
        "tokens": FakeTokens(TOKEN, TOKEN),
        "limiter": FakeLimiter(),
        "debtors_account": "1300",
        "creditors_account": "1600",
    }
    options.update(kwargs)
    return SageTarget(business_id=sage.business_id, base_url=sage.url, **options)


@pytest.fixture
def target(sage: SageDouble) -> SageTarget:
    return _target(sage)


def _writes(sage: SageDouble) -> list[tuple[str, str, dict[str, str]]]:
    return [r for r in sage.requests if r[0] == "POST"]


def _raw(
    sage: SageDouble, method: str, path: str, body: Any = None, business: str | None = None
) -> requests.Response:
    return requests.request(
        method,
        f"{sage.url}/{path}",
        json=body,
        headers={
            "Authorization": f"Bearer {TOKEN}",
            "X-Business": business if business is not None else sage.business_id,
        },
        timeout=5,
    )


# -- the contract the double holds requests to --


def test_a_request_sage_would_refuse_never_reaches_the_books(sage: SageDouble) -> None:
    account = sage.books.ledger("1100")["id"]
    good_line = {"ledger_account_id": account, "debit": 10, "credit": 0, "details": "x"}
    journal = {"date": "2026-11-02", "reference": "R1", "journal_lines": [good_line]}
    refused = {
        "unwrapped body": ("POST", "journals", journal, None),
        "unknown field": ("POST", "journals", {"journal": {**journal, "memo": "x"}}, None),
        "amount as text": (
            "POST",
            "journals",
            {"journal": {**journal, "journal_lines": [{**good_line, "debit": "10.00"}]}},
            None,
        ),
        "debit and credit on one line": (
            "POST",
            "journals",
            {"journal": {**journal, "journal_lines": [{**good_line, "credit": 10}]}},
            None,
        ),
        "date not ISO": ("POST", "journals", {"journal": {**journal, "date": "02/11/2026"}}, None),
        "reference too long": (
            "POST",
            "journals",
            {"journal": {**journal, "reference": "x" * 26}},
            None,
        ),
        "invoice without contact": (
            "POST",
            "sales_invoices",
            {"sales_invoice": {"date": "2026-11-02", "invoice_lines": []}},
            None,
        ),
        "no X-Business": ("GET", "ledger_accounts", None, ""),
        "page too large": ("GET", "ledger_accounts?items_per_page=500", None, None),
        "unknown filter": ("GET", "ledger_accounts?from_date=2026-11-02", None, None),
        "update": ("PUT", "journals", {"journal": journal}, None),
        "tax rates cannot be created": ("POST", "tax_rates", {"tax_rate": {}}, None),
        "journal line without its credit": (
            "POST",
            "journals",
            {
                "journal": {
                    **journal,
                    "journal_lines": [{"ledger_account_id": account, "debit": 10}],
                }
            },
            None,
        ),
    }
    taken: list[str] = []
    for label, (method, path, body, business) in refused.items():
        response = _raw(sage, method, path, body, business)
        assert response.status_code == 422, label
        assert response.json()[0]["$message"], label
        found = sage.harness.take()
        assert found, label  # each refusal is a recorded violation
        taken += found
    assert any("'10.00' is not a number" in v for v in taken)
    assert any("must be a debit or a credit" in v for v in taken)
    assert any("sales_invoice.contact_id is required" in v for v in taken)
    assert any("X-Business ''" in v for v in taken)
    assert any("journal.journal_lines.credit is required" in v for v in taken)
    # Sage's business rules: a line with a non-zero tax rate needs its tax
    # amount; a nominal code is 1 to 99999999.
    sales = sage.books.ledger("4000")["id"]
    contact = sage.books.rows["contacts"][0]["id"]
    line = {"description": "Coffee", "ledger_account_id": sales, "unit_price": 10,
            "tax_rate_id": "OUTPUT2"}  # fmt: skip
    invoice = {"contact_id": contact, "date": "2026-11-02", "invoice_lines": [line]}
    untaxed = _raw(sage, "POST", "sales_invoices", {"sales_invoice": invoice})
    assert untaxed.status_code == 422 and "tax_amount is required" in untaxed.text
    code = {"ledger_account_type_id": "SALES", "included_in_chart": True, "name": "X",
            "display_name": "X", "nominal_code": 0}  # fmt: skip
    zero = _raw(sage, "POST", "ledger_accounts", {"ledger_account": code})
    assert zero.status_code == 422 and "between 1 and 99999999" in zero.text
    assert sage.books.creates == {}
    # The same journal, well formed, is taken.
    assert _raw(sage, "POST", "journals", {"journal": journal}).status_code == 422  # unbalanced
    balanced = [good_line, {**good_line, "debit": 0, "credit": 10}]
    ok = _raw(sage, "POST", "journals", {"journal": {**journal, "journal_lines": balanced}})
    assert ok.status_code == 201 and ok.json()["id"]


# -- reads for the setup flow --


def test_setup_reads_page_to_the_end() -> None:
    with SageDouble(page_size=4) as sage:
        _seed(sage)
        target = _target(sage)
        accounts = {a.id: a for a in target.list_accounts()}
        assert len(accounts) == 16  # four pages of four
        assert accounts["4000"].type == "Income" and accounts["1100"].type == "Asset"
        assert accounts["1600"].type == "Liability" and accounts["6100"].type == "Expense"
        assert accounts["4999"].status == "Archived" and accounts["4000"].status == "Active"
        pages = [r for r in sage.requests if r[1] == "ledger_accounts"]
        assert [p[2].get("page") for p in pages] == [None, "2", "3", "4"]
        rates = {r.id: r.rate for r in target.list_tax_rates()}
        assert rates == {"OUTPUT2": "20", "ZERORATEDOUTPUT": "0", "NONE": "0"}
        assert [c["name"] for c in target.list_customers()] == ["Till customer"]
        assert [c["name"] for c in target.list_suppliers()] == ["Card processor"]
        assert "GBP" in target.list_currencies()
        assert sage.violations == []


def test_create_account_keeps_our_nominal_code(target: SageTarget, sage: SageDouble) -> None:
    created = target.create_account(account_id="4020", name="Tips", account_type="Income")
    assert (created.id, created.type) == ("4020", "Income")
    assert "4020" in {a.id for a in target.list_accounts()}
    for bad in ("SALES", "0", "100000000"):
        with pytest.raises(DocumentRejected, match="whole numbers from 1 to 99999999"):
            target.create_account(account_id=bad, name="x", account_type="Income")
    assert sage.books.creates == {"ledger_accounts": 1}  # nothing Sage would refuse was sent


def test_lines_without_any_description_are_still_described(
    target: SageTarget, sage: SageDouble
) -> None:
    """Sage requires each invoice and credit note line's description."""
    documents = [
        d for d in _documents("uk-cafe-invoice.json") if d["type"] in ("invoice", "creditNote")
    ]
    assert {d["type"] for d in documents} == {"invoice", "creditNote"}
    for document in documents:
        document["description"] = ""
        for item in document["lineItems"]:
            item["description"] = ""
    results = target.write_documents([(d["key"], d) for d in documents])
    assert all(isinstance(v, str) for v in results.values()), results
    texts = {
        line["description"]
        for each in ("sales_invoices", "sales_credit_notes")
        for record in sage.books.rows[each]
        for line in record.get("invoice_lines") or record.get("credit_note_lines")
    }
    assert texts == {"Sales", "Refund"}


# -- writes, exactly once --


def test_every_document_kind_is_written_and_found_by_key(
    target: SageTarget, sage: SageDouble
) -> None:
    documents = _documents("uk-cafe-invoice.json")
    assert {d["type"] for d in documents} == {
        "invoice", "creditNote", "payment", "bill", "billPayment", "deposit", "transfer",
    }  # fmt: skip
    assert target.check_references(documents) == []
    results = target.write_documents([(d["key"], d) for d in documents])
    assert all(isinstance(v, str) for v in results.values()), results
    payments = [d for d in documents if d["type"] in ("payment", "billPayment")]
    banked = [d for d in payments if d["accountRef"]["id"] in BANKS]
    assert sage.books.creates == {
        "sales_invoices": 1,
        "sales_credit_notes": 1,
        "purchase_invoices": 1,
        "contact_payments": len(banked),
        "journals": len(documents) - 3 - len(banked),
    }
    # The fees bill is paid by the two bill payments, allocated to it.
    bill = sage.books.rows["purchase_invoices"][0]
    assert bill["_paid"] == sum(
        Decimal(d["totalAmount"]) for d in documents if d["type"] == "billPayment"
    )
    vendor = {p["transaction_type_id"] for p in sage.books.rows["contact_payments"]}
    assert "VENDOR_PAYMENT" in vendor
    # Receipts are allocated to the day's invoice, the refund to the credit note.
    invoice = sage.books.rows["sales_invoices"][0]
    receipts = sum(
        Decimal(p["totalAmount"])
        for p in banked
        if p["type"] == "payment" and Decimal(p["totalAmount"]) > 0
    )
    assert invoice["_paid"] == receipts
    assert sage.books.rows["sales_credit_notes"][0]["_paid"] == Decimal("3.30")
    refund = next(
        p
        for p in sage.books.rows["contact_payments"]
        if p["transaction_type_id"] == "CUSTOMER_REFUND"
    )
    assert refund["total_amount"] == Decimal("3.30")
    assert invoice["notes"] == documents[0]["key"]
    assert_found_by_key_and_not_written_again(sage, lambda: _target(sage), documents, results)


def test_a_lost_answer_is_found_by_key_and_not_written_again(sage: SageDouble) -> None:
    document = _documents("uk-cafe-journal.json")[0]
    assert_lost_answer_found_by_key(
        sage, lambda: _target(sage), document, created="journals", id_prefix="Journal:"
    )


def test_a_payment_written_after_a_restart_is_still_allocated_to_its_invoice(
    sage: SageDouble,
) -> None:
    documents = _documents("uk-cafe-invoice.json")
    invoice = next(d for d in documents if d["type"] == "invoice")
    card = next(d for d in documents if d["type"] == "payment" and d["key"].endswith("Card:sale"))
    _target(sage).write_document(key=invoice["key"], document=invoice)
    fresh = _target(sage)  # another worker: nothing remembered
    assert fresh.write_document(key=card["key"], document=card).startswith("ContactPayment:")
    payment = sage.books.rows["contact_payments"][0]
    written = sage.books.rows["sales_invoices"][0]
    assert payment["allocated_artefacts"] == [
        {"artefact_id": written["id"], "amount": Decimal(card["totalAmount"])}
    ]
    assert written["_paid"] == Decimal(card["totalAmount"])


def test_under_faults_every_document_is_written_exactly_once(sage: SageDouble) -> None:
    documents = _documents("uk-cafe-invoice.json")
    pending = {d["key"]: d for d in documents}
    chance = random.Random(17)  # noqa: S311 - a test's dice
    rounds = 0
    faults: Counter[str] = Counter()
    while pending and rounds < 50:
        rounds += 1
        # Each round some answers are lost after the write and some calls
        # fail; the first round always loses an answer after the write.
        sage.lose_next_answer = rounds == 1 or chance.random() < 0.5
        if chance.random() < 0.3:
            sage.fail_next(503, [{"$message": "busy"}])
            faults["503"] += 1
        faults["lost"] += sage.lose_next_answer
        try:
            results = _target(sage).write_documents(list(pending.items()))
        except (PlatformUnavailable, RateLimited):
            continue
        for key, outcome in results.items():
            if isinstance(outcome, str):
                pending.pop(key)
    assert not pending and rounds > 1 and faults["lost"] >= 1, faults
    assert _written_references(sage) == Counter({your_ref(d["key"]): 1 for d in documents})


def _written_references(sage: SageDouble) -> Counter[str]:
    return Counter(str(r["reference"]) for each in WRITTEN for r in sage.books.rows[each])


def test_a_writer_killed_at_any_moment_leaves_nothing_doubled_or_missing() -> None:
    documents = _documents("uk-cafe-invoice.json")

    def opened() -> SageDouble:
        # 5 ms an answer: the child's day (about 30 calls) takes ~0.2 s.
        double = SageDouble(debtors="1300", creditors="1600", delay=0.005)
        _seed(double)
        return double

    def check(sage: SageDouble) -> None:
        assert _written_references(sage) == Counter({your_ref(d["key"]): 1 for d in documents})
        assert sage.violations == []

    killed = killed_writer_trials(
        opened,
        lambda sage: (write_then_exit, (_target, sage, documents)),
        _target,
        documents,
        check,
    )
    assert killed, "no trial killed the writer mid-way; lengthen the day"


FORMATS = {"journal": "JournalEntry", "invoice": "Invoice"}


def _seed_for(sage: SageDouble, documents: list[dict[str, Any]]) -> None:
    """The ledger accounts the scenario's documents name that the standard
    seed lacks."""
    known = {str(r["nominal_code"]) for r in sage.books.rows["ledger_accounts"]}
    for document in documents:
        refs = [document.get(r) for r in ("accountRef", "fromAccountRef", "toAccountRef")]
        lines = document.get("journalLines", []) + document.get("lineItems", [])
        for ref in [*refs, *(line["accountRef"] for line in lines)]:
            if ref and ref["id"] not in known:
                sage.books.seed_account(ref["id"])
                known.add(ref["id"])


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.json")), ids=lambda p: p.stem)
def test_every_shared_scenario_gives_its_expected_balances(path: Path) -> None:
    scenario = json.loads(path.read_text(), parse_float=Decimal)
    assert scenario.get("expected"), f"{path.name} has no expected figures"
    for kind, expected in scenario["expected"].items():
        documents = _documents(path.name, FORMATS[kind])
        currency = documents[0]["currency"]
        with SageDouble(debtors="1300", creditors="1600", base_currency=currency) as sage:
            _seed(sage)
            _seed_for(sage, documents)
            target = _target(sage)
            assert target.check_references(documents) == []
            results = target.write_documents([(d["key"], d) for d in documents])
            assert all(isinstance(v, str) for v in results.values()), results
            assert sage.violations == []
            books = sage.books
            days = {r["date"] for each in WRITTEN for r in books.rows[each]}
            assert days <= business_days(scenario["period"]), days
            for group in expected.get("groups") or [{"balances": expected["balances"]}]:
                references = {
                    your_ref(d["key"])
                    for d in documents
                    if group.get("currency", d["group"]["currency"]) == d["group"]["currency"]
                    and group.get("locationId") == d["group"].get("locationId")
                }
                assert references, group
                balances = books.balances(references)
                # Debtors and creditors net to zero over the day.
                assert balances.pop("1300", Decimal(0)) == 0
                assert balances.pop("1600", Decimal(0)) == 0
                wanted: dict[str, Decimal] = Counter()  # type: ignore[assignment]
                for account, amount in group["balances"].items():
                    # Every tax rate posts to 2200 in the double.
                    code = "2200" if account.startswith("TAX:") else account
                    wanted[code] += Decimal(amount)
                assert balances == {k: v for k, v in wanted.items() if v}


# -- refusals and the connection's troubles, in plain words --


def test_sage_words_reach_the_merchant(target: SageTarget, sage: SageDouble) -> None:
    document = _documents("uk-cafe-journal.json")[0]
    sage.fail_next(
        422,
        [{"$severity": "error", "$dataCode": "RecordInvalid",
          "$message": "The period is locked", "$source": "date"}],
    )  # fmt: skip
    with pytest.raises(DocumentRejected, match=r"The period is locked \(date\)"):
        target.write_document(key=document["key"], document=document)


def test_check_references_names_what_would_fail(target: SageTarget, sage: SageDouble) -> None:
    document = _documents("uk-cafe-invoice.json")[0]
    document["lineItems"][0]["accountRef"]["id"] = "4999"
    document["lineItems"][1]["accountRef"]["id"] = "4444"
    document["lineItems"][1]["taxRateRef"]["id"] = "OLD"
    document["customerRef"]["id"] = "CUST-GONE"
    assert target.check_references([document]) == [
        "Ledger account 4444 does not exist in Sage Accounting",
        "Ledger account 4999 is no longer in use in Sage Accounting",
        "Tax rate OLD is no longer in use in Sage Accounting",
        "Contact CUST-GONE does not exist in Sage Accounting",
    ]
    assert sage.books.creates == {}


def test_documents_outside_the_base_currency_are_refused_in_plain_words(
    sage: SageDouble,
) -> None:
    documents = _documents("uk-cafe-journal.json")
    for document in documents:
        document["currency"] = "EUR"
    target = _target(sage)
    words = "keeps its books in GBP; EUR documents cannot be written"
    assert any(words in p for p in target.check_references(documents))
    results = target.write_documents([(d["key"], d) for d in documents])
    assert all(isinstance(v, DocumentRejected) and words in str(v) for v in results.values())
    assert sage.books.creates == {}


def test_a_business_whose_base_currency_is_not_named_is_refused(sage: SageDouble) -> None:
    sage.base_currency = ""
    documents = _documents("uk-cafe-journal.json")
    target = _target(sage)
    words = "did not say which currency this business keeps its books in"
    assert any(words in p for p in target.check_references(documents))
    results = target.write_documents([(d["key"], d) for d in documents])
    assert all(isinstance(v, DocumentRejected) and words in str(v) for v in results.values())
    assert sage.books.creates == {}


def test_401_refreshes_once_then_a_second_401_is_a_revoked_grant(sage: SageDouble) -> None:
    tokens = FakeTokens("expired-token", TOKEN)
    assert _target(sage, tokens=tokens).list_accounts()
    assert tokens.refreshes == ["expired-token"]
    revoked = _target(sage, tokens=FakeTokens("dead-token", "still-dead"))
    with pytest.raises(CredentialsRevoked, match="reconnect Sage Accounting"):
        revoked.list_accounts()


def test_forbidden_and_outages(target: SageTarget, sage: SageDouble) -> None:
    sage.fail_next(403, [{"$message": "Subscription expired", "$dataCode": "Forbidden"}])
    with pytest.raises(SubscriptionExpired, match="Subscription expired"):
        target.list_accounts()
    sage.fail_next(503, [{"$message": "Maintenance"}])
    with pytest.raises(PlatformUnavailable):
        target.list_accounts()


def test_a_business_without_a_subscription_is_not_a_revoked_grant(sage: SageDouble) -> None:
    """Sage answers 401 "No active subscription" when the trial or the
    subscription ended: the merchant must renew, not reconnect."""
    sage.subscription_ended = True
    tokens = FakeTokens(TOKEN, TOKEN)
    with pytest.raises(SubscriptionExpired, match=r"no active subscription.*\(MSE\)"):
        _target(sage, tokens=tokens).list_accounts()
    assert tokens.refreshes == [TOKEN]  # one refresh, as for any 401
    sage.subscription_ended = False
    assert _target(sage).list_accounts()


def test_429_is_waited_out_by_retry_after_and_a_long_one_goes_up(
    target: SageTarget, sage: SageDouble
) -> None:
    sage.fail_next(429, [{"$message": "Too many requests"}], {"Retry-After": "0.05"})
    assert target.list_accounts()
    assert target.client.throttled == 1
    sage.fail_next(429, [{"$message": "Too many requests"}], {"Retry-After": "3600"})
    with pytest.raises(RateLimited) as limited:
        target.list_accounts()
    assert limited.value.retry_after == 3600


def test_a_burst_stays_under_the_double_limit_through_429s() -> None:
    with SageDouble(debtors="1300", creditors="1600", rate_limit=(5, 0.5)) as sage:
        _seed(sage)
        target = _target(sage)
        documents = _documents("uk-cafe-invoice.json")
        started = time.monotonic()
        results = target.write_documents([(d["key"], d) for d in documents])
        assert all(isinstance(v, str) for v in results.values()), results
        assert sage.refused and target.client.throttled == len(sage.refused)
        assert sage.most_in_window() <= 5
        assert time.monotonic() - started < 10
        assert sage.books.creates["sales_invoices"] == 1


CALLS, WINDOW, MARGIN = 20, 0.5, 0.15


def _transfer(key: str) -> dict[str, Any]:
    return payout_transfer(key, "GBP")


@pytest.mark.django_db(transaction=True)
def test_two_workers_share_the_limiter_and_stay_under_the_limit() -> None:
    from connectors.limits import RateLimits

    # Each write is a lookup and a create (and each worker reads the base
    # currency once): 2 x (1 + 2 x 25) = 102 calls.
    limits = RateLimits(calls=CALLS, window_seconds=WINDOW + MARGIN, concurrent=5)
    with SageDouble(rate_limit=(CALLS, WINDOW)) as sage:
        _seed(sage)
        results = writes_from_workers(
            lambda limiter: _target(sage, limiter=limiter),
            limits,
            _transfer,
            workers=2,
            writes=25,
        )
        assert not [r for r in results if isinstance(r, Exception)], results
        written = [document_id for ids, _ in results for document_id in ids]
        assert len(set(written)) == 50 and sage.books.creates["journals"] == 50
        assert sage.most_in_window() <= CALLS
        assert len(sage.refused) <= 2, sage.refused
        assert sage.books.balances()["1200"] == Decimal("500.00")


# -- OAuth and the business choice --


def test_oauth_parameters(settings: Any) -> None:
    client = sage_oauth_client()
    request = client.authorization_request(redirect_uri="https://cs.example/cb")
    assert request.url.startswith(
        "https://www.sageone.com/oauth2/auth/central?filter=apiv3.1&response_type=code&"
    )
    assert "scope=full_access" in request.url and f"state={request.state}" in request.url
    assert client.platform.token_url == "https://oauth.accounting.sage.com/token"
    assert client.platform.credentials_in_body


def test_refresh_tokens_rotate_on_every_use(settings: Any) -> None:
    with SageDouble() as sage:
        settings.SAGE_TOKEN_URL = f"{sage.origin}/token"
        settings.SAGE_CLIENT_ID, settings.SAGE_CLIENT_SECRET = sage.client
        client = sage_oauth_client()
        first = client.refresh("sage-refresh-0001")
        assert first.refresh_token == "sage-refresh-0002"
        assert 250 < (first.expires_at.timestamp() - time.time()) <= 300
        second = client.refresh(first.refresh_token)
        assert second.refresh_token == "sage-refresh-0003"
        with pytest.raises(CredentialsRevoked):
            client.refresh("sage-refresh-0001")  # spent


def test_businesses_are_listed_and_chosen(settings: Any) -> None:
    with SageDouble(others=("b999",)) as sage:
        settings.SAGE_API_URL = sage.url
        found = sage_businesses(access_token=TOKEN)
        assert [b.id for b in found] == ["b999", sage.business_id]
        assert sage_business_select(found, "b999").name == "Business b999"
        with pytest.raises(ConfigurationError, match="not one this authorisation reaches"):
            sage_business_select(found, "elsewhere")
        with pytest.raises(CredentialsRevoked):
            sage_businesses(access_token="nope")


def _point_at(sage: SageDouble, settings: Any) -> None:
    settings.SAGE_API_URL = sage.url
    settings.SAGE_AUTHORIZE_URL = f"{sage.origin}/oauth2/auth/central?filter=apiv3.1"
    settings.SAGE_TOKEN_URL = f"{sage.origin}/token"
    settings.SAGE_REVOKE_URL = f"{sage.origin}/revoke"
    settings.SAGE_CLIENT_ID, settings.SAGE_CLIENT_SECRET = sage.client


@pytest.mark.django_db
def test_registry_builds_the_target_and_the_platform_is_offered() -> None:
    from commerce_sync.core.platforms import platform_get
    from commerce_sync.core.services.connections import connection_target
    from commerce_sync.core.services.merchant_setup import OAUTH_PLATFORMS
    from tests.factories import ConnectionFactory

    connection = ConnectionFactory(
        accounting=True, platform_key="sage", settings={"business_id": "b77"}
    )
    target = connection_target(connection=connection)
    assert isinstance(target, SageTarget) and target.client.limit_key == "sage:b77"
    assert target.client.base_url == "https://api.accounting.sage.com/v3.1"
    assert target.debtors_account == "1100" and target.creditors_account == "2100"
    connection.settings = {}
    with pytest.raises(ConfigurationError, match="no business chosen"):
        connection_target(connection=connection)
    platform = platform_get("sage")
    assert platform is not None and platform.name == "Sage Accounting"
    assert platform.source_type == "Accounting" and platform.needs_authorization
    assert "sage" in OAUTH_PLATFORMS


@pytest.mark.django_db
def test_the_setup_flow_connects_sage_and_asks_which_business(
    client: Any, partner: Any, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    from commerce_sync.core.models import AuditLog, Connection
    from commerce_sync.core.services.connections import connection_create
    from tests.factories import MerchantFactory
    from tests.setup_flow.helpers import start_path
    from tests.setup_flow.test_oauth_platforms import consent_screen

    with SageDouble(others=("b999",), debtors="1300") as sage:
        _seed(sage)
        _point_at(sage, settings)
        merchant = MerchantFactory(partner=partner, country="GB")
        connection_create(merchant=merchant, platform_key="sandbox", source_type="commerce")
        books = connection_create(merchant=merchant, platform_key="sage", source_type="accounting")
        client.get(start_path(merchant))
        screen, callback = consent_screen(client, books)
        assert "Allow access to Sage Accounting?" in screen
        assert sage.screen.consents[0]["filter"] == "apiv3.1"
        picker = client.get(callback)
        assert picker.status_code == 200
        body = picker.content.decode()
        assert "Café Ltd" in body and "Business b999" in body
        books.refresh_from_db()
        assert books.status == Connection.Status.PENDING_AUTH
        response = client.post("/setup/organisation", {"organisation": sage.business_id})
        assert response["Location"] == "/setup/stage/accounting"
        books.refresh_from_db()
        assert books.status == Connection.Status.LINKED
        assert books.settings == {"business_id": sage.business_id, "business_name": "Café Ltd"}
        assert books.credentials["access_token"] == sage.token
        # The options come from that business: ledger accounts by nominal code.
        slots = {s["name"]: s for s in client.get("/setup/stage/sales").context["slots"]}
        names = [a["name"] for a in slots["sales.accounts.sales"]["options"]]
        assert "Sales 4000" in names
        assert sage.violations == []
        # The merchant disconnects Sage: the tokens are forgotten here and the
        # refresh token is revoked at Sage (audited), so it refreshes nothing.
        refresh = books.credentials["refresh_token"]
        with django_capture_on_commit_callbacks(execute=True):
            client.post(
                "/setup/settings",
                {"action": "revoke", "connection": str(books.pk), "confirm": "yes"},
            )
        books.refresh_from_db()
        assert books.status == Connection.Status.UNLINKED and books.credentials == {}
        assert sage.revoked == [refresh]
        audit = AuditLog.objects.get(action="connection.revoke", object_id=str(books.pk))
        assert (
            audit.changes == {"platform_key": "sage", "outcome": "ok"} and audit.actor == "merchant"
        )
        with pytest.raises(CredentialsRevoked, match="invalid_grant"):
            sage_oauth_client().refresh(refresh)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("failure", "outcome"),
    [(503, "PlatformUnavailable"), (401, "CredentialsRevoked"), (None, "ok")],
)
def test_a_partner_unlink_revokes_at_sage_and_a_failed_revoke_keeps_no_tokens(
    settings: Any, django_capture_on_commit_callbacks: Any, failure: int | None, outcome: str
) -> None:
    from commerce_sync.core.models import AuditLog, Connection
    from commerce_sync.core.services.connections import connection_unlink
    from tests.factories import ConnectionFactory

    with SageDouble() as sage:
        _point_at(sage, settings)
        sage.revoke_failure = failure
        books = ConnectionFactory(
            accounting=True,
            platform_key="sage",
            settings={"business_id": sage.business_id},
            credentials={"access_token": sage.token, "refresh_token": sage.refresh_token},
        )
        with django_capture_on_commit_callbacks(execute=True):
            connection_unlink(connection=books, actor="partner")
        books.refresh_from_db()
        # Whatever Sage answered, the connection is unlinked and its tokens gone.
        assert books.status == Connection.Status.UNLINKED and books.credentials == {}
        audit = AuditLog.objects.get(action="connection.revoke", object_id=str(books.pk))
        assert audit.changes == {"platform_key": "sage", "outcome": outcome}
        assert sage.revoked == ([] if failure else ["sage-refresh-0001"])


@pytest.mark.django_db(transaction=True)
def test_two_workers_refreshing_at_once_spend_the_refresh_token_once(settings: Any) -> None:
    with SageDouble() as sage:
        _seed(sage)
        _point_at(sage, settings)
        assert_two_workers_refresh_once(
            sage,
            "sage",
            settings={"business_id": sage.business_id},
            access_token=sage.token,
            seconds_left=30,  # of a 5-minute token: inside the refresh margin
            rotated=("sage-access-0001", "sage-refresh-0002"),
        )


@pytest.mark.django_db
def test_connect_command_links_sage_without_printing_tokens(
    merchant: Any, capsys: pytest.CaptureFixture[str], tmp_path: Any
) -> None:
    assert_connect_command_links(
        merchant,
        "sage",
        tmp_path,
        capsys,
        refused=[([], "--business-id")],
        options=["--business-id", "b42"],
        settings={"business_id": "b42"},
    )
