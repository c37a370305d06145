"""Repeated failed logins lock that username from that address out of the
operator's /admin/ and the support portal's /portal/ (django-axes), even
with the right password afterwards, until `manage.py axes_reset`."""

from __future__ import annotations

import pytest
from django.core.management import call_command


@pytest.mark.parametrize("site", ["/admin/login/", "/portal/login/"])
def test_failed_logins_lock_out_until_reset(client, django_user_model, settings, site):
    settings.AXES_FAILURE_LIMIT = 3
    django_user_model.objects.create_user(
        "agent", password="the-right-pass-phrase", is_staff=True, is_superuser=True
    )

    def attempt(password: str):
        return client.post(site, {"username": "agent", "password": password, "next": site})

    for _ in range(2):
        assert attempt("wrong").status_code == 200  # the form again, with its error
    assert attempt("wrong").status_code == 429
    locked = attempt("the-right-pass-phrase")
    assert locked.status_code == 429 and "_auth_user_id" not in client.session

    call_command("axes_reset", verbosity=0)
    accepted = attempt("the-right-pass-phrase")
    assert accepted.status_code == 302 and "_auth_user_id" in client.session


def test_one_locked_username_does_not_lock_another(client, django_user_model, settings):
    settings.AXES_FAILURE_LIMIT = 2
    django_user_model.objects.create_user("other", password="another-pass-phrase", is_staff=True)
    for _ in range(2):
        client.post("/admin/login/", {"username": "victim", "password": "guess"})
    response = client.post(
        "/admin/login/", {"username": "other", "password": "another-pass-phrase"}
    )
    assert response.status_code == 302
