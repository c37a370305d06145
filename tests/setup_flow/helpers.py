"""A new merchant as the partner API leaves it: sandbox POS and Beancount
connections (Linked: nothing to authorise), no configuration yet."""

from __future__ import annotations

import re

from commerce_sync.core.models import Merchant, Partner
from commerce_sync.core.services.connections import connection_create
from commerce_sync.core.services.merchants import merchant_create
from commerce_sync.core.services.setup_links import setup_link_issue


def new_merchant(partner: Partner, *, name: str = "Corner Bakery") -> Merchant:
    merchant = merchant_create(
        partner=partner,
        name=name,
        country="GB",
        currency="GBP",
        time_zone="Europe/London",
        external_id=re.sub(r"\W+", "-", name.lower()),
    )
    connection_create(
        merchant=merchant,
        platform_key="sandbox",
        source_type="commerce",
        settings={"orders_per_day": 6},
    )
    connection_create(merchant=merchant, platform_key="beancount", source_type="accounting")
    return merchant


def start_path(merchant: Merchant, **kwargs: str) -> str:
    issued = setup_link_issue(merchant=merchant, actor="partner:test", **kwargs)
    return f"/setup/start/{issued.code}"
