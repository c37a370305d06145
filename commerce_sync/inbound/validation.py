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
from datetime import datetime
from decimal import Decimal
from typing import Any

Check = Callable[[Any, str, list[str]], None]

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


def string(value: Any, where: str, errors: list[str]) -> None:
    if not isinstance(value, str):
        errors.append(f"{where} must be a string")


def number(value: Any, where: str, errors: list[str]) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, Decimal, float)):
        errors.append(f"{where} must be a number")
    elif not Decimal(str(value)).is_finite():
        errors.append(f"{where} must be a finite number")


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
        datetime.fromisoformat(value)
    except (TypeError, ValueError):
        errors.append(f"{where} must be an ISO 8601 date-time")


def currency(value: Any, where: str, errors: list[str]) -> None:
    if not (isinstance(value, str) and len(value) == 3 and value.isalpha()):
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


ref = obj({"id": string, "name": string}, required=("id",))
tax_allocation = obj(
    {
        "taxComponentRef": obj({"id": string, "name": string}, ("id", "name")),
        "rate": nullable_number,
    }
)
DATES = {"modifiedDate": date_time, "sourceModifiedDate": date_time}
RECORD = ("id", "modifiedDate")

ORDER = obj(
    {
        "id": string,
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
                    "id": string,
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
                    "id": string,
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
        "id": string,
        "totalAmount": number,
        "currency": currency,
        "type": one_of(TRANSACTION_TYPE),
        "subType": string,
        "transactionSourceRef": obj(
            {"id": string, "type": one_of(TRANSACTION_SOURCE_TYPE)}, ("id", "type")
        ),
        "createdDate": date_time,
        "sourceCreatedDate": date_time,
        **DATES,
    },
    required=(*RECORD, "createdDate", "currency", "totalAmount", "type"),
)

LOCATION = obj({"id": string, "name": string, "address": obj({}), **DATES}, RECORD)
PRODUCT = obj(
    {
        "id": string,
        "name": string,
        "description": string,
        "categorization": string,
        "isGiftCard": boolean,
        "variants": array(
            obj(
                {
                    "id": string,
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
        "id": string,
        "name": string,
        "ancestorRefs": array(obj({"id": string, "type": string}, ("id", "type"))),
        "hasChildren": boolean,
        **DATES,
    },
    RECORD,
)
TAX_COMPONENT = obj(
    {"id": string, "name": string, "rate": number, "isCompound": boolean, **DATES},
    (*RECORD, "name"),
)
PAYMENT_METHOD = obj(
    {"id": string, "name": string, "status": one_of(METHOD_STATUS), **DATES}, RECORD
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


def record_problems(kind: str, record: Any) -> list[str]:
    """Plain-language problems with one record; empty when it is acceptable."""
    errors: list[str] = []
    RULES[kind](record, "", errors)
    return errors
