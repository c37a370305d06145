"""Connections through the partner API: list, create, unlink (with the
platform grant revoked where possible) and authorise (encrypted, never echoed)."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from commerce_sync.core.models import AuditLog, Connection
from commerce_sync.core.services import connections as connection_services
from tests.api.codat_sync_schema import assert_codat, assert_error, assert_sdk_reads, partner_api
from tests.factories import ConnectionFactory, MerchantFactory


@pytest.fixture
def api(client, partner):
    return partner_api(client, partner)


def path(merchant, *rest: str) -> str:
    return "/".join([f"/companies/{merchant.pk}/connections", *rest])


def test_create_connection_is_pending_auth_in_codats_shape(api, merchant):
    response = api("post", path(merchant), {"platformKey": "square"})
    assert response.status_code == 200
    body = response.json()
    assert_codat("Connection", body)
    connection = assert_sdk_reads("Connection", body)
    assert connection.status == "PendingAuth" and connection.source_type == "Commerce"
    assert body["integrationKey"] == "square" and body["platformName"] == "Square"
    row = Connection.objects.get(pk=body["id"])
    assert (row.merchant, row.platform_key, row.source_type) == (merchant, "square", "commerce")
    assert row.credentials == {}
    assert AuditLog.objects.filter(action="connection.create", object_id=str(row.pk)).exists()
    accounting = api("post", path(merchant), {"platformKey": "xero"}).json()
    assert accounting["sourceType"] == "Accounting"
    # integrationId and sourceId are stable per platform.
    again = api("post", path(MerchantFactory(partner=merchant.partner)), {"platformKey": "xero"})
    assert again.json()["integrationId"] == accounting["integrationId"]
    assert again.json()["sourceId"] == accounting["sourceId"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "platformKey"),
        ({"platformKey": "gbol"}, "platformKey"),
        ({"platformKey": 7}, "platformKey"),
        ({"platformKey": "square", "extra": 1}, "extra"),
    ],
)
def test_create_connection_refuses_bad_bodies(api, merchant, body, field):
    assert_error(api("post", path(merchant), body), 400, field=field)
    assert not Connection.objects.exists()


def test_a_second_active_accounting_connection_is_refused(api, merchant):
    ConnectionFactory(merchant=merchant, accounting=True)
    assert_error(api("post", path(merchant), {"platformKey": "xero"}), 400, field="platformKey")
    assert Connection.objects.filter(merchant=merchant).count() == 1


def test_list_connections_pages_and_queries(api, merchant):
    square = ConnectionFactory(merchant=merchant, platform_key="square")
    ConnectionFactory(merchant=merchant, accounting=True)
    ConnectionFactory(merchant=merchant, platform_key="zettle", status="Unlinked")
    ConnectionFactory()  # another merchant's
    body = api("get", path(merchant)).json()
    assert_codat("Connections", body)
    assert_sdk_reads("Connections", body)
    assert body["totalResults"] == 3
    assert [c["integrationKey"] for c in body["results"]] == ["square", "beancount", "zettle"]
    assert all("credentials" not in json for json in map(str, body["results"]))
    page = api("get", path(merchant) + "?pageSize=1&page=2").json()
    assert [c["integrationKey"] for c in page["results"]] == ["beancount"]
    accounting = api("get", path(merchant) + "?query=" + quote("sourceType=Accounting")).json()
    assert [c["integrationKey"] for c in accounting["results"]] == ["beancount"]
    active = api(
        "get", path(merchant) + "?query=" + quote("status!=Unlinked") + "&orderBy=-created"
    )
    assert [c["id"] for c in active.json()["results"]][-1] == str(square.pk)
    assert_error(api("get", path(merchant) + "?query=colour=red"), 400, field="query")


def test_connections_never_show_credentials(api, merchant):
    connection = ConnectionFactory(merchant=merchant, credentials={"access_token": "s3cr3t-tok"})
    for response in (
        api("get", path(merchant)),
        api("get", f"/companies/{merchant.pk}"),
        api("patch", path(merchant, str(connection.pk)), {"status": None}),
    ):
        assert response.status_code == 200
        assert b"s3cr3t-tok" not in response.content


def test_unlink_a_commerce_connection(api, merchant):
    connection = ConnectionFactory(merchant=merchant, credentials={"access_token": "t"})
    response = api("patch", path(merchant, str(connection.pk)), {"status": "Unlinked"})
    assert response.status_code == 200
    assert_codat("Connection", response.json())
    assert response.json()["status"] == "Unlinked"
    connection.refresh_from_db()
    assert connection.status == "Unlinked" and connection.credentials == {}
    assert AuditLog.objects.filter(action="connection.unlink").count() == 1
    # Again: nothing more happens.
    assert (
        api("patch", path(merchant, str(connection.pk)), {"status": "Unlinked"}).status_code == 200
    )
    assert AuditLog.objects.filter(action="connection.unlink").count() == 1


def test_unlinking_an_accounting_connection_revokes_its_grant(
    api, merchant, monkeypatch, django_capture_on_commit_callbacks
):
    revoked = []
    monkeypatch.setitem(connection_services.REVOKERS, "xero", revoked.append)
    connection = ConnectionFactory(
        merchant=merchant,
        platform_key="xero",
        source_type="accounting",
        credentials={"refresh_token": "r-1", "access_token": "a-1"},
        settings={"tenant_id": "t"},
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = api("patch", path(merchant, str(connection.pk)), {"status": "Unlinked"})
    assert response.status_code == 200
    assert revoked == [{"refresh_token": "r-1", "access_token": "a-1"}]
    audit = AuditLog.objects.get(action="connection.revoke")
    assert audit.changes == {"platform_key": "xero", "outcome": "ok"}
    assert audit.merchant_id == merchant.pk
    # The merchant may now connect another ledger.
    assert api("post", path(merchant), {"platformKey": "quickbooks"}).status_code == 200


def test_a_failing_revoke_leaves_the_connection_unlinked(
    api, merchant, monkeypatch, django_capture_on_commit_callbacks
):
    from commerce_sync.errors import PlatformUnavailable

    def refuse(credentials):
        raise PlatformUnavailable("Xero's sign-in service failed (503)")

    monkeypatch.setitem(connection_services.REVOKERS, "xero", refuse)
    connection = ConnectionFactory(
        merchant=merchant,
        platform_key="xero",
        source_type="accounting",
        credentials={"refresh_token": "r-1"},
        settings={"tenant_id": "t"},
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = api("patch", path(merchant, str(connection.pk)), {"status": "Unlinked"})
    assert response.status_code == 200
    connection.refresh_from_db()
    assert connection.status == "Unlinked"
    assert (
        AuditLog.objects.get(action="connection.revoke").changes["outcome"] == "PlatformUnavailable"
    )


def test_the_xero_revoker_posts_the_refresh_token(monkeypatch):
    posted = []

    class Client:
        def revoke(self, token):
            posted.append(token)

    monkeypatch.setattr(connection_services, "_xero_client", lambda: Client())
    revoker = connection_services._oauth_revoke(lambda: connection_services._xero_client())
    revoker({"refresh_token": "r-9"})
    revoker({})  # nothing to revoke
    assert posted == ["r-9"]


@pytest.mark.parametrize(
    ("body", "field"),
    [({"status": "Linked"}, "status"), ({"status": "Gone"}, "status"), ({"colour": 1}, "colour")],
)
def test_update_connection_refuses_other_changes(api, merchant, body, field):
    connection = ConnectionFactory(merchant=merchant)
    assert_error(api("patch", path(merchant, str(connection.pk)), body), 400, field=field)
    connection.refresh_from_db()
    assert connection.status == "Linked"


def test_update_authorization_stores_credentials_encrypted_and_links(
    api, merchant, raw_credentials
):
    connection = ConnectionFactory(
        merchant=merchant,
        platform_key="http-ledger",
        source_type="accounting",
        status="PendingAuth",
        credentials={},
        settings={"base_url": "https://ledger.example"},
    )
    response = api(
        "put", path(merchant, str(connection.pk), "authorization"), {"api_key": "k-very-secret"}
    )
    assert response.status_code == 200
    assert_codat("Connection", response.json())
    assert response.json()["status"] == "Linked"
    assert b"k-very-secret" not in response.content
    connection.refresh_from_db()
    assert connection.credentials == {"api_key": "k-very-secret"}
    assert "k-very-secret" not in raw_credentials(connection.pk)
    audit = AuditLog.objects.get(action="connection.authorization_update")
    assert audit.changes == {"keys": ["api_key"], "from": "PendingAuth", "to": "Linked"}
    assert "k-very-secret" not in str(AuditLog.objects.values_list("changes", flat=True))


@pytest.mark.parametrize(
    ("body", "field"),
    [({}, "credentials"), ({"api_key": 5}, "api_key"), (["a"], "body")],
)
def test_update_authorization_refuses_bad_bodies(api, merchant, body, field):
    connection = ConnectionFactory(
        merchant=merchant, platform_key="http-ledger", credentials={"access_token": "old"}
    )
    assert_error(
        api("put", path(merchant, str(connection.pk), "authorization"), body), 400, field=field
    )
    connection.refresh_from_db()
    assert connection.credentials == {"access_token": "old"}


@pytest.mark.parametrize(
    ("platform", "body", "fields"),
    [
        ("xero", {"api_key": "k"}, {"access_token", "refresh_token", "api_key", "credentials"}),
        ("xero", {"access_token": "a"}, {"refresh_token", "credentials"}),
        (
            "quickbooks",
            {"access_token": "a", "refresh_token": "r", "realm": "1"},
            {"realm", "credentials"},
        ),
        ("shopify", {"access_token": "a", "refresh_token": " "}, {"refresh_token"}),
        ("xero", {"access_token": "a", "refresh_token": "r", "expires_at": "soon"}, {"expires_at"}),
        ("http-ledger", {"token": "t"}, {"api_key", "token", "credentials"}),
        ("partner", {"client_id": "c"}, {"client_secret", "credentials"}),
        ("beancount", {"api_key": "k"}, {"credentials"}),
        # Clover's settings beside its tokens: a refusal names the key at fault.
        (
            "clover",
            {"access_token": "a", "refresh_token": "r", "merchant_id": "ABC123", "region": "EU"},
            {"region"},
        ),
        (
            "clover",
            {"access_token": "a", "refresh_token": "r", "merchant_id": "AB 12", "region": "eu"},
            {"merchant_id"},
        ),
        # Exact's administration and host come with its tokens.
        ("exact", {"access_token": "a", "refresh_token": "r"}, {"division", "host"}),
        (
            "exact",
            {"access_token": "a", "refresh_token": "r", "division": "x", "host": "nl"},
            {"division"},
        ),
        (
            "exact",
            {"access_token": "a", "refresh_token": "r", "division": "499156", "host": "uk"},
            {"host"},
        ),
    ],
)
def test_update_authorization_refuses_another_platforms_credential_shape(
    api, merchant, platform, body, fields
):
    connection = ConnectionFactory(
        merchant=merchant, platform_key=platform, status="PendingAuth", credentials={}
    )
    response = api("put", path(merchant, str(connection.pk), "authorization"), body)
    assert response.status_code == 400, response.content
    items = {item["itemId"] for item in response.json()["validation"]["errors"]}
    assert items == fields
    if "credentials" in fields:
        message = next(
            e["message"]
            for e in response.json()["validation"]["errors"]
            if e["itemId"] == "credentials"
        )
        assert message.startswith(platform)
    connection.refresh_from_db()
    assert (connection.credentials, connection.status) == ({}, "PendingAuth")


@pytest.mark.parametrize(
    ("platform", "body"),
    [
        ("xero", {"access_token": "a", "refresh_token": "r"}),
        (
            "quickbooks",
            {"access_token": "a", "refresh_token": "r", "expires_at": "2030-01-01T00:00:00Z"},
        ),
        ("partner", {"client_id": "c", "client_secret": "s"}),
        ("partner", {"api_key": "k"}),
    ],
)
def test_update_authorization_accepts_each_platforms_shape(api, merchant, platform, body):
    connection = ConnectionFactory(
        merchant=merchant, platform_key=platform, status="PendingAuth", credentials={}
    )
    response = api("put", path(merchant, str(connection.pk), "authorization"), body)
    assert response.status_code == 200, response.content
    connection.refresh_from_db()
    assert (connection.credentials, connection.status) == (body, "Linked")


def test_a_platform_needing_no_credentials_takes_an_empty_authorization(api, merchant):
    connection = ConnectionFactory(merchant=merchant, platform_key="sandbox", credentials={})
    response = api("put", path(merchant, str(connection.pk), "authorization"), {})
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "Linked"


def test_an_unlinked_connection_cannot_be_authorised(api, merchant):
    connection = ConnectionFactory(
        merchant=merchant, platform_key="http-ledger", status="Unlinked", credentials={}
    )
    response = api("put", path(merchant, str(connection.pk), "authorization"), {"api_key": "v"})
    assert_error(response, 400, field="status")
    connection.refresh_from_db()
    assert connection.credentials == {}


def test_unknown_connections_and_companies_are_404(api, merchant):
    other = ConnectionFactory()  # another merchant of another partner
    assert_error(api("patch", path(merchant, str(other.pk)), {"status": "Unlinked"}), 404)
    assert_error(api("patch", path(merchant, "not-a-uuid"), {"status": "Unlinked"}), 404)
    assert_error(api("get", "/companies/846ed55c-974b-4392-a1f1-87b6fdbf3c5e/connections"), 404)
    other.refresh_from_db()
    assert other.status == "Linked"


def test_an_exact_authorization_keeps_its_administration_and_host_as_settings(api, merchant):
    connection = ConnectionFactory(
        merchant=merchant, platform_key="exact", status="PendingAuth", credentials={}
    )
    body = {"access_token": "a", "refresh_token": "r", "division": "499156", "host": "co.uk"}
    response = api("put", path(merchant, str(connection.pk), "authorization"), body)
    assert response.status_code == 200, response.content
    connection.refresh_from_db()
    assert connection.credentials == {"access_token": "a", "refresh_token": "r"}
    assert (connection.settings["division"], connection.settings["host"]) == ("499156", "co.uk")
    target = connection_services.connection_target(connection=connection)
    assert target.client.base_url == "https://start.exactonline.co.uk"
