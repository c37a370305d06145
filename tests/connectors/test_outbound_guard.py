"""Outbound calls to partner-configured URLs (issue 15): `is_global`
decides (carrier-grade NAT and private addresses wrapped in IPv6 are
refused), the connection goes to the address that was checked (no DNS
rebinding, redirects included), and a server dripping its answer cannot
hold a call past its total deadline. Real sockets on 127.0.0.1."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from commerce_sync.errors import PlatformUnavailable
from commerce_sync.webhooks import services as webhooks
from connectors.partner import ssrf
from connectors.partner.client import PartnerAuth, PartnerClient
from connectors.partner.ssrf import DeadlineExceeded, UnsafeUrl, call_deadline, url_check


@pytest.mark.parametrize(
    "url",
    [
        "http://100.64.0.1/",  # carrier-grade NAT (a cloud's metadata service lives here)
        "http://100.127.255.254/",
        "http://[2002:a00:1::]/",  # 6to4 wrapping 10.0.0.1
        "http://[2002:7f00:1::1]/",  # 6to4 wrapping 127.0.0.1
        "http://[2002:a9fe:a9fe::]/",  # 6to4 wrapping 169.254.169.254
        "http://[::ffff:10.0.0.1]/",  # IPv4-mapped
        "http://[::ffff:100.64.0.1]/",
        "http://[64:ff9b::a9fe:a9fe]/",  # NAT64 of 169.254.169.254
        "http://[2001:0:4136:e378:8000:63bf:f5ff:fffe]/",  # Teredo, client 10.0.0.1
        "http://192.0.0.8/",  # IETF assignments
        "http://198.18.0.1/",  # benchmarking
        "http://[fd00::1]/",
        "http://[fe80::1]/",
        "http://240.0.0.1/",
        "http://255.255.255.255/",
    ],
)
def test_addresses_that_are_not_global_are_refused(settings, url):
    settings.PARTNER_ALLOWED_HOSTS = []
    with pytest.raises(UnsafeUrl, match="internal address"):
        url_check(url)


@pytest.mark.parametrize(
    "url", ["http://93.184.216.34/", "http://[2002:5db8:d822::1]/", "http://[2606:4700::1]/"]
)
def test_public_addresses_pass(settings, url):
    settings.PARTNER_ALLOWED_HOSTS = []
    assert url_check(url)


class _Answer(BaseHTTPRequestHandler):
    hosts: list[str] = []

    def do_GET(self) -> None:
        type(self).hosts.append(self.headers.get("Host", ""))
        if self.path.startswith("/hop"):
            self.send_response(302)
            self.send_header("Location", f"http://rebind.example:{self.server.server_port}/data")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = b'{"results": [], "totalResults": 0}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    _Answer.hosts = []
    running = ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    thread = threading.Thread(target=running.serve_forever, daemon=True)
    thread.start()
    yield running
    running.shutdown()
    running.server_close()


def test_the_connection_goes_to_the_checked_address_not_a_second_answer(
    settings, monkeypatch, server
):
    """A rebinding DNS server answers the allowed address first and an
    internal one after: the first answer is the one connected to (one
    lookup per hop, redirect hops included), and the Host header keeps the
    name."""
    settings.PARTNER_ALLOWED_HOSTS = ["127.0.0.1"]
    real = socket.getaddrinfo
    lookups: list[str] = []
    rebind = {"on": True}

    def rebinding(host, port, *args, **kwargs):
        if host == "rebind.example":
            lookups.append(host)
            later = rebind["on"] and len(lookups) > 1
            address = "10.255.255.1" if later else "127.0.0.1"
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    port = server.server_port
    client = PartnerClient(
        base_url=f"http://rebind.example:{port}/",
        auth=PartnerAuth(kind="api_key", header="X-Api-Key", api_key="k"),
        timeout=2,
        attempts=1,
    )
    assert client._send("GET", f"http://rebind.example:{port}/data").status_code == 200
    assert len(lookups) == 1  # checked once, connected to what was checked
    lookups.clear()
    rebind["on"] = False
    assert client._send("GET", f"http://rebind.example:{port}/hop").status_code == 200
    assert len(lookups) == 2  # the redirect hop is resolved and checked once more
    assert _Answer.hosts == [f"rebind.example:{port}"] * 3
    # A hop whose answer rebinds to an internal address is refused.
    lookups.clear()
    rebind["on"] = True
    with pytest.raises(UnsafeUrl):
        client._send("GET", f"http://rebind.example:{port}/hop")


def test_a_rebinding_answer_to_an_internal_address_is_refused_at_connect(settings, monkeypatch):
    settings.PARTNER_ALLOWED_HOSTS = []
    monkeypatch.setattr(
        ssrf, "resolve", lambda host, port, **_: [ssrf.ipaddress.ip_address("169.254.169.254")]
    )
    session = ssrf.safe_session()
    with pytest.raises(UnsafeUrl):
        session.get("http://innocent.example/latest/meta-data", timeout=1)


class _Drip:
    """A server that answers one byte every `interval` seconds, forever (in
    the status line and headers, or in the body)."""

    def __init__(self, *, in_headers: bool, interval: float = 0.3) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.in_headers, self.interval = in_headers, interval
        self.stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        self.listener.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _drip(self, conn: socket.socket) -> None:
        try:
            conn.recv(65536)
            head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            if not self.in_headers:
                conn.sendall(head + b"Content-Length: 100000\r\n\r\n")
                head = b"{" + b" " * 100000
            for byte in head + b"X-Slow: " + b"x" * 100000:
                if self.stop.is_set():
                    break
                conn.sendall(bytes([byte]))
                time.sleep(self.interval)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self.stop.set()
        self.listener.close()


@pytest.mark.parametrize("in_headers", [True, False])
def test_a_slow_drip_server_cannot_hold_a_partner_call_past_its_deadline(settings, in_headers):
    settings.PARTNER_ALLOWED_HOSTS = ["127.0.0.1"]
    drip = _Drip(in_headers=in_headers)
    client = PartnerClient(
        base_url=f"http://127.0.0.1:{drip.port}/",
        auth=PartnerAuth(kind="api_key", header="X-Api-Key", api_key="k"),
        timeout=1,  # every byte comes within it
        deadline=2,
        attempts=1,
    )
    started = time.monotonic()
    try:
        with pytest.raises(PlatformUnavailable) as unavailable:
            client.get("commerce-orders", {"page": 1})
    finally:
        drip.close()
    # The deadline ended it (the drip would run for hours): not before it,
    # not long after. The upper bound leaves a busy machine 2 s to unwind.
    elapsed = time.monotonic() - started
    assert (
        isinstance(unavailable.value.__cause__, DeadlineExceeded)
        or "deadline" in str(unavailable.value).lower()
    ), unavailable.value
    assert 2.0 <= elapsed < 4.0


def test_a_slow_drip_receiver_cannot_hold_a_webhook_delivery(settings, monkeypatch):
    settings.WEBHOOK_ALLOW_PRIVATE = True
    monkeypatch.setattr(webhooks, "DEADLINE", 1.5)
    monkeypatch.setattr(webhooks, "TIMEOUT", (1, 1))
    drip = _Drip(in_headers=True)
    started = time.monotonic()
    try:
        status, _, error = webhooks._post(f"http://127.0.0.1:{drip.port}/hook", "{}", {})
    finally:
        drip.close()
    assert status is None and "DeadlineExceeded" in error
    assert 1.5 <= time.monotonic() - started < 3.5  # the deadline, and 2 s to unwind


def test_a_deadline_that_is_not_reached_changes_nothing(server, settings):
    settings.PARTNER_ALLOWED_HOSTS = ["127.0.0.1"]
    session = ssrf.safe_session()
    with call_deadline(5):
        response = session.get(f"http://127.0.0.1:{server.server_port}/data", timeout=2)
    assert response.status_code == 200 and response.json()["totalResults"] == 0
    assert issubclass(DeadlineExceeded, requests.Timeout)
