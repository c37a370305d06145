"""A grant revoked, and an access token expiring, in the middle of a sync:
FreeAgent, Exact Online, MYOB Business and Sage Accounting end to end.

Each test drives the real sync service (`sync_run_execute`, PostgreSQL)
writing the shared UK café day (`uk-cafe-invoice.json`) into the platform's
strict double, through the registry's target, the connection's stored
tokens and the row-locked refresh (`ConnectionTokenSource`). One `Rig` per
platform says what differs (settings, seed, where the keys and balances
are); the grant's troubles are made the same way for all four by
`after_writes`, which acts on the double between two of the day's writes.

* Revoked: the user removes the app after some documents are written; the
  next call answers 401 and the refresh `invalid_grant`. The run ends 4040
  in plain words, the connection is Deauthorized (audited, alerted,
  webhooked), nothing is written twice; the merchant connects again in the
  setup flow (Reconnect, the platform's consent screen) and the next run
  writes exactly the rest, once.
* Expired: the token's lifetime runs out mid-run (the clock moves on, the
  platform forgets the token) and the run refreshes it once, before the
  call, under the row lock; or the platform refuses it early (a 401) and the
  run refreshes it once and goes on. Exact renews a token only in its last
  30 s (third-party facts in the reference README), so one with more left
  is kept. Lifetimes are the doubles' (FreeAgent 1 h, Exact 10 min, MYOB
  20 min, Sage 5 min).
"""

from __future__ import annotations

import itertools
import json
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from django.utils import timezone

from commerce_sync.api.syncs import company_sync_status
from commerce_sync.core.models import AuditLog, Connection, Incident, SyncRun
from commerce_sync.core.platforms import NAMES
from commerce_sync.core.services.connections import connection_create
from commerce_sync.syncs.recovery import push_items_retry_failed
from commerce_sync.syncs.runs import sync_run_execute
from commerce_sync.webhooks.models import WebhookEndpoint, WebhookEvent
from connectors.oauth import OAuthClient
from mapping.preview import preview
from tests import secrets_guard
from tests.api.codat_sync_schema import assert_codat
from tests.connectors import test_exact, test_freeagent, test_myob, test_sage
from tests.connectors.test_xero import scenario_merchant
from tests.doubles.exact_double import ExactDouble
from tests.doubles.freeagent_double import FreeAgentDouble
from tests.doubles.myob_double import MyobDouble
from tests.doubles.sage_double import SageDouble
from tests.setup_flow.helpers import start_path

SCENARIO = "uk-cafe-invoice.json"
FIRST, UNTIL = date(2026, 11, 2), date(2026, 11, 3)
NOW = datetime(2026, 11, 10, 9, 0, tzinfo=UTC)
GRANTS = itertools.count(1)  # FreeAgent's tokens of each new consent
DIVISIONS = itertools.count(330001)  # the shared limiter counts 60 calls a minute each


# -- what differs per platform -------------------------------------------------------------


@dataclass(frozen=True)
class Rig:
    """One platform's double and connection for the shared scenario.
    `lifetime`: seconds an access token lasts (the double's `expires_in`);
    `margin`: how early the core renews it (the platform's
    `refresh_margin_seconds`, else the core's 120 s); `renew_within`: the
    platform refuses a renewal earlier than this many seconds before expiry
    (Exact), None where no such rule is known."""

    platform_key: str
    name: str  # as the merchant reads it in messages
    lifetime: int
    margin: int
    renew_within: int | None
    open: Callable[[Any, list[dict[str, Any]]], Any]  # (settings, documents) -> context manager
    connection_settings: Callable[[Any], dict[str, Any]]
    tokens: Callable[[Any], tuple[str, str]]  # (access, refresh) the double honours now
    keys: Callable[[Any], Counter[str]]  # push key -> resources holding it
    balances: Callable[[Any, dict[str, Any]], tuple[dict[str, Decimal], dict[str, Decimal]]]
    scenario: Callable[[], dict[str, Any]]


def _scenario() -> dict[str, Any]:
    return json.loads((test_exact.SCENARIOS / SCENARIO).read_text(), parse_float=Decimal)


