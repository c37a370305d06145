"""Our documents as FreeAgent API v2 requests, and FreeAgent's rows as our
options. Pure: no calls; what must be looked up comes in as `Books`.

Accounts. A category is named by its nominal code ("001", "285"); a bank
account by "bank:<id>" (its id in FreeAgent's URL), since FreeAgent keeps
bank accounts apart from categories. Resources refer to each other by URL,
built from the API root (`Books.url`).

Where each kind goes (field names from the Postman collection's example
bodies; those it lacks are listed in the double with FreeAgent's page):

* journalEntry -> a journal set (POST /journal_sets), tagged `TAG`, its
  entries' `debit_value` = our netAmount (debit +, credit -). Journal sets
  take categories only: a line on a bank account (a payout) goes to the
  connection's transit category, and an explanation on the bank account
  moves it from there.
* invoice / creditNote -> POST /invoices, /credit_notes with items (price
  net, quantity 1, category, sales_tax_rate), then the mark_as_sent
  transition unless the document is a draft. A credit note's items are
  negative, as FreeAgent keeps them. FreeAgent works each item's tax out
  itself and takes no tax amount on an item; where the till rounded VAT
  differently (per sale), a labelled pair of "VAT rounding" items makes
  FreeAgent's VAT, net and total the source's to the penny
  (`rounding_items`).
* bill -> POST /bills, one category and total when its lines share one,
  else `bill_items`; the source's tax as `manual_sales_tax_amount` where
  FreeAgent's working from the gross would differ.
* payment / billPayment / deposit / transfer on a bank account -> bank
  transaction explanations (POST /bank_transaction_explanations with
  `bank_account`, which creates the manual bank transaction): `paid_invoice`
  (an invoice, or a credit note for a refund), `paid_bill`,
  `transfer_bank_account`, or a `category` (a deposit line's with its tax
  stated, else FreeAgent would apply the category's default rate). The same movement on a category
  (e.g. gift cards as a liability) is a journal set against the debtors or
  creditors control category, since an explanation needs a bank account;
  the invoice or bill it settles then stays open in FreeAgent for that part
  (the run says so: `FreeAgentTarget.advisories`).

Currency: invoices, credit notes and bills carry `currency` (FreeAgent
converts them); journal sets and explanations have none in the collection's
bodies (the company's, or the bank account's, currency), so
`FreeAgentTarget` refuses those documents in any currency but the company's
(explanations on a bank account kept in that currency would be right, but
the collection shows no bank account currency to check: refused too).

The push key. FreeAgent has no idempotency key; each document carries ours
in text FreeAgent keeps and lists back: "[key]" at the end of a journal
set's or an explanation's description, of an invoice's or credit note's
comments, and a bill's reference (`bill_reference`, a digest when the key is
longer than FreeAgent's reference). A document written as several
explanations carries "[key#n]" on its n-th part.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Protocol

from commerce_sync.errors import DocumentRejected
from connectors.protocols import AccountOption, TaxRateOption

TAG = "COMMERCESYNC"  # on every journal set we write; FreeAgent lists by it
BANK_PREFIX = "bank:"
REFERENCE_MAX = 30
# Tax "rates" that are statuses, not percentages (sales_tax_status).
TAX_STATUSES = ("EXEMPT", "OUT_OF_SCOPE")
# FreeAgent's category groups (GET /categories answers one list per group)
# as our account types; general (balance sheet) categories by nominal code.
GROUP_TYPES = {
    "income_categories": "Income",
    "cost_of_sales_categories": "Expense",
    "admin_expenses_categories": "Expense",
}
# The category_group a created category of each of our types gets
# (POST /categories, collection example "category_group": "admin_expenses").
NEW_CATEGORY_GROUPS = {
    "Income": "income",
    "Expense": "admin_expenses",
    "Asset": "current_assets",
    "Liability": "liabilities",
    "Equity": "equity",
}
CENT = Decimal("0.01")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class Books(Protocol):
    """What the translation needs from the company."""

    debtors_category: str
    creditors_category: str
    transit_category: str | None

    def url(self, collection: str, resource_id: str) -> str: ...

    def linked_url(self, link_type: str, key: str) -> str: ...


@dataclass(frozen=True)
class Write:
    """One request that writes (part of) a document: POST `path` with
    `body`; `marker` is the text that finds it again; `transition` the
    state change to PUT after it (invoices and credit notes)."""

    kind: str  # "journal_set", "invoice", "credit_note", "bill", "explanation"
    path: str
    body: dict[str, Any]
    marker: str
    bank: str | None = None  # the bank account id of an explanation
    transition: str | None = None


def is_bank(account_id: str) -> bool:
    return str(account_id).startswith(BANK_PREFIX)


def bank_id(account_id: str) -> str:
    return str(account_id)[len(BANK_PREFIX) :]


def money(value: Any) -> str:
    """A decimal string as FreeAgent writes money ("-123.45")."""
    return str(Decimal(str(value)).quantize(CENT))


def key_marker(key: str) -> str:
    return f"[{key}]"


def bill_reference(key: str) -> str:
    """The bill reference carrying `key`: the key itself when short enough,
    else "CS-" and a stable digest of it."""
    if len(key) <= REFERENCE_MAX:
        return key
    return "CS-" + hashlib.sha256(key.encode()).hexdigest()[: REFERENCE_MAX - 3]


def key_date(key: str) -> str | None:
    """The business day a sync key names (keys embed it), as a hint for lookups."""
    found = _DATE.search(key)
    return found.group(0) if found else None


# -- FreeAgent's rows as our options -------------------------------------------------


def general_type(nominal_code: str) -> str:
    """A balance-sheet category's type from its nominal code (FreeAgent's
    chart: 6xx assets, 7xx-8xx liabilities, 9xx equity)."""
    head = str(nominal_code)[:1]
    return {"6": "Asset", "7": "Liability", "8": "Liability", "9": "Equity"}.get(head, "Asset")


def category_options(answer: dict[str, Any]) -> list[AccountOption]:
    """The categories of GET /categories, each by nominal code."""
    options = []
    for group, rows in answer.items():
        for row in rows or []:
            code = str(row.get("nominal_code") or "")
            kind = GROUP_TYPES.get(group) or general_type(code)
            options.append(
                AccountOption(id=code, name=str(row.get("description", code)), type=kind)
            )
    return sorted(options, key=lambda option: option.id)


def bank_option(row: dict[str, Any]) -> AccountOption:
    """A bank account of GET /bank_accounts, as "bank:<id>"."""
    status = "Active" if str(row.get("status", "active")).lower() == "active" else "Archived"
    return AccountOption(
        id=BANK_PREFIX + str(row["url"]).rstrip("/").rsplit("/", 1)[-1],
        name=str(row.get("name", "")),
        type="Asset",
        status=status,
    )


def tax_rate_options(rates: list[Decimal]) -> list[TaxRateOption]:
    """The company's sales tax rates as options (id = the percentage as
    FreeAgent takes it in sales_tax_rate), plus the two statuses."""
    options = [
        TaxRateOption(id=_percent(rate), name=f"{_percent(rate)}%", rate=_percent(rate))
        for rate in sorted(set(rates), reverse=True)
    ]
    options.append(TaxRateOption(id="EXEMPT", name="Exempt", rate="0"))
    options.append(TaxRateOption(id="OUT_OF_SCOPE", name="Outside the scope of tax", rate="0"))
    return options


def _percent(rate: Decimal) -> str:
    text = format(Decimal(rate).normalize(), "f")
    return text


def contact_name(row: dict[str, Any]) -> str:
    name = row.get("organisation_name") or " ".join(
        filter(None, [row.get("first_name"), row.get("last_name")])
    )
    return str(name or "")


# -- tax, as FreeAgent works it out --------------------------------------------------


def tax_of(rate_id: str | None) -> dict[str, str]:
    """The item fields for our tax rate id: a percentage goes in
    sales_tax_rate, a status in sales_tax_status; none: outside its scope."""
    if not rate_id or rate_id in TAX_STATUSES:
        return {"sales_tax_status": rate_id or "OUT_OF_SCOPE"}
    if not is_number(rate_id):
        raise DocumentRejected(
            f"Tax rate {rate_id} is not a FreeAgent rate (a percentage such as 20, "
            "or EXEMPT / OUT_OF_SCOPE); map it again in the configuration"
        )
    return {"sales_tax_rate": rate_id}


def freeagent_tax(net: Decimal, rate_id: str | None) -> Decimal:
    """The tax FreeAgent computes on an invoice or credit note item: its net
    (price x quantity, to the penny) x rate, to the penny, half away from
    zero. FreeAgent rounds each item on its own (its API forum: "FreeAgent
    rounds the VAT figure per line"), and an item takes a rate or a status,
    never a tax amount (dev.freeagent.com/docs/invoices)."""
    if not rate_id or rate_id in TAX_STATUSES:
        return Decimal(0)
    return (Decimal(net) * Decimal(rate_id) / 100).quantize(CENT, rounding=ROUND_HALF_UP)


def bill_tax(gross: Decimal, rate_id: str | None) -> Decimal:
    """The tax FreeAgent works out on a bill (item) from its gross value and
    rate: gross x rate / (100 + rate), to the penny (dev.freeagent.com/docs/
    sales_tax: 100.00 gross at 20 % holds 16.67)."""
    if not rate_id or rate_id in TAX_STATUSES:
        return Decimal(0)
    rate = Decimal(rate_id)
    return (Decimal(gross) * rate / (100 + rate)).quantize(CENT, rounding=ROUND_HALF_UP)


def _line_rate(line: dict[str, Any]) -> str | None:
    rate = (line.get("taxRateRef") or {}).get("id")
    return str(rate) if rate else None


def tax_problems(document: dict[str, Any]) -> list[str]:
    """The lines whose tax FreeAgent cannot be made to carry, in plain
    words: tax on a line with no rate (EXEMPT, OUT_OF_SCOPE or none), or on
    a 0 % rate. A penny's difference between the source's rounding and
    FreeAgent's is not a problem: `vat_rounding` (invoices, credit notes)
    and `manual_sales_tax_amount` (bills) carry the source's tax."""
    problems = []
    for line in document.get("lineItems") or []:
        if "subTotal" not in line:
            continue
        rate = _line_rate(line)
        if rate and rate not in TAX_STATUSES and not is_number(rate):
            continue  # not a rate at all: `tax_of` refuses it, in its own words
        ours = Decimal(str(line.get("taxAmount") or 0))
        if ours and (not rate or rate in TAX_STATUSES or Decimal(rate) == 0):
            problems.append(
                f"The {document.get('type')} line {line.get('description') or ''!r} of "
                f"{document.get('date')} carries tax of {money(ours)} but its tax rate "
                f"{rate or '(none)'} takes no tax in FreeAgent; map it to a FreeAgent rate "
                "such as 20"
            )
    return problems


@dataclass(frozen=True)
class Rounding:
    """The gap, at one rate, between the tax a document carries and the tax
    FreeAgent works out item by item: `difference` = ours - FreeAgent's (in
    the document's own sign), closed by a pair of items on `category`."""

    rate: str
    category: str
    difference: Decimal


def vat_rounding(document: dict[str, Any]) -> list[Rounding]:
    """Per percentage rate of an invoice or credit note, where the source's
    tax (rounded per sale or per line by the till) differs from FreeAgent's
    per-item computation (`freeagent_tax`); rates that agree are left out."""
    ours: dict[str, Decimal] = {}
    theirs: dict[str, Decimal] = {}
    categories: dict[str, str] = {}
    for line in document.get("lineItems") or []:
        rate = _line_rate(line)
        if not rate or rate in TAX_STATUSES or not is_number(rate) or Decimal(rate) == 0:
            continue
        ours[rate] = ours.get(rate, Decimal(0)) + Decimal(str(line.get("taxAmount") or 0))
        theirs[rate] = theirs.get(rate, Decimal(0)) + freeagent_tax(
            Decimal(str(line["subTotal"])), rate
        )
        categories.setdefault(rate, str(line["accountRef"]["id"]))
    return [
        Rounding(rate, categories[rate], ours[rate] - theirs[rate])
        for rate in ours
        if ours[rate] != theirs[rate]
    ]


def rounding_items(document: dict[str, Any], books: Books, sign: int) -> list[dict[str, Any]]:
    """The items that make FreeAgent's tax equal the source's, to the penny,
    for each `vat_rounding` gap: FreeAgent's invoice items take no tax
    amount, so a labelled item at the rate whose net is worked out so that
    FreeAgent's own rounding of it gives exactly the gap (net = gap / rate:
    0.02 at 20 % is a 0.10 item), and a second labelled item, EXEMPT, taking
    that net back. Both post to the rate's (first line's) category, so the
    category's net, the tax and the total are the source's; exempt sales sit
    with taxable ones in the VAT return's net sales, so its net sales are
    the source's too. `sign` is -1 on a credit note (negative items).
    Raises `DocumentRejected` if no item at the rate can carry the gap."""
    items = []
    for gap in vat_rounding(document):
        rate = Decimal(gap.rate)
        net = (sign * gap.difference * 100 / rate).quantize(CENT, rounding=ROUND_HALF_UP)
        if freeagent_tax(net, gap.rate) != sign * gap.difference:
            raise DocumentRejected(
                f"The {document.get('type')} of {document.get('date')} carries tax at "
                f"{gap.rate}% that FreeAgent cannot be made to hold ({money(gap.difference)} "
                "more than it works out); check the rate mapped"
            )
        category = _category(books, gap.category, "An invoice line")
        label = (
            f"VAT rounding: the till's VAT at {gap.rate}% differs from FreeAgent's "
            f"line-by-line sum by {money(gap.difference)}"
        )
        items.append(
            {
                "item_type": "Services",
                "description": label,
                "quantity": "1.0",
                "price": money(net),
                "category": category,
                "sales_tax_rate": gap.rate,
            }
        )
        items.append(
            {
                "item_type": "Services",
                "description": "VAT rounding: takes back the net of the line above",
                "quantity": "1.0",
                "price": money(-net),
                "category": category,
                "sales_tax_status": "EXEMPT",
            }
        )
    return items


def is_number(text: str) -> bool:
    """Whether `text` reads as a decimal number (a tax rate percentage)."""
    try:
        Decimal(text)
    except ArithmeticError:
        return False
    return True


# -- our documents as writes -----------------------------------------------------------


def to_writes(key: str, document: dict[str, Any], books: Books) -> list[Write]:
    """The requests that write `document`, in order; several only for a
    document FreeAgent needs as several explanations (each with its own
    marker). Raises `DocumentRejected` when FreeAgent cannot take it."""
    builder = _BUILDERS.get(document.get("type", ""))
    if builder is None:
        raise DocumentRejected(f"FreeAgent cannot take a document of type {document.get('type')!r}")
    return builder(key, document, books)


def _description(document: dict[str, Any], marker: str) -> str:
    text = str(document.get("description") or "Daily sales").strip()
    return f"{text} {marker}"


def _category(books: Books, account_id: str, where: str) -> str:
    if is_bank(account_id):
        raise DocumentRejected(
            f"{where} posts to bank account {account_id}, but FreeAgent journal sets and items "
            "take categories only; choose a category for it"
        )
    return books.url("categories", str(account_id))


def journal_write(
    key: str, document: dict[str, Any], books: Books, entries: list[tuple[str, Decimal, str]]
) -> Write:
    """A journal set of (account id, debit value, description) entries."""
    marker = key_marker(key)
    if sum((value for _, value, _ in entries), Decimal(0)) != 0:
        raise DocumentRejected("The journal does not balance; FreeAgent refuses it")
    body = {
        "journal_set": {
            "dated_on": document["date"],
            "description": _description(document, marker),
            "tag": TAG,
            "journal_entries": [
                {
                    "category": _category(books, account, "A journal line"),
                    "debit_value": money(value),
                    "description": text or "",
                }
                for account, value, text in entries
            ],
        }
    }
    return Write("journal_set", "/journal_sets", body, marker)


def _journal(key: str, doc: dict[str, Any], books: Books) -> list[Write]:
    """A journal set; a line on a bank account (a payout in the journal
    format) reaches it through the transit category: the journal takes the
    line on that category and an explanation on the bank account moves it
    from there ("[key#n]" on the n-th), so the transit nets to zero."""
    entries: list[tuple[str, Decimal, str]] = []
    banked: list[tuple[str, Decimal]] = []
    for line in doc["journalLines"]:
        account, value = line["accountRef"]["id"], Decimal(str(line["netAmount"]))
        if is_bank(account):
            if not books.transit_category:
                raise DocumentRejected(bank_line_problem(account))
            banked.append((account, value))
            account = books.transit_category
        entries.append((account, value, line.get("description") or ""))
    writes = [journal_write(key, doc, books, entries)]
    transit = books.url("categories", books.transit_category or "")
    for index, (account, value) in enumerate(banked):
        marker = key_marker(f"{key}#{index + 1}")
        writes.append(
            explanation_write(marker, doc, books, bank_id(account), value, category=transit)
        )
    return writes


def bank_line_problem(account: str) -> str:
    return (
        f"Account {account} is a FreeAgent bank account; a journal reaches it through a "
        "transit category, and this connection names none (transit_category)"
    )


def _items(doc: dict[str, Any], books: Books, sign: int) -> list[dict[str, Any]]:
    items = []
    for line in doc["lineItems"]:
        item = {
            "item_type": "Services",
            "description": line.get("description") or "Sales",
            "quantity": "1.0",
            "price": money(sign * Decimal(str(line["subTotal"]))),
            "category": _category(books, line["accountRef"]["id"], "An invoice line"),
        }
        items.append(item | tax_of((line.get("taxRateRef") or {}).get("id")))
    return items + rounding_items(doc, books, sign)


def _sales(key: str, doc: dict[str, Any], books: Books, kind: str) -> list[Write]:
    problems = tax_problems(doc)
    if problems:
        raise DocumentRejected("; ".join(problems))
    marker = key_marker(key)
    customer = (doc.get("customerRef") or {}).get("id")
    if not customer:
        raise DocumentRejected(f"A FreeAgent {kind.replace('_', ' ')} needs a customer contact")
    body = {
        "contact": books.url("contacts", str(customer)),
        "dated_on": doc["date"],
        "due_on": doc["date"],
        "payment_terms_in_days": 0,
        "currency": doc["currency"],
        "comments": _description(doc, marker),
        f"{kind}_items": _items(doc, books, -1 if kind == "credit_note" else 1),
    }
    draft = doc.get("status") == "Draft"
    return [
        Write(
            kind,
            f"/{kind}s",
            {kind: body},
            marker,
            transition=None if draft else "mark_as_sent",
        )
    ]


def _invoice(key: str, doc: dict[str, Any], books: Books) -> list[Write]:
    return _sales(key, doc, books, "invoice")


def _credit_note(key: str, doc: dict[str, Any], books: Books) -> list[Write]:
    return _sales(key, doc, books, "credit_note")


def _bill(key: str, doc: dict[str, Any], books: Books) -> list[Write]:
    """A bill: one category and total when its lines share one (account,
    rate), else `bill_items`. Each part takes its rate, unless FreeAgent's
    working from the gross (`bill_tax`) would differ from the tax the
    source carries: then it takes that tax as `manual_sales_tax_amount`
    (dev.freeagent.com/docs/sales_tax: bills and bill items may carry a
    manual amount instead of a rate)."""
    problems = tax_problems(doc)
    if problems:
        raise DocumentRejected("; ".join(problems))
    supplier = (doc.get("supplierRef") or {}).get("id")
    if not supplier:
        raise DocumentRejected("A FreeAgent bill needs a supplier contact")
    groups: dict[tuple[str, str | None], tuple[Decimal, Decimal]] = {}
    for line in doc["lineItems"]:
        group = (line["accountRef"]["id"], _line_rate(line))
        total, tax = groups.get(group, (Decimal(0), Decimal(0)))
        groups[group] = (
            total + Decimal(str(line["totalAmount"])),
            tax + Decimal(str(line.get("taxAmount") or 0)),
        )

    def taxed(rate: str | None, total: Decimal, tax: Decimal) -> dict[str, str]:
        fields = tax_of(rate)
        if "sales_tax_rate" in fields and bill_tax(total, rate) != tax:
            return {"manual_sales_tax_amount": money(tax)}
        return fields

    reference = bill_reference(key)
    body: dict[str, Any] = {
        "contact": books.url("contacts", str(supplier)),
        "reference": reference,
        "dated_on": doc["date"],
        "due_on": doc["date"],
    }
    if len(groups) == 1:
        ((account, rate), (total, tax)) = next(iter(groups.items()))
        body |= {"category": _category(books, account, "A bill"), "total_value": money(total)}
        body |= taxed(rate, total, tax)
    else:
        body["bill_items"] = [
            {
                "category": _category(books, account, "A bill line"),
                "total_value": money(total),
                "description": str(doc.get("description") or "Fees"),
            }
            | taxed(rate, total, tax)
            for (account, rate), (total, tax) in groups.items()
        ]
    return [Write("bill", "/bills", {"bill": body}, reference)]


def explanation_write(
    marker: str, doc: dict[str, Any], books: Books, bank: str, gross: Decimal, **fields: str
) -> Write:
    """An explanation on bank account `bank` (id) of `gross` (money in +)."""
    body = {
        "bank_account": books.url("bank_accounts", bank),
        "dated_on": doc["date"],
        "gross_value": money(gross),
        "description": _description(doc, marker),
        **fields,
    }
    return Write(
        "explanation",
        "/bank_transaction_explanations",
        {"bank_transaction_explanation": body},
        marker,
        bank=bank,
    )


def part_marker(key: str, index: int, parts: int) -> str:
    return key_marker(key if parts == 1 else f"{key}#{index + 1}")


def _payment(key: str, doc: dict[str, Any], books: Books) -> list[Write]:
    account = doc["accountRef"]["id"]
    links = doc.get("links") or []
    if not links:
        raise DocumentRejected("A payment must name the invoice or credit note it settles")
    supplier = doc.get("type") == "billPayment"
    if not is_bank(account):
        control = books.creditors_category if supplier else books.debtors_category
        total = Decimal(str(doc["totalAmount"]))
        # Money into a liability (gift cards) or out of it: the category takes
        # the movement, the control category the other side.
        sign = -1 if supplier else 1
        return [
            journal_write(
                key,
                doc,
                books,
                [(account, sign * total, "Payment"), (control, -sign * total, "Payment")],
            )
        ]
    writes = []
    for index, link in enumerate(links):
        amount = abs(Decimal(str(link["amount"])))
        marker = part_marker(key, index, len(links))
        kind = link["type"]
        target = books.linked_url(kind, str(link["id"]))
        if kind == "Invoice":
            writes.append(
                explanation_write(marker, doc, books, bank_id(account), amount, paid_invoice=target)
            )
        elif kind == "CreditNote":  # a refund: money out against the credit note
            writes.append(
                explanation_write(
                    marker, doc, books, bank_id(account), -amount, paid_invoice=target
                )
            )
        elif kind == "Bill":
            writes.append(
                explanation_write(marker, doc, books, bank_id(account), -amount, paid_bill=target)
            )
        else:
            raise DocumentRejected(f"FreeAgent cannot settle a linked {kind}")
    return writes


def _deposit(key: str, doc: dict[str, Any], books: Books) -> list[Write]:
    account = doc["accountRef"]["id"]
    lines = doc["lineItems"]
    if not is_bank(account):
        total = Decimal(str(doc["totalAmount"]))
        entries = [(account, total, "Deposit")] + [
            (
                line["accountRef"]["id"],
                -Decimal(str(line["totalAmount"])),
                line.get("description") or "",
            )
            for line in lines
        ]
        return [journal_write(key, doc, books, entries)]
    return [
        explanation_write(
            part_marker(key, index, len(lines)),
            doc,
            books,
            bank_id(account),
            Decimal(str(line["totalAmount"])),
            category=_category(books, line["accountRef"]["id"], "A deposit line"),
            **explanation_tax(doc, line),
        )
        for index, line in enumerate(lines)
    ]


def explanation_tax(doc: dict[str, Any], line: dict[str, Any]) -> dict[str, str]:
    """The tax fields of an explanation on a category for a deposit line.
    Always stated: an explanation that names none takes its category's own
    default rate (Codat's FreeAgent integration reference), which would
    split VAT out of, say, a fee refund the source books without any. A
    line with no rate is OUT_OF_SCOPE; with a rate, FreeAgent works the VAT
    out of the gross (`bill_tax`), so a line whose tax differs is refused.
    Raises `DocumentRejected`."""
    rate = _line_rate(line)
    fields = tax_of(rate)
    tax = Decimal(str(line.get("taxAmount") or 0))
    if "sales_tax_rate" in fields:
        theirs = bill_tax(Decimal(str(line["totalAmount"])), rate)
        if theirs != tax:
            raise DocumentRejected(
                f"The deposit line {line.get('description') or ''!r} of {doc.get('date')} "
                f"carries tax of {money(tax)}; FreeAgent works {money(theirs)} out of its "
                f"gross at {rate}%"
            )
    elif tax:
        raise DocumentRejected("; ".join(tax_problems({**doc, "lineItems": [line]})))
    return fields


def _transfer(key: str, doc: dict[str, Any], books: Books) -> list[Write]:
    """Bank to bank: a transfer explanation on the paying account. Between a
    bank account and a category (a clearing category paid out to the bank):
    an explanation on the bank account, categorised to the other side.
    Category to category: a journal set."""
    source, target = doc["fromAccountRef"]["id"], doc["toAccountRef"]["id"]
    amount = Decimal(str(doc["amount"]))
    if not is_bank(source) and not is_bank(target):
        entries = [(target, amount, "Transfer"), (source, -amount, "Transfer")]
        return [journal_write(key, doc, books, entries)]
    if is_bank(source) and is_bank(target):
        bank, gross = bank_id(source), -amount
        other = {"transfer_bank_account": books.url("bank_accounts", bank_id(target))}
    elif is_bank(target):  # money in from the clearing category
        bank, gross, other = bank_id(target), amount, {"category": books.url("categories", source)}
    else:  # money out to the category
        bank, gross, other = bank_id(source), -amount, {"category": books.url("categories", target)}
    return [explanation_write(key_marker(key), doc, books, bank, gross, **other)]


_BUILDERS: dict[str, Callable[[str, dict[str, Any], Books], list[Write]]] = {
    "journalEntry": _journal,
    "invoice": _invoice,
    "creditNote": _credit_note,
    "bill": _bill,
    "payment": _payment,
    "billPayment": _payment,
    "deposit": _deposit,
    "transfer": _transfer,
}


def carries(row: dict[str, Any], write: Write) -> bool:
    """Whether a listed row is the one `write` made (its marker in the field
    that keeps it)."""
    if write.kind == "bill":
        return row.get("reference") == write.marker
    text = (
        row.get("comments") if write.kind in ("invoice", "credit_note") else row.get("description")
    )
    return str(text or "").rstrip().endswith(write.marker)
