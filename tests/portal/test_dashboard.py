"""The dashboard's figures against the hand-counted worlds of conftest.py,
and each figure's link leading to a list of exactly that many rows."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from django.utils import timezone

from portal.selectors import dashboard_figures


def _today_end() -> datetime:
    now = timezone.now()
    return datetime.combine(now.date(), datetime.min.time(), UTC) + timedelta(days=1)


def test_figures_for_a_support_user_count_only_their_partner(worlds, support_a):
    end = _today_end()
    start = end - timedelta(days=30)
    figures = dashboard_figures(user=support_a, start=start, end=end, now=timezone.now())
    # Partner A, by hand: failing succeeded 10 days ago and failed 3, 2 and 1 days ago;
    # healthy succeeded yesterday and runs (1010) today.
    assert (figures.succeeded, figures.failed, figures.finished) == (2, 3, 5)
    assert figures.success_rate == 40.0
    assert figures.failing_merchants == 1
    assert figures.failing_merchant_ids == [str(worlds[0].failing.pk)]
    assert figures.long_running == 1
    assert figures.failed_push_items == 4
    assert (figures.disabled, figures.not_configured) == (1, 1)
    assert len(figures.per_day) == 30
    by_day = {day: counts for day, counts in figures.per_day}
    today = end.date() - timedelta(days=1)
    assert by_day[today] == {"pending": 0, "running": 1, "succeeded": 0, "failed": 0}
    assert by_day[today - timedelta(days=1)] == {
        "pending": 0,
        "running": 0,
        "succeeded": 1,
        "failed": 1,
    }
    assert by_day[today - timedelta(days=2)]["failed"] == 1
    assert by_day[today - timedelta(days=10)]["succeeded"] == 1
    assert sum(sum(c.values()) for c in by_day.values()) == 6


def test_an_operator_counts_both_partners_and_ranges_cut(worlds, django_user_model):
    operator = django_user_model.objects.create_superuser("op", password="pw-op-12345")
    end = _today_end()
    figures = dashboard_figures(
        user=operator, start=end - timedelta(days=30), end=end, now=timezone.now()
    )
    assert (figures.succeeded, figures.failed, figures.success_rate) == (4, 6, 40.0)
    assert (figures.failing_merchants, figures.long_running, figures.failed_push_items) == (
        2,
        2,
        8,
    )
    assert (figures.disabled, figures.not_configured) == (2, 2)
    # The last 5 days leave out the success of 10 days ago; 2 days of failing is not 3+.
    recent = dashboard_figures(
        user=operator, start=end - timedelta(days=5), end=end, failing_days=5, now=timezone.now()
    )
    assert (recent.succeeded, recent.failed, recent.success_rate) == (2, 6, 25.0)
    assert recent.failing_merchants == 0


def test_the_dashboard_page_links_each_figure_to_its_list(worlds, support_a, client):
    client.force_login(support_a)
    page = client.get("/portal/").content.decode()
    assert "<svg" in page and "<script" not in page.split("<svg", 1)[1].split("</svg>")[0]
    assert "cdn" not in page.lower()
    links = dict(
        re.findall(r'<li id="fig-([a-z-]+)"[^>]*><a href="([^"]+)"', page.replace("&amp;", "&"))
    )
    expected_rows = {
        "failing": 1,
        "long-running": 1,
        "failed-items": 4,
        "disabled": 1,
        "not-configured": 1,
        "success-rate": 6 if timezone.now().hour >= 4 else 5,
    }
    for figure, rows in expected_rows.items():
        listing = client.get(links[figure])
        assert listing.status_code == 200, figure
        assert listing.content.decode().count('name="_selected_action"') == rows, figure
    # A bar of the chart: yesterday's failures.
    yesterday = (timezone.now() - timedelta(days=1)).date().isoformat()
    bar = re.search(
        rf'<a href="([^"]+)"><rect[^>]*><title>{yesterday} failed: 1</title>',
        page.replace("&amp;", "&"),
    )
    assert bar is not None
    assert client.get(bar.group(1)).content.decode().count('name="_selected_action"') == 1


def test_a_bad_range_is_said_and_replaced(worlds, support_a, client):
    client.force_login(support_a)
    response = client.get("/portal/?from=yesterday&to=2026-13-01&failing_days=x")
    assert response.status_code == 200
    text = response.content.decode()
    assert "is not a date (YYYY-MM-DD)" in text