def _control_balances(
    found: dict[str, Decimal], scenario: dict[str, Any]
) -> tuple[dict[str, Decimal], dict[str, Decimal]]:
    """(found, wanted) for the doubles keeping receivable 1300, payable 1600
    and every tax on 2200 (Exact, MYOB, Sage): the control accounts net to
    zero over the day, the rest is the scenario's expected balances."""
    found = dict(found)
    assert found.pop("1300", Decimal(0)) == 0
    assert found.pop("1600", Decimal(0)) == 0
    wanted: dict[str, Decimal] = defaultdict(Decimal)
    for account, amount in scenario["expected"]["invoice"]["balances"].items():
        wanted["2200" if account.startswith("TAX:") else account] += Decimal(amount)
    return found, {k: v for k, v in wanted.items() if v}


# FreeAgent ---------------------------------------------------------------------------------


@contextmanager
def _freeagent(settings: Any, documents: list[dict[str, Any]]) -> Iterator[FreeAgentDouble]:
    _, banks = test_freeagent.freeagent_scenario(SCENARIO)
    with FreeAgentDouble(test_freeagent.company_for(documents, banks)) as double:
        settings.FREEAGENT_API_URL = double.api_url
        settings.FREEAGENT_CLIENT_ID = "client-id"
        settings.FREEAGENT_CLIENT_SECRET = "client-secret"
        yield double
        assert double.violations == []


def _freeagent_keys(double: FreeAgentDouble) -> Counter[str]:
    """The key marker ("[...]" at the end of a description, comment or
    reference) of every resource FreeAgent holds, counted."""
    held: Counter[str] = Counter()
    for kind, rows in double.books.documents.items():
        if kind == "credit_note_reconciliations":
            continue
        for row in rows:
            text = str(row.get("description") or row.get("comments") or row.get("reference") or "")
            held[text[text.rfind("[") :] if text.endswith("]") else text] += 1
    return held


def _freeagent_balances(
    double: FreeAgentDouble, scenario: dict[str, Any]
) -> tuple[dict[str, Decimal], dict[str, Decimal]]:
    found = double.books.nonzero_balances()
    assert found.pop(test_freeagent.DEBTORS, Decimal(0)) == 0
    assert found.pop(test_freeagent.CREDITORS, Decimal(0)) == 0
    _, banks = test_freeagent.freeagent_scenario(SCENARIO)
    wanted = test_freeagent.expected_balances(scenario, banks)
    return found, {k: Decimal(v) for k, v in wanted.items()}


FREEAGENT = Rig(
    platform_key="freeagent",
    name="FreeAgent",
    lifetime=3600,
    margin=120,
    renew_within=None,
    open=_freeagent,
    connection_settings=lambda double: {"transit_category": test_freeagent.TRANSIT},
    tokens=lambda double: (double.access_token, double.refresh_token),
    keys=_freeagent_keys,
    balances=_freeagent_balances,
    scenario=lambda: test_freeagent.freeagent_scenario(SCENARIO)[0],
)


# Exact Online ------------------------------------------------------------------------------


@contextmanager
def _exact(settings: Any, documents: list[dict[str, Any]]) -> Iterator[ExactDouble]:
    with ExactDouble(division=next(DIVISIONS)) as exact:
        test_exact._seed(exact)
        test_exact._seed_for(exact, documents)
        settings.EXACT_BASE_URL = exact.url
        settings.EXACT_CLIENT_ID, settings.EXACT_CLIENT_SECRET = exact.client
        yield exact
        assert exact.violations == []


EXACT = Rig(
    platform_key="exact",
    name="Exact Online",
    lifetime=600,
    margin=25,
    renew_within=30,
    open=_exact,
    connection_settings=lambda exact: {"division": exact.division, "host": "nl"},
    tokens=lambda exact: (exact.token, exact.refresh_token),
    keys=test_exact._keys_in,
    balances=lambda exact, scenario: _control_balances(exact.books.balances(), scenario),
    scenario=_scenario,
)


# MYOB Business -----------------------------------------------------------------------------


