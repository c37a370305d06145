"""Clover's regions and their hosts.

Vendor facts (../shared/reference/README.md, "Clover"; docs.clover.com
"Making REST API calls" and "Use refresh token to generate new expiring
token"): each merchant lives in one region; the REST API and the token
endpoints (`/oauth/v2/token`, `/oauth/v2/refresh`) are on the region's `api`
host, the consent screen (`/oauth/v2/authorize`) on its web host.

| key       | region                     | API host                          | web host                     |
|-----------|----------------------------|-----------------------------------|------------------------------|
| `na`      | North America (US, Canada) | https://api.clover.com            | https://www.clover.com       |
| `eu`      | Europe                     | https://api.eu.clover.com         | https://www.eu.clover.com    |
| `la`      | Latin America              | https://api.la.clover.com         | https://www.la.clover.com    |
| `sandbox` | Clover's developer sandbox | https://apisandbox.dev.clover.com | https://sandbox.dev.clover.com |

`settings.CLOVER_API_URLS` / `CLOVER_WEB_URLS` (region key -> URL) replace
a region's host, for tests and for a proxy.
"""

from __future__ import annotations

from django.conf import settings

from commerce_sync.errors import ConfigurationError

API_HOSTS = {
    "na": "https://api.clover.com",
    "eu": "https://api.eu.clover.com",
    "la": "https://api.la.clover.com",
    "sandbox": "https://apisandbox.dev.clover.com",
}
WEB_HOSTS = {
    "na": "https://www.clover.com",
    "eu": "https://www.eu.clover.com",
    "la": "https://www.la.clover.com",
    "sandbox": "https://sandbox.dev.clover.com",
}


def region_check(region: str) -> str:
    """`region` if it is one of Clover's (`na`, `eu`, `la`, `sandbox`), else
    `ConfigurationError` naming the choices."""
    if region not in API_HOSTS:
        raise ConfigurationError(
            f"Clover region {region!r} is not one of {', '.join(sorted(API_HOSTS))} "
            "(na: North America, eu: Europe, la: Latin America, sandbox)"
        )
    return region


def api_url(region: str) -> str:
    """The REST and token host of `region` (no trailing slash)."""
    configured = (settings.CLOVER_API_URLS or {}).get(region_check(region))
    return str(configured or API_HOSTS[region]).rstrip("/")


def web_url(region: str) -> str:
    """The consent-screen host of `region` (no trailing slash)."""
    configured = (settings.CLOVER_WEB_URLS or {}).get(region_check(region))
    return str(configured or WEB_HOSTS[region]).rstrip("/")
