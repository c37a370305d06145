"""Settings are read at import, so variants are checked in a fresh process."""

import json
import os
import subprocess
import sys

import pytest
from cryptography.fernet import Fernet
from django.conf import settings

from tests.conftest import KEY_A, KEY_B
from tests.factories import ConnectionFactory, PushItemFactory

PRODUCTION = {
    "SECRET_KEY": "a-long-random-production-secret-" + "x1Y2z3" * 8,
    "CREDENTIALS_KEYS": f"{KEY_B},{KEY_A}",
    "ALLOWED_HOSTS": "sync.example.com",
}


def run(
    args: list[str], env: dict[str, str], *, without: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """Run Python in a fresh process with only `env` (and the basics) set."""
    clean = {
        "PATH": os.environ.get("PATH", ""),
        "ENV_FILE": "",
        "DATABASE_URL": os.environ["DATABASE_URL"],
        "DJANGO_SETTINGS_MODULE": "commerce_sync.settings",
    }
    return subprocess.run(
        [sys.executable, *args],
        cwd=settings.BASE_DIR,
        env={k: v for k, v in (clean | env).items() if k not in without},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def read_setting(name: str, env: dict[str, str], *, without: tuple[str, ...] = ()) -> object:
    code = f"import json; from django.conf import settings; print(json.dumps(settings.{name}))"
    result = run(["-c", code], env, without=without)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_deploy_check_is_clean_in_production():
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize("missing", ["SECRET_KEY", "CREDENTIALS_KEYS"])
def test_production_refuses_to_start_without(missing):
    env = {k: v for k, v in PRODUCTION.items() if k != missing}
    result = run(["manage.py", "check"], env)
    assert result.returncode != 0
    assert f"{missing} must be set" in result.stderr


@pytest.mark.parametrize("missing", ["SECRET_KEY", "CREDENTIALS_KEYS"])
def test_the_web_server_refuses_to_start_without(missing):
    env = {k: v for k, v in PRODUCTION.items() if k != missing}
    result = run(["-c", "import commerce_sync.wsgi"], env)
    assert result.returncode != 0
    assert f"{missing} must be set" in result.stderr


def test_preview_sync_needs_no_secrets_and_no_database():
    """The public dry run works on a bare checkout: DEBUG off, nothing set."""
    scenario = settings.BASE_DIR.parent / "shared" / "scenarios" / "uk-cafe-journal.json"
    result = run(
        ["manage.py", "preview_sync", "--input", str(scenario)],
        {"DATABASE_URL": "postgres://nobody@127.0.0.1:1/none"},
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["errors"] == []


def test_debug_derives_a_development_key():
    keys = read_setting("CREDENTIALS_KEYS", {"DEBUG": "1"})
    assert len(keys) == 1
    Fernet(keys[0])


def test_a_malformed_credentials_key_fails_the_checks():
    result = run(["manage.py", "check"], PRODUCTION | {"CREDENTIALS_KEYS": "not-a-key"})
    assert result.returncode != 0
    assert "connectors.E002" in result.stderr


def test_task_queue_uses_the_orm_broker_by_default():
    cluster = read_setting("Q_CLUSTER", PRODUCTION)
    assert cluster["orm"] == "default"
    assert "redis" not in cluster
    assert (cluster["workers"], cluster["timeout"], cluster["retry"]) == (2, 600, 720)
    assert cluster["retry"] > cluster["timeout"]
    assert (cluster["max_attempts"], cluster["catch_up"], cluster["sync"]) == (3, False, False)


def test_redis_url_switches_the_broker():
    cluster = read_setting("Q_CLUSTER", PRODUCTION | {"REDIS_URL": "redis://cache:6379/1"})
    assert cluster["redis"] == "redis://cache:6379/1"
    assert "orm" not in cluster


def test_database_defaults_to_sqlite_under_var():
    databases = read_setting("DATABASES", PRODUCTION, without=("DATABASE_URL",))
    assert databases["default"]["ENGINE"] == "django.db.backends.sqlite3"
    assert databases["default"]["NAME"] == str(settings.BASE_DIR / "var" / "db.sqlite3")


def test_test_run_settings():
    assert settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
    assert settings.TIME_ZONE == "UTC"
    assert settings.USE_TZ
    assert settings.Q_CLUSTER["sync"] is True


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_healthz_is_exempt_from_the_https_redirect(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/healthz").status_code == 200
    assert client.get("/setup/").status_code == 301


@pytest.mark.django_db
def test_setup_flow_without_a_session_says_to_go_back(client):
    response = client.get("/setup/")  # the entry: how a merchant gets in
    assert response.status_code == 200
    assert b"personal link" in response.content
    response = client.get("/setup/review")
    assert response.status_code == 401
    assert b"Go back to the app you came from" in response.content


@pytest.mark.django_db
def test_portal_lists_push_items_read_only(client, admin_client):
    item = PushItemFactory()
    assert client.get("/portal/").status_code == 302  # login first
    response = admin_client.get("/portal/core/pushitem/")
    assert response.status_code == 200
    assert item.key in response.content.decode()
    assert admin_client.get("/portal/core/pushitem/add/").status_code == 403
    assert admin_client.get("/portal/core/syncrun/").status_code == 200


@pytest.mark.django_db
def test_admin_pages_render_without_credentials(admin_client):
    connection = ConnectionFactory(credentials={"access_token": "never-shown-token"})
    response = admin_client.get(f"/admin/core/connection/{connection.pk}/change/")
    assert response.status_code == 200
    assert "never-shown-token" not in response.content.decode()
    for path in ["core/merchant/", "core/syncrun/", "core/pushitem/", "core/auditlog/"]:
        assert admin_client.get(f"/admin/{path}").status_code == 200
