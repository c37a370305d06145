"""The picker a consent leads to when it reaches several books (Exact
administrations, MYOB company files, Sage businesses) as a merchant uses it:
the language switched on it, the page reloaded, the choice sent twice."""

from __future__ import annotations

import contextlib
import html
import re
from collections.abc import Iterator
from typing import Any

import pytest

from commerce_sync.core.models import Connection
from tests.setup_flow.helpers import accounting_consent_and_picker

pytestmark = pytest.mark.django_db


@contextlib.contextmanager
def _double(platform: str, settings: Any) -> Iterator[str]:
    """The platform's double serving two sets of books; yields the id of
    the one the merchant picks."""
    if platform == "sage":
        from tests.connectors.test_sage import _point_at, _seed
        from tests.doubles.sage_double import SageDouble

        with SageDouble(others=("b999",)) as sage:
            _seed(sage)
            _point_at(sage, settings)
            yield "b999"
    elif platform == "myob":
        from tests.connectors.test_myob import _seed as myob_seed
        from tests.doubles.myob_double import MyobDouble

        with MyobDouble(other_files=("Shop Books",)) as myob:
            myob_seed(myob)
            settings.MYOB_API_URL = settings.MYOB_OAUTH_URL = myob.url
            settings.MYOB_CLIENT_ID, settings.MYOB_CLIENT_SECRET = myob.client
            yield str(myob.files[1][0])
    else:
        from tests.doubles.exact_double import ExactDouble

        with ExactDouble(divisions=(499156, 2001)) as exact:
            settings.EXACT_BASE_URL = exact.url
            settings.EXACT_CLIENT_ID = "exact-client"
            settings.EXACT_CLIENT_SECRET = "exact-client-secret"
            yield "2001"


def _language_form_next(page: str) -> str:
    found = re.search(r'name="next" value="([^"]*)"', page)
    assert found, "the page has no language switch"
    return html.unescape(found.group(1))


@pytest.mark.parametrize("platform", ["sage", "myob", "exact"])
def test_switching_language_on_the_picker_keeps_the_choice_to_make(
    client: Any, partner: Any, settings: Any, platform: str
) -> None:
    country = {"sage": "GB", "myob": "AU", "exact": "NL"}[platform]
    with _double(platform, settings) as other:
        books, _, picker = accounting_consent_and_picker(
            client, partner, platform_key=platform, country=country
        )
        assert f'value="{other}"' in picker
        # The language switch sends the merchant back to the page's own
        # address: the consent's callback, whose code is spent by now.
        switched = client.post(
            "/setup/language", {"locale": "fr-fr", "next": _language_form_next(picker)}
        )
        again = client.get(switched["Location"])
        page = again.content.decode()
        assert again.status_code == 200, page
        assert "Choisissez l\u2019organisation" in page and f'value="{other}"' in page
        assert "ne correspond à aucune connexion" not in page
        # Reloaded once more: still the picker, nothing linked meanwhile.
        assert client.get(switched["Location"]).status_code == 200
        books.refresh_from_db()
        assert books.status == Connection.Status.PENDING_AUTH
        chosen = client.post("/setup/organisation", {"organisation": other})
        assert chosen["Location"] == "/setup/stage/accounting"
        books.refresh_from_db()
        assert books.status == Connection.Status.LINKED
        assert other in [str(v) for v in books.settings.values()]


def test_a_choice_sent_twice_is_not_a_page_not_found(
    client: Any, partner: Any, settings: Any
) -> None:
    with _double("sage", settings) as other:
        books, _, _ = accounting_consent_and_picker(
            client, partner, platform_key="sage", country="GB"
        )
        first = client.post("/setup/organisation", {"organisation": other})
        # A double click: the second request arrives once the first saved.
        second = client.post("/setup/organisation", {"organisation": other})
        assert first["Location"] == second["Location"] == "/setup/stage/accounting"
        books.refresh_from_db()
        assert books.status == Connection.Status.LINKED
        assert books.settings["business_id"] == other
