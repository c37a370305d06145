"""The canonical commerce model: the Codat Commerce records the engine reads.

`parse_commerce` turns Codat-shaped JSON (dicts, amounts as Decimal, int,
numeric strings or floats parsed from JSON) into these dataclasses, and
refuses bad input with messages that name the record and the field.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from mapping.bulk import gc_paused
from mapping.errors import Issue, MappingError
from mapping.errors import shown as json_repr

ZERO = Decimal(0)
PAYMENT_TYPES = frozenset(
    [
        "Cash",
        "Card",
        "Invoice",
        "OnlineCard",
        "Swish",
        "Vipps",
        "Mobile",
        "StoreCredit",
        "Paypal",
        "Custom",
        "Prepaid",
        "Unknown",
    ]
)
PAYMENT_STATUSES = frozenset(["Pending", "Authorized", "Paid", "Failed", "Cancelled", "Unknown"])
TRANSACTION_TYPES = frozenset(
    [
        "Payment",
        "Refund",
        "Payout",
        "FailedPayout",
        "Transfer",
        "PaymentFee",
        "PaymentFeeRefund",
        "Unknown",
    ]
)
SERVICE_CHARGE_TYPES = frozenset(["Generic", "Shipping", "Overpayment", "Unknown"])
_MAX_AMOUNT = Decimal("1e15")


@dataclass(slots=True)
class TaxPart:
    """One tax component's amount on a line (Codat names the amount `rate`)."""

    component_id: str | None
    name: str
    amount: Decimal


@dataclass(slots=True)
class OrderLine:
    id: str
    product_id: str | None
    quantity: Decimal
    tax_percentage: Decimal | None
    total: Decimal  # includes discount and tax
    tax: Decimal
    discount: Decimal  # sum of discount allocations, as the source signs them
    taxes: tuple[TaxPart, ...] = ()

    @property
    def net(self) -> Decimal:
        return self.total - self.tax


@dataclass(slots=True)
class ServiceCharge:
    description: str
    type: str
    total: Decimal  # includes tax
    tax: Decimal
    tax_percentage: Decimal | None
    taxes: tuple[TaxPart, ...] = ()

    @property
    def net(self) -> Decimal:
        return self.total - self.tax


@dataclass(slots=True)
class OrderPayment:
    id: str
    type: str
    amount: Decimal
    currency: str
    status: str


@dataclass(slots=True)
class Order:
    id: str
    currency: str
    created: datetime
    modified: datetime | None
    location_id: str | None
    total: Decimal
    total_tax: Decimal
    gratuity: Decimal
    lines: tuple[OrderLine, ...]
    service_charges: tuple[ServiceCharge, ...]
    payments: tuple[OrderPayment, ...]


@dataclass(slots=True)
class Transaction:
    id: str
    type: str
    currency: str
    total: Decimal
    created: datetime
    modified: datetime | None
    source_id: str | None
    source_type: str | None


@dataclass(slots=True)
class Product:
    id: str
    name: str
    is_gift_card: bool
    category_id: str | None


@dataclass(slots=True)
class TaxComponent:
    id: str
    name: str
    rate: Decimal | None


@dataclass(slots=True)
class CommerceData:
    """A period's records. Orders and transactions may be lists or streams
    (see `stream_commerce`); the engine reads each once, orders first."""

    orders: Iterable[Order] = field(default_factory=list)
    transactions: Iterable[Transaction] = field(default_factory=list)
    products: dict[str, Product] = field(default_factory=dict)
    tax_components: dict[str, TaxComponent] = field(default_factory=dict)
    locations: dict[str, str] = field(default_factory=dict)
    categories: dict[str, str] = field(default_factory=dict)


class _Bad(Exception):
    """A field-level problem; the record parser adds where it happened."""


def amount(value: Any, name: str) -> Decimal:
    """A money or quantity value from JSON, as an exact Decimal."""
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, bool) or value is None:
        raise _Bad(f"{name} must be a number, got {json_repr(value)}")
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, float):
        result = Decimal(repr(value))  # the shortest text that reads back as this float
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            raise _Bad(f"{name} must be a number, got {json_repr(value)}") from None
    else:
        raise _Bad(f"{name} must be a number, got {json_repr(value)}")
    if not result.is_finite() or abs(result) >= _MAX_AMOUNT:
        raise _Bad(f"{name} must be a finite amount below 10^15, got {json_repr(value)}")
    return result


def _opt_amount(record: Mapping[str, Any], key: str) -> Decimal:
    value = record.get(key)
    return ZERO if value is None else amount(value, key)


