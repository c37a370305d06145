"""Reading Codat-shaped JSON into the canonical model, checking every field.

`parse_commerce` turns a `commerce` object (dicts, amounts as Decimal, int,
numeric strings or floats parsed from JSON) into `CommerceData` and refuses
bad input with a MappingError whose messages name the record and the field.
Orders and transactions try `mapping.fastpath` first and fall back on the
checked readers here when it gives up.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from mapping.bulk import gc_paused
from mapping.canonical import (
    PAYMENT_STATUSES,
    PAYMENT_TYPES,
    SERVICE_CHARGE_TYPES,
    TRANSACTION_TYPES,
    ZERO,
    CommerceData,
    Order,
    OrderLine,
    OrderPayment,
    Product,
    ServiceCharge,
    TaxComponent,
    Transaction,
)
from mapping.errors import Issue, MappingError
from mapping.errors import shown as json_repr
from mapping.fastpath import fast_order, fast_transaction
from mapping.fields import (
    BadField,
    amount,
    choice,
    currency_code,
    list_field,
    optional_amount,
    optional_instant,
    optional_text,
    parse_instant,
    ref_id,
    tax_parts,
    text,
)


def _line(item: Any, index: int) -> OrderLine:
    where = f"orderLineItems[{index}]."
    if not isinstance(item, Mapping):
        raise BadField(f"orderLineItems[{index}] must be an object")
    try:
        discounts = ZERO
        for allocation in list_field(item, "discountAllocations"):
            if not isinstance(allocation, Mapping):
                raise BadField("discountAllocations entries must be objects")
            discounts += amount(allocation.get("totalAmount"), "discountAllocations.totalAmount")
        percentage = item.get("taxPercentage")
        return OrderLine(
            id=optional_text(item, "id") or str(index),
            product_id=ref_id(item, "productRef"),
            quantity=optional_amount(item, "quantity"),
            tax_percentage=None if percentage is None else amount(percentage, "taxPercentage"),
            total=amount(item.get("totalAmount"), "totalAmount"),
            tax=optional_amount(item, "totalTaxAmount"),
            discount=discounts,
            taxes=tax_parts(item.get("taxes"), "", item.get("totalTaxAmount")),
        )
    except BadField as bad:
        raise BadField(where + str(bad)) from None


def _service_charge(item: Any, index: int) -> ServiceCharge:
    where = f"serviceCharges[{index}]."
    if not isinstance(item, Mapping):
        raise BadField(f"serviceCharges[{index}] must be an object")
    try:
        percentage = item.get("taxPercentage")
        kind = item.get("type") or "Generic"
        if not isinstance(kind, str) or kind not in SERVICE_CHARGE_TYPES:
            raise BadField(
                f"type {json_repr(kind)} is not one of {', '.join(sorted(SERVICE_CHARGE_TYPES))}"
            )
        return ServiceCharge(
            description=str(item.get("description") or kind),
            type=kind,
            total=amount(item.get("totalAmount"), "totalAmount"),
            tax=optional_amount(item, "taxAmount"),
            tax_percentage=None if percentage is None else amount(percentage, "taxPercentage"),
            taxes=tax_parts(item.get("taxes"), "", item.get("taxAmount")),
        )
    except BadField as bad:
        raise BadField(where + str(bad)) from None


def _payment(item: Any, index: int, order_currency: str) -> OrderPayment:
    where = f"payments[{index}]."
    if not isinstance(item, Mapping):
        raise BadField(f"payments[{index}] must be an object")
    try:
        return OrderPayment(
            id=text(item, "id"),
            type=choice(item, "type", PAYMENT_TYPES),
            amount=amount(item.get("amount"), "amount"),
            currency=currency_code(item) if item.get("currency") else order_currency,
            status=choice(item, "status", PAYMENT_STATUSES) if item.get("status") else "Paid",
        )
    except BadField as bad:
        raise BadField(where + str(bad)) from None


def parse_order_checked(record: Any, tz: ZoneInfo) -> Order:
    """One Codat order, every field checked; BadField names the first bad one."""
    if not isinstance(record, Mapping):
        raise BadField("must be an object")
    currency = currency_code(record)
    return Order(
        id=text(record, "id"),
        currency=currency,
        created=parse_instant(record.get("createdDate"), tz),
        modified=optional_instant(record, "modifiedDate", tz),
        location_id=ref_id(record, "locationRef"),
        total=amount(record.get("totalAmount"), "totalAmount"),
        total_tax=optional_amount(record, "totalTaxAmount"),
        gratuity=optional_amount(record, "totalGratuity"),
        lines=tuple(_line(item, i) for i, item in enumerate(list_field(record, "orderLineItems"))),
        service_charges=tuple(
            _service_charge(item, i) for i, item in enumerate(list_field(record, "serviceCharges"))
        ),
        payments=tuple(
            _payment(item, i, currency) for i, item in enumerate(list_field(record, "payments"))
        ),
    )


def parse_transaction_checked(record: Any, tz: ZoneInfo) -> Transaction:
    """One Codat transaction, every field checked; BadField names the first bad one."""
    if not isinstance(record, Mapping):
        raise BadField("must be an object")
    source = record.get("transactionSourceRef")
    if source is not None and not isinstance(source, Mapping):
        raise BadField("transactionSourceRef must be an object")
    source = source or {}
    return Transaction(
        id=text(record, "id"),
        type=choice(record, "type", TRANSACTION_TYPES),
        currency=currency_code(record),
        total=amount(record.get("totalAmount"), "totalAmount"),
        created=parse_instant(record.get("createdDate"), tz),
        modified=optional_instant(record, "modifiedDate", tz),
        source_id=None if source.get("id") is None else str(source["id"]),
        source_type=_source_type(source.get("type")),
        sub_type=_sub_type(record.get("subType")),
    )


def _sub_type(value: Any) -> str | None:
    """A transaction's `subType` (free text from the source) or None."""
    if value is None or isinstance(value, str):
        return value or None
    raise BadField(f"subType must be a string, got {json_repr(value)}")


