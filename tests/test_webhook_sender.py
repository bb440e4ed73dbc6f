"""The sender against real HTTP receivers on 127.0.0.1, and the retry schedule.

Every outgoing connection passes through a guard that fails the test unless it
goes to 127.0.0.1, so a refusal test proves the URL was refused before any
connection, and nothing here ever reaches another machine. Made-up ``.test``
names resolve through a small fake DNS, which also plays the rebinding attacker.
"""

from __future__ import annotations

import random
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import Message
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import urllib3.util.connection

from flask_kroncases.webhooks import (
    DEFAULT_SCHEDULE,
    Sender,
    SendResult,
    build_headers,
    classify,
    generate_secret,
    next_delay,
    parse_retry_after,
    redact_url,
    send,
    serialize,
    validate_url,
)

BODY = serialize({"id": "evt_1", "type": "case.created", "data": {"case": {"title": "Löst"}}})
HEADERS = build_headers(
    event_type="case.created",
    event_id="evt_1",
    delivery_id="dlv_1",
    body=BODY,
    secrets=[generate_secret()],
    timestamp=1_700_000_000,
    user_agent="KronGage-Webhooks/test",
)

Reply = Callable[[BaseHTTPRequestHandler], None]


@dataclass
class Hit:
    method: str
    path: str
    headers: Message
    body: bytes


