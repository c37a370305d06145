"""Partner API authorisation of the accounting targets of issue 17
(FreeAgent, Exact Online, MYOB Business, Sage Accounting): a connection
made Linked through the API can build its target, and a body in the wrong
shape is a 400 naming the key."""

from __future__ import annotations

import pytest

from commerce_sync.core.models import Connection
from commerce_sync.core.services import connections as connection_services
from tests.api.codat_sync_schema import assert_error, partner_api
from tests.factories import ConnectionFactory

TOKENS = {"access_token": "a", "refresh_token": "r"}
GUID = "6f8e9c1a-7b2d-4c3e-9f10-112233445566"


@pytest.fixture
def api(client, partner):
    return partner_api(client, partner)


def _pending(merchant, platform_key: str) -> Connection:
    return ConnectionFactory(
        merchant=merchant, platform_key=platform_key, status="PendingAuth", credentials={}
    )


def _put(api, connection: Connection, body: dict[str, str]):
    url = f"/companies/{connection.merchant_id}/connections/{connection.pk}/authorization"
    return api("put", url, body)


@pytest.mark.parametrize(
    ("platform_key", "settings_body", "setting"),
    [
        ("sage", {"business_id": "b1f2"}, ("business_id", "b1f2")),
        ("myob", {"company_file": GUID}, ("company_file", GUID)),
    ],
)
def test_sage_and_myob_authorizations_keep_their_choice_and_build_a_target(
    api, merchant, platform_key, settings_body, setting
):
    connection = _pending(merchant, platform_key)
    response = _put(api, connection, {**TOKENS, **settings_body})
    assert response.status_code == 200, response.content
    connection.refresh_from_db()
    assert connection.status == "Linked"
    assert connection.credentials == TOKENS
    assert connection.settings[setting[0]] == setting[1]
    connection_services.connection_target(connection=connection)  # raises if unusable


@pytest.mark.parametrize(
    ("platform_key", "key"), [("sage", "business_id"), ("myob", "company_file")]
)
def test_sage_and_myob_tokens_without_their_choice_are_a_400_naming_it(
    api, merchant, platform_key, key
):
    connection = _pending(merchant, platform_key)
    assert_error(_put(api, connection, TOKENS), 400, field=key)
    connection.refresh_from_db()
    assert connection.status == "PendingAuth" and connection.credentials == {}


@pytest.mark.parametrize(
    "company_file", ["cf-1", "../Sale/Invoice", GUID + "0", GUID.replace("-", ""), " "]
)
def test_a_myob_company_file_that_is_not_a_guid_is_a_400_naming_it(api, merchant, company_file):
    connection = _pending(merchant, "myob")
    response = _put(api, connection, {**TOKENS, "company_file": company_file})
    assert_error(response, 400, field="company_file")
    text = response.content.decode()
    assert ("no company file chosen" if not company_file.strip() else "ids are GUIDs") in text
    connection.refresh_from_db()
    assert connection.status == "PendingAuth" and connection.credentials == {}
    assert "company_file" not in connection.settings
    # In capitals and with spaces it is the same GUID: kept as MYOB writes it.
    response = _put(api, connection, {**TOKENS, "company_file": f" {GUID.upper()} "})
    assert response.status_code == 200, response.content
    connection.refresh_from_db()
    assert connection_services.connection_target(connection=connection).client.company_file == GUID


@pytest.mark.parametrize("platform_key", ["freeagent", "exact", "myob", "sage"])
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"access_token": "a"}, "refresh_token"),
        ({**TOKENS, "api_key": "k"}, "api_key"),
        ({**TOKENS, "expires_at": "tomorrow"}, "expires_at"),
    ],
)
def test_wrong_shapes_are_a_400_naming_the_key(api, merchant, platform_key, body, field):
    connection = _pending(merchant, platform_key)
    extra = {
        "exact": {"division": "499156", "host": "nl"},
        "myob": {"company_file": GUID},
        "sage": {"business_id": "b1f2"},
    }.get(platform_key, {})
    assert_error(_put(api, connection, {**body, **extra}), 400, field=field)
    connection.refresh_from_db()
    assert connection.status == "PendingAuth"


def test_the_four_targets_are_listed_with_their_logos(api):
    rows = {row["key"]: row for row in api("get", "/config/integrations").json()["results"]}
    names = {"freeagent": "FreeAgent", "exact": "Exact Online", "myob": "MYOB Business"}
    names["sage"] = "Sage Accounting"
    for key, name in names.items():
        assert (rows[key]["name"], rows[key]["sourceType"]) == (name, "Accounting")
        path = rows[key]["logoUrl"].split("://", 1)[-1].split("/", 1)[1]
        assert path.endswith(f"static/integrations/{key}.svg")


