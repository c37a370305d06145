"""The shared journal-line derivation of the accounting targets
(connectors.journal_lines), on its own: what each document kind becomes,
that the lines balance, and that parties and bills are only what a target
asks for."""

from __future__ import annotations

from decimal import Decimal

import pytest

from commerce_sync.errors import DocumentRejected
from connectors.journal_lines import JournalLine, LedgerRefs, journal_lines


def _refs(**kwargs: object) -> LedgerRefs:
    options: dict[str, object] = {
        "account": lambda code: f"acc-{code}",
        "receivable": lambda: "acc-AR",
        "payable": lambda: "acc-AP",
    }
    options.update(kwargs)
    return LedgerRefs(**options)  # type: ignore[arg-type]


def test_a_deposit_debits_its_account_and_credits_each_line() -> None:
    document = {
        "type": "deposit",
        "description": "Fee refunds",
        "accountRef": {"id": "1200"},
        "totalAmount": "5.50",
        "lineItems": [
            {"accountRef": {"id": "6100"}, "totalAmount": "5.00", "description": "Fee back"},
            {"accountRef": {"id": "6110"}, "totalAmount": "0.50", "description": "FX back"},
        ],
    }
    lines = journal_lines(document, _refs())
    assert lines == [
        JournalLine("acc-1200", Decimal("5.50"), "Fee refunds"),
        JournalLine("acc-6100", Decimal("-5.00"), "Fee back"),
        JournalLine("acc-6110", Decimal("-0.50"), "FX back"),
    ]
    assert sum(line.amount for line in lines) == 0


def test_a_transfer_debits_the_receiving_account_and_credits_the_sending_one() -> None:
    document = {
        "type": "transfer",
        "description": "Payout",
        "fromAccountRef": {"id": "1110"},
        "toAccountRef": {"id": "1200"},
        "amount": "120.00",
    }
    assert journal_lines(document, _refs()) == [
        JournalLine("acc-1200", Decimal("120.00"), "Payout"),
        JournalLine("acc-1110", Decimal("-120.00"), "Payout"),
    ]


def test_payments_go_through_the_control_accounts_with_parties_only_when_asked() -> None:
    payment = {
        "type": "payment",
        "description": "Refund",
        "accountRef": {"id": "1100"},
        "customerRef": {"id": "CUST-POS"},
        "totalAmount": "-3.30",
    }
    anonymous = {k: v for k, v in payment.items() if k != "customerRef"}
    assert journal_lines(anonymous, _refs()) == [  # no parties asked: customerRef not read
        JournalLine("acc-1100", Decimal("-3.30"), "Refund"),
        JournalLine("acc-AR", Decimal("3.30"), "Refund"),
    ]
    with_party = journal_lines(payment, _refs(customer=lambda ref: f"party-{ref}"))
    assert [line.party for line in with_party] == [None, "party-CUST-POS"]
    bill_payment = {
        "type": "billPayment",
        "description": "",
        "accountRef": {"id": "1200"},
        "totalAmount": "2.00",
    }  # no supplierRef: a target without parties never reads it
    assert journal_lines(bill_payment, _refs()) == [
        JournalLine("acc-AP", Decimal("2.00"), ""),
        JournalLine("acc-1200", Decimal("-2.00"), ""),
    ]


def test_a_journal_entry_keeps_its_lines_and_their_words() -> None:
    document = {
        "type": "journalEntry",
        "description": "Daily sales",
        "journalLines": [
            {"accountRef": {"id": "1100"}, "netAmount": "12.00"},
            {"accountRef": {"id": "4000"}, "netAmount": "-12.00", "description": "Sales"},
        ],
    }
    assert journal_lines(document, _refs()) == [
        JournalLine("acc-1100", Decimal("12.00"), "Daily sales"),
        JournalLine("acc-4000", Decimal("-12.00"), "Sales"),
    ]


def test_a_bill_is_lines_only_where_the_target_writes_bills_as_journals() -> None:
    bill = {
        "type": "bill",
        "description": "Card fees",
        "supplierRef": {"id": "SUPP"},
        "lineItems": [
            {
                "accountRef": {"id": "6100"},
                "subTotal": "10.00",
                "taxAmount": "2.00",
                "taxRateRef": {"id": "INPUT2"},
                "description": "Fees",
            }
        ],
    }
    assert journal_lines(bill, _refs()) == []  # no tax_paid: not a journal here
    refs = _refs(tax_paid=lambda code: f"tax-{code}", supplier=lambda ref: f"party-{ref}")
    lines = journal_lines(bill, refs)
    assert lines == [
        JournalLine("acc-6100", Decimal("10.00"), "Fees"),
        JournalLine("tax-INPUT2", Decimal("2.00"), "Fees"),
        JournalLine("acc-AP", Decimal("-12.00"), "Card fees", "party-SUPP"),
    ]
    del bill["lineItems"][0]["taxRateRef"]
    with pytest.raises(DocumentRejected, match="'Fees' has VAT but no VAT code"):
        journal_lines(bill, _refs(tax_paid=lambda code: code, tax_word="VAT"))


def test_a_kind_no_journal_takes_has_no_lines() -> None:
    assert journal_lines({"type": "invoice", "lineItems": []}, _refs()) == []