def respond(status: int, body: bytes = b"ok", headers: dict[str, str] | None = None) -> Reply:
    def reply(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    return reply


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """The sender hangs up on purpose (capped body, timeout); that is fine."""


@dataclass
class Receiver:
    """A threaded HTTP(S) server on 127.0.0.1 that records what reaches it."""

    ssl_context: ssl.SSLContext | None = None
    #: Answer in HTTP/1.1 and keep the connection open for the next request.
    keep_alive: bool = False
    hits: list[Hit] = field(default_factory=list)
    reply: Reply = field(default_factory=lambda: respond(200))
    release: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1" if receiver.keep_alive else "HTTP/1.0"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.hits.append(Hit(self.command, self.path, self.headers, body))
                receiver.reply(self)

            do_GET = do_POST

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = _QuietServer(("127.0.0.1", 0), Handler)
        if self.ssl_context is not None:
            self.server.socket = self.ssl_context.wrap_socket(self.server.socket, server_side=True)
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def url(self, path: str = "/hook", host: str = "127.0.0.1") -> str:
        scheme = "https" if self.ssl_context else "http"
        return f"{scheme}://{host}:{self.port}{path}"

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def make_receiver() -> Iterator[Callable[..., Receiver]]:
    receivers: list[Receiver] = []

    def make(ssl_context: ssl.SSLContext | None = None, keep_alive: bool = False) -> Receiver:
        receivers.append(Receiver(ssl_context, keep_alive))
        return receivers[-1]

    yield make
    for receiver in receivers:
        receiver.close()


@pytest.fixture
def receiver(make_receiver: Callable[..., Receiver]) -> Receiver:
    return make_receiver()


@pytest.fixture(autouse=True)
def connections(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Every address connected to; anything but 127.0.0.1 fails the test."""
    seen: list[tuple[str, int]] = []
    real = urllib3.util.connection.create_connection

    def guarded(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        seen.append(address)
        if address[0] != "127.0.0.1":
            raise AssertionError(f"the test tried to connect to {address}")
        return real(address, *args, **kwargs)

    monkeypatch.setattr(urllib3.util.connection, "create_connection", guarded)
    return seen


@dataclass
class FakeDNS:
    """Each lookup of a name takes its next answer; none left means NXDOMAIN."""

    answers: dict[str, list[list[str]]] = field(default_factory=dict)
    lookups: list[str] = field(default_factory=list)


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> FakeDNS:
    fake = FakeDNS()
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in fake.answers:
            return real(host, port, *args, **kwargs)
        fake.lookups.append(host)
        if not fake.answers[host]:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (a, port, 0, 0))
            if ":" in a
            else (socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in fake.answers[host].pop(0)
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return fake


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# Sending


def test_posts_the_exact_bytes_and_headers(receiver: Receiver) -> None:
    result = send(receiver.url(), BODY, HEADERS, allow_private=True)
    assert result.status_code == 200, result.error
    assert result.error is None and not result.refused
    assert result.response_excerpt == "ok"
    assert result.latency_ms >= 0
    [hit] = receiver.hits
    assert (hit.method, hit.path, hit.body) == ("POST", "/hook", BODY)
    for name, value in HEADERS.items():
        assert hit.headers[name] == value
    assert hit.headers["Host"] == f"127.0.0.1:{receiver.port}"
    assert classify(result) == "delivered"


@pytest.mark.parametrize(
    ("status", "verdict"), [(201, "delivered"), (500, "retry"), (404, "retry"), (410, "disable")]
)
def test_status_decides_the_verdict(receiver: Receiver, status: int, verdict: str) -> None:
    receiver.reply = respond(status, b"nope")
    result = send(receiver.url(), BODY, HEADERS, allow_private=True)
    assert result.status_code == status
    assert result.response_excerpt == "nope"
    assert result.retry_after is None
    assert classify(result) == verdict


def test_429_retry_after_seconds(receiver: Receiver) -> None:
    receiver.reply = respond(429, headers={"Retry-After": "120"})
    result = send(receiver.url(), BODY, HEADERS, allow_private=True)
    assert (result.status_code, result.retry_after) == (429, 120)
    assert classify(result) == "retry"
    assert next_delay(1, rng=random.Random(0), retry_after=result.retry_after) == 120


def test_503_retry_after_http_date(receiver: Receiver) -> None:
    later = datetime.now(UTC) + timedelta(hours=1)
    receiver.reply = respond(503, headers={"Retry-After": format_datetime(later, usegmt=True)})
    result = send(receiver.url(), BODY, HEADERS, allow_private=True)
    assert result.status_code == 503
    assert result.retry_after is not None and 3590 < result.retry_after <= 3600
    assert classify(result) == "retry"


def test_redirects_are_not_followed(
    make_receiver: Callable[..., Receiver], connections: list[tuple[str, int]]
) -> None:
    receiver, elsewhere = make_receiver(), make_receiver()
    receiver.reply = respond(302, headers={"Location": elsewhere.url("/stolen")})
    result = send(receiver.url(), BODY, HEADERS, allow_private=True)
    assert result.status_code == 302
    assert classify(result) == "retry"
    assert elsewhere.hits == []
    assert connections == [("127.0.0.1", receiver.port)]


def test_proxies_from_the_environment_are_ignored(
    make_receiver: Callable[..., Receiver], monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver, proxy = make_receiver(), make_receiver()
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, f"http://127.0.0.1:{proxy.port}")
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    result = send(receiver.url(), BODY, HEADERS, allow_private=True)
    assert result.status_code == 200
    assert proxy.hits == [] and len(receiver.hits) == 1


def test_response_body_is_capped(receiver: Receiver) -> None:
    receiver.reply = respond(200, b"x" * 1_000_000)
    assert len(send(receiver.url(), BODY, HEADERS, allow_private=True).response_excerpt) == 65536
    result = send(receiver.url(), BODY, HEADERS, allow_private=True, max_response_bytes=1000)
    assert result.response_excerpt == "x" * 1000
    assert classify(result) == "delivered"


def stream_forever(receiver: Receiver, chunk: bytes, pause: float = 0) -> tuple[Reply, list[int], threading.Event]:
    """A reply that writes ``chunk`` until the sender hangs up; counts bytes written."""
    written = [0]
    done = threading.Event()

    def reply(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Connection", "close")
        handler.end_headers()
        try:
            while not receiver.release.wait(pause):
                handler.wfile.write(chunk)
                handler.wfile.flush()
                written[0] += len(chunk)
        except OSError:
            pass
        finally:
            done.set()

    return reply, written, done


def test_sender_stops_reading_at_the_cap(receiver: Receiver) -> None:
    receiver.reply, written, done = stream_forever(receiver, b"y" * 65536)
    result = send(receiver.url(), BODY, HEADERS, allow_private=True, max_response_bytes=1000)
    assert result.response_excerpt == "y" * 1000
    assert done.wait(10)
    # Only what the kernel's socket buffers swallowed, not seconds of streaming.
    assert written[0] < 64 * 2**20


def test_slow_drip_body_is_cut_off(receiver: Receiver) -> None:
    receiver.reply, _, _ = stream_forever(receiver, b"z", pause=0.05)
    result = send(
        receiver.url(), BODY, HEADERS,
        allow_private=True, connect_timeout=0.5, read_timeout=0.5, max_response_bytes=200,
    )
    assert result.status_code == 200
    assert 0 < len(result.response_excerpt) < 100
    assert result.latency_ms < 3000


def test_read_timeout(receiver: Receiver) -> None:
    def stall(handler: BaseHTTPRequestHandler) -> None:
        receiver.release.wait(10)
        respond(200)(handler)

    receiver.reply = stall
    result = send(receiver.url(), BODY, HEADERS, allow_private=True, read_timeout=0.3)
    assert result.status_code is None
    assert result.error is not None and "timed out after 0.3 s" in result.error
    assert 250 <= result.latency_ms < 5000
    assert classify(result) == "retry"


def test_connection_refused_is_retried() -> None:
    result = send(f"http://127.0.0.1:{free_port()}/hook", BODY, HEADERS, allow_private=True)
    assert result.status_code is None and not result.refused
    assert result.error is not None and result.error.startswith("Could not connect")
    assert classify(result) == "retry"


def test_unresolvable_host_is_retried(dns: FakeDNS) -> None:
    dns.answers["gone.test"] = []
    result = send("https://gone.test/hook", BODY, HEADERS)
    assert result.status_code is None and not result.refused
    assert result.error is not None and "resolve" in result.error
    assert classify(result) == "retry"
    dns.answers["gone.test"] = []
    assert validate_url("https://gone.test/hook") == "The host of 'https://gone.test/hook' could not be resolved."


def drip_headers(receiver: Receiver, pause: float) -> tuple[Reply, threading.Event]:
    """A reply that sends its status line and headers a byte every ``pause`` seconds, for ever.

    Each byte comes well within the read timeout, so only a deadline over the
    whole attempt ends it.
    """
    cut = threading.Event()

    def reply(handler: BaseHTTPRequestHandler) -> None:
        try:
            handler.wfile.write(b"HTTP/1.1 200 OK\r\n")
            handler.wfile.flush()
            while not receiver.release.wait(pause):
                handler.wfile.write(b"X")
                handler.wfile.flush()
        except OSError:
            cut.set()

    return reply, cut


def test_an_attempt_never_outlives_connect_plus_read_timeout(receiver: Receiver) -> None:
    receiver.reply, cut = drip_headers(receiver, pause=0.1)
    result = send(receiver.url(), BODY, HEADERS, allow_private=True, connect_timeout=0.5, read_timeout=0.5)
    assert result.status_code is None and not result.refused
    assert result.error == "No response: cut off after 1 s."
    assert 900 <= result.latency_ms < 1500
    assert classify(result) == "retry"
    assert cut.wait(5)   # the connection is gone, not left dangling


def test_a_sender_checks_once_and_keeps_one_connection_to_the_checked_address(
    dns: FakeDNS, make_receiver: Callable[..., Receiver], connections: list[tuple[str, int]]
) -> None:
    """A batch: three attempts, one DNS lookup, one connection, to the address that passed the check,
    though a second lookup would now answer a private address."""
    receiver = make_receiver(keep_alive=True)
    dns.answers["rebind.test"] = [["127.0.0.1"], ["10.0.0.1"]]
    with Sender(receiver.url(host="rebind.test"), allow_private=["127.0.0.1/32"]) as sender:
        results = [sender.send(BODY, HEADERS) for _ in range(3)]
    assert [r.status_code for r in results] == [200, 200, 200], [r.error for r in results]
    assert dns.lookups == ["rebind.test"]
    assert connections == [("127.0.0.1", receiver.port)]
    assert [hit.headers["Host"] for hit in receiver.hits] == [f"rebind.test:{receiver.port}"] * 3


def test_each_attempt_of_a_sender_has_its_own_deadline(
    make_receiver: Callable[..., Receiver], connections: list[tuple[str, int]]
) -> None:
    """The kept-alive connection is cut at the second attempt's deadline; the third connects afresh."""
    receiver = make_receiver(keep_alive=True)
    dripping, cut = drip_headers(receiver, pause=0.1)
    replies = iter([respond(200), dripping, respond(200)])
    receiver.reply = lambda handler: next(replies)(handler)
    with Sender(receiver.url(), allow_private=True, connect_timeout=0.5, read_timeout=0.5) as sender:
        first, second, third = (sender.send(BODY, HEADERS) for _ in range(3))
    assert first.status_code == 200
    assert second.status_code is None and second.error == "No response: cut off after 1 s."
    assert cut.wait(5)
    assert third.status_code == 200, third.error
    assert len(connections) == 2


def test_a_sender_refuses_a_private_address_for_every_attempt(connections: list[tuple[str, int]]) -> None:
    with Sender("http://10.0.0.1/hook") as sender:
        results = [sender.send(BODY, HEADERS) for _ in range(2)]
    assert all(r.refused and "private" in (r.error or "") for r in results)
    assert connections == []


def test_a_dns_lookup_that_hangs_counts_against_the_connect_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()

    def stuck(*args: Any, **kwargs: Any) -> Any:
        release.wait(10)
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", stuck)
    try:
        result = send("https://slow-dns.test/hook", BODY, HEADERS, connect_timeout=0.3, read_timeout=5)
    finally:
        release.set()
    assert result.status_code is None and not result.refused
    assert result.error == "Could not resolve the host: no answer from DNS within 0.3 s"
    assert result.latency_ms < 1000


@pytest.mark.parametrize(
    ("bad", "named"),
    [("\r", "carriage return"), ("\n", "line feed"), ("\r\n", "carriage return"), ("\t", "tab"),
     ("\x00", "NUL"), (" ", "space"), ("\x7f", "U+007F"), ("\x1b", "U+001B"), ("\x85", "U+0085"),
     ("\u2028", "U+2028"), ("\ud800", "U+D800")],
)
def test_whitespace_and_control_characters_are_refused_before_any_lookup(
    dns: FakeDNS, connections: list[tuple[str, int]], bad: str, named: str
) -> None:
    """urlsplit() drops CR, LF and tab without a word; a URL holding them is refused instead."""
    for url in (f"https://hooks.test/ca{bad}ses", f"https://hoo{bad}ks.test/cases", f"https://hooks.test/?q={bad}"):
        message = validate_url(url)
        assert message is not None and named in message and "control characters" in message, (url, message)
        result = send(url, BODY, HEADERS)
        assert result.refused and result.error == message
    assert dns.lookups == [] and connections == []


@pytest.mark.parametrize(
    ("url", "logged"),
    [
        ("https://hooks.example.com/cases", "https://hooks.example.com/cases"),
        ("https://alice:s3cret@hooks.example.com:8443/a/b?token=t0k#frag", "https://hooks.example.com:8443/a/b"),
        ("https://alice@hooks.example.com?token=t0k", "https://hooks.example.com"),
        ("https://hooks.example.com#token=t0k", "https://hooks.example.com"),
        ("https://alice:s3cret@[::1]:8080/x", "https://[::1]:8080/x"),
        ("http://h/x\r\nFAKE log line", "http://h/x%0D%0AFAKE%20log%20line"),
        ("not a url?token=t0k", "not%20a%20url"),
        ("https://h/\ud800", "https://h/%ED%A0%80"),
    ],
)
def test_redact_url_keeps_no_userinfo_query_or_control_characters(url: str, logged: str) -> None:
    assert redact_url(url) == logged


def test_errors_never_quote_the_userinfo_or_query(monkeypatch: pytest.MonkeyPatch) -> None:
    """urllib3 quotes the path and query in some errors; the stored error (and the log) must not."""
    import requests
    import requests.adapters

    port = free_port()
    url = f"http://alice:s3cret@127.0.0.1:{port}/hook?token=t0k#frag"

    def fail(*args: Any, **kwargs: Any) -> Any:
        raise requests.ConnectionError(f"HTTPConnectionPool(host='127.0.0.1', port={port}): Max retries exceeded"
                                       f" with url: /hook?token=t0k (Caused by {url})")

    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", fail)   # where the sender hands over the request
    result = send(url, BODY, HEADERS, allow_private=True)
    assert result.error == (f"Could not connect: HTTPConnectionPool(host='127.0.0.1', port={port}): Max retries"
                            f" exceeded with url: /hook (Caused by http://127.0.0.1:{port}/hook)")


# SSRF


PRIVATE_URLS = [
    "http://10.0.0.1/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://100.64.0.1/hook",
    "http://0.0.0.0:{port}/hook",
    "http://224.0.0.1/hook",
    "http://127.0.0.1:{port}/hook",
    "http://2130706433:{port}/hook",
    "http://localhost:{port}/hook",
    "http://[::1]:{port}/hook",
    "http://[::ffff:127.0.0.1]:{port}/hook",
    "http://[fc00::1]/hook",
    "http://[fe80::1]/hook",
    "http://[2002:7f00:1::]/hook",
]


@pytest.mark.parametrize("url", PRIVATE_URLS)
def test_private_addresses_are_refused_before_connecting(
    receiver: Receiver, connections: list[tuple[str, int]], url: str
) -> None:
    url = url.format(port=receiver.port)
    result = send(url, BODY, HEADERS)
    assert result.refused and result.status_code is None
    assert result.error is not None and "private" in result.error
    assert classify(result) == "failed"
    assert connections == [] and receiver.hits == []
    assert validate_url(url) == result.error


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("file:///etc/passwd", "Only http:// and https://"),
        ("ftp://127.0.0.1/hook", "Only http:// and https://"),
        ("gopher://127.0.0.1:70/", "Only http:// and https://"),
        ("http:///hook", "has no host"),
        ("http://127.0.0.1:99999/hook", "not a valid URL"),
    ],
)
def test_bad_urls_are_refused(connections: list[tuple[str, int]], url: str, message: str) -> None:
    result = send(url, BODY, HEADERS, allow_private=True)
    assert result.refused and result.error is not None and message in result.error
    assert classify(result) == "failed"
    assert connections == []
    assert validate_url(url, allow_private=True) == result.error


