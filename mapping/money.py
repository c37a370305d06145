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
