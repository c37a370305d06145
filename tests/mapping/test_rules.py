"""Single rules of section 5, each on the smallest day that shows it."""

from __future__ import annotations

from decimal import Decimal

from mapping.preview import preview
from tests.mapping.books import movements, nonzero


def day(orders, transactions=(), **configuration):
    accounts = {"sales": "4000", "tax": "2200"} | configuration.pop("sales", {})
    payments = {"card": "1100", "onlineCard": "1110", "payout": "1200"} | configuration.pop(
        "payments", {}
    )
    return {
        "timeZone": "Europe/London",
        "period": {"start": "2026-11-02", "end": "2026-11-03"},
        "commerce": {"orders": list(orders), "transactions": list(transactions)},
        "configuration": {
            "sales": {"accounts": {k: {"selectedAccountId": v} for k, v in accounts.items()}},
            "payments": {"accounts": {k: {"selectedAccountId": v} for k, v in payments.items()}},
            "fees": {"accounts": {"paymentFee": {"selectedAccountId": "6100"}}},
            **configuration,
        },
    }


def order(oid, total, tender="OnlineCard"):
    return {
        "id": oid,
        "currency": "GBP",
        "createdDate": "2026-11-02T10:00:00Z",
        "totalAmount": Decimal(total),
        "orderLineItems": [
            {
                "id": "L1",
                "totalAmount": Decimal(total),
                "totalTaxAmount": Decimal(0),
                "taxPercentage": 0,
            }
        ],
        "payments": [
            {"id": f"{oid}-P1", "type": tender, "amount": Decimal(total), "status": "Paid"}
        ],
    }


def test_a_fee_that_names_its_order_hits_that_orders_clearing_account():
    fee = {
        "id": "F-1",
        "type": "PaymentFee",
        "currency": "GBP",
        "createdDate": "2026-11-02T10:01:00Z",
        "totalAmount": Decimal("-0.30"),
        "transactionSourceRef": {"id": "O-1", "type": "Order"},
    }
    result = preview(day([order("O-1", "10.00")], [fee]))
    assert result.errors == []
    moved = nonzero(movements([d.as_json() for d in result.documents]), "GBP")
    assert moved == {"1110": "9.70", "4000": "-10.00", "6100": "0.30"}


def test_a_fee_naming_nothing_known_falls_back_to_the_card_account():
    fee = {
        "id": "F-2",
        "type": "PaymentFee",
        "currency": "GBP",
        "createdDate": "2026-11-02T10:01:00Z",
        "totalAmount": Decimal("-0.30"),
    }
    result = preview(day([order("O-1", "10.00")], [fee]))
    moved = nonzero(movements([d.as_json() for d in result.documents]), "GBP")
    assert moved == {"1110": "10.00", "1100": "-0.30", "4000": "-10.00", "6100": "0.30"}


def test_an_unmapped_payment_type_is_named_and_nothing_is_posted():
    result = preview(day([order("O-1", "10.00", tender="Vipps")]))
    assert result.documents == []
    assert [e.code for e in result.errors] == ["MissingPaymentAccount"]
    assert (
        "Vipps" in result.errors[0].message
        and "payments.accounts.vipps" in result.errors[0].message
    )


def test_the_prepaid_account_must_not_be_the_payout_account():
    result = preview(day([order("O-1", "10.00")], sales={"prepaid": "1200"}))
    assert result.documents == []
    assert any("prepaid" in e.message and "payout" in e.message for e in result.errors)


def test_invoice_format_without_a_fees_supplier_is_refused_by_name():
    fee = {
        "id": "F-1",
        "type": "PaymentFee",
        "currency": "GBP",
        "createdDate": "2026-11-02T10:01:00Z",
        "totalAmount": Decimal("-0.30"),
    }
    scenario = day([order("O-1", "10.00")], [fee], mapSettings={"outputFormat": "Invoice"})
    sales = scenario["configuration"]["sales"]
    sales["salesCustomer"] = {"selectedCustomerId": "CUST"}
    sales["taxRates"] = {"0": {"selectedTaxRateId": "ZERO"}}
    result = preview(scenario)
    assert result.documents == []
    assert [e.message for e in result.errors] == [
        "No fees supplier has been configured (fees.feesSupplier)"
    ]