def test_any_private_address_refuses_the_host(dns: FakeDNS, connections: list[tuple[str, int]]) -> None:
    dns.answers["mixed.test"] = [["93.184.215.14", "10.0.0.1"], ["93.184.215.14", "10.0.0.1"]]
    message = validate_url("https://mixed.test/hook")
    assert message is not None and "10.0.0.1" in message
    assert send("https://mixed.test/hook", BODY, HEADERS).refused
    assert connections == []


def test_public_addresses_pass_validation(dns: FakeDNS) -> None:
    dns.answers["public.test"] = [["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"]]
    assert validate_url("https://public.test/hook") is None
    assert validate_url("https://93.184.215.14/hook") is None


@pytest.mark.parametrize(
    ("host", "allow"),
    [
        ("127.0.0.1", True),
        ("127.0.0.1", ["127.0.0.1/32"]),
        ("127.0.0.1", ["10.0.0.0/8", "127.0.0.0/8"]),
        ("127.0.0.1", "127.0.0.1/32"),
        ("[::ffff:127.0.0.1]", ["127.0.0.1"]),
        ("hooks.test", ["hooks.test"]),
    ],
)
def test_allowed_private_addresses(
    dns: FakeDNS,
    receiver: Receiver,
    connections: list[tuple[str, int]],
    host: str,
    allow: bool | list[str] | str,
) -> None:
    dns.answers["hooks.test"] = [["127.0.0.1"], ["127.0.0.1"]]
    url = receiver.url(host=host)
    assert validate_url(url, allow) is None
    result = send(url, BODY, HEADERS, allow_private=allow)
    assert result.status_code == 200, result.error
    assert connections == [("127.0.0.1", receiver.port)]


