"""payout_residuals on real synced sandbox days: every payout after the
first settles the previous day's card takings exactly; an edited or missing
fee leaves a residual the function names."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from commerce_sync.core.models import Connection, SourceRecord
from commerce_sync.core.services.demo import demo_seed
from commerce_sync.core.services.payouts import payout_residuals
from commerce_sync.syncs.runs import sync_run_execute

TODAY = date(2026, 11, 10)
NOW = datetime(2026, 11, 10, 9, 0, tzinfo=UTC)


def _synced_cafe(settings, tmp_path, *, days, orders_per_day):
    settings.LEDGER_DIR = str(tmp_path / "ledgers")
    merchant = demo_seed(days=days, orders_per_day=orders_per_day, today=TODAY).merchant
    # The same generated days every run (the figures below assume a payout
    # each morning, which a café drawn from a random id need not have).
    Connection.objects.filter(merchant=merchant, platform_key="sandbox").update(
        settings={"orders_per_day": orders_per_day, "seed": "payouts-fixture"}
    )
    run = sync_run_execute(merchant=merchant, now=NOW)
    assert run.status_code == 2000
    return merchant, run


@pytest.fixture
def synced(db, settings, tmp_path):
    return _synced_cafe(settings, tmp_path, days=3, orders_per_day=12)


CARD = "Assets:Clearing:Card"


def test_each_sandbox_payout_settles_the_previous_days_card_takings(synced):
    merchant, run = synced
    results = payout_residuals(merchant=merchant, start=run.period_start, end=run.period_end)

    assert len(results) == 3  # one payout a day at 06:00 (the online acquirer's are apart)
    assert {r.clearing_account for r in results} == {CARD}
    opening, *rest = results
    assert opening.opening and opening.residual is None and not opening.flagged
    for result in rest:
        assert result.residual == Decimal(0), result.as_json()
        assert result.balance_after == Decimal(0)
        assert result.payments > 0 and result.fees < 0 and result.payment_ids and result.fee_ids
        assert result.clearing_account == "Assets:Clearing:Card"
        # the payout takes out exactly what the card payments less net fees put in
        assert result.payments + result.refunds + result.fees + result.fee_refunds == -result.amount


def test_a_payout_short_of_its_settlements_shows_the_residual(synced):
    merchant, run = synced
    # The card terminal's latest payout (the online acquirer's name the
    # OnlineCard type: another clearing account, reconciled apart).
    last = (
        SourceRecord.objects.filter(merchant=merchant, kind="transaction", payload__type="Payout")
        .exclude(source_id__endswith="-ONLINE")
        .order_by("-created_date")
        .first()
    )
    last.payload = {
        **last.payload,
        "totalAmount": str(Decimal(last.payload["totalAmount"]) + Decimal("1.25")),
    }
    last.save(update_fields=["payload"])

    results = payout_residuals(merchant=merchant, start=run.period_start, end=run.period_end)

    assert [r.flagged for r in results] == [False, False, True]
    assert results[-1].residual == Decimal("1.25")  # 1.25 left in the clearing account
    assert results[-1].balance_after == Decimal("1.25")
    assert results[-1].as_json()["residual"] == "1.25"


def test_no_payouts_in_the_range_is_an_empty_answer(synced):
    merchant, run = synced
    assert (
        payout_residuals(
            merchant=merchant, start=run.period_end, end=run.period_end + timedelta(days=1)
        )
        == []
    )


def test_online_acquirer_payouts_are_reported_against_their_own_clearing_account(
    db, settings, tmp_path, admin_client
):
    """Six busy sandbox days: the online acquirer pays each day's online
    card takings less fees two days later (subType PaymentType:OnlineCard).
    The portal's reports list the card account first (payouts matched one
    by one), then the online one: its payouts, paid out (positive), with no
    residual and no alert (they settle on a delay the records do not state)."""
    from commerce_sync.core.services.payouts import payout_reports

    merchant, run = _synced_cafe(settings, tmp_path, days=6, orders_per_day=40)
    card, online = payout_reports(merchant=merchant, start=run.period_start, end=run.period_end)
    assert (card.clearing_account, card.matched) == (CARD, True)
    assert [p.payout_id for p in card.payouts] == [
        p.payout_id
        for p in payout_residuals(merchant=merchant, start=run.period_start, end=run.period_end)
    ]
    assert not any(p.flagged for p in card.payouts)
    assert (online.clearing_account, online.matched) == ("Assets:Clearing:OnlineCard", False)
    assert len(online.payouts) >= 2
    assert all(p.payout_id.endswith("-ONLINE") and p.residual is None for p in online.payouts)
    online_records = SourceRecord.objects.filter(
        merchant=merchant, kind="transaction", payload__subType="PaymentType:OnlineCard"
    )
    assert {p.payout_id for p in online.payouts} <= set(
        online_records.values_list("source_id", flat=True)
    )
    assert all(p.paid_out > 0 for p in online.payouts) and online.problems == []
    page = admin_client.get(f"/portal/core/syncrun/{run.pk}/change/").content.decode()
    assert "Clearing account: Assets:Clearing:Card" in page
    assert "Clearing account: Assets:Clearing:OnlineCard" in page
    assert "not matched one by one" in page
    last = online.payouts[-1]
    assert f"Payout {last.payout_id}" in page and f"{last.paid_out} GBP paid to the bank" in page