def _text(record: Mapping[str, Any], key: str, *, required: bool = True) -> str | None:
    value = record.get(key)
    if value is None or value == "":
        if required:
            raise _Bad(f"{key} is missing")
        return None
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        raise _Bad(f"{key} must be a string, got {json_repr(value)}")
    return str(value)


def _ref_id(record: Mapping[str, Any], key: str) -> str | None:
    ref = record.get(key)
    if ref is None:
        return None
    if not isinstance(ref, Mapping):
        raise _Bad(f"{key} must be an object with an id, got {json_repr(ref)}")
    return _text(ref, "id", required=False)


def _enum(record: Mapping[str, Any], key: str, allowed: frozenset[str]) -> str:
    value = _text(record, key)
    if value not in allowed:
        raise _Bad(f"{key} {json_repr(value)} is not one of {', '.join(sorted(allowed))}")
    return value


def _currency(record: Mapping[str, Any], key: str = "currency") -> str:
    value = _text(record, key)
    if len(value) != 3 or not value.isalpha():
        raise _Bad(f"{key} must be an ISO 4217 code such as GBP, got {json_repr(value)}")
    return value.upper()


def parse_instant(value: Any, tz: ZoneInfo, name: str = "createdDate") -> datetime:
    """An ISO 8601 datetime; without an offset it is local to the merchant."""
    if not isinstance(value, str):
        raise _Bad(f"{name} must be an ISO 8601 date-time string, got {json_repr(value)}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise _Bad(f"{name} is not an ISO 8601 date-time: {json_repr(value)}") from None
    # In UTC, so that comparisons and differences are exact on DST days.
    try:
        return (parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=tz)).astimezone(UTC)
    except OverflowError:
        raise _Bad(f"{name} {json_repr(value)} is out of range") from None


def _optional_instant(record: Mapping[str, Any], key: str, tz: ZoneInfo) -> datetime | None:
    value = record.get(key)
    return None if value is None else parse_instant(value, tz, key)


def _taxes(items: Any, where: str) -> tuple[TaxPart, ...]:
    if not items:
        return ()
    if not isinstance(items, list):
        raise _Bad(f"{where}taxes must be a list")
    parts = []
    for index, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise _Bad(f"{where}taxes[{index}] must be an object")
        ref = item.get("taxComponentRef") or {}
        if not isinstance(ref, Mapping):
            raise _Bad(f"{where}taxes[{index}].taxComponentRef must be an object")
        component = ref.get("id")
        name = ref.get("name") or component or "tax"
        parts.append(
            TaxPart(
                None if component is None else str(component),
                str(name),
                amount(item.get("rate"), f"{where}taxes[{index}].rate"),
            )
        )
    return tuple(parts)


def _list(record: Mapping[str, Any], key: str) -> list[Any]:
    value = record.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise _Bad(f"{key} must be a list, got {json_repr(value)}")
    return value


def _line(item: Any, index: int) -> OrderLine:
    where = f"orderLineItems[{index}]."
    if not isinstance(item, Mapping):
        raise _Bad(f"orderLineItems[{index}] must be an object")
    try:
        discounts = ZERO
        for allocation in _list(item, "discountAllocations"):
            if not isinstance(allocation, Mapping):
                raise _Bad("discountAllocations entries must be objects")
            discounts += amount(allocation.get("totalAmount"), "discountAllocations.totalAmount")
        percentage = item.get("taxPercentage")
        return OrderLine(
            id=_text(item, "id", required=False) or str(index),
            product_id=_ref_id(item, "productRef"),
            quantity=_opt_amount(item, "quantity"),
            tax_percentage=None if percentage is None else amount(percentage, "taxPercentage"),
            total=amount(item.get("totalAmount"), "totalAmount"),
            tax=_opt_amount(item, "totalTaxAmount"),
            discount=discounts,
            taxes=_taxes(item.get("taxes"), ""),
        )
    except _Bad as bad:
        raise _Bad(where + str(bad)) from None


def _service_charge(item: Any, index: int) -> ServiceCharge:
    where = f"serviceCharges[{index}]."
    if not isinstance(item, Mapping):
        raise _Bad(f"serviceCharges[{index}] must be an object")
    try:
        percentage = item.get("taxPercentage")
        kind = item.get("type") or "Generic"
        if not isinstance(kind, str) or kind not in SERVICE_CHARGE_TYPES:
            raise _Bad(
                f"type {json_repr(kind)} is not one of {', '.join(sorted(SERVICE_CHARGE_TYPES))}"
            )
        return ServiceCharge(
            description=str(item.get("description") or kind),
            type=kind,
            total=amount(item.get("totalAmount"), "totalAmount"),
            tax=_opt_amount(item, "taxAmount"),
            tax_percentage=None if percentage is None else amount(percentage, "taxPercentage"),
            taxes=_taxes(item.get("taxes"), ""),
        )
    except _Bad as bad:
        raise _Bad(where + str(bad)) from None


