"""Writes of the health portal: support users and their invitations."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from commerce_sync.core.models import Partner
from commerce_sync.core.services.audit import audit_log_write
from portal.models import PartnerMembership


@dataclass(frozen=True)
class Invitation:
    """A new support user and the one-time link that sets their password
    (`url` is absolute: SITE_URL, else http://127.0.0.1:$PORT (8000); it stops working
    once the password is set or after PASSWORD_RESET_TIMEOUT seconds)."""

    membership: PartnerMembership
    url: str


def set_password_url(*, user: object, base_url: str = "") -> str:
    """The one-time set-password link of `user` (Django's password reset
    token: it dies when the password or last login changes), on SITE_URL,
    else on `base_url` (the portal's own host when a request made it), else
    `LOCAL_SITE_URL` (http://127.0.0.1:$PORT, 8000 by default)."""
    uid = urlsafe_base64_encode(force_bytes(user.pk))  # type: ignore[attr-defined]
    token = default_token_generator.make_token(user)  # type: ignore[arg-type]
    path = reverse("portal:set_password", kwargs={"uidb64": uid, "token": token})
    base = settings.SITE_URL or base_url.rstrip("/") or settings.LOCAL_SITE_URL
    return f"{base}{path}"


def support_user_create(
    *,
    partner: Partner,
    username: str,
    email: str,
    actor: str,
    role: str = PartnerMembership.Role.SUPPORT,
    base_url: str = "",
) -> Invitation:
    """Create a staff user without a usable password, a member of `partner`
    with `role`, and return the link that lets them set one.

    Raises ValidationError naming the field when the username is taken or
    invalid, the email malformed, or the role unknown."""
    user_model = get_user_model()
    if role not in PartnerMembership.Role.values:
        raise ValidationError({"role": f"Unknown role {role!r}: use support or admin."})
    if user_model.objects.filter(username=username).exists():
        raise ValidationError({"username": f"The username {username!r} is taken."})
    user = user_model(username=username, email=email, is_staff=True, is_active=True)
    user.set_unusable_password()
    user.full_clean(exclude=["password"])
    with transaction.atomic():
        user.save()
        # Support's job includes retrying and re-syncing their merchants' runs
        # (its own permission: viewing alone does not change a run).
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label="core", codename="retry_syncrun")
        )
        membership = PartnerMembership.objects.create(
            user=user, partner=partner, role=role, created_by=actor
        )
        audit_log_write(
            actor=actor,
            action="support_user.create",
            obj=membership,
            changes={"partner": partner.slug, "username": username, "role": role},
        )
    return Invitation(membership=membership, url=set_password_url(user=user, base_url=base_url))


def support_user_link_reissue(
    *, membership: PartnerMembership, actor: str, base_url: str = ""
) -> str:
    """A new one-time set-password link (see `set_password_url`) for
    `membership`'s user, who forgot their password or whose invitation link
    expired; audited (`support_user.link_reissue`). Their password, if any,
    keeps working until they set a new one, which kills every earlier link."""
    url = set_password_url(user=membership.user, base_url=base_url)
    audit_log_write(
        actor=actor,
        action="support_user.link_reissue",
        obj=membership,
        changes={"partner": membership.partner.slug, "username": membership.user.get_username()},
    )
    return url


def support_user_deactivate(*, membership: PartnerMembership, actor: str) -> None:
    """Take the portal (and every other sign-in) away from `membership`'s
    user, e.g. an agent who left the partner: `is_active` False, which Django
    checks on every request, so their open sessions end too; audited
    (`support_user.deactivate`). The user and their audit trail are kept."""
    user = membership.user
    with transaction.atomic():
        user.is_active = False
        user.save(update_fields=["is_active"])
        audit_log_write(
            actor=actor,
            action="support_user.deactivate",
            obj=membership,
            changes={"partner": membership.partner.slug, "username": user.get_username()},
        )


def membership_time_zone_set(*, membership: PartnerMembership, time_zone: str, actor: str) -> None:
    """Set the zone the portal shows `membership`'s user their times in (an
    IANA name, or "" for settings.TIME_ZONE), audited
    (`support_user.time_zone`). Raises ValidationError for an unknown zone."""
    before = membership.time_zone
    membership.time_zone = time_zone
    membership.full_clean(exclude=["user", "partner"])
    with transaction.atomic():
        membership.save(update_fields=["time_zone"])
        audit_log_write(
            actor=actor,
            action="support_user.time_zone",
            obj=membership,
            changes={"from": before, "to": time_zone},
        )