@contextmanager
def _myob(settings: Any, documents: list[dict[str, Any]]) -> Iterator[MyobDouble]:
    with MyobDouble() as myob:
        test_myob._seed(myob)
        test_myob._seed_for(myob, documents)
        settings.MYOB_API_URL = settings.MYOB_OAUTH_URL = myob.url
        settings.MYOB_CLIENT_ID, settings.MYOB_CLIENT_SECRET = myob.client
        yield myob
        assert myob.violations == []


MYOB = Rig(
    platform_key="myob",
    name="MYOB",
    lifetime=1200,
    margin=60,
    renew_within=None,
    open=_myob,
    connection_settings=lambda myob: {
        "company_file": myob.company_file,
        "receivable_account": "1300",
        "payable_account": "1600",
    },
    tokens=lambda myob: (myob.token, myob.refresh_token),
    keys=lambda myob: myob.keys_written(),
    balances=lambda myob, scenario: _control_balances(myob.books.balances(), scenario),
    scenario=_scenario,
)


# Sage Accounting ---------------------------------------------------------------------------


@contextmanager
def _sage(settings: Any, documents: list[dict[str, Any]]) -> Iterator[SageDouble]:
    with SageDouble(debtors="1300", creditors="1600") as sage:
        test_sage._seed(sage)
        test_sage._seed_for(sage, documents)
        test_sage._point_at(sage, settings)
        yield sage
        assert sage.violations == []


SAGE = Rig(
    platform_key="sage",
    name="Sage Accounting",
    lifetime=300,
    margin=60,
    renew_within=None,
    open=_sage,
    connection_settings=lambda sage: {
        "business_id": sage.business_id,
        "debtors_account": "1300",
        "creditors_account": "1600",
    },
    tokens=lambda sage: (sage.token, sage.refresh_token),
    keys=test_sage._written_references,
    balances=lambda sage, scenario: _control_balances(sage.books.balances(), scenario),
    scenario=_scenario,
)

RIGS = [FREEAGENT, EXACT, MYOB, SAGE]


# -- the grant's troubles, the same way for every double -------------------------------------


def platform_forgets_tokens(double: Any) -> None:
    """The access tokens the double issued stop working (expired, or the
    user removed the app); a refresh token it holds still works."""
    if isinstance(double, FreeAgentDouble):
        double.access_token = "fa-access-forgotten"
    else:
        double.valid_tokens.clear()


def platform_revokes_grant(double: Any) -> None:
    """The user removed the app: no access token works and the stored
    refresh token is refused (`invalid_grant`). A new consent gets new ones."""
    platform_forgets_tokens(double)
    if isinstance(double, FreeAgentDouble):
        again = next(GRANTS)
        double.access_token, double.refresh_token = f"fa-access-g{again}", f"fa-refresh-g{again}"
        secrets_guard.register(double.access_token, double.refresh_token)
    else:
        double.refresh_token = f"{double.refresh_token}-granted-again"
        secrets_guard.register(double.refresh_token)


@dataclass
class Traffic:
    """What the double answered: statuses of API calls and the writes made."""

    statuses: list[int]
    actions: dict[int, Callable[[], None]]  # those not yet run
    writes: int = 0


def after_writes(double: Any, actions: dict[int, Callable[[], None]]) -> Traffic:
    """Wrap `double.handle` so that `actions[n]()` runs once the n-th write
    (a POST the double accepted) has been made, before its answer leaves:
    the next call meets what the action changed. Returns the traffic seen."""
    traffic = Traffic(statuses=[], actions=dict(actions))
    handle = double.handle

    def watched(*args: Any) -> Any:
        answer = handle(*args)
        method = getattr(args[0], "method", args[0])
        status = int(answer[0])
        traffic.statuses.append(status)
        path = str(getattr(args[0], "path", None) or (args[1] if len(args) > 1 else ""))
        # Exact's processing of an invoice (PrintedSalesInvoices) finishes a
        # document already written, as FreeAgent's mark-as-sent does: not a write.
        if method == "POST" and status < 300 and "token" not in path and "Printed" not in path:
            traffic.writes += 1
            action = traffic.actions.pop(traffic.writes, None)
            if action is not None:
                action()
        return answer

    double.handle = watched
    return traffic


