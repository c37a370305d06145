"""Money: `Decimal` with its currency, quantised only at boundaries.

Minor units follow ISO 4217. Floats are refused: they cannot hold 0.10.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

# ISO 4217 currencies whose minor unit is not 2 digits.
_EXPONENTS: dict[str, int] = {
    **dict.fromkeys(
        [
            "BIF",
            "CLP",
            "DJF",
            "GNF",
            "ISK",
            "JPY",
            "KMF",
            "KRW",
            "PYG",
            "RWF",
            "UGX",
            "UYI",
            "VND",
            "VUV",
            "XAF",
            "XOF",
            "XPF",
        ],
        0,
    ),
    **dict.fromkeys(["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"], 3),
    **dict.fromkeys(["CLF", "UYW"], 4),
}
ZERO = Decimal(0)


def minor_unit(currency: str) -> int:
    """Digits after the decimal point in `currency` (ISO 4217 exponent)."""
    return _EXPONENTS.get(currency.upper(), 2)


def quantum(currency: str) -> Decimal:
    return Decimal(1).scaleb(-minor_unit(currency))


def quantize(amount: Decimal, currency: str) -> Decimal:
    """Round half away from zero to the currency's minor unit."""
    if not isinstance(amount, Decimal):
        raise TypeError(f"money must be Decimal, got {type(amount).__name__}")
    return amount.quantize(quantum(currency), rounding=ROUND_HALF_UP)


def format_amount(amount: Decimal, currency: str) -> str:
    """The decimal string of `amount` in the currency's minor unit ("19.40")."""
    value = quantize(amount, currency)
    return format(value.copy_abs() if value.is_zero() else value, "f")


def to_minor(amount: Decimal, currency: str) -> int:
    return int(quantize(amount, currency).scaleb(minor_unit(currency)))


def from_minor(units: int, currency: str) -> Decimal:
    return Decimal(units).scaleb(-minor_unit(currency))


# The smallest cash unit where a currency's cash payments are rounded to a
# coin larger than its minor unit (the 1c/2c coins withdrawn, or never
# struck): Swedish rounding. Sources: the central banks' announcements
# (Bank of Canada 2013, Reserve Bank of Australia 1992, Reserve Bank of New
# Zealand 2006, Swiss National Bank, Sveriges Riksbank 2010, Norges Bank
# 2012, Danmarks Nationalbank 2008, Czech National Bank 2008, Magyar Nemzeti
# Bank 2008, Monetary Authority of Singapore); EUR for the euro countries that
# round cash to 0.05 (Finland, the Netherlands, Belgium, Ireland, Italy,
# Slovakia; elsewhere cash is paid exactly, so no difference ever appears).
CASH_UNITS: dict[str, Decimal] = {
    "AUD": Decimal("0.05"),
    "CAD": Decimal("0.05"),
    "CHF": Decimal("0.05"),
    "CZK": Decimal(1),
    "DKK": Decimal("0.50"),
    "EUR": Decimal("0.05"),
    "HUF": Decimal(5),
    "NOK": Decimal(1),
    "NZD": Decimal("0.10"),
    "SEK": Decimal(1),
    "SGD": Decimal("0.05"),
}


def cash_unit(currency: str) -> Decimal | None:
    """The unit cash in `currency` is rounded to (CAD 0.05, SEK 1), or None
    where cash is paid to the minor unit (GBP, USD, JPY)."""
    return CASH_UNITS.get(currency.upper())


def explained_by_cash_rounding(difference: Decimal, cash: Decimal, currency: str) -> bool:
    """Whether `difference` (cash paid - amount due) is cash rounding: the
    currency rounds cash to a unit, the cash paid is a whole number of units,
    and the difference is at most half a unit (and not zero)."""
    unit = cash_unit(currency)
    if unit is None or not difference or not cash:
        return False
    return abs(difference) * 2 <= unit and not cash % unit
