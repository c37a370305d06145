import pytest

from tests.setup_flow.helpers import new_merchant, start_path


@pytest.mark.django_db
def test_smoke(client, partner, settings, tmp_path):
    settings.LEDGER_DIR = str(tmp_path)
    merchant = new_merchant(partner)
    r = client.get(start_path(merchant))
    assert r.status_code == 302, r.content
    for stage in ("commerce", "accounting"):
        r = client.get(f"/setup/stage/{stage}")
        assert r.status_code == 200, r.content.decode()
        r = client.post(f"/setup/stage/{stage}")
        assert r.status_code == 302, r.content.decode()
    r = client.get("/setup/stage/sales")
    assert r.status_code == 200, r.content.decode()
    r = client.get("/setup/suggest?back=sales")
    print(r.content.decode()[-3000:])
    r = client.post("/setup/suggest", {"back": "sales", "create": "yes"})
    assert r.status_code == 302
    r = client.post(
        "/setup/stage/sales",
        {
            "mapSettings.outputFormat": "JournalEntry",
            "sales.accounts.sales": "Income:Sales",
            "sales.accounts.refund": "Income:Sales:Refunds",
        },
    )
    print(r.content.decode()[-4000:])
    assert r.status_code == 302
    r = client.post("/setup/stage/fees", {"fees.accounts.paymentFee": "Expenses:PaymentFees"})
    assert r.status_code == 302, r.content.decode()[-3000:]
    r = client.get("/setup/stage/payments")
    print(r.content.decode()[-3000:])
