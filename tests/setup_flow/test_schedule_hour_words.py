"""A sync hour typed as "²" (which str.isdigit() accepts and int() refuses)
is refused in words on the schedule stage, not answered with a 500."""

from __future__ import annotations

import pytest

from tests.setup_flow.helpers import new_merchant, start_path

pytestmark = pytest.mark.django_db


SCHEDULE = {"schedule.startDate": "2026-11-01", "schedule.timeZone": "Europe/London"}


def test_a_superscript_hour_is_a_problem_named_not_a_500(client, partner):
    client.get(start_path(new_merchant(partner)))
    response = client.post("/setup/stage/schedule", {**SCHEDULE, "schedule.syncHour": "²"})
    assert response.status_code == 400
    assert "Sync hour: choose an hour from 0 to 23." in response.content.decode()
