"""Small things the merchant sees: clearing accounts are assets only, an
account created twice is said to exist, the review names invoice choices."""

from __future__ import annotations

import pytest

from commerce_sync.core.services.merchant_setup import FlowOptions
from tests.setup_flow.helpers import new_merchant, start_path

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def ledgers(settings, tmp_path):
    settings.LEDGER_DIR = str(tmp_path / "ledgers")


def test_clearing_accounts_are_assets_never_liabilities():
    options = FlowOptions(
        accounts=[
            {"id": "Assets:Clearing:Card", "name": "Card clearing", "type": "Asset"},
            {"id": "Liabilities:SalesTax", "name": "Sales tax", "type": "Liability"},
            {"id": "Liabilities:GiftCards", "name": "Gift cards", "type": "Liability"},
        ]
    )
    assert [a["id"] for a in options.accounts_for("payments", "card")] == ["Assets:Clearing:Card"]
    assert [a["id"] for a in options.accounts_for("payments", "payout")] == ["Assets:Clearing:Card"]
    # Gift-card payments settle against the gift card liability.
    assert "Liabilities:GiftCards" in [
        a["id"] for a in options.accounts_for("payments", "prepaidPayment")
    ]


def test_an_account_created_twice_is_said_to_exist(client, partner):
    merchant = new_merchant(partner)
    client.get(start_path(merchant))
    form = {"back": "sales", "account_id": "Income:Sales:Cakes", "account_type": "Income"}
    client.post("/setup/accounts/new", form)
    again = client.post("/setup/accounts/new", form, follow=True).content.decode()
    assert "Income:Sales:Cakes already exists in your accounting software" in again
    rate = client.post(
        "/setup/accounts/new",
        {**form, "account_id": "Income:Other", "tax_rate": "20"},
        follow=True,
    ).content.decode()
    assert "only a liability account can be a tax rate" in rate
