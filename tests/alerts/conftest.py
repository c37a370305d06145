"""Alerts fixtures: the demo café synced on real days, a partner support
address and a merchant address, the French catalogue compiled (as the make
targets do) and a webhook receiver on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from django.utils import translation

from commerce_sync.core.models import Connection
from commerce_sync.core.services.demo import demo_seed
from tests.doubles.webhook_receiver import WebhookReceiver

START = date(2026, 10, 1)
LOCALE = Path(__file__).resolve().parents[2] / "commerce_sync" / "locale"


def _compile_catalogues() -> None:
    for po in LOCALE.glob("*/LC_MESSAGES/django.po"):
        with po.open("rb") as source:
            catalog = read_po(source, locale=po.parent.parent.name, abort_invalid=True)
        with po.with_suffix(".mo").open("wb") as target:
            write_mo(target, catalog)
    translation.trans_real._translations = {}  # reload the catalogues


_compile_catalogues()


def at(day: date, hour: int = 9) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def day(n: int) -> datetime:
    """The morning of START + n days."""
    return at(START + timedelta(days=n))


def break_configuration(merchant) -> None:
    """Refused whatever the day holds: the bank account is the card clearing account."""
    config = merchant.sync_configuration
    config.document["payments"]["accounts"]["payout"] = {
        "selectedAccountId": "Assets:Clearing:Card"
    }
    config.save(update_fields=["document"])


def mend_configuration(merchant) -> None:
    config = merchant.sync_configuration
    config.document["payments"]["accounts"]["payout"] = {"selectedAccountId": "Assets:Bank:Current"}
    config.save(update_fields=["document"])


@pytest.fixture
def demo(db, settings, tmp_path):
    settings.LEDGER_DIR = str(tmp_path / "ledgers")
    settings.ALERT_EMAILS = []
    settings.SITE_URL = "https://sync.example"
    merchant = demo_seed(days=1, orders_per_day=5, today=START + timedelta(days=1)).merchant
    # The same generated days every run: these tests count alerts, and what
    # the sandbox draws (payouts among it) must not vary with the merchant id.
    Connection.objects.filter(merchant=merchant, platform_key="sandbox").update(
        settings={"orders_per_day": 5, "seed": "alerts-fixture"}
    )
    merchant.alert_email = "owner@cafe.example"
    merchant.save(update_fields=["alert_email"])
    partner = merchant.partner
    partner.alert_emails = ["support@partner.example"]
    partner.save(update_fields=["alert_emails"])
    return merchant


@pytest.fixture
def receiver(settings) -> Iterator[WebhookReceiver]:
    settings.WEBHOOK_ALLOW_PRIVATE = True
    with WebhookReceiver() as running:
        yield running