def _payment(item: Any, index: int, order_currency: str) -> OrderPayment:
    where = f"payments[{index}]."
    if not isinstance(item, Mapping):
        raise _Bad(f"payments[{index}] must be an object")
    try:
        return OrderPayment(
            id=_text(item, "id"),
            type=_enum(item, "type", PAYMENT_TYPES),
            amount=amount(item.get("amount"), "amount"),
            currency=_currency(item) if item.get("currency") else order_currency,
            status=_enum(item, "status", PAYMENT_STATUSES) if item.get("status") else "Paid",
        )
    except _Bad as bad:
        raise _Bad(where + str(bad)) from None


def _parse_order_checked(record: Any, tz: ZoneInfo) -> Order:
    if not isinstance(record, Mapping):
        raise _Bad("must be an object")
    currency = _currency(record)
    return Order(
        id=_text(record, "id"),
        currency=currency,
        created=parse_instant(record.get("createdDate"), tz),
        modified=_optional_instant(record, "modifiedDate", tz),
        location_id=_ref_id(record, "locationRef"),
        total=amount(record.get("totalAmount"), "totalAmount"),
        total_tax=_opt_amount(record, "totalTaxAmount"),
        gratuity=_opt_amount(record, "totalGratuity"),
        lines=tuple(_line(item, i) for i, item in enumerate(_list(record, "orderLineItems"))),
        service_charges=tuple(
            _service_charge(item, i) for i, item in enumerate(_list(record, "serviceCharges"))
        ),
        payments=tuple(
            _payment(item, i, currency) for i, item in enumerate(_list(record, "payments"))
        ),
    )


def _parse_transaction_checked(record: Any, tz: ZoneInfo) -> Transaction:
    if not isinstance(record, Mapping):
        raise _Bad("must be an object")
    source = record.get("transactionSourceRef")
    if source is not None and not isinstance(source, Mapping):
        raise _Bad("transactionSourceRef must be an object")
    source = source or {}
    return Transaction(
        id=_text(record, "id"),
        type=_enum(record, "type", TRANSACTION_TYPES),
        currency=_currency(record),
        total=amount(record.get("totalAmount"), "totalAmount"),
        created=parse_instant(record.get("createdDate"), tz),
        modified=_optional_instant(record, "modifiedDate", tz),
        source_id=None if source.get("id") is None else str(source["id"]),
        source_type=source.get("type"),
    )


def _record_label(kind: str, index: int, record: Any) -> str:
    rid = record.get("id") if isinstance(record, Mapping) else None
    return f"{kind}[{index}]" + (f" (id {rid})" if rid is not None else "")


def _parse_all(
    kind: str, records: Any, parse: Any, issues: list[Issue], code: str
) -> Iterable[Any]:
    if records is None:
        return
    if not isinstance(records, list):
        issues.append(Issue(code, f"commerce.{kind} must be a list"))
        return
    for index, record in enumerate(records):
        try:
            yield parse(record)
        except _Bad as bad:
            issues.append(Issue(code, f"{_record_label(kind, index, record)}: {bad}"))


def _product(record: Any) -> Product:
    if not isinstance(record, Mapping):
        raise _Bad("must be an object")
    gift = record.get("isGiftCard", False)
    if not isinstance(gift, bool):
        raise _Bad(f"isGiftCard must be true or false, got {json_repr(gift)}")
    return Product(
        id=_text(record, "id"),
        name=str(record.get("name") or record.get("id")),
        is_gift_card=gift,
        category_id=_ref_id(record, "productCategoryRef"),
    )


def _tax_component(record: Any) -> TaxComponent:
    if not isinstance(record, Mapping):
        raise _Bad("must be an object")
    rate = record.get("rate")
    return TaxComponent(
        id=_text(record, "id"),
        name=str(record.get("name") or record.get("id")),
        rate=None if rate is None else amount(rate, "rate"),
    )


def _named(record: Any) -> tuple[str, str]:
    if not isinstance(record, Mapping):
        raise _Bad("must be an object")
    rid = _text(record, "id")
    return rid, str(record.get("name") or rid)


