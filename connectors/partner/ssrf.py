"""Outbound requests to partner-configured URLs: refuse internal addresses.

A partner types its API's base URL (and token URL, and webhook URLs) into
our settings, so a hostile or mistaken value could point our workers at the
metadata service, the database or anything else on our network.

* An address is called only when `ipaddress` says it `is_global` (so
  loopback, private, link-local, carrier-grade NAT 100.64.0.0/10, shared,
  reserved and documentation ranges are all refused), judging the IPv4
  address inside IPv4-mapped (::ffff:a.b.c.d), 6to4 (2002::/16), Teredo and
  NAT64 (64:ff9b::/96) addresses as well; unless the operator lists the host,
  the address or its network in `PARTNER_ALLOWED_HOSTS`.
* No DNS rebinding: `safe_session()` mounts `PinnedAddressAdapter`, which
  resolves and checks the host when it opens the connection and connects to
  the address it checked (the Host header, TLS SNI and certificate check
  keep the name), on every request and so on every redirect hop. This is
  what Saleor's `requests-hardened` does; it is done here because that
  library judges with `is_private` and has no allow-list.
* A total deadline per call (`call_deadline`): a watchdog shuts the call's
  sockets when it passes, so a server dripping a byte at a time cannot hold
  a worker past it (a socket timeout alone is per read).
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from commerce_sync.errors import ConfigurationError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeUrl(ConfigurationError):
    """The URL points somewhere we refuse to call."""


_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# IETF protocol assignments: Python before 3.12.? calls some of them global
# (python/cpython#113171).
_NOT_GLOBAL = (ipaddress.ip_network("192.0.0.0/24"), ipaddress.ip_network("64:ff9b:1::/48"))


def _embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries (mapped, 6to4, Teredo, NAT64)."""
    inner = [address.ipv4_mapped, address.sixtofour]
    if address.teredo is not None:
        inner.extend(address.teredo)
    if address in _NAT64:
        inner.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return [found for found in inner if found is not None]


