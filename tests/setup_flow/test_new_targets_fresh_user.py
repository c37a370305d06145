"""A fresh merchant connecting the accounting targets of issue 17 (Sage,
MYOB, Exact, FreeAgent) through the setup flow, as a merchant would break it."""

from __future__ import annotations

from typing import Any

import pytest

from commerce_sync.core.models import Connection
from commerce_sync.core.services.connections import connection_create
from tests.connectors.test_myob import _seed as myob_seed
from tests.connectors.test_sage import _point_at, _seed
from tests.doubles.myob_double import MyobDouble
from tests.doubles.sage_double import SageDouble
from tests.factories import MerchantFactory
from tests.setup_flow.helpers import start_path
from tests.setup_flow.test_oauth_platforms import consent_screen

pytestmark = pytest.mark.django_db


def _callback_page(client: Any, partner: Any, platform_key: str, **link: str) -> tuple[Any, Any]:
    merchant = MerchantFactory(partner=partner, country="GB")
    connection_create(merchant=merchant, platform_key="sandbox", source_type="commerce")
    books = connection_create(
        merchant=merchant, platform_key=platform_key, source_type="accounting"
    )
    client.get(start_path(merchant, **link))
    _, callback = consent_screen(client, books)
    return books, client.get(callback)


def test_a_sage_login_reaching_no_business_is_told_what_to_do(
    client: Any, partner: Any, settings: Any
) -> None:
    with SageDouble() as sage:
        _seed(sage)
        _point_at(sage, settings)
        sage.businesses.clear()
        books, page = _callback_page(client, partner, "sage")
        # Not a silent return to the stage with the connection still waiting.
        assert page.status_code == 400
        text = page.content.decode()
        assert "Sage Accounting gave access to nothing to post to" in text
        assert "then connect again" in text
        books.refresh_from_db()
        assert books.status == Connection.Status.PENDING_AUTH
        assert sage.violations == []


def test_a_myob_login_reaching_no_company_file_is_told_so_in_french(
    client: Any, partner: Any, settings: Any
) -> None:
    with MyobDouble() as myob:
        myob_seed(myob)
        settings.MYOB_API_URL = settings.MYOB_OAUTH_URL = myob.url
        settings.MYOB_CLIENT_ID, settings.MYOB_CLIENT_SECRET = myob.client
        myob.files.clear()
        books, page = _callback_page(client, partner, "myob", locale="fr-fr")
        assert page.status_code == 400
        text = page.content.decode()
        assert "MYOB Business n\u2019a donné accès à rien où comptabiliser" in text
        assert "gave access" not in text
        books.refresh_from_db()
        assert books.status == Connection.Status.PENDING_AUTH
