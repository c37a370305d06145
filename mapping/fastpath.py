"""The fast path: reading well-formed Codat records without checking each field.

A day can hold hundreds of thousands of records. Well-formed ones (the
overwhelming majority) are read by the lean functions here; anything they do
not expect makes them give up (any exception), and the checked readers in
`mapping.parsing` read the record again and say precisely what is wrong. Both
give equal results for valid input (tests/mapping/test_parsing.py holds them
to that). Kept flat on purpose: no helper layers per field.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from mapping.canonical import (
    PAYMENT_STATUSES,
    PAYMENT_TYPES,
    SERVICE_CHARGE_TYPES,
    TRANSACTION_TYPES,
    ZERO,
    Order,
    OrderLine,
    OrderPayment,
    ServiceCharge,
    TaxPart,
    Transaction,
)


class _Unusual(Exception):
    """Something the fast path does not expect; the checked path will say what."""


_SMALL_INTS = {i: Decimal(i) for i in range(-1000, 1001)}
_STR, _DICT, _DEC, _INT = str, dict, Decimal, int


def _num(value: Any) -> Decimal:
    kind = type(value)
    if kind is _DEC:
        if value.is_finite() and value.adjusted() < 15:
            return value
    elif kind is _INT:
        small = _SMALL_INTS.get(value)
        if small is not None:
            return small
        if -(10**15) < value < 10**15:
            return Decimal(value)
    raise _Unusual


def _instant(value: Any, tz: ZoneInfo) -> datetime:
    if type(value) is not _STR:
        raise _Unusual
    parsed = datetime.fromisoformat(value)
    zone_info = parsed.tzinfo
    if zone_info is UTC:
        return parsed
    return (parsed if zone_info is not None else parsed.replace(tzinfo=tz)).astimezone(UTC)


def _fast_taxes(items: Any) -> tuple[TaxPart, ...]:
    parts = []
    for item in items:
        ref = item["taxComponentRef"]
        component = ref["id"]
        name = ref.get("name") or component
        if type(component) is not _STR or type(name) is not _STR:
            raise _Unusual
        parts.append(TaxPart(component, name, _num(item["rate"])))
    return tuple(parts)


def _fast_line(item: Any) -> OrderLine:
    if type(item) is not _DICT:
        raise _Unusual
    line_id = item["id"]
    product = item.get("productRef")
    product_id = None if product is None else product["id"]
    if type(line_id) is not _STR or not line_id:
        raise _Unusual
    if product_id is not None and (type(product_id) is not _STR or not product_id):
        raise _Unusual
    discount = ZERO
    allocations = item.get("discountAllocations")
    if allocations:
        for allocation in allocations:
            discount += _num(allocation["totalAmount"])
    percentage = item.get("taxPercentage")
    tax = item.get("totalTaxAmount")
    taxes = item.get("taxes")
    quantity = item.get("quantity")
    return OrderLine(
        line_id,
        product_id,
        ZERO if quantity is None else _num(quantity),
        None if percentage is None else _num(percentage),
        _num(item["totalAmount"]),
        ZERO if tax is None else _num(tax),
        discount,
        _fast_taxes(taxes) if taxes else (),
    )


def _fast_charge(item: Any) -> ServiceCharge:
    if type(item) is not _DICT:
        raise _Unusual
    kind = item.get("type") or "Generic"
    description = item.get("description") or kind
    if type(kind) is not _STR or kind not in SERVICE_CHARGE_TYPES or type(description) is not _STR:
        raise _Unusual
    tax, percentage, taxes = item.get("taxAmount"), item.get("taxPercentage"), item.get("taxes")
    return ServiceCharge(
        description,
        kind,
        _num(item["totalAmount"]),
        ZERO if tax is None else _num(tax),
        None if percentage is None else _num(percentage),
        _fast_taxes(taxes) if taxes else (),
    )


def _fast_payment(item: Any, currency: str) -> OrderPayment:
    payment_id, kind, status = item["id"], item["type"], item.get("status") or "Paid"
    paid_in = item.get("currency") or currency
    if (
        type(payment_id) is not _STR
        or not payment_id
        or kind not in PAYMENT_TYPES
        or status not in PAYMENT_STATUSES
        or paid_in != currency
    ):
        raise _Unusual  # including another currency: the checked path normalises it
    return OrderPayment(payment_id, kind, _num(item["amount"]), currency, status)


def fast_order(record: Any, tz: ZoneInfo) -> Order:
    """A well-formed Codat order dict; raises (anything) on the unexpected."""
    if type(record) is not _DICT:
        raise _Unusual
    order_id, currency = record["id"], record["currency"]
    if type(order_id) is not _STR or not order_id or type(currency) is not _STR:
        raise _Unusual
    if len(currency) != 3 or not currency.isalpha() or not currency.isupper():
        raise _Unusual
    modified = record.get("modifiedDate")
    location = record.get("locationRef")
    location_id = None if location is None else location["id"]
    if location_id is not None and (type(location_id) is not _STR or not location_id):
        raise _Unusual
    tax, gratuity = record.get("totalTaxAmount"), record.get("totalGratuity")
    charges = record.get("serviceCharges")
    return Order(
        order_id,
        currency,
        _instant(record["createdDate"], tz),
        None if modified is None else _instant(modified, tz),
        location_id,
        _num(record["totalAmount"]),
        ZERO if tax is None else _num(tax),
        ZERO if gratuity is None else _num(gratuity),
        tuple([_fast_line(item) for item in record.get("orderLineItems") or ()]),
        tuple([_fast_charge(item) for item in charges]) if charges else (),
        tuple([_fast_payment(item, currency) for item in record.get("payments") or ()]),
    )


def fast_transaction(record: Any, tz: ZoneInfo) -> Transaction:
    """A well-formed Codat transaction dict; raises (anything) on the unexpected."""
    if type(record) is not _DICT:
        raise _Unusual
    tx_id, kind, currency = record["id"], record["type"], record["currency"]
    if type(tx_id) is not _STR or not tx_id or kind not in TRANSACTION_TYPES:
        raise _Unusual
    if (
        type(currency) is not _STR
        or len(currency) != 3
        or not currency.isalpha()
        or not currency.isupper()
    ):
        raise _Unusual
    source = record.get("transactionSourceRef")
    source_id = source_type = None
    if source is not None:
        source_id, source_type = source.get("id"), source.get("type")
        if source_id is not None and type(source_id) is not _STR:
            raise _Unusual
        if source_type is not None and type(source_type) is not _STR:
            raise _Unusual
        source_type = source_type or None
    sub_type = record.get("subType")
    if sub_type is not None and type(sub_type) is not _STR:
        raise _Unusual
    modified = record.get("modifiedDate")
    return Transaction(
        tx_id,
        kind,
        currency,
        _num(record["totalAmount"]),
        _instant(record["createdDate"], tz),
        None if modified is None else _instant(modified, tz),
        source_id,
        source_type,
        sub_type or None,
    )
