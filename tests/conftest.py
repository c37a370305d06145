"""Shared fixtures. The environment itself is set in tests/env_defaults.py."""

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection
from pytest_django.fixtures import Settings

from commerce_sync.core.models import Merchant, Partner
from tests import secrets_guard
from tests.doubles import strict
from tests.factories import MerchantFactory, PartnerFactory

# Two Fernet keys for rotation tests: A is the run's default (CREDENTIALS_KEYS).
KEY_A = "0KnjxD8m1X1togz4lnNioxhQaHqqQwO26p0sCb7oowk="
KEY_B = "7_q8il_BkY6jsqfRSChQMJAk8j-suV4AvGFHB1vr9Ag="


# Design documents, scenarios and vendor references live beside the clone.
SHARED = Path(__file__).resolve().parents[2] / "shared"


def pytest_report_header() -> str:
    shared = "present" if SHARED.is_dir() else "ABSENT (tests that read it are skipped)"
    return f"database: {django_settings.DATABASES['default']['ENGINE']}; {SHARED}: {shared}"


def _missing_shared_path(report: pytest.TestReport | pytest.CollectReport) -> str | None:
    """When ../shared is absent (a clone on its own) and a failed report's
    text (its traceback, captured output and logs: a double's server thread
    or a subprocess may be the one that found the file missing) names a
    path under it, that path; else None."""
    if SHARED.is_dir() or not report.failed:
        return None
    text = str(report.longrepr) + "".join(content for _, content in report.sections)
    found = re.search(rf"{re.escape(str(SHARED))}/[^'\"\s:>]*", text)
    return found[0] if found else None


def _skip_reason(path: str) -> str:
    return (
        f"needs {path}, and {SHARED} is absent: put the shared design/scenarios/reference "
        "folder beside the clone to run it (with CI set, this is a failure instead)"
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Iterator[None]:
    """A test module that reads ../shared while importing is skipped, naming
    what is missing, when ../shared is absent, unless CI is set."""
    outcome = yield
    report = outcome.get_result()
    path = _missing_shared_path(report)
    if path is not None and not os.environ.get("CI"):
        report.outcome = "skipped"
        report.longrepr = (str(collector.path), 0, f"Skipped: {_skip_reason(path)}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """A test that reads ../shared is skipped, naming what is missing, when
    ../shared is absent, unless CI is set (then it fails as it stands)."""
    outcome = yield
    report = outcome.get_result()
    path = _missing_shared_path(report)
    if path is not None and not os.environ.get("CI"):
        report.outcome = "skipped"
        report.longrepr = (str(item.path), item.location[1] or 0, f"Skipped: {_skip_reason(path)}")


@pytest.fixture(autouse=True)
def strict_doubles() -> Iterator[None]:
    """Fails a test any of whose vendor doubles saw a contract violation
    (tests/doubles/strict.py) that the test did not take itself."""
    strict.take_all()  # nothing left over from an earlier test is blamed on this one
    yield
    found = strict.take_all()
    if found:
        shown = "\n".join(f"  {v}" for v in found[:25])
        pytest.fail(f"{len(found)} vendor contract violation(s):\n{shown}", pytrace=False)


@pytest.fixture(autouse=True)
def secrets_guarded() -> Iterator[None]:
    """Fails a test in which a known secret (tests/secrets_guard.py) appears
    in any log record or HTTP response body the app produced."""
    with secrets_guard.guarded() as capture:
        yield
    leaks = capture.leaks()
    if leaks:
        shown = "\n".join(f"  {leak}" for leak in sorted(set(leaks))[:25])
        pytest.fail(f"secrets leaked:\n{shown}", pytrace=False)


@pytest.fixture
def use_keys(settings: Settings) -> Callable[..., None]:
    """use_keys(KEY_B, KEY_A) makes those the configured CREDENTIALS_KEYS."""

    def use(*keys: str) -> None:
        settings.CREDENTIALS_KEYS = list(keys)

    return use


@pytest.fixture
def raw_credentials() -> Callable[[object], str]:
    """The credentials column exactly as stored, bypassing the field."""

    def read(pk: object) -> str:
        with connection.cursor() as cursor:
            cursor.execute("SELECT credentials FROM core_connection WHERE id = %s", [pk])
            return cursor.fetchone()[0]

    return read


@pytest.fixture
def partner(db: None) -> Partner:
    return PartnerFactory()


@pytest.fixture
def merchant(partner: Partner) -> Merchant:
    return MerchantFactory(partner=partner)


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix: None) -> None:
    """The test run's PostgreSQL sessions commit without waiting for the WAL
    flush (`synchronous_commit=off`): a commit is visible to every other
    session at once as before, only a crash of the PostgreSQL server itself
    could lose the last ones, which no test does. Saves a disk flush per
    commit (~2 ms here), thousands of them in the transactional tests.
    Processes a test starts with their own DATABASE_URL keep the default."""
    for database in django_settings.DATABASES.values():
        if database["ENGINE"].endswith("postgresql"):
            options = database.setdefault("OPTIONS", {})
            options["options"] = f"{options.get('options', '')} -c synchronous_commit=off".strip()