def test_a_freeagent_authorization_may_name_its_transit_category(api, merchant):
    connection = _pending(merchant, "freeagent")
    assert_error(
        _put(api, connection, {**TOKENS, "transit_category": "suspense"}),
        400,
        field="transit_category",
    )
    connection.refresh_from_db()
    assert connection.status == "PendingAuth" and "transit_category" not in connection.settings
    response = _put(api, connection, {**TOKENS, "transit_category": "750"})
    assert response.status_code == 200, response.content
    connection.refresh_from_db()
    assert connection.credentials == TOKENS  # the category is a setting, not a secret
    assert connection.settings["transit_category"] == "750"
    target = connection_services.connection_target(connection=connection)
    assert target.transit_category == "750"


@pytest.mark.parametrize(
    "business_id",
    ["b1\r\nX-Injected: 1", "   ", "b 1", "x" * 101, "bé1", "b1\t"],
    ids=["line-break", "blank", "space", "too-long", "non-ascii", "tab"],
)
def test_a_sage_business_id_that_cannot_travel_as_a_header_is_a_400(api, merchant, business_id):
    # It is sent as X-Business on every call: accepted, the connection would
    # be Linked and every sync would then fail (or smuggle a header).
    connection = _pending(merchant, "sage")
    assert_error(
        _put(api, connection, {**TOKENS, "business_id": business_id}), 400, field="business_id"
    )
    connection.refresh_from_db()
    assert connection.status == "PendingAuth" and "business_id" not in connection.settings


@pytest.mark.parametrize(("sent", "kept"), [(" 750 ", "750"), ("\u0667\u0665\u0660", None)])
def test_a_freeagent_transit_category_is_kept_as_freeagent_names_it(api, merchant, sent, kept):
    # " 750 " is category 750 (kept without its spaces); Arabic-Indic digits
    # pass str.isdigit() yet name no FreeAgent category.
    connection = _pending(merchant, "freeagent")
    response = _put(api, connection, {**TOKENS, "transit_category": sent})
    connection.refresh_from_db()
    if kept is None:
        assert_error(response, 400, field="transit_category")
        assert "transit_category" not in connection.settings
    else:
        assert response.status_code == 200, response.content
        assert connection.settings["transit_category"] == kept
        assert connection_services.connection_target(connection=connection).transit_category == kept


def test_options_behind_a_refused_grant_say_to_authorise_again(api, merchant, settings):
    # Tokens FreeAgent does not know (or no longer honours): get-configuration
    # still answers, and its warning says what to do, once, in one sentence
    # each (not "... connect FreeAgent again.. try again shortly").
    from tests.connectors.test_freeagent import uk_company
    from tests.doubles.freeagent_double import FreeAgentDouble

    with FreeAgentDouble(uk_company()) as double:
        settings.FREEAGENT_API_URL = double.api_url
        connection = ConnectionFactory(
            merchant=merchant,
            platform_key="freeagent",
            status="PendingAuth",
            credentials={},
            accounting=True,
        )
        expired = {**TOKENS, "expires_at": "2020-01-01T00:00:00Z"}
        assert _put(api, connection, expired).status_code == 200
        body = api("get", f"/config/companies/{merchant.pk}/sync/commerce").json()
    (warning,) = body["warnings"]
    assert warning["validatorName"] == "OptionsUnavailable"
    message = warning["message"]
    assert "FreeAgent no longer accepts" in message and ".." not in message
    assert "authorised again" in message and "try again shortly" not in message


@pytest.mark.parametrize("division", ["\u0661\u0662\u0663", "+12", "12.0", "abc", "2147483648"])
def test_an_exact_division_that_is_not_exacts_number_is_a_400(api, merchant, division):
    # int() reads "١٢٣" as 123 and "+12" as 12: the connection would post to
    # an administration nobody chose. Exact's Division is an Int32.
    connection = _pending(merchant, "exact")
    body = {**TOKENS, "division": division, "host": "nl"}
    error = assert_error(_put(api, connection, body), 400, field="division")
    assert "as Exact lists it" in str(error)
    connection.refresh_from_db()
    assert connection.status == "PendingAuth" and "division" not in connection.settings