def _is_internal(address: Address) -> bool:
    """True unless the address, and any IPv4 address wrapped in it, is global."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = _embedded_ipv4(address)
        if address.ipv4_mapped is not None:
            return not address.ipv4_mapped.is_global
        if any(not found.is_global for found in inner):
            return True
        if inner:  # a 6to4, Teredo or NAT64 address of a public IPv4 address
            return address.is_multicast
    if any(address in network for network in _NOT_GLOBAL):
        return True
    return not address.is_global or address.is_multicast


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
) -> list[Address]:
    """Raise `UnsafeUrl` unless `url` is http(s) to a public address (or an
    allowed host); returns the addresses checked. Messages name the host as
    `subject` ("The webhook host" ...). With `resolve_names` False a host
    name is not looked up (only its shape is checked, and `localhost`
    refused; nothing is returned for it): an address literal is still
    judged; the name is resolved and judged when it is called."""
    host, port = url_shape_check(url, credentials_hint=credentials_hint)
    if not resolve_names:
        try:
            literal = ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
        except ValueError:  # a name: resolved when called
            allow = list(settings.PARTNER_ALLOWED_HOSTS if allowed_hosts is None else allowed_hosts)
            name = host.lower().rstrip(".")
            if (name == "localhost" or name.endswith(".localhost")) and not _allowed(
                host, [], allow
            ):
                raise UnsafeUrl(
                    f"{subject} {host!r} is this machine; the operator must allow it "
                    "in PARTNER_ALLOWED_HOSTS"
                ) from None
            return []
        return addresses_check(host, [literal], allowed_hosts=allowed_hosts, subject=subject)
    return host_check(host, port, allowed_hosts=allowed_hosts, subject=subject)


def url_shape_check(
    url: str, *, credentials_hint: str = "configure the auth instead"
) -> tuple[str, int]:
    """(host, port) of an http(s) URL without credentials; `UnsafeUrl`
    otherwise. No DNS: `safe_session()` checks the address as it connects."""
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
    return host, port


def host_check(
    host: str,
    port: int,
    *,
    allowed_hosts: Iterable[str] | None = None,
    subject: str = "The partner API host",
) -> list[Address]:
    """Resolve `host` and return its addresses, every one of them checked
    (`addresses_check`)."""
    addresses = resolve(host.strip("[]"), port, subject=subject)
    return addresses_check(host, addresses, allowed_hosts=allowed_hosts, subject=subject)


def addresses_check(
    host: str,
    addresses: list[Address],
    *,
    allowed_hosts: Iterable[str] | None = None,
    subject: str = "The partner API host",
) -> list[Address]:
    """`addresses` (those of `host`) when the host is allowed or none of them
    is internal; `UnsafeUrl` naming the internal ones otherwise."""
    allow = list(settings.PARTNER_ALLOWED_HOSTS if allowed_hosts is None else allowed_hosts)
    if not addresses:
        raise UnsafeUrl(f"{subject} {host!r} has no address")
    if _allowed(host, addresses, allow):
        return addresses
    internal = sorted({str(a) for a in addresses if _is_internal(a)})
    if internal:
        raise UnsafeUrl(
            f"{subject} {host!r} resolves to an internal address "
            f"({', '.join(internal)}); the operator must allow it in PARTNER_ALLOWED_HOSTS"
        )
    return addresses


# The deadline of a call ---------------------------------------------------------


class DeadlineExceeded(requests.Timeout):
    """The call did not finish within its total deadline."""


@dataclass
class _Watch:
    seconds: float
    sockets: list[socket.socket] = field(default_factory=list)
    expired: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self.lock:
            self.sockets.append(sock)
            if self.expired:
                _shut(sock)

    def expire(self) -> None:
        with self.lock:
            self.expired = True
            for sock in self.sockets:
                _shut(sock)


def _shut(sock: socket.socket) -> None:
    with suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)  # wakes a blocked recv in the calling thread


_local = threading.local()


@contextmanager
def call_deadline(seconds: float) -> Iterator[None]:
    """Everything `safe_session()` sends in this block, redirects, retries
    and reading the body included, ends within `seconds`; after that its
    sockets are shut and `DeadlineExceeded` (a `requests.Timeout`) raised."""
    watch = _Watch(seconds)
    outer = getattr(_local, "watch", None)
    _local.watch = watch
    timer = threading.Timer(seconds, watch.expire)
    timer.daemon = True
    timer.start()
    try:
        yield
    except (requests.RequestException, OSError) as error:
        if watch.expired:
            raise DeadlineExceeded(f"No complete answer within {seconds:g} s") from error
        raise
    finally:
        timer.cancel()
        _local.watch = outer
    if watch.expired:
        raise DeadlineExceeded(f"No complete answer within {seconds:g} s")


def _watched(connection: HTTPConnection) -> None:
    watch = getattr(_local, "watch", None)
    if watch is not None:
        watch.add(connection.sock)


class _WatchedHTTPConnection(HTTPConnection):
    def connect(self) -> None:
        super().connect()
        _watched(self)

    def request(self, *args: Any, **kwargs: Any) -> None:
        _watched(self)  # a kept-alive connection, reused
        super().request(*args, **kwargs)


class _WatchedHTTPSConnection(HTTPSConnection):
    def connect(self) -> None:
        super().connect()
        _watched(self)

    def request(self, *args: Any, **kwargs: Any) -> None:
        _watched(self)
        super().request(*args, **kwargs)


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


# Connecting to the address checked -------------------------------------------------


class PinnedAddressAdapter(HTTPAdapter):
    """Resolves and checks the host (`check(host, port)` returns the checked
    addresses) as the connection is chosen, and connects to the first
    checked address: the name is never resolved a second time. The Host
    header keeps the name, and for https so do SNI and the certificate check."""

    def __init__(self, check: Callable[[str, int], list[Address]]) -> None:
        self._check = check
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}

    def build_connection_pool_key_attributes(
        self, request: requests.PreparedRequest, verify: bool | str, cert: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(
            request, verify, cert
        )
        name = host_params["host"]
        scheme = host_params["scheme"]
        port = host_params["port"] or (443 if scheme == "https" else 80)
        address = self._check(name, port)[0]
        request.headers = CaseInsensitiveDict(request.headers or {})
        shown_name = f"[{name}]" if ":" in name else name
        request.headers["Host"] = (
            shown_name if host_params["port"] is None else f"{shown_name}:{host_params['port']}"
        )
        if scheme == "https":
            pool_kwargs["assert_hostname"] = name
            pool_kwargs["server_hostname"] = name
        host_params["host"] = str(address)
        return host_params, pool_kwargs


def safe_session(*, check_addresses: bool = True) -> requests.Session:
    """A `requests.Session` for partner-configured URLs: every connection to
    a checked address (`host_check`), no proxies from the environment, and
    redirects left to the caller (pass `allow_redirects=False`, then follow
    by hand: each hop is checked again). `check_addresses=False` (the
    tests' `WEBHOOK_ALLOW_PRIVATE`) keeps the pinning and deadline but
    admits any address. Wrap calls in `call_deadline(seconds)`."""
    session = requests.Session()
    session.trust_env = False

    def check(host: str, port: int) -> list[Address]:
        if not check_addresses:
            return resolve(host.strip("[]"), port)
        return host_check(host, port)

    adapter = PinnedAddressAdapter(check)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
