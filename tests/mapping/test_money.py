"""mapping.money on its edges: half a minor unit, 0-, 2-, 3- and 4-digit
currencies, cash rounding at exactly half a cash unit, bad input.

Written to kill the mutants `make mutate` left alive in money.py (rounding
mode dropped, `<=` made `<`, the zero-difference guard weakened, the TypeError
message lost); the expected values come from ISO 4217's exponents and the
half-away-from-zero rule, not from the code.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from mapping.money import (
    explained_by_cash_rounding,
    format_amount,
    from_minor,
    minor_unit,
    quantize,
    to_minor,
)


@pytest.mark.parametrize(
    ("amount", "currency", "rounded"),
    [
        # Exactly half a minor unit goes away from zero (half-even would go
        # to 0.12, 2, -0.12 and 0.000).
        ("0.125", "GBP", "0.13"),
        ("-0.125", "EUR", "-0.13"),
        ("2.5", "JPY", "3"),
        ("-2.5", "JPY", "-3"),
        ("0.0005", "KWD", "0.001"),
        ("1.00005", "CLF", "1.0001"),
        ("0.1249", "GBP", "0.12"),
    ],
)
def test_quantize_rounds_half_away_from_zero(amount: str, currency: str, rounded: str) -> None:
    got = quantize(Decimal(amount), currency)
    assert got == Decimal(rounded)
    assert got.as_tuple().exponent == -minor_unit(currency)


def test_quantize_refuses_a_float_naming_its_type() -> None:
    with pytest.raises(TypeError, match=r"^money must be Decimal, got float$"):
        quantize(0.1, "GBP")  # type: ignore[arg-type]


def test_format_amount_in_the_minor_unit_without_a_negative_zero() -> None:
    assert format_amount(Decimal("19.4"), "GBP") == "19.40"
    assert format_amount(Decimal("1E+3"), "JPY") == "1000"
    assert format_amount(Decimal("-0.0001"), "BHD") == "0.000"
    assert format_amount(Decimal("-0.004"), "GBP") == "0.00"


@pytest.mark.parametrize(
    ("amount", "currency", "units"),
    [
        ("12.34", "GBP", 1234),
        ("-12.345", "GBP", -1235),
        ("1500", "JPY", 1500),
        ("1.2345", "BHD", 1235),
    ],
)
def test_minor_units_both_ways(amount: str, currency: str, units: int) -> None:
    assert to_minor(Decimal(amount), currency) == units
    back = from_minor(units, currency)
    assert back == quantize(Decimal(amount), currency)
    assert back.as_tuple().exponent == -minor_unit(currency)


@pytest.mark.parametrize(
    ("difference", "cash", "currency", "explained"),
    [
        ("0.25", "10.00", "DKK", True),  # exactly half of DKK's 0.50: still rounding
        ("-0.50", "12", "SEK", True),  # half a krona
        ("0.51", "13", "SEK", False),
        ("0.02", "5.05", "CHF", True),
        ("0.02", "5.03", "CHF", False),  # cash not a whole number of 0.05
        ("0", "5.00", "CHF", False),  # no difference is no rounding
        ("0.02", "0", "CHF", False),
        ("0.01", "5.00", "GBP", False),  # GBP cash is paid to the penny
    ],
)
def test_cash_rounding_explains_at_most_half_a_cash_unit(
    difference: str, cash: str, currency: str, explained: bool
) -> None:
    assert explained_by_cash_rounding(Decimal(difference), Decimal(cash), currency) is explained
