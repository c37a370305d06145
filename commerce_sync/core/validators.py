from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pycountry
from django.core.exceptions import ValidationError

# The longest zone name a time-zone column holds (IANA names are far shorter).
TIME_ZONE_MAX_LENGTH = 64


def time_zone_get(name: object) -> ZoneInfo | None:
    """The IANA zone called `name` (e.g. "Europe/London"), or None when
    `name` is not one: not a string, empty, longer than
    TIME_ZONE_MAX_LENGTH characters, or unknown. The length is checked
    first: zoneinfo looks a long name with many slashes up as nested
    packages and raises RecursionError, not ZoneInfoNotFoundError."""
    if not isinstance(name, str) or not name or len(name) > TIME_ZONE_MAX_LENGTH:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def validate_time_zone(value: str) -> None:
    """Accept only names the IANA database knows, e.g. "Europe/London"."""
    if time_zone_get(value) is None:
        raise ValidationError(
            "%(value)s is not an IANA time zone.", code="invalid", params={"value": value}
        )


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


def validate_country_code(value: str) -> None:
    """Accept only assigned ISO 3166-1 alpha-2 codes, upper case ("GB",
    "FR"), as pycountry (pinned) lists them; "XX" or "UK" are refused."""
    if not (isinstance(value, str) and value.isupper() and pycountry.countries.get(alpha_2=value)):
        raise ValidationError(
            "%(value)s is not an ISO 3166-1 alpha-2 country code (e.g. GB, FR, US).",
            code="invalid_country",
            params={"value": value},
        )


def validate_currency_code(value: str) -> None:
    """Accept only active ISO 4217 currency codes, upper case ("GBP",
    "EUR"), as pycountry (pinned) lists them; "ABC" or "EURO" are refused."""
    if not (isinstance(value, str) and value.isupper() and pycountry.currencies.get(alpha_3=value)):
        raise ValidationError(
            "%(value)s is not an ISO 4217 currency code (e.g. GBP, EUR, USD).",
            code="invalid_currency",
            params={"value": value},
        )