@pytest.mark.parametrize("allow", [False, ["10.0.0.0/8"], ["other.test"], ["::1"], "10.0.0.0/8"])
def test_allow_list_allows_only_what_it_names(receiver: Receiver, allow: bool | list[str] | str) -> None:
    result = send(receiver.url(), BODY, HEADERS, allow_private=allow)
    assert result.refused
    assert receiver.hits == []


def test_connects_to_the_checked_address_despite_rebinding(
    dns: FakeDNS, receiver: Receiver, connections: list[tuple[str, int]]
) -> None:
    # The first answer passes the check; a second lookup would get a private one.
    dns.answers["rebind.test"] = [["127.0.0.1"], ["10.0.0.1"]]
    result = send(
        receiver.url(host="rebind.test"), BODY, HEADERS, allow_private=["127.0.0.1/32"]
    )
    assert result.status_code == 200, result.error
    assert dns.lookups == ["rebind.test"]
    assert connections == [("127.0.0.1", receiver.port)]
    assert receiver.hits[0].headers["Host"] == f"rebind.test:{receiver.port}"


def test_https_pins_the_address_but_verifies_the_hostname(
    dns: FakeDNS,
    make_receiver: Callable[..., Receiver],
    connections: list[tuple[str, int]],
    tmp_path: Path,
) -> None:
    import trustme

    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("hooks.test").configure_cert(context)
    sni: list[str | None] = []
    context.sni_callback = lambda sock, name, ctx: sni.append(name)
    receiver = make_receiver(context)
    dns.answers["hooks.test"] = [["127.0.0.1"], ["10.0.0.1"]]
    dns.answers["other.test"] = [["127.0.0.1"]]
    allow = ["127.0.0.1/32"]

    result = send(receiver.url(host="hooks.test"), BODY, HEADERS, allow_private=allow, verify=str(ca_file))
    assert result.status_code == 200, result.error
    assert sni == ["hooks.test"]
    assert connections == [("127.0.0.1", receiver.port)]
    assert receiver.hits[0].headers["Host"] == f"hooks.test:{receiver.port}"

    # The certificate is still checked against the URL's hostname.
    result = send(receiver.url(host="other.test"), BODY, HEADERS, allow_private=allow, verify=str(ca_file))
    assert result.status_code is None and not result.refused
    assert result.error is not None and "other.test" in result.error
    assert classify(result) == "retry"
    assert len(receiver.hits) == 1


