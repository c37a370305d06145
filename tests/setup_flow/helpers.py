"""A new merchant as the partner API leaves it: sandbox POS and Beancount
connections (Linked: nothing to authorise), no configuration yet."""

from __future__ import annotations

import re
from typing import Any

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


def accounting_consent_and_picker(
    client: Any, partner: Partner, *, platform_key: str, country: str
) -> tuple[Any, str, str]:
    """A new merchant in `country` (sandbox POS) connects `platform_key` as
    its accounting software: Connect, the double's consent screen allowed,
    the callback followed to the picker the flow shows when the grant
    reaches several books. (connection, consent screen HTML, picker HTML)."""
    from commerce_sync.core.models import Connection
    from tests.factories import MerchantFactory
    from tests.setup_flow.test_oauth_platforms import consent_screen

    merchant = MerchantFactory(partner=partner, country=country)
    connection_create(merchant=merchant, platform_key="sandbox", source_type="commerce")
    books = connection_create(
        merchant=merchant, platform_key=platform_key, source_type="accounting"
    )
    client.get(start_path(merchant))
    screen, callback = consent_screen(client, books)
    picker = client.get(callback)
    assert picker.status_code == 200
    books.refresh_from_db()
    assert books.status == Connection.Status.PENDING_AUTH
    return books, screen, picker.content.decode()


def organisation_choose(client: Any, books: Any, organisation: str) -> list[dict[str, Any]]:
    """Choose `organisation` in the picker: the connection is Linked and
    the sales stage's account options come from it (returned)."""
    from commerce_sync.core.models import Connection

    response = client.post("/setup/organisation", {"organisation": organisation})
    assert response["Location"] == "/setup/stage/accounting"
    books.refresh_from_db()
    assert books.status == Connection.Status.LINKED
    slots = {s["name"]: s for s in client.get("/setup/stage/sales").context["slots"]}
    return list(slots["sales.accounts.sales"]["options"])
