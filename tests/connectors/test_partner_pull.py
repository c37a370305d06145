"""The pulled partner source against a local double of a Codat-shaped API."""

from __future__ import annotations

import socket
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from commerce_sync.core.services.connections import connection_source
from commerce_sync.errors import CredentialsRevoked, PlatformUnavailable, RateLimited
from connectors.partner.adapter import PartnerCommerceSource
from connectors.partner.client import PartnerAuth, PartnerClient
from connectors.partner.ssrf import UnsafeUrl, url_check
from connectors.sandbox.generator import Merchant, generate_day, reference_data
from tests.doubles import codat_schema
from tests.doubles.partner_double import DATA_TYPES, PartnerDouble
from tests.factories import ConnectionFactory

CAFE = Merchant(seed="partner-cafe", time_zone="Europe/London", currency="GBP", orders_per_day=12)
START = datetime(2026, 11, 8, tzinfo=UTC)
END = datetime(2026, 11, 9, tzinfo=UTC)


def codat_data() -> dict[str, list[dict]]:
    """Three days of a café, as the partner's API would hold them."""
    orders, transactions = [], []
    for day in (date(2026, 11, 7), date(2026, 11, 8), date(2026, 11, 9)):
        o, t = generate_day(CAFE, day)
        orders += o
        transactions += t
    # An order of the 7th edited on the 8th: must be read with the 8th.
    orders[0] = {**orders[0], "modifiedDate": "2026-11-08T10:00:00Z", "totalGratuity": Decimal(1)}
    reference = reference_data(CAFE)
    return {
        "commerce-orders": orders,
        "commerce-transactions": transactions,
        "commerce-locations": reference["locations"],
        "commerce-paymentMethods": reference["paymentMethods"],
        "commerce-taxComponents": reference["taxComponents"],
        "commerce-productCategories": reference["productCategories"],
        "commerce-products": reference["products"],
    }


@pytest.fixture
def allow_loopback(settings):
    # The double listens on loopback, which the SSRF check refuses unless allowed.
    settings.PARTNER_ALLOWED_HOSTS = ["127.0.0.1"]


@pytest.fixture
def double(allow_loopback):
    with PartnerDouble(codat_data()) as running:
        yield running
    for data_type, body in running.responses:
        assert codat_schema.problems(DATA_TYPES[data_type], body) == [], data_type


def make_source(double: PartnerDouble, *, page_size: int = 5, sleeps: list | None = None, **auth):
    auth = auth or {"kind": "api_key", "header": "X-Api-Key", "api_key": double.api_key}
    client = PartnerClient(
        base_url=double.base_url,
        auth=PartnerAuth(**auth),
        page_size=page_size,
        backoff=0.01,
        sleep=(sleeps.append if sleeps is not None else lambda s: None),
    )
    return PartnerCommerceSource(client)


def created_in(records: list[dict], start: datetime, end: datetime) -> set[str]:
    return {r["id"] for r in records if start <= datetime.fromisoformat(r["createdDate"]) < end}


def test_a_period_reads_every_page_of_created_and_modified_records(double):
    batch = make_source(double).read_period(start=START, end=END)

    data = double.data
    expected_orders = created_in(data["commerce-orders"], START, END) | {
        data["commerce-orders"][0]["id"]
    }
    assert {o["id"] for o in batch.orders} == expected_orders
    assert len(batch.orders) == len(expected_orders)  # no duplicates across the two queries
    assert {t["id"] for t in batch.transactions} == created_in(
        data["commerce-transactions"], START, END
    )
    assert len(batch.products) == len(data["commerce-products"]) > 5  # several pages
    assert batch.locations and batch.payment_methods and batch.product_categories
    # Amounts are exact Decimals, never floats.
    assert isinstance(batch.orders[0]["totalAmount"], Decimal)
    assert batch.api_calls == len(double.requests)

    order_pages = [p for path, p in double.requests if path.endswith("/commerce-orders")]
    created_query = "createdDate>=2026-11-08T00:00:00Z&&createdDate<2026-11-09T00:00:00Z"
    modified_query = "modifiedDate>=2026-11-08T00:00:00Z&&modifiedDate<2026-11-09T00:00:00Z"
    assert {p["query"][0] for p in order_pages} == {created_query, modified_query}
    created_pages = [p for p in order_pages if p["query"] == [created_query]]
    assert [p["page"] for p in created_pages] == [
        [str(n)] for n in range(1, len(created_pages) + 1)
    ]
    assert len(created_pages) > 2


def test_records_created_after_the_period_are_left_for_the_next(double):
    late = double.data["commerce-orders"][-1]
    late["modifiedDate"] = "2026-11-08T12:00:00Z"  # modified in the period, created after it
    batch = make_source(double).read_period(start=START, end=END)
    assert late["id"] not in {o["id"] for o in batch.orders}


