"""The journal writer alone: what an accountant reads on each entry (its
description, the rounding line) and what a merchant is told is missing."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from mapping.books import Book, Sum
from mapping.config import parse_configuration
from mapping.journal import journal_write
from mapping.missing import MissingMappings

DAY = date(2026, 11, 2)


def accounts(**ids: str) -> dict[str, dict[str, str]]:
    return {key: {"selectedAccountId": value} for key, value in ids.items()}


def a_day_in_thirds() -> Book:
    """Three coffees of 3.335 each on one card payment of 10.005: each line
    rounds up alone, so the rounded lines leave a cent over."""
    book = Book()
    book.payments[("Card", "1200", False)] = Sum(Decimal("10.005"), refs=["O-1"])
    for n in (1, 2, 3):
        book.sales[(False, "line", f"40{n}", None, f"Coffee {n}")] = Sum(
            Decimal("3.335"), refs=[f"O-1-L{n}"]
        )
    return book


def test_what_rounding_leaves_over_is_a_line_of_its_own_named_rounding():
    config = parse_configuration({"sales": {"accounts": accounts(sales="400", rounding="4900")}})
    missing = MissingMappings()
    entry = journal_write(
        (DAY, "GBP", None, ""), a_day_in_thirds(), config=config, missing=missing, prefix="m"
    )
    assert entry is not None and missing.issues() == []
    lines = entry.as_json()["journalLines"]
    assert [(x["accountRef"]["id"], x["netAmount"], x["description"]) for x in lines] == [
        ("1200", "10.01", "Card payments"),
        ("401", "-3.34", "Coffee 1"),
        ("402", "-3.34", "Coffee 2"),
        ("403", "-3.34", "Coffee 3"),
        ("4900", "0.01", "Rounding"),
    ]
    assert entry.as_json()["description"] == "Daily sales summary 2026-11-02"


def test_an_adjustment_entry_says_so():
    config = parse_configuration({"sales": {"accounts": accounts(rounding="4900")}})
    book = Book(payments={("Card", "1200", False): Sum(Decimal("2.50"), refs=["O-1"])})
    book.sales[(False, "line", "401", None, "Coffee")] = Sum(Decimal("2.50"), refs=["O-1-L1"])
    entry = journal_write(
        (DAY, "GBP", None, "adjustment"), book, config=config, missing=MissingMappings(), prefix="m"
    )
    assert entry is not None
    assert entry.as_json()["description"] == "Adjustments 2026-11-02"


def test_rounding_without_a_rounding_or_sales_account_asks_for_the_sales_account():
    """Every line has its own account, but the cent over has nowhere to go:
    the merchant is told which setting to fill in."""
    missing = MissingMappings()
    journal_write(
        (DAY, "GBP", None, ""),
        a_day_in_thirds(),
        config=parse_configuration({}),
        missing=missing,
        prefix="m",
    )
    assert [(i.code, i.message) for i in missing.issues()] == [
        ("MissingSalesAccount", "No sales account has been configured (sales.accounts.sales)")
    ]


def test_each_sales_line_states_its_own_tax_beside_the_tax_line():
    """Targets that put VAT on the taxed lines (Exact Online's VAT codes)
    need each rate's tax as the till charged it, not recomputed from the
    day's net: 6 x 0.17 = 1.02 at 21 %, 4 x 0.21 = 0.84 at 9 %."""
    config = parse_configuration({"sales": {"accounts": accounts(sales="8000", tax="1500")}})
    book = Book()
    book.payments[("Cash", "1000", False)] = Sum(Decimal("15.94"), refs=["O-1"])
    book.sales[(False, "sales", "8000", None, "Sales 21%")] = Sum(
        Decimal("4.92"), Decimal("1.02"), ["O-1"]
    )
    book.sales[(False, "sales", "8010", None, "Sales 9%")] = Sum(
        Decimal("9.16"), Decimal("0.84"), ["O-1"]
    )
    book.sales[(True, "refund", "8050", None, "Refunds untaxed")] = Sum(Decimal("-1"), refs=["O-2"])
    book.taxes[("1500", "Tax")] = Sum(Decimal("1.86"), refs=["O-1"])
    book.payments[("Cash", "1000", True)] = Sum(Decimal("-1"), refs=["O-2"])
    entry = journal_write(
        (DAY, "EUR", None, ""), book, config=config, missing=MissingMappings(), prefix="m"
    )
    assert entry is not None
    lines = entry.as_json()["journalLines"]
    assert [(x["accountRef"]["id"], x["netAmount"], x.get("taxAmount")) for x in lines] == [
        ("1000", "15.94", None),
        ("1000", "-1.00", None),
        ("8000", "-4.92", "-1.02"),  # signed as the line: a credit
        ("8010", "-9.16", "-0.84"),
        ("8050", "1.00", None),  # untaxed: no tax stated
        ("1500", "-1.86", None),  # the tax line itself, as before
    ]