def parse_commerce(data: Any, tz: ZoneInfo) -> CommerceData:
    """Every record of a `commerce` object, or a MappingError naming each bad one."""
    with gc_paused():
        return _parse_commerce(data, tz)


def _parse_commerce(data: Any, tz: ZoneInfo) -> CommerceData:
    if not isinstance(data, Mapping):
        raise MappingError([Issue("InvalidCommerceData", "commerce must be an object")])
    issues: list[Issue] = []
    code = "InvalidCommerceData"
    result = CommerceData(
        orders=list(
            _parse_all("orders", data.get("orders"), lambda r: parse_order(r, tz), issues, code)
        ),
        transactions=list(
            _parse_all(
                "transactions",
                data.get("transactions"),
                lambda r: parse_transaction(r, tz),
                issues,
                code,
            )
        ),
        products={
            p.id: p for p in _parse_all("products", data.get("products"), _product, issues, code)
        },
        tax_components={
            t.id: t
            for t in _parse_all(
                "taxComponents", data.get("taxComponents"), _tax_component, issues, code
            )
        },
        locations=dict(_parse_all("locations", data.get("locations"), _named, issues, code)),
        categories=dict(
            _parse_all("productCategories", data.get("productCategories"), _named, issues, code)
        ),
    )
    _check_unique(result, issues)
    if issues:
        raise MappingError(issues)
    return result


def _check_unique(data: CommerceData, issues: list[Issue]) -> None:
    for kind, records in (("orders", data.orders), ("transactions", data.transactions)):
        seen: set[str] = set()
        for record in records:
            if record.id in seen:
                issues.append(
                    Issue(
                        "DuplicateRecord",
                        f"{kind}: id {record.id} appears twice; each record must be sent once",
                    )
                )
            seen.add(record.id)


def parse_record(kind: str, record: Any, tz: ZoneInfo) -> Order | Transaction:
    """One stored order or transaction, or a MappingError naming it."""
    try:
        return parse_order(record, tz) if kind == "order" else parse_transaction(record, tz)
    except _Bad as bad:
        raise MappingError(
            [Issue("InvalidCommerceData", f"{_record_label(kind, 0, record)}: {bad}")]
        ) from None


def parse_reference(data: Mapping[str, Any], tz: ZoneInfo) -> CommerceData:
    """The reference lists of a `commerce` object (no orders or transactions)."""
    return parse_commerce(
        {k: v for k, v in data.items() if k not in ("orders", "transactions")}, tz
    )


# -- the fast path ---------------------------------------------------------
# A day can hold hundreds of thousands of records. Well-formed ones (the
# overwhelming majority) are read by the lean functions below; anything they
# do not expect makes them give up, and the checked functions above read the
# record again and say precisely what is wrong. Both give equal results for
# valid input (a test holds them to that).


class _Unusual(Exception):
    pass


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


def _fast_order(record: Any, tz: ZoneInfo) -> Order:
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


def _fast_transaction(record: Any, tz: ZoneInfo) -> Transaction:
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
    )


def parse_order(record: Any, tz: ZoneInfo) -> Order:
    try:
        return _fast_order(record, tz)
    except Exception:  # anything unexpected: read it again, checking every field
        return _parse_order_checked(record, tz)


def parse_transaction(record: Any, tz: ZoneInfo) -> Transaction:
    try:
        return _fast_transaction(record, tz)
    except Exception:  # anything unexpected: read it again, checking every field
        return _parse_transaction_checked(record, tz)


def stream_commerce(data: Any, tz: ZoneInfo) -> CommerceData:
    """Like `parse_commerce`, but orders and transactions are parsed as the
    engine reads them, so a huge day never holds its canonical records at
    once. The first bad record stops the stream with a MappingError."""
    if not isinstance(data, Mapping):
        raise MappingError([Issue("InvalidCommerceData", "commerce must be an object")])
    reference = parse_commerce(
        {k: v for k, v in data.items() if k not in ("orders", "transactions")}, tz
    )

    def stream(kind: str, parse: Any) -> Iterator[Any]:
        records = data.get(kind) or []
        if not isinstance(records, list):
            raise MappingError([Issue("InvalidCommerceData", f"commerce.{kind} must be a list")])
        for index, record in enumerate(records):
            try:
                yield parse(record, tz)
            except _Bad as bad:
                raise MappingError(
                    [Issue("InvalidCommerceData", f"{_record_label(kind, index, record)}: {bad}")]
                ) from None

    reference.orders = stream("orders", parse_order)
    reference.transactions = stream("transactions", parse_transaction)
    return reference