class Clock:
    """`django.utils.timezone.now` moved on by `advance`: the stored tokens'
    expiry is read against it (the platform's side is `platform_forgets_tokens`)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.offset = timedelta(0)
        real = timezone.now
        monkeypatch.setattr(timezone, "now", lambda: real() + self.offset)

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


@dataclass
class Books:
    """A UK café merchant whose day goes into `double` through `connection`."""

    rig: Rig
    double: Any
    merchant: Any
    connection: Connection
    documents: list[dict[str, Any]]
    scenario: dict[str, Any]

    def sync(self) -> SyncRun:
        run = sync_run_execute(merchant=self.merchant, first=FIRST, until=UNTIL, now=NOW)
        assert run is not None
        return run

    def assert_every_document_once(self) -> None:
        """Each document of the day held once, no other, and the books are
        the scenario's expected balances."""
        held = self.rig.keys(self.double)
        assert set(held.values()) == {1}, held
        assert len(held) == len(self.documents), held
        found, wanted = self.rig.balances(self.double, self.scenario)
        assert found == wanted


@pytest.fixture
def books(
    request: pytest.FixtureRequest,
    partner: Any,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Books]:
    """`Books` of the platform `request.param` (a `Rig`), its connection
    Linked with the double's current tokens, valid for the whole lifetime."""
    rig: Rig = request.param
    scenario = rig.scenario()
    result = preview(json.loads(json.dumps(scenario, default=str), parse_float=Decimal))
    assert not result.errors, result.errors
    documents = json.loads(json.dumps([d.as_json() for d in result.documents]))
    with rig.open(settings, documents) as double:
        made: list[Connection] = []

        def connect(merchant: Any) -> None:
            access, refresh = rig.tokens(double)
            made.append(
                connection_create(
                    merchant=merchant,
                    platform_key=rig.platform_key,
                    source_type=Connection.SourceType.ACCOUNTING,
                    credentials={
                        "access_token": access,
                        "refresh_token": refresh,
                        "expires_at": (
                            timezone.now() + timedelta(seconds=rig.lifetime)
                        ).isoformat(),
                    },
                    settings=rig.connection_settings(double),
                    status=Connection.Status.LINKED,
                )
            )

        merchant = scenario_merchant(partner, scenario, monkeypatch, connect)
        yield Books(rig, double, merchant, made[0], documents, scenario)


def reconnect(client: Any, books: Books) -> Connection:
    """The merchant connects the platform again in the setup flow: its link,
    Reconnect, Connect, the platform's consent screen allowed, the callback."""
    connection = books.connection
    client.get(start_path(books.merchant))
    again = client.post(f"/setup/reconnect/{connection.pk}", {"next": "/setup/settings"})
    assert again.status_code == 302, again.content
    start = client.get(f"/setup/connect/{connection.pk}")
    assert start.status_code == 302, start.content
    allowed = requests.get(
        start["Location"], params={"decision": "allow"}, allow_redirects=False, timeout=5
    )
    assert allowed.status_code == 302, allowed.text
    back = urlsplit(allowed.headers["Location"])
    done = client.get(f"{back.path}?{back.query}")
    assert done.status_code == 302 and done["Location"] == "/setup/stage/accounting"
    connection.refresh_from_db()  # one organisation in each double: linked to it at once
    return connection


@pytest.fixture
def refreshes(monkeypatch: pytest.MonkeyPatch) -> list[datetime]:
    """When (by `timezone.now`) each token refresh was asked for."""
    seen: list[datetime] = []
    real = OAuthClient.refresh

    def refresh(self: OAuthClient, refresh_token: str) -> Any:
        seen.append(timezone.now())
        return real(self, refresh_token)

    monkeypatch.setattr(OAuthClient, "refresh", refresh)
    return seen


# -- revoked in the middle of the day --------------------------------------------------------


