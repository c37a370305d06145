"""Alerts on real syncs of the demo café (PostgreSQL, sandbox POS, Beancount):
one alert per incident to support and to the merchant (in their language,
unless they opted out), thresholds, recovery and a new incident, payout
residuals, deauthorised connections, the daily digest, and the partner
webhooks through the API's delivery log. Mail is Django's locmem outbox."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_q.models import Schedule

from commerce_sync.core.models import Alert, Incident, SourceRecord
from commerce_sync.core.services.alerts import (
    DIGEST_TASK,
    alerts_digest_send,
    alerts_digests_send,
    payouts_check,
)
from commerce_sync.core.services.connections import (
    connection_authorization_update,
    connection_mark_deauthorized,
)
from commerce_sync.core.services.merchant_alerts import alert_settings_merchant
from commerce_sync.core.services.payouts import payout_residuals
from commerce_sync.syncs.runs import sync_run_execute
from commerce_sync.syncs.scheduling import merchant_sync_enable
from commerce_sync.webhooks.models import WebhookDelivery
from commerce_sync.webhooks.services import webhook_endpoint_create
from tests.alerts.conftest import break_configuration, day, mend_configuration
from tests.factories import MerchantFactory, PartnerFactory

Kind = Incident.Kind


def sync(merchant, n, capture):
    with capture(execute=True):
        return sync_run_execute(merchant=merchant, now=day(n))


def to(outbox) -> list[list[str]]:
    return [message.to for message in outbox]


def test_a_failing_sync_alerts_once_per_incident_and_again_after_recovery(
    demo, mailoutbox, django_capture_on_commit_callbacks, caplog
):
    break_configuration(demo)
    first = sync(demo, 1, django_capture_on_commit_callbacks)
    assert first.status_code == 4000
    # The log line says what (a bare "alert" told a text-log reader nothing).
    (logged,) = [r for r in caplog.records if r.name == "commerce_sync.core.services.alerts"]
    assert logged.getMessage().startswith("alert sync_failed for Demo Café: ")
    assert "must not be the payout account" in logged.getMessage()
    assert to(mailoutbox) == [["support@partner.example"], ["owner@cafe.example"]]
    support, owner = mailoutbox
    assert "sync_failed" in support.subject and "Demo Café" in support.subject
    assert str(demo.pk) in support.body and "must not be the payout account" in support.body
    assert "What to do: Open your settings page" in owner.body
    assert "https://sync.example/setup/alerts/" in owner.body  # its own signed link
    token = owner.body.split("https://sync.example/setup/alerts/")[1].split()[0]
    assert alert_settings_merchant(token) == demo
    assert "must not be the payout account" in owner.body

    for n in (2, 3):  # still failing: no repeat, the incident is refreshed
        assert sync(demo, n, django_capture_on_commit_callbacks).status_code == 4000
    assert len(mailoutbox) == 2
    (incident,) = Incident.objects.filter(merchant=demo)
    assert incident.kind == Kind.SYNC_FAILED and incident.resolved_at is None
    assert incident.detail["failing_days"] == 3
    assert list(incident.alerts.values_list("audience", "status")) == [
        ("support", "sent"),
        ("merchant", "sent"),
    ]

    mend_configuration(demo)
    assert sync(demo, 4, django_capture_on_commit_callbacks).status_code == 2000
    incident.refresh_from_db()
    assert incident.resolved_at is not None
    assert len(mailoutbox) == 2  # recovery itself is not mailed

    break_configuration(demo)
    assert sync(demo, 5, django_capture_on_commit_callbacks).status_code == 4000
    assert len(mailoutbox) == 4  # a new incident: alerted again
    assert Incident.objects.filter(merchant=demo, resolved_at__isnull=True).count() == 1
    assert Alert.objects.filter(merchant=demo, channel="email").count() == 4


def test_the_partner_threshold_holds_the_alert_until_n_failing_days(
    demo, mailoutbox, django_capture_on_commit_callbacks
):
    demo.partner.alert_after_failing_days = 3
    demo.partner.save(update_fields=["alert_after_failing_days"])
    break_configuration(demo)

    for n in (1, 2):
        sync(demo, n, django_capture_on_commit_callbacks)
    assert mailoutbox == []
    incident = Incident.objects.get(merchant=demo)
    assert incident.alerted_at is None and incident.detail["failing_days"] == 2

    sync(demo, 3, django_capture_on_commit_callbacks)
    assert len(mailoutbox) == 2
    assert "3 day(s) in a row" in mailoutbox[1].body
    sync(demo, 4, django_capture_on_commit_callbacks)
    assert len(mailoutbox) == 2


def test_the_merchant_is_alerted_in_french(demo, mailoutbox, django_capture_on_commit_callbacks):
    demo.language = "fr"
    demo.save(update_fields=["language"])
    break_configuration(demo)

    sync(demo, 1, django_capture_on_commit_callbacks)

    support, owner = mailoutbox
    assert owner.subject.startswith(
        "Demo Café : vos ventes n'arrivent plus dans votre comptabilité"
    )
    assert "Bonjour," in owner.body
    assert "Que faire : Ouvrez votre page de paramètres" in owner.body
    assert "Vos paramètres : https://sync.example/setup/alerts/" in owner.body
    assert "Vous pouvez les désactiver" in owner.body
    assert "What to do" in support.body and "Que faire" not in support.body  # support: English
    assert Alert.objects.get(audience="merchant").language == "fr"


def test_a_merchant_who_opted_out_gets_nothing_support_still_does(
    demo, mailoutbox, django_capture_on_commit_callbacks
):
    demo.alerts_opt_out = True
    demo.save(update_fields=["alerts_opt_out"])
    break_configuration(demo)

    sync(demo, 1, django_capture_on_commit_callbacks)

    assert to(mailoutbox) == [["support@partner.example"]]
    assert "The merchant was not emailed" in mailoutbox[0].body
    assert not Alert.objects.filter(audience="merchant").exists()


def test_operators_alert_emails_are_copied_once(
    demo, settings, mailoutbox, django_capture_on_commit_callbacks
):
    settings.ALERT_EMAILS = ["ops@sync.example", "SUPPORT@partner.example"]
    break_configuration(demo)
    sync(demo, 1, django_capture_on_commit_callbacks)
    assert mailoutbox[0].to == ["support@partner.example", "ops@sync.example"]


def test_a_disabled_merchant_is_alerted_and_enabling_resolves_it(
    demo, mailoutbox, django_capture_on_commit_callbacks
):
    break_configuration(demo)
    sync(demo, 1, django_capture_on_commit_callbacks)
    mailoutbox.clear()

    assert sync(demo, 31, django_capture_on_commit_callbacks).status_code == 4000
    demo.refresh_from_db()
    assert not demo.enabled
    assert to(mailoutbox) == [["support@partner.example"], ["owner@cafe.example"]]
    assert "sync_disabled" in mailoutbox[0].subject
    assert "ask Demo Partner support to turn syncing back on" in mailoutbox[1].body
    disabled = Incident.objects.get(kind=Kind.SYNC_DISABLED)

    mend_configuration(demo)
    merchant_sync_enable(merchant=demo)
    disabled.refresh_from_db()
    assert disabled.resolved_at is not None


def test_a_deauthorised_connection_alerts_once_and_relinking_resolves_it(
    demo, mailoutbox, django_capture_on_commit_callbacks
):
    connection = demo.connections.get(source_type="commerce")
    with django_capture_on_commit_callbacks(execute=True):
        connection_mark_deauthorized(connection=connection, reason="Grant revoked")
        connection_mark_deauthorized(connection=connection, reason="Grant revoked")
    assert to(mailoutbox) == [["support@partner.example"], ["owner@cafe.example"]]
    assert "reconnect Sandbox POS" in mailoutbox[1].subject
    incident = Incident.objects.get(kind=Kind.CONNECTION_DEAUTHORIZED)
    assert incident.key == str(connection.pk)
    # The platform's name, and one full stop after a reason that ends in one.
    connection_mark_deauthorized(connection=connection, reason="Clover refused the grant.")
    incident.refresh_from_db()
    assert (
        "The Sandbox POS connection was deauthorised: Clover refused the grant. The merchant"
        in incident.message
    )

    connection_authorization_update(connection=connection, credentials={}, actor="test")
    incident.refresh_from_db()
    assert incident.resolved_at is not None


def test_a_deauthorised_connection_linked_again_through_the_consent_screen_resolves_it(demo):
    """The merchant reconnects in the setup flow (`connection_link`, the OAuth
    callback's path), not through the partner API: the incident ends too."""
    from commerce_sync.core.services.merchant_setup import connection_link

    connection = demo.connections.get(source_type="commerce")
    connection_mark_deauthorized(connection=connection, reason="Grant revoked")
    incident = Incident.objects.get(kind=Incident.Kind.CONNECTION_DEAUTHORIZED)
    connection_link(connection=connection, credentials={"token": "t"}, settings={}, linked=False)
    incident.refresh_from_db()
    assert incident.resolved_at is None  # an organisation is still to be chosen
    connection_link(connection=connection, credentials={"token": "t"}, settings={}, linked=True)
    incident.refresh_from_db()
    assert incident.resolved_at is not None


def test_a_payout_residual_is_alerted_once_and_resolved_when_it_reconciles(
    demo, mailoutbox, django_capture_on_commit_callbacks
):
    run = sync(demo, 3, django_capture_on_commit_callbacks)
    assert run.status_code == 2000
    assert not Incident.objects.exists()  # the sandbox's payouts reconcile
    # The newest payout with a known opening balance (the first payout ever
    # read has none, so it can have no residual to alert on).
    known = [
        reconciled
        for reconciled in payout_residuals(
            merchant=demo, start=run.period_start, end=run.period_end
        )
        if reconciled.residual is not None
    ]
    assert known, "the sandbox's three days hold at least two payouts"
    payout = SourceRecord.objects.get(
        merchant=demo, kind="transaction", source_id=known[-1].payout_id
    )
    original = dict(payout.payload)
    payout.payload = {**original, "totalAmount": str(Decimal(original["totalAmount"]) + 2)}
    payout.save(update_fields=["payload"])

    with django_capture_on_commit_callbacks(execute=True):
        assert payouts_check(merchant=demo, start=run.period_start, end=run.period_end) == 1
        assert payouts_check(merchant=demo, start=run.period_start, end=run.period_end) == 1
    incident = Incident.objects.get(kind=Kind.PAYOUT_RESIDUAL)
    assert incident.key == payout.source_id
    assert incident.detail["residual"] == "2.00"
    assert len(mailoutbox) == 2
    assert f"payout {payout.source_id} does not match its sales" in mailoutbox[1].subject
    assert "2.00 GBP is unexplained" in mailoutbox[1].body

    payout.payload = original
    payout.save(update_fields=["payload"])
    assert payouts_check(merchant=demo, start=run.period_start, end=run.period_end) == 0
    incident.refresh_from_db()
    assert incident.resolved_at is not None


class _Broken:
    def __init__(self, *args, **kwargs) -> None:
        pass

    def send_messages(self, messages):
        raise ConnectionRefusedError("SMTP server refused")


def test_an_email_that_cannot_be_sent_is_recorded_failed_and_the_sync_goes_on(
    demo, settings, django_capture_on_commit_callbacks
):
    settings.EMAIL_BACKEND = f"{__name__}._Broken"
    break_configuration(demo)
    run = sync(demo, 1, django_capture_on_commit_callbacks)
    assert run.status_code == 4000
    statuses = set(Alert.objects.values_list("status", "error"))
    assert statuses == {("failed", "ConnectionRefusedError: SMTP server refused")}


def test_the_daily_digest_goes_once_a_day_to_partners_with_something_to_say(
    demo, mailoutbox, django_capture_on_commit_callbacks
):
    quiet = PartnerFactory(alert_emails=["quiet@other.example"])
    MerchantFactory(partner=quiet)
    break_configuration(demo)
    sync(demo, 1, django_capture_on_commit_callbacks)
    mailoutbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        assert alerts_digests_send(now=day(1) + timedelta(hours=1)) == 1
        assert alerts_digests_send(now=day(1) + timedelta(hours=5)) == 0  # same day
    (digest,) = mailoutbox
    assert digest.to == ["support@partner.example"]
    assert "1 open incident(s), 0 resolved" in digest.subject
    assert "Demo Café" in digest.body and "Sync failing since" in digest.body
    assert Alert.objects.get(kind="digest").digest_date == (day(1)).date()

    mend_configuration(demo)
    sync(demo, 2, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        # (incidents resolve at the real time, whatever day the sync covered)
        sent = alerts_digest_send(partner=demo.partner, now=timezone.now() + timedelta(hours=1))
    assert sent is not None and "0 open incident(s), 1 resolved" in mailoutbox[-1].subject
    later = timezone.now() + timedelta(days=2)
    assert alerts_digest_send(partner=demo.partner, now=later) is None  # nothing left to say


def test_setup_schedules_declares_the_daily_digest(db, settings):
    settings.ALERT_DIGEST_HOUR = 6
    call_command("setup_schedules")
    call_command("setup_schedules")
    digest = Schedule.objects.get(func=DIGEST_TASK)
    assert digest.schedule_type == Schedule.DAILY and digest.repeats == -1
    assert digest.next_run.hour == 6 and digest.next_run.minute == 0


def test_alerts_reach_the_partner_webhooks_through_the_delivery_log(
    demo, receiver, mailoutbox, django_capture_on_commit_callbacks
):
    endpoint, _ = webhook_endpoint_create(
        partner=demo.partner, url=receiver.url, event_types=["alert.raised", "alert.resolved"]
    )
    break_configuration(demo)
    for n in (1, 2):
        sync(demo, n, django_capture_on_commit_callbacks)
    mend_configuration(demo)
    sync(demo, 3, django_capture_on_commit_callbacks)

    deliveries = WebhookDelivery.objects.filter(endpoint=endpoint).order_by("created_at")
    assert [(d.event.type, d.status, d.http_status) for d in deliveries] == [
        ("alert.raised", "succeeded", 200),
        ("alert.resolved", "succeeded", 200),
    ]
    raised, resolved = (r.json["data"] for r in receiver.received)
    incident = Incident.objects.get(merchant=demo)
    assert raised["kind"] == "sync_failed" and raised["incidentId"] == incident.pk
    assert raised["companyId"] == str(demo.pk) and raised["resolvedAt"] is None
    assert raised["settingsUrl"].startswith("https://sync.example/setup/alerts/")
    assert alert_settings_merchant(raised["settingsUrl"].rsplit("/", 1)[1]) == demo
    assert resolved["incidentId"] == incident.pk and resolved["resolvedAt"]
    webhook_alerts = Alert.objects.filter(channel="webhook").order_by("created_at")
    assert [a.webhook_event_id for a in webhook_alerts] == [d.event_id for d in deliveries]


@pytest.mark.parametrize("kind", ["sync_failed"])
def test_alert_rows_are_read_only_in_the_admin(
    demo, admin_client, kind, django_capture_on_commit_callbacks
):
    break_configuration(demo)
    sync(demo, 1, django_capture_on_commit_callbacks)
    alert = Alert.objects.filter(audience="merchant").get()
    page = admin_client.get(f"/admin/core/alert/{alert.pk}/change/")
    assert page.status_code == 200 and "owner@cafe.example" in page.content.decode()
    assert admin_client.get("/admin/core/alert/add/").status_code == 403
    listing = admin_client.get("/admin/core/incident/")
    assert listing.status_code == 200 and "Demo Café" in listing.content.decode()