def test_transient_faults_are_retried_with_backoff(double):
    double.fail_next(429, {"Retry-After": "2"})
    double.fail_next(503)
    sleeps: list[float] = []
    batch = make_source(double, sleeps=sleeps).read_period(start=START, end=END)
    assert batch.orders
    assert sleeps[0] == 2.0  # Retry-After honoured exactly
    assert 0.01 <= sleeps[1] <= 0.02  # the second attempt backs off twice as long


def test_persistent_faults_raise_the_taxonomy(double):
    source = make_source(double)
    for _ in range(4):
        double.fail_next(503)
    with pytest.raises(PlatformUnavailable):
        source.read_period(start=START, end=END)

    double.fail_next(429, {"Retry-After": "120"})  # too long to wait inside a sync
    with pytest.raises(RateLimited) as limited:
        source.read_period(start=START, end=END)
    assert limited.value.retry_after == 120.0


def test_refused_credentials_mean_revoked(double):
    source = make_source(double, kind="api_key", header="X-Api-Key", api_key="wrong")
    with pytest.raises(CredentialsRevoked):
        source.read_period(start=START, end=END)
    double.fail_next(403)
    with pytest.raises(CredentialsRevoked):
        make_source(double).read_period(start=START, end=END)


def test_client_credentials_fetches_a_token_once(double):
    source = make_source(
        double,
        kind="client_credentials",
        token_url=double.origin + "/oauth/token",
        client_id="client",
        client_secret="secret",
    )
    assert source.read_period(start=START, end=END).orders
    assert double.tokens == {"token-1"}

    bad = make_source(
        double,
        kind="client_credentials",
        token_url=double.origin + "/oauth/token",
        client_id="client",
        client_secret="nope",
    )
    with pytest.raises(CredentialsRevoked):
        bad.read_period(start=START, end=END)


def test_the_registry_builds_the_source_from_the_connection(double, db):
    connection = ConnectionFactory(
        platform_key="partner",
        settings={
            "base_url": double.base_url,
            "auth": {"type": "api_key", "header": "X-Api-Key"},
            "page_size": 50,
        },
        credentials={"api_key": double.api_key},
    )
    source = connection_source(connection=connection)
    assert isinstance(source, PartnerCommerceSource)
    assert double.api_key not in repr(source.client) + repr(source.client.auth)
    assert source.read_period(start=START, end=END).orders


# -- SSRF --


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/data",
        "http://10.1.2.3/data",
        "http://192.168.0.10/data",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/data",
        "http://[fe80::1]/data",
        "http://[::ffff:127.0.0.1]/data",
        "http://0.0.0.0/data",
        "http://224.0.0.1/data",
        "http://localhost/data",
        "file:///etc/passwd",
        "http://user:pw@203.0.113.9/data",
    ],
)
def test_internal_addresses_are_refused(settings, url):
    settings.PARTNER_ALLOWED_HOSTS = []
    with pytest.raises(UnsafeUrl):
        url_check(url)


def fake_dns(monkeypatch, answers: dict[str, str]) -> None:
    real = socket.getaddrinfo

    def lookup(host, port, *args, **kwargs):
        if host in answers:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answers[host], port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", lookup)


def test_a_name_resolving_to_loopback_is_refused_and_a_public_one_passes(settings, monkeypatch):
    settings.PARTNER_ALLOWED_HOSTS = []
    fake_dns(monkeypatch, {"sneaky.example": "127.0.0.1", "partner.example": "93.184.216.34"})
    with pytest.raises(UnsafeUrl, match="internal address"):
        url_check("https://sneaky.example/api")
    url_check("https://partner.example/api")


def test_the_operator_allow_list_admits_hosts_addresses_and_networks(settings, monkeypatch):
    fake_dns(monkeypatch, {"pos.internal": "10.0.0.7"})
    settings.PARTNER_ALLOWED_HOSTS = ["pos.internal"]
    url_check("http://pos.internal/api")
    settings.PARTNER_ALLOWED_HOSTS = ["10.0.0.0/24"]
    url_check("http://pos.internal/api")
    url_check("http://10.0.0.99/api")
    with pytest.raises(UnsafeUrl):
        url_check("http://10.0.1.1/api")


def test_without_the_allow_list_the_double_is_never_called(settings):
    settings.PARTNER_ALLOWED_HOSTS = []
    with PartnerDouble(codat_data()) as running:
        with pytest.raises(UnsafeUrl):
            make_source(running).read_period(start=START, end=END)
        assert running.requests == []


def test_redirects_are_checked_hop_by_hop(double):
    double.fail_next(302, {"Location": "http://169.254.169.254/latest/meta-data"})
    with pytest.raises(UnsafeUrl):
        make_source(double).read_period(start=START, end=END)