@pytest.mark.parametrize("writes", [0, 1, 3])
@pytest.mark.parametrize("books", RIGS, ids=lambda r: r.platform_key, indirect=True)
def test_a_grant_revoked_mid_day_stops_the_run_and_a_reconnect_writes_the_rest_once(
    books: Books, writes: int, client: Any
) -> None:
    rig, double, merchant = books.rig, books.double, books.merchant
    WebhookEndpoint.objects.create(partner=merchant.partner, url="https://partner.example/hook")
    if not writes:  # before the run: its first call (the accounts) meets it
        platform_revokes_grant(double)
    traffic = after_writes(
        double, {writes: lambda: platform_revokes_grant(double)} if writes else {}
    )

    run = books.sync()

    # The run stops at once, in plain words, in Codat's shape.
    assert run.status == SyncRun.Status.FAILED and run.status_code == 4040, run.messages
    [error] = [m for m in run.messages if m["level"] == "error"]
    assert error["code"] == "CredentialsRevoked"
    assert f"connect {rig.name} again" in error["message"], error
    # What was written stays, once; nothing after the revocation.
    held = rig.keys(double)
    assert set(held.values()) <= {1} and len(held) == writes, held
    assert traffic.writes == writes and not traffic.actions
    # The documents complete before the refusal are recorded pushed, the rest
    # failed. FreeAgent's first document, the invoice, is created as a draft
    # and then marked as sent, Exact's created and then processed: revoked in
    # between, it is held but unfinished.
    two_step = rig.platform_key in ("freeagent", "exact")
    complete = writes - 1 if two_step and writes == 1 else writes
    pushed = merchant.push_items.filter(status="pushed")
    assert pushed.count() == complete and all(i.target_id for i in pushed)
    if writes:
        failed = merchant.push_items.filter(status="failed").count()
        assert failed == len(books.documents) - complete
    else:  # refused while the accounts were checked, before the outbox was filled
        assert not merchant.push_items.exists()
    assert run.counters.get("push_items", {}).get("written", 0) == complete
    status = company_sync_status(run)
    assert_codat("CompanySyncStatus", status)
    assert status["syncStatusCode"] == 4040 and status["errorMessage"] == error["message"]
    assert status["dataPushed"] is (complete > 0)
    # The connection is Deauthorized, audited, the merchant alerted, the partner told.
    connection = Connection.objects.get(pk=books.connection.pk)
    assert connection.status == Connection.Status.DEAUTHORIZED
    assert connection.last_error == error["message"]
    audit = AuditLog.objects.get(action="connection.deauthorized", object_id=str(connection.pk))
    assert audit.changes["from"] == "Linked" and audit.changes["to"] == "Deauthorized"
    incident = Incident.objects.get(
        merchant=merchant, kind=Incident.Kind.CONNECTION_DEAUTHORIZED, key=str(connection.pk)
    )
    assert incident.resolved_at is None and rig.name in incident.message
    [event] = WebhookEvent.objects.filter(type="connection.deauthorized")
    assert event.payload["data"]["connectionId"] == str(connection.pk)
    assert event.payload["data"]["reason"] == error["message"]
    # No run writes through a deauthorised connection.
    stopped = books.sync()
    assert stopped.status_code == 4000 and rig.keys(double) == held
    named = NAMES[rig.platform_key]
    assert stopped.messages[-1]["message"].endswith(
        f"no linked accounting connection: {named} no longer accepts its authorisation; "
        f"the merchant needs to connect {named} again"
    )

    # The merchant connects again in the setup flow: new tokens through the consent screen.
    connection = reconnect(client, books)
    assert connection.status == Connection.Status.LINKED
    assert connection.credentials["refresh_token"] == rig.tokens(double)[1]
    incident.refresh_from_db()
    assert incident.resolved_at is not None  # the alert is over

    again = books.sync()
    assert again.status == SyncRun.Status.SUCCEEDED and again.status_code == 2000, again.messages
    assert again.counters["push_items"]["failed"] == 0
    books.assert_every_document_once()
    assert all(i.status == "pushed" and i.target_id for i in merchant.push_items.all())
    assert merchant.push_items.count() == len(books.documents)


# -- the access token's lifetime runs out in the middle of the day ----------------------------


