"""The admin's "Add" forms: each registered model either offers a form that
saves (through the services where there is one) or refuses with 403; and
`manage.py partner_create`."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.urls import reverse
from django_q.models import Schedule

from commerce_sync.core.models import (
    AuditLog,
    Connection,
    Merchant,
    Partner,
    PartnerApiKey,
    PartnerSyncFlowSettings,
)

# Models whose add form is offered (and saved below); every other is a 403.
ADDABLE = {
    "auth.user",
    "auth.group",
    "core.partner",
    "core.partnerapikey",
    "core.partnersyncflowsettings",
    "core.merchant",
    "core.connection",
    "django_q.schedule",
}


def add_url(model) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_add")


def test_every_add_page_is_a_form_or_a_refusal(admin_client):
    offered = set()
    for model in admin.site._registry:
        answer = admin_client.get(add_url(model))
        assert answer.status_code in (200, 403), (model, answer.status_code)
        if answer.status_code == 200:
            offered.add(model._meta.label_lower)
            assert b"credentials" not in answer.content.lower() or model is not Connection
    assert offered == ADDABLE


def saved(answer) -> None:
    """The add form redirected (saved), else show its errors."""
    errors = answer.context["adminform"].form.errors if answer.context else None
    assert answer.status_code == 302, errors


def test_adding_a_partner_goes_through_the_service(admin_client):
    answer = admin_client.post(
        add_url(Partner),
        {
            "name": "Acme POS",
            "slug": "acme",
            "branding": "{}",
            "alert_emails": "help@acme.example\nops@acme.example",
            "alert_after_failing_days": "2",
            "api_keys-TOTAL_FORMS": "0",
            "api_keys-INITIAL_FORMS": "0",
        },
    )
    saved(answer)
    partner = Partner.objects.get(slug="acme")
    assert partner.alert_emails == ["help@acme.example", "ops@acme.example"]
    assert partner.alert_after_failing_days == 2
    assert AuditLog.objects.filter(action="partner.create", object_id=str(partner.pk)).exists()

    again = admin_client.post(
        add_url(Partner),
        {
            "name": "Bad",
            "slug": "bad",
            "branding": "{}",
            "alert_emails": "not-an-address",
            "alert_after_failing_days": "1",
            "api_keys-TOTAL_FORMS": "0",
            "api_keys-INITIAL_FORMS": "0",
        },
    )
    assert again.status_code == 200
    assert "not-an-address is not an email address" in again.content.decode()
    assert not Partner.objects.filter(slug="bad").exists()


def test_adding_a_merchant_goes_through_the_service(admin_client, partner):
    page = admin_client.get(add_url(Merchant))
    assert b'value="Europe/London"' in page.content  # the defaults, filled in
    answer = admin_client.post(
        add_url(Merchant),
        {
            "partner": partner.pk,
            "name": "Corner Bakery",
            "external_id": "bakery-1",
            "description": "",
            "tags": "{}",
            "country": "FR",
            "currency": "EUR",
            "time_zone": "Europe/Paris",
            "alert_email": "owner@bakery.example",
            "language": "fr",
            "connections-TOTAL_FORMS": "0",
            "connections-INITIAL_FORMS": "0",
        },
    )
    saved(answer)
    merchant = Merchant.objects.get(external_id="bakery-1")
    assert (merchant.currency, merchant.language, merchant.alert_email) == (
        "EUR",
        "fr",
        "owner@bakery.example",
    )
    assert merchant.enabled and not merchant.configured
    assert AuditLog.objects.filter(action="merchant.create", merchant=merchant).exists()


def test_adding_a_connection_with_its_merchant_and_side(admin_client, merchant, raw_credentials):
    page = admin_client.get(add_url(Connection))
    assert b"credentials" not in page.content.lower()
    wrong = admin_client.post(
        add_url(Connection),
        {
            "merchant": merchant.pk,
            "source_type": "accounting",
            "platform_key": "sandbox",
            "settings": "{}",
        },
    )
    assert wrong.status_code == 200
    assert "sandbox is not a accounting platform" in wrong.content.decode()

    answer = admin_client.post(
        add_url(Connection),
        {
            "merchant": merchant.pk,
            "source_type": "commerce",
            "platform_key": "sandbox",
            "settings": '{"orders_per_day": 5}',
        },
    )
    saved(answer)
    connection = Connection.objects.get(merchant=merchant)
    assert connection.status == "Linked"  # the sandbox needs no authorisation
    assert connection.settings == {"orders_per_day": 5}
    xero = admin_client.post(
        add_url(Connection),
        {
            "merchant": merchant.pk,
            "source_type": "accounting",
            "platform_key": "xero",
            "settings": "{}",
        },
    )
    saved(xero)
    pending = Connection.objects.get(merchant=merchant, platform_key="xero")
    assert pending.status == "PendingAuth" and pending.credentials == {}
    change = admin_client.get(reverse("admin:core_connection_change", args=[pending.pk]))
    assert change.status_code == 200 and b"credentials" not in change.content.lower()
    second = admin_client.post(
        add_url(Connection),
        {
            "merchant": merchant.pk,
            "source_type": "accounting",
            "platform_key": "beancount",
            "settings": "{}",
        },
    )
    assert second.status_code == 200
    assert "already has an accounting connection" in second.content.decode()


def test_adding_a_key_and_sync_flow_settings(admin_client, partner):
    saved(admin_client.post(add_url(PartnerApiKey), {"partner": partner.pk, "name": "ci"}))
    assert PartnerApiKey.objects.filter(partner=partner, name="ci").count() == 1
    saved(
        admin_client.post(
            add_url(PartnerSyncFlowSettings),
            {
                "partner": partner.pk,
                "texts": '{"en": {"title": "Hello"}}',
                "visible_accounts": "{}",
                "merchant_defaults": "{}",
            },
        )
    )
    assert PartnerSyncFlowSettings.objects.get(partner=partner).texts == {"en": {"title": "Hello"}}


def test_adding_users_groups_and_schedules(admin_client):
    saved(
        admin_client.post(
            add_url(get_user_model()),
            {
                "username": "agent",
                "password1": "a-long-Passphrase-42",
                "password2": "a-long-Passphrase-42",
                "usable_password": "true",
            },
        )
    )
    saved(admin_client.post(add_url(Group), {"name": "support"}))
    saved(
        admin_client.post(
            add_url(Schedule),
            {
                "name": "once",
                "func": "commerce_sync.core.tasks.alerts_digests_send",
                "schedule_type": "O",
                "repeats": "-1",
                "minutes": "",
                "cron": "",
                "cluster": "",
                "intended_date_kind": "",
                "next_run_0": "2030-01-01",
                "next_run_1": "00:00:00",
            },
        )
    )
    assert Schedule.objects.filter(name="once").exists()


def test_partner_create_command(db, capsys):
    call_command(
        "partner_create",
        "--name",
        "Acme POS",
        "--slug",
        "acme",
        "--alert-email",
        "help@acme.example",
    )
    out = capsys.readouterr()
    assert out.out.strip() == "acme"
    assert "partner_api_key_create --partner acme" in out.err
    partner = Partner.objects.get(slug="acme")
    assert partner.name == "Acme POS" and partner.alert_emails == ["help@acme.example"]
    assert AuditLog.objects.filter(action="partner.create", actor="cli").exists()

    with pytest.raises(CommandError, match="--slug: Partner with this Slug already exists"):
        call_command("partner_create", "--name", "Again", "--slug", "acme")
    with pytest.raises(CommandError, match="--slug: Enter a valid “slug”"):
        call_command("partner_create", "--name", "Spaces", "--slug", "a b")
    with pytest.raises(CommandError, match="not-mail is not an email address"):
        call_command(
            "partner_create", "--name", "Mail", "--slug", "mail", "--alert-email", "not-mail"
        )
    assert not Partner.objects.filter(slug__in=["a b", "mail"]).exists()
    assert Partner.objects.count() == 1


def test_a_new_partner_can_get_a_key_and_a_merchant(db, capsys):
    call_command("partner_create", "--name", "Beta", "--slug", "beta")
    call_command("partner_api_key_create", "--partner", "beta")
    assert PartnerApiKey.objects.filter(partner__slug="beta").count() == 1
