"""What the tests of the OAuth accounting targets (Exact Online, MYOB, Sage)
share (test code): a shared scenario's documents, the `connect` command
linking a target from a token file, two workers racing to refresh one
connection's token, and a written day found again by its keys."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from commerce_sync.errors import PlatformUnavailable
from mapping.preview import preview
from tests.connectors.refresh_race import two_workers_list_accounts

SCENARIOS = Path(__file__).resolve().parents[3] / "shared" / "scenarios"


def scenario_documents(name: str, output: str | None = None) -> list[dict[str, Any]]:
    """The documents `preview_sync` makes of the shared scenario `name`
    (a file in ../shared/scenarios), as plain JSON (amounts as strings), in
    the output format `output` ("JournalEntry", "Invoice") or the
    scenario's own. AssertionError when the preview has errors."""
    scenario = json.loads((SCENARIOS / name).read_text(), parse_float=Decimal)
    if output:
        scenario["configuration"].setdefault("mapSettings", {})["outputFormat"] = output
    result = preview(scenario)
    assert not result.errors, result.errors
    return [json.loads(json.dumps(d.as_json())) for d in result.documents]


def assert_connect_command_links(
    merchant: Any,
    platform: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    *,
    refused: Sequence[tuple[Sequence[str], str]],
    options: Sequence[str],
    settings: dict[str, Any],
) -> Any:
    """Runs `manage.py connect` for `merchant` and `platform` with tokens
    from a file: each (options, words) of `refused` must fail with a
    CommandError matching `words`; then `options` must link the connection
    (status LINKED, `settings` kept) without printing a token. Returns the
    Connection."""
    from django.core.management import call_command
    from django.core.management.base import CommandError

    from commerce_sync.core.models import Connection

    tokens = tmp_path / "tokens.json"
    tokens.write_text(
        '{"access_token": "cmd-secret-access", "refresh_token": "cmd-secret-refresh"}'
    )
    command = ["connect", "--merchant", str(merchant.pk), "--platform", platform]
    command += ["--tokens-from", str(tokens)]
    for wrong, words in refused:
        with pytest.raises(CommandError, match=words):
            call_command(*command, *wrong)
    call_command(*command, *options)
    assert "cmd-secret" not in capsys.readouterr().out
    connection = Connection.objects.get(merchant=merchant, platform_key=platform)
    assert connection.status == Connection.Status.LINKED
    assert connection.settings == settings
    return connection


def assert_two_workers_refresh_once(
    double: Any,
    platform: str,
    *,
    settings: dict[str, Any],
    access_token: str,
    seconds_left: int,
    rotated: tuple[str, str],
    accounts: int = 16,
) -> None:
    """Two workers list the accounts of one `platform` connection (with
    `settings`) whose token `access_token` has `seconds_left` seconds to
    run: both must get the `accounts` accounts, the double (its
    `refreshes` and current `refresh_token`) must see one refresh, and the
    connection must keep the `rotated` (access token, refresh token).
    Needs `django_db(transaction=True)`: the workers are threads with their
    own database connections."""
    from django.utils import timezone

    from tests.factories import ConnectionFactory

    books = ConnectionFactory(
        accounting=True,
        platform_key=platform,
        settings=settings,
        credentials={
            "access_token": access_token,
            "refresh_token": double.refresh_token,
            "expires_at": (timezone.now() + timedelta(seconds=seconds_left)).isoformat(),
        },
    )
    seen = two_workers_list_accounts(books.pk)
    assert seen == [accounts, accounts]
    assert double.refreshes == 1  # one worker refreshed; the other used its token
    books.refresh_from_db()
    access, refresh = rotated
    assert books.credentials["refresh_token"] == double.refresh_token == refresh
    assert books.credentials["access_token"] == access


def posts(double: Any) -> int:
    """How many POST requests `double` has answered (its `requests` rows
    are (method, path, headers))."""
    return sum(1 for request in double.requests if request[0] == "POST")


def assert_found_by_key_and_not_written_again(
    double: Any,
    make_target: Callable[[], Any],
    documents: list[dict[str, Any]],
    results: dict[str, str],
) -> None:
    """After a day's `documents` were written (`results`: key -> id): a
    fresh target (`make_target()`, nothing cached, as after a crash) finds
    each by its key and nothing for a key never written, and writing the day
    again returns the same ids without one more POST to `double`."""
    fresh = make_target()
    for document in documents:
        assert fresh.find_document(key=document["key"]) == results[document["key"]]
    assert fresh.find_document(key="m1:2026-11-02:GBP:-:day:invoice:other") is None
    before = posts(double)
    again = make_target().write_documents([(d["key"], d) for d in documents])
    assert again == results and posts(double) == before


def assert_lost_answer_found_by_key(
    double: Any,
    make_target: Callable[[], Any],
    document: dict[str, Any],
    *,
    created: str,
    id_prefix: str,
) -> None:
    """The platform makes `document` (one `created` entity in `double.books`)
    but its answer is lost (`PlatformUnavailable`); a fresh target writing it
    again finds it by its key (an id starting `id_prefix`) and makes no
    second one."""
    double.lose_next_answer = True
    with pytest.raises(PlatformUnavailable):
        make_target().write_document(key=document["key"], document=document)
    assert double.books.creates[created] == 1  # it did happen
    written = make_target().write_document(key=document["key"], document=document)
    assert written.startswith(id_prefix)
    assert double.books.creates[created] == 1


def payout_transfer(key: str, currency: str) -> dict[str, Any]:
    """A transfer document (a 10.00 payout from account 1100 to 1200 on
    2026-11-02, in `currency`) keyed `key`: one small write for burst tests."""
    return {
        "type": "transfer",
        "key": key,
        "currency": currency,
        "date": "2026-11-02",
        "group": {"currency": currency, "locationId": None},
        "description": "Payout",
        "fromAccountRef": {"id": "1100"},
        "toAccountRef": {"id": "1200"},
        "amount": "10.00",
    }