# Schedule


def test_default_schedule() -> None:
    assert DEFAULT_SCHEDULE == (0, 5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400)


def test_the_schedule_has_one_home_and_the_readme_states_its_span() -> None:
    """config.py holds it; the sender's default and the config default are that one tuple."""
    from pathlib import Path

    from flask_kroncases.config import DEFAULT_RETRY_SCHEDULE, DEFAULTS

    assert DEFAULT_SCHEDULE is DEFAULT_RETRY_SCHEDULE is DEFAULTS["KRONCASES_WEBHOOK_RETRY_SCHEDULE"]
    span = sum(DEFAULT_RETRY_SCHEDULE)
    assert span == 272_105 and round(span / 3600, 1) == 75.6
    config_source = (Path(__file__).parents[1] / "flask_kroncases" / "config.py").read_text()
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    for text in (config_source, readme):
        assert "272,105" in text and "about a day" not in text


def test_next_delay_jitters_within_ten_percent_and_runs_out() -> None:
    rng = random.Random(7)
    for attempt, base in enumerate(DEFAULT_SCHEDULE):
        delays = [next_delay(attempt, rng=rng) for _ in range(50)]
        assert all(d is not None and base * 0.9 <= d <= base * 1.1 for d in delays)
        if base:
            assert len(set(delays)) > 1
    assert next_delay(len(DEFAULT_SCHEDULE), rng=rng) is None
    assert next_delay(2, (0, 60), rng=rng) is None
    assert next_delay(1, (0, 60), rng=random.Random(1)) == next_delay(1, (0, 60), rng=random.Random(1))