@pytest.mark.parametrize("books", RIGS, ids=lambda r: r.platform_key, indirect=True)
def test_a_token_expiring_mid_day_is_renewed_once_under_the_lock_and_the_run_completes(
    books: Books, monkeypatch: pytest.MonkeyPatch, refreshes: list[datetime]
) -> None:
    rig, double = books.rig, books.double
    clock = Clock(monkeypatch)
    issued = timezone.now()

    def nearly() -> None:  # just outside the renewal margin: still the same token
        clock.advance(rig.lifetime - rig.margin - 10)

    def expired() -> None:  # the lifetime is over: the platform no longer takes it
        clock.advance(rig.margin + 11)
        platform_forgets_tokens(double)

    traffic = after_writes(double, {2: nearly, 4: expired})

    run = books.sync()

    assert run.status == SyncRun.Status.SUCCEEDED and run.status_code == 2000, run.messages
    assert not traffic.actions  # both moments came in the middle of the day
    books.assert_every_document_once()
    # Renewed once, before a call, not after a refusal; never earlier than allowed.
    assert len(refreshes) == 1, refreshes
    assert 401 not in traffic.statuses
    left = issued + timedelta(seconds=rig.lifetime) - refreshes[0]
    assert left <= timedelta(seconds=rig.margin)
    if rig.renew_within is not None:
        assert left <= timedelta(seconds=rig.renew_within)
    # The rotated tokens are the stored ones (the old refresh token is spent).
    connection = Connection.objects.get(pk=books.connection.pk)
    access, refresh = (
        connection.credentials["access_token"],
        connection.credentials["refresh_token"],
    )
    assert (
        refresh == rig.tokens(double)[1] and access != books.connection.credentials["access_token"]
    )
    assert connection.status == Connection.Status.LINKED


@pytest.mark.parametrize("books", RIGS, ids=lambda r: r.platform_key, indirect=True)
def test_a_token_refused_early_mid_day_is_renewed_once_and_the_run_completes(
    books: Books, refreshes: list[datetime]
) -> None:
    """The platform ends the token before its stored expiry (a clock apart,
    a password change): one 401, one refresh under the lock, the same call
    again, and the day completes."""
    double = books.double
    traffic = after_writes(double, {3: lambda: platform_forgets_tokens(double)})

    run = books.sync()

    assert run.status == SyncRun.Status.SUCCEEDED and run.status_code == 2000, run.messages
    books.assert_every_document_once()
    assert not traffic.actions
    assert len(refreshes) == 1 and traffic.statuses.count(401) == 1
    connection = Connection.objects.get(pk=books.connection.pk)
    assert connection.credentials["refresh_token"] == books.rig.tokens(double)[1]


# -- the failed items retried alone (portal button, API, CLI) ---------------------------------


@pytest.mark.parametrize("books", RIGS, ids=lambda r: r.platform_key, indirect=True)
def test_a_retry_of_the_failed_items_meets_a_revoked_grant_like_a_run_then_writes_the_rest(
    books: Books, client: Any
) -> None:
    """The merchant reconnected, but the grant is gone again when the failed
    items are retried: the retry ends 4040 and the connection is
    Deauthorized (alerted) as a run would make it; reconnected once more,
    the retry writes exactly the rest."""
    rig, double, merchant = books.rig, books.double, books.merchant
    after_writes(double, {3: lambda: platform_revokes_grant(double)})
    run = books.sync()
    assert run.status_code == 4040
    reconnect(client, books)
    platform_revokes_grant(double)  # gone again before the retry

    push_items_retry_failed(run=run)

    run.refresh_from_db()
    assert run.status == SyncRun.Status.FAILED and run.status_code == 4040
    assert f"connect {rig.name} again" in run.messages[-1]["message"]
    connection = Connection.objects.get(pk=books.connection.pk)
    assert connection.status == Connection.Status.DEAUTHORIZED
    assert Incident.objects.filter(
        merchant=merchant, kind=Incident.Kind.CONNECTION_DEAUTHORIZED, resolved_at=None
    ).exists()
    assert len(rig.keys(double)) == 3

    reconnect(client, books)
    push_items_retry_failed(run=run)

    run.refresh_from_db()
    assert run.status == SyncRun.Status.SUCCEEDED and run.status_code == 2000, run.messages
    assert run.data_pushed
    books.assert_every_document_once()
    assert not merchant.push_items.exclude(status="pushed").exists()
