"""Outbound requests to partner-configured URLs: refuse internal addresses.

A partner types its API's base URL (and token URL) into our settings, so a
hostile or mistaken value could point our workers at the metadata service,
the database or anything else on our network. Every request (redirects
included: the client never follows them automatically) resolves the host and
refuses loopback, link-local, private, multicast, reserved and unspecified
addresses, unless the operator lists the host in `PARTNER_ALLOWED_HOSTS`.

Known limit: the address is checked, then `requests` resolves the name again
to connect, so a DNS server that answers differently the second time (DNS
rebinding) could slip through. Pinning the checked address into the
connection would close that; see the report on issue 6.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

from django.conf import settings

from commerce_sync.errors import ConfigurationError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeUrl(ConfigurationError):
    """The URL points somewhere we refuse to call."""


def _is_internal(address: Address) -> bool:
    # An IPv4 address wrapped in IPv6 (::ffff:127.0.0.1, 64:ff9b::/96 aside) is judged as IPv4.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return (
        address.is_loopback
        or address.is_link_local
        or address.is_private
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or (isinstance(address, ipaddress.IPv6Address) and address.is_site_local)
    )


def _allowed(host: str, addresses: Iterable[Address], allowed_hosts: Iterable[str]) -> bool:
    """An allow-list entry is a host name, an address or a network (CIDR)."""
    host = host.lower().rstrip(".")
    for entry in allowed_hosts:
        entry = entry.strip().lower()
        if not entry:
            continue
        if entry == host:
            return True
        try:
            network = ipaddress.ip_network(entry, strict=False)
        except ValueError:
            continue
        if any(address in network for address in addresses):
            return True
    return False


def resolve(host: str, port: int, *, subject: str = "The partner API host") -> list[Address]:
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as error:
        raise UnsafeUrl(f"{subject} {host!r} cannot be resolved ({error})") from None
    # Strip an IPv6 zone ("fe80::1%eth0"): ipaddress refuses it on 3.11.
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]


def url_check(
    url: str,
    *,
    allowed_hosts: Iterable[str] | None = None,
    subject: str = "The partner API host",
    credentials_hint: str = "configure the auth instead",
    resolve_names: bool = True,
) -> None:
    """Raise `UnsafeUrl` unless `url` is http(s) to a public address (or an
    allowed host). Messages name the host as `subject` ("The webhook host"
    ...). With `resolve_names` False a host name is not looked up (only its
    shape is checked, and `localhost` refused): an address literal is
    still judged; the name is resolved and judged when it is called."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise UnsafeUrl(f"Only http and https URLs are called, not {parts.scheme!r}")
    host = parts.hostname
    if not host:
        raise UnsafeUrl("The URL has no host")
    if parts.username or parts.password:
        raise UnsafeUrl(f"Credentials in the URL are not accepted; {credentials_hint}")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise UnsafeUrl("The URL's port is not a number between 0 and 65535") from None
    allow = list(settings.PARTNER_ALLOWED_HOSTS if allowed_hosts is None else allowed_hosts)
    if not resolve_names:
        try:
            addresses: list[Address] = [ipaddress.ip_address(host.split("%", 1)[0])]
        except ValueError:  # a name: resolved when called
            name = host.lower().rstrip(".")
            if (name == "localhost" or name.endswith(".localhost")) and not _allowed(
                host, [], allow
            ):
                raise UnsafeUrl(
                    f"{subject} {host!r} is this machine; the operator must allow it "
                    "in PARTNER_ALLOWED_HOSTS"
                ) from None
            return
    else:
        addresses = resolve(host, port, subject=subject)
    if not addresses:
        raise UnsafeUrl(f"{subject} {host!r} has no address")
    if _allowed(host, addresses, allow):
        return
    internal = sorted({str(a) for a in addresses if _is_internal(a)})
    if internal:
        raise UnsafeUrl(
            f"{subject} {host!r} resolves to an internal address "
            f"({', '.join(internal)}); the operator must allow it in PARTNER_ALLOWED_HOSTS"
        )