def test_next_delay_honours_retry_after() -> None:
    assert next_delay(1, rng=random.Random(0), retry_after=3600) == 3600
    assert next_delay(3, rng=random.Random(0), retry_after=10) == next_delay(3, rng=random.Random(0))
    assert next_delay(1, rng=random.Random(0), retry_after=10**9) == 24 * 3600
    assert next_delay(len(DEFAULT_SCHEDULE), retry_after=5) is None


@pytest.mark.parametrize(
    ("result", "verdict"),
    [
        (SendResult(200, 1), "delivered"),
        (SendResult(299, 1), "delivered"),
        (SendResult(301, 1), "retry"),
        (SendResult(400, 1), "retry"),
        (SendResult(410, 1), "disable"),
        (SendResult(429, 1, retry_after=60), "retry"),
        (SendResult(503, 1), "retry"),
        (SendResult(None, 1, error="No response: timed out after 15 s."), "retry"),
        (SendResult(None, 1, error="nope", refused=True), "failed"),
    ],
)
def test_classify(result: SendResult, verdict: str) -> None:
    assert classify(result) == verdict


def test_parse_retry_after() -> None:
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert parse_retry_after("30", now) == 30
    assert parse_retry_after("Thu, 01 Jan 2026 12:02:00 GMT", now) == 120
    assert parse_retry_after("Thu, 01 Jan 2026 11:00:00 GMT", now) == 0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None