def _source_type(value: Any) -> str | None:
    """A `transactionSourceRef.type` (Payment, Order, Payout, ...) or None."""
    if value is None or isinstance(value, str):
        return value or None
    raise BadField(f"transactionSourceRef.type must be a string, got {json_repr(value)}")


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
        except BadField as bad:
            issues.append(Issue(code, f"{_record_label(kind, index, record)}: {bad}"))


def _product(record: Any) -> Product:
    if not isinstance(record, Mapping):
        raise BadField("must be an object")
    gift = record.get("isGiftCard", False)
    if not isinstance(gift, bool):
        raise BadField(f"isGiftCard must be true or false, got {json_repr(gift)}")
    return Product(
        id=text(record, "id"),
        name=str(record.get("name") or record.get("id")),
        is_gift_card=gift,
        category_id=ref_id(record, "productCategoryRef"),
    )


def _tax_component(record: Any) -> TaxComponent:
    if not isinstance(record, Mapping):
        raise BadField("must be an object")
    rate = record.get("rate")
    return TaxComponent(
        id=text(record, "id"),
        name=str(record.get("name") or record.get("id")),
        rate=None if rate is None else amount(rate, "rate"),
    )


def _named(record: Any) -> tuple[str, str]:
    if not isinstance(record, Mapping):
        raise BadField("must be an object")
    rid = text(record, "id")
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
    """The same record twice in one feed: see `one_copy_each`."""
    for kind in ("orders", "transactions"):
        kept, notes, refused = one_copy_each(kind, getattr(data, kind), lambda r: r)
        setattr(data, kind, kept)
        data.notes.extend(notes)
        issues.extend(refused)


X = TypeVar("X")


def one_copy_each(
    kind: str, items: Iterable[X], record_of: Callable[[X], Order | Transaction]
) -> tuple[list[X], list[Issue], list[Issue]]:
    """One item per record id, in first-seen order: `(kept, warnings, errors)`.

    A source may send a record twice in one feed (pages overlapping while it
    changes). Identical copies are one record (a DuplicateRecord warning);
    copies that differ keep the one with the newest `modifiedDate` (a
    warning); copies that differ with the same `modifiedDate` (or none)
    cannot be told apart, and are refused (a DuplicateRecord error naming
    the id). `kind` ("orders") names them in messages; `record_of` gives an
    item's parsed record."""
    kept: dict[str, X] = {}
    copies: dict[str, int] = {}
    errors: list[Issue] = []
    for item in items:
        record = record_of(item)
        seen = kept.get(record.id)
        if seen is None:
            kept[record.id] = item
            continue
        copies[record.id] = copies.get(record.id, 1) + 1
        other = record_of(seen)
        if other == record:
            continue
        new, old = record.modified, other.modified
        if new is not None and (old is None or new > old):
            kept[record.id] = item
        elif new is None or old is None or new == old:
            errors.append(
                Issue(
                    "DuplicateRecord",
                    f"{kind}: id {record.id} appears twice with different content and the same "
                    "modifiedDate, so which copy is current cannot be told; correct it at the source",
                )
            )
    warnings = [
        Issue(
            "DuplicateRecord",
            f"{kind}: id {rid} was sent {count} times; the newest copy is posted, once",
        )
        for rid, count in copies.items()
    ]
    return list(kept.values()), warnings, errors


def parse_record(kind: str, record: Any, tz: ZoneInfo) -> Order | Transaction:
    """One stored order or transaction, or a MappingError naming it."""
    try:
        return parse_order(record, tz) if kind == "order" else parse_transaction(record, tz)
    except BadField as bad:
        raise MappingError(
            [Issue("InvalidCommerceData", f"{_record_label(kind, 0, record)}: {bad}")]
        ) from None


def parse_reference(data: Mapping[str, Any], tz: ZoneInfo) -> CommerceData:
    """The reference lists of a `commerce` object (no orders or transactions)."""
    return parse_commerce(
        {k: v for k, v in data.items() if k not in ("orders", "transactions")}, tz
    )


def parse_order(record: Any, tz: ZoneInfo) -> Order:
    """One Codat order: the fast path, else the checked one (BadField if bad)."""
    try:
        return fast_order(record, tz)
    except Exception:  # anything unexpected: read it again, checking every field
        return parse_order_checked(record, tz)


def parse_transaction(record: Any, tz: ZoneInfo) -> Transaction:
    """One Codat transaction: the fast path, else the checked one (BadField if bad)."""
    try:
        return fast_transaction(record, tz)
    except Exception:  # anything unexpected: read it again, checking every field
        return parse_transaction_checked(record, tz)


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
            except BadField as bad:
                raise MappingError(
                    [Issue("InvalidCommerceData", f"{_record_label(kind, index, record)}: {bad}")]
                ) from None

    reference.orders = stream("orders", parse_order)
    reference.transactions = stream("transactions", parse_transaction)
    return reference
