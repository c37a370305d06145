from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.exceptions import ValidationError


def validate_time_zone(value: str) -> None:
    """Accept only names the IANA database knows, e.g. "Europe/London"."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(
            "%(value)s is not an IANA time zone.", code="invalid", params={"value": value}
        ) from None


def validate_email_list(value: object) -> None:
    """Accept a list of email addresses (empty allowed), e.g.
    ["support@partner.example"]; name the first bad entry otherwise. (Codes
    other than "invalid", which a JSONField would replace with its own text.)"""
    from django.core.validators import validate_email

    if not isinstance(value, list):
        raise ValidationError("Enter a list of email addresses.", code="not_a_list")
    for entry in value:
        try:
            validate_email(entry if isinstance(entry, str) else "")
        except ValidationError:
            raise ValidationError(
                "%(value)s is not an email address.", code="invalid_email", params={"value": entry}
            ) from None
