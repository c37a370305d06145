"""The rules a pushed record must meet, per kind: the parts of the Codat
Commerce schema the product relies on (required fields, types, enums), plus
our own contract: every pushed record carries `modifiedDate`, because that is
how versions are told apart.

Written out here rather than read from Codat's OpenAPI file so the service
never depends on a file outside the project; the tests check that what they
push is valid against Codat's schema too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from decimal import Decimal
from typing import Any

import pycountry

Check = Callable[[Any, str, list[str]], None]

# Limits of what we store (every value of every record, known field or not):
# the id is `PushedRecord.source_id` (200 characters); any other string at
# most MAX_STRING characters; numbers finite and below 10^15 in size (a
# `DecimalField(max_digits=20, decimal_places=4)` money column holds 16
# digits before the point, so sums of such amounts fit too; the mapping
# engine's `mapping.fields.amount` has the same bound); dates
# in years EARLIEST_YEAR to LATEST_YEAR, where converting between any two
# UTC offsets never leaves datetime's range (years 1 to 9999); objects and
# arrays nested at most MAX_DEPTH levels.
MAX_ID = 200
MAX_STRING = 2000
MAX_NUMBER = Decimal(10) ** 15
EARLIEST_YEAR, LATEST_YEAR = 1970, 2199
MAX_DEPTH = 16
MAX_PROBLEMS = 10  # reported per record
# ISO 4217's active codes (pycountry's copy of the ISO list).
ISO_4217 = frozenset(currency.alpha_3 for currency in pycountry.currencies)

PAYMENT_STATUS = {"Pending", "Authorized", "Paid", "Failed", "Cancelled", "Unknown"}
PAYMENT_TYPE = {
    "Cash", "Card", "Invoice", "OnlineCard", "Swish", "Vipps", "Mobile", "StoreCredit",
    "Paypal", "Custom", "Prepaid", "Unknown",
}  # fmt: skip
SERVICE_CHARGE_TYPE = {"Generic", "Shipping", "Overpayment", "Unknown"}
TRANSACTION_TYPE = {
    "Payment", "Refund", "Payout", "FailedPayout", "Transfer", "PaymentFee",
    "PaymentFeeRefund", "Unknown",
}  # fmt: skip
TRANSACTION_SOURCE_TYPE = {"Fee", "Order", "Payment", "ServiceCharge", "Unknown"}
METHOD_STATUS = {"Unknown", "Active", "Archived"}
VARIANT_STATUS = {"Unknown", "Published", "Unpublished"}


def shown(text: str, limit: int = 60) -> str:
    """`text` safe to echo in a JSON answer: lone surrogates and control
    characters escaped, cut to `limit` characters."""
    safe = text.encode("utf-8", "backslashreplace").decode("utf-8")
    safe = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in safe)
    return safe if len(safe) <= limit else safe[:limit] + "..."


def text_problem(value: str, limit: int = MAX_STRING) -> str | None:
    """Why `value` cannot be stored as text (PostgreSQL refuses NUL and
    unpaired UTF-16 surrogates in text and jsonb), or None."""
    if "\x00" in value:
        return "must not contain the NUL character (\\u0000)"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "must not contain an unpaired surrogate (\\ud800 to \\udfff alone)"
    if len(value) > limit:
        return f"must be at most {limit} characters (it has {len(value)})"
    return None


def number_problem(value: Decimal | int | float) -> str | None:
    """Why `value` cannot be stored as an amount, or None."""
    exact = value if isinstance(value, Decimal) else Decimal(str(value))
    if not exact.is_finite():
        return "must be a finite number (not NaN or Infinity)"
    if exact.copy_abs() >= MAX_NUMBER:  # abs() rounds, and overflows on 1e999999999
        return "must be below 10^15 in size (what the money columns and their sums hold)"
    return None


def string(value: Any, where: str, errors: list[str]) -> None:
    if not isinstance(value, str):
        errors.append(f"{where} must be a string")


def identifier(value: Any, where: str, errors: list[str]) -> None:
    if not isinstance(value, str):
        errors.append(f"{where} must be a string")
    elif len(value) > MAX_ID:
        errors.append(f"{where} must be at most {MAX_ID} characters (it has {len(value)})")


def number(value: Any, where: str, errors: list[str]) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, Decimal, float)):
        errors.append(f"{where} must be a number")
    elif problem := number_problem(value):
        errors.append(f"{where} {problem}")


def nullable_number(value: Any, where: str, errors: list[str]) -> None:
    if value is not None:
        number(value, where, errors)


def integer(value: Any, where: str, errors: list[str]) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        errors.append(f"{where} must be an integer")


def boolean(value: Any, where: str, errors: list[str]) -> None:
    if not isinstance(value, bool):
        errors.append(f"{where} must be true or false")


def date_time(value: Any, where: str, errors: list[str]) -> None:
    try:
        parsed = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        errors.append(f"{where} must be an ISO 8601 date-time")
        return
    if not EARLIEST_YEAR <= parsed.year <= LATEST_YEAR:
        errors.append(f"{where} must be in the years {EARLIEST_YEAR} to {LATEST_YEAR}")


def currency(value: Any, where: str, errors: list[str]) -> None:
    if not (isinstance(value, str) and value in ISO_4217):
        errors.append(f"{where} must be an ISO 4217 code such as GBP")


def one_of(allowed: set[str]) -> Check:
    def check(value: Any, where: str, errors: list[str]) -> None:
        if value not in allowed:
            errors.append(f"{where} must be one of {', '.join(sorted(allowed))}")

    return check


def obj(fields: dict[str, Check], required: tuple[str, ...] = ()) -> Check:
    """An object: `required` keys present (and not null), listed keys of their type."""

    def check(value: Any, where: str, errors: list[str]) -> None:
        if not isinstance(value, dict):
            errors.append(f"{where or 'the record'} must be an object")
            return
        prefix = f"{where}." if where else ""
        for key in required:
            if value.get(key) is None or value.get(key) == "":
                errors.append(f"{prefix}{key} is required")
        for key, rule in fields.items():
            if value.get(key) is not None:  # null optional fields are tolerated
                rule(value[key], prefix + key, errors)

    return check


def array(item: Check) -> Check:
    def check(value: Any, where: str, errors: list[str]) -> None:
        if not isinstance(value, list):
            errors.append(f"{where} must be an array")
            return
        for index, element in enumerate(value):
            item(element, f"{where}[{index}]", errors)

    return check


ref = obj({"id": identifier, "name": string}, required=("id",))
tax_allocation = obj(
    {
        "taxComponentRef": obj({"id": identifier, "name": string}, ("id", "name")),
        "rate": nullable_number,
    }
)
DATES = {"modifiedDate": date_time, "sourceModifiedDate": date_time}
RECORD = ("id", "modifiedDate")

ORDER = obj(
    {
        "id": identifier,
        "orderNumber": string,
        "country": string,
        "currency": currency,
        "createdDate": date_time,
        "closedDate": date_time,
        **{k: number for k in ("totalAmount", "totalRefund", "totalTaxAmount")},
        **{k: number for k in ("totalDiscount", "totalGratuity")},
        "orderLineItems": array(
            obj(
                {
                    "id": identifier,
                    **{k: number for k in ("quantity", "taxPercentage", "totalAmount")},
                    **{k: number for k in ("totalTaxAmount", "unitPrice")},
                    "taxes": array(tax_allocation),
                    "productRef": ref,
                    "productVariantRef": ref,
                    "discountAllocations": array(obj({"name": string, "totalAmount": number})),
                },
                required=("id",),
            )
        ),
        "payments": array(
            obj(
                {
                    "id": identifier,
                    "amount": nullable_number,
                    "currency": currency,
                    "type": one_of(PAYMENT_TYPE),
                    "status": one_of(PAYMENT_STATUS),
                    "paymentProvider": string,
                    "dueDate": date_time,
                    "createdDate": date_time,
                    **DATES,
                },
                required=("id",),
            )
        ),
        "serviceCharges": array(
            obj(
                {
                    "description": string,
                    **{k: number for k in ("totalAmount", "taxPercentage", "taxAmount")},
                    "taxes": array(tax_allocation),
                    "quantity": integer,
                    "type": one_of(SERVICE_CHARGE_TYPE),
                }
            )
        ),
        "locationRef": ref,
        "customerRef": ref,
        **DATES,
    },
    # What the sync cannot do without, beyond Codat's own `id`.
    required=(*RECORD, "createdDate", "currency", "totalAmount"),
)

TRANSACTION = obj(
    {
        "id": identifier,
        "totalAmount": number,
        "currency": currency,
        "type": one_of(TRANSACTION_TYPE),
        "subType": string,
        "transactionSourceRef": obj(
            {"id": identifier, "type": one_of(TRANSACTION_SOURCE_TYPE)}, ("id", "type")
        ),
        "createdDate": date_time,
        "sourceCreatedDate": date_time,
        **DATES,
    },
    required=(*RECORD, "createdDate", "currency", "totalAmount", "type"),
)

LOCATION = obj({"id": identifier, "name": string, "address": obj({}), **DATES}, RECORD)
PRODUCT = obj(
    {
        "id": identifier,
        "name": string,
        "description": string,
        "categorization": string,
        "isGiftCard": boolean,
        "variants": array(
            obj(
                {
                    "id": identifier,
                    "name": string,
                    "isTaxEnabled": boolean,
                    "sku": string,
                    "vatPercentage": number,
                    "prices": array(obj({"currency": currency, "unitPrice": number})),
                    "shippingRequired": boolean,
                    "status": one_of(VARIANT_STATUS),
                },
                required=("id",),
            )
        ),
        **DATES,
    },
    RECORD,
)
PRODUCT_CATEGORY = obj(
    {
        "id": identifier,
        "name": string,
        "ancestorRefs": array(obj({"id": identifier, "type": string}, ("id", "type"))),
        "hasChildren": boolean,
        **DATES,
    },
    RECORD,
)
TAX_COMPONENT = obj(
    {"id": identifier, "name": string, "rate": number, "isCompound": boolean, **DATES},
    (*RECORD, "name"),
)
PAYMENT_METHOD = obj(
    {"id": identifier, "name": string, "status": one_of(METHOD_STATUS), **DATES}, RECORD
)

RULES: dict[str, Check] = {
    "order": ORDER,
    "transaction": TRANSACTION,
    "location": LOCATION,
    "product": PRODUCT,
    "productCategory": PRODUCT_CATEGORY,
    "taxComponent": TAX_COMPONENT,
    "paymentMethod": PAYMENT_METHOD,
}


@dataclass(frozen=True)
class Expectations:
    """What a record must also agree with beyond its shape: the merchant's
    currency (ISO 4217) for orders, their payments and transactions, and
    `now` (aware) plus `clock_skew` as the latest `createdDate` and
    `modifiedDate` accepted; naive dates are read in `time_zone`."""

    currency: str | None = None
    now: datetime | None = None
    clock_skew: timedelta = timedelta(minutes=5)
    time_zone: tzinfo = UTC


def _storable(record: Any, errors: list[str]) -> None:
    """Every value, known field or not: text storable, numbers finite and
    within the money columns, nesting at most MAX_DEPTH deep. Walks without
    recursion, so any depth the JSON parser let through is safe here."""
    stack: list[tuple[Any, str, int]] = [(record, "", 0)]
    while stack:
        value, where, depth = stack.pop()
        name = where or "the record"
        if isinstance(value, dict | list):
            if depth >= MAX_DEPTH:
                errors.append(f"{name} is nested more than {MAX_DEPTH} levels deep")
                continue
            items = value.items() if isinstance(value, dict) else enumerate(value)
            children = []
            for key, child in items:
                if isinstance(key, str):
                    problem = text_problem(key, MAX_ID)
                    if problem:
                        errors.append(f"a field name in {name} {problem}")
                        continue
                    path = f"{where}.{key}" if where else key
                else:
                    path = f"{where}[{key}]"
                children.append((child, path, depth + 1))
            stack.extend(reversed(children))
        elif isinstance(value, str):
            problem = text_problem(value)
            if problem:
                errors.append(f"{name} {problem}")
        elif isinstance(value, Decimal | float) or (
            isinstance(value, int) and not isinstance(value, bool)
        ):
            problem = number_problem(value)
            if problem:
                errors.append(f"{name} {problem}")


def _instant(text: str, time_zone: tzinfo) -> datetime:
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=time_zone)


def _agrees(kind: str, record: dict[str, Any], expect: Expectations, errors: list[str]) -> None:
    """The checks that need the merchant and the clock (see `Expectations`)."""
    if expect.currency and kind in ("order", "transaction"):
        currencies = [("currency", record.get("currency"))]
        for index, payment in enumerate(record.get("payments") or []):
            if isinstance(payment, dict) and payment.get("currency") is not None:
                currencies.append((f"payments[{index}].currency", payment["currency"]))
        for where, code in currencies:
            if code != expect.currency:
                errors.append(
                    f"{where} must be the company's currency {expect.currency} (it is {code})"
                )
    if expect.now is not None:
        latest = expect.now + expect.clock_skew
        for key in ("createdDate", "modifiedDate"):
            if isinstance(record.get(key), str) and (
                _instant(record[key], expect.time_zone) > latest
            ):
                errors.append(
                    f"{key} must not be in the future (it is {record[key]}; the server's "
                    f"time is {expect.now.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}, "
                    f"{int(expect.clock_skew.total_seconds())} s of clock difference allowed)"
                )


def record_problems(kind: str, record: Any, expect: Expectations | None = None) -> list[str]:
    """Plain-language problems with one record (each names the field, e.g.
    `payments[0].amount must be a finite number`); empty when the record
    can be stored and synced. `expect` adds the merchant's currency and the
    clock (see `Expectations`); without it only the record itself is judged."""
    errors: list[str] = []
    RULES[kind](record, "", errors)
    if not isinstance(record, dict):
        return errors
    _storable(record, errors)
    if expect is not None and not errors:
        _agrees(kind, record, expect, errors)
    unique = list(dict.fromkeys(errors))  # a NaN fails both the type and the storage check
    if len(unique) > MAX_PROBLEMS:
        return [*unique[:MAX_PROBLEMS], f"and {len(unique) - MAX_PROBLEMS} more problems"]
    return unique
