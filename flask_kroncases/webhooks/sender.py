"""Send one webhook attempt without letting the URL reach inside the network.

Endpoint URLs are typed in by admins, so a request to one could otherwise reach
the cloud metadata service, the database or an admin port on localhost. The
host is resolved once, every address it resolves to must be global, and the
connection then goes to the address that was checked, so a DNS answer that
changes between check and connect (DNS rebinding) cannot redirect it. The
``Host`` header, TLS SNI and certificate verification keep the URL's hostname.

An attempt never outlives ``connect_timeout + read_timeout``, whatever the
receiver does (answer its headers a byte at a time, never finish the TLS
handshake): the lookup is bounded and a watchdog cuts the connection at the
deadline. The delivery service relies on it: a claim lasts a little longer
than that, so an attempt still running always holds its claim.

:class:`Sender` makes several attempts to one URL over one kept-alive
connection (a batch of deliveries to one endpoint), under the same rules.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: ``True`` allows every address, ``False`` only global ones; an iterable of
#: networks (``"127.0.0.1/32"``, ``"10.0.0.0/8"``, ``"::1"``) or exact
#: hostnames (``"hooks.internal"``) allows just those.
AllowPrivate = bool | Iterable[str]

# Global by Python's table, but they carry an IPv4 address inside that a
# gateway will connect to, one this check never saw.
_TRANSLATING = (
    ipaddress.ip_network("2002::/16"),  # 6to4
    ipaddress.ip_network("64:ff9b::/96"),  # NAT64
    ipaddress.ip_network("64:ff9b:1::/48"),  # local-use NAT64
)


@dataclass(frozen=True)
class SendResult:
    """What one attempt got; :func:`~.schedule.classify` turns it into a verdict."""

    #: The HTTP status, or ``None`` when no response came.
    status_code: int | None
    latency_ms: int
    #: The start of the response body (at most ``max_response_bytes``), for the log.
    response_excerpt: str = ""
    error: str | None = None
    #: Seconds the receiver asked us to wait (``Retry-After``), if it did.
    retry_after: float | None = None
    #: The URL was not allowed (scheme or address); retrying will not help.
    refused: bool = False


class _Refused(Exception):
    """The URL may not be sent to; the message is meant for the admin."""


@dataclass(frozen=True)
class _Target:
    hostname: str
    host_header: str
    address: IPAddress


def validate_url(url: str, allow_private: AllowPrivate = False, *, resolve_timeout: float | None = 10) -> str | None:
    """Why ``url`` cannot receive webhooks, for the settings form, or ``None``.

    :func:`send` checks again at send time, since DNS answers change.
    """
    try:
        _check(url, allow_private, resolve_timeout)
    except _Refused as e:
        return str(e)
    except OSError:
        return f"The host of {redact_url(url)!r} could not be resolved."
    return None


def redact_url(url: object) -> str:
    """``url`` fit for a log line: no userinfo (passwords), query or fragment (tokens).

    Cut where :func:`urllib.parse.urlsplit` (and so the request) would cut;
    spaces and control characters are percent-encoded so a URL cannot forge
    log lines.
    """
    text = url if isinstance(url, str) else repr(url)
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = "", text
    end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    authority, tail = rest[:end], rest[end:]
    authority = authority.rpartition("@")[2]
    path = tail.split("#", 1)[0].split("?", 1)[0]
    return _escape_controls(f"{scheme}{sep}{authority}{path}")


def _escape_controls(text: str) -> str:
    return "".join(
        "".join(f"%{b:02X}" for b in ch.encode("utf-8", "surrogatepass")) if _is_unsafe(ch) else ch
        for ch in text
    )


def _is_unsafe(ch: str) -> bool:
    """Whitespace, a control character (C0, DEL, C1) or a lone surrogate."""
    return ch.isspace() or unicodedata.category(ch) in ("Cc", "Cs")


def _describe(ch: str) -> str:
    names = {"\r": "a carriage return (CR)", "\n": "a line feed (LF)", "\t": "a tab",
             "\x00": "a NUL character", " ": "a space"}
    return names.get(ch) or f"the character U+{ord(ch):04X}"


def send(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    allow_private: AllowPrivate = False,
    connect_timeout: float = 5,
    read_timeout: float = 15,
    max_response_bytes: int = 65536,
    verify: bool | str = True,
) -> SendResult:
    """POST ``body`` to ``url`` once, never raising for network trouble.

    Redirects are not followed (a 3xx is a failed attempt), proxies and CA
    settings from the environment are ignored, and at most
    ``max_response_bytes`` of the response are read. ``verify`` is passed to
    requests: ``False`` or a CA bundle path for receivers behind a private CA.
    """
    with Sender(url, allow_private=allow_private, connect_timeout=connect_timeout, read_timeout=read_timeout,
                max_response_bytes=max_response_bytes, verify=verify) as sender:
        return sender.send(body, headers)


class Sender:
    """Attempts to one URL, one after another, over one kept-alive connection.

    The host is resolved and checked once, at the first attempt, and every
    connection goes to that checked address, as with :func:`send` (which is one
    attempt through a sender of its own). Each attempt has its own deadline of
    ``connect_timeout + read_timeout``; after an attempt that failed the
    connection is dropped and the next one connects afresh. A webhook batch uses
    one sender for the deliveries of one endpoint, so a batch checks the address
    once and pays for one TCP (and TLS) handshake instead of one per delivery.
    """

    def __init__(
        self,
        url: str,
        *,
        allow_private: AllowPrivate = False,
        connect_timeout: float = 5,
        read_timeout: float = 15,
        max_response_bytes: int = 65536,
        verify: bool | str = True,
    ) -> None:
        self.url = url
        self.allow_private = allow_private
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.max_response_bytes = max_response_bytes
        self.verify = verify
        self._target: _Target | None = None
        #: Why no attempt can be made (refused URL, failed lookup), found at the first one.
        self._failure: tuple[str, bool] | None = None
        self._deadline = _Deadline()
        self._adapter: _PinnedAdapter | None = None

    def __enter__(self) -> Sender:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection, if one is open, and stop the deadline's watchdog."""
        self._drop()
        self._deadline.close()

    def _drop(self) -> None:
        if self._adapter is not None:
            self._adapter.close()
            self._adapter = None

    def _open(self, target: _Target) -> _PinnedAdapter:
        # The adapter itself, not a requests.Session: no cookies, auth, hooks,
        # redirects or settings from the environment to merge, for every attempt.
        if self._adapter is None:
            self._adapter = _PinnedAdapter(target, self._deadline)
        return self._adapter

    def send(self, body: bytes, headers: Mapping[str, str]) -> SendResult:
        """POST ``body`` once, never raising for network trouble."""
        url = self.url
        start = time.monotonic()
        total = self.connect_timeout + self.read_timeout

        def result(status: int | None = None, **kwargs: Any) -> SendResult:
            latency_ms = round((time.monotonic() - start) * 1000)
            if kwargs.get("error"):
                kwargs["error"] = _scrub(kwargs["error"], url)
            return SendResult(status_code=status, latency_ms=latency_ms, **kwargs)

        if self._target is None and self._failure is None:
            try:
                self._target = _check(url, self.allow_private, self.connect_timeout)
            except _Refused as e:
                self._failure = (str(e), True)
            except OSError as e:
                self._failure = (f"Could not resolve the host: {e}", False)
        if self._failure is not None:
            error, refused = self._failure
            return result(error=error, refused=refused)
        assert self._target is not None

        adapter = self._open(self._target)
        deadline = self._deadline
        deadline.start(total)
        kept = False
        try:
            try:
                request = requests.Request("POST", url, data=body,
                                           headers={**headers, "Host": self._target.host_header})
                response = adapter.send(
                    request.prepare(),
                    stream=True,
                    timeout=(self.connect_timeout, self.read_timeout),
                    verify=self.verify,
                    proxies={},
                )
            except requests.RequestException as e:
                if deadline.passed:
                    return result(error=f"No response: cut off after {total:g} s.")
                if isinstance(e, requests.ConnectTimeout):
                    return result(error=f"Connecting timed out after {self.connect_timeout:g} s.")
                if isinstance(e, requests.ReadTimeout):
                    return result(error=f"No response: timed out after {self.read_timeout:g} s.")
                return result(error=f"Could not connect: {_reason(e)}")
            if deadline.passed:  # cut off mid-headers: http.client parses what came as if complete
                response.close()
                return result(error=f"No response: cut off after {total:g} s.")
            excerpt, complete = _read_capped(response, self.max_response_bytes, start + total)
            if complete and not deadline.passed:
                response.raw.release_conn()  # read to the end: the connection serves the next attempt
                kept = True
            else:
                response.close()
            return result(
                response.status_code,
                response_excerpt=excerpt.decode("utf-8", errors="replace"),
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
            )
        finally:
            deadline.cancel()
            if not kept:
                self._drop()  # whatever went wrong, the next attempt starts on a fresh connection


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delay seconds or an HTTP-date."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    return max(0.0, (when - now).total_seconds())


def _check(url: str, allow_private: AllowPrivate, resolve_timeout: float | None = None) -> _Target:
    """Resolve the URL's host once and refuse it unless every address is allowed."""
    bad = next((ch for ch in url if _is_unsafe(ch)), None)
    if bad is not None:
        # urlsplit() would quietly drop CR, LF and tab; a NUL breaks the database.
        raise _Refused(f"The URL contains {_describe(bad)}; URLs may not hold spaces or control characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:
        raise _Refused(f"{redact_url(url)!r} is not a valid URL: {e}.") from None
    if parts.scheme not in ("http", "https"):
        raise _Refused(
            f"Only http:// and https:// URLs can receive webhooks, not {redact_url(url)!r}."
        )
    hostname = parts.hostname
    if not hostname:
        raise _Refused(f"{redact_url(url)!r} has no host.")
    default_port = 443 if parts.scheme == "https" else 80
    try:
        infos = _resolve(hostname, port or default_port, resolve_timeout)
    except UnicodeError:
        raise _Refused(f"{hostname!r} is not a valid host name.") from None
    addresses = [_unwrap(ipaddress.ip_address(info[4][0])) for info in infos]
    if allow_private is not True:
        if allow_private is False:
            allowed = []
        elif isinstance(allow_private, str):  # one entry from config, not its letters
            allowed = [allow_private]
        else:
            allowed = list(allow_private)
        for address in addresses:
            if not _is_public(address) and not _is_allowed(hostname, address, allowed):
                raise _Refused(
                    f"{hostname} resolves to {address}, a private, loopback, link-local"
                    " or reserved address. Webhooks go only to public addresses unless"
                    " the app allows this one."
                )
    host_header = f"[{hostname}]" if ":" in hostname else hostname
    if port is not None:
        host_header += f":{port}"
    return _Target(hostname, host_header, addresses[0])


def _resolve(hostname: str, port: int, timeout: float | None) -> list[Any]:
    """``getaddrinfo``, given up after ``timeout`` seconds (the system resolver has no timeout of its own)."""
    try:
        ipaddress.ip_address(hostname)
    except ValueError:
        pass
    else:
        timeout = None  # a literal address: nothing to wait for
    if timeout is None:
        return socket.getaddrinfo(hostname, port, type=socket.SOCK_STREAM)
    answer: list[Any] = []
    done = threading.Event()

    def lookup() -> None:
        try:
            answer.append(socket.getaddrinfo(hostname, port, type=socket.SOCK_STREAM))
        except BaseException as e:  # handed to the caller below
            answer.append(e)
        finally:
            done.set()

    threading.Thread(target=lookup, name="kroncases-dns", daemon=True).start()
    if not done.wait(timeout):
        raise OSError(f"no answer from DNS within {timeout:g} s")
    if isinstance(answer[0], BaseException):
        raise answer[0]
    return answer[0]  # type: ignore[no-any-return]


def _scrub(text: str, url: str) -> str:
    """Drop the URL's userinfo and query from an error message (requests quotes them at times)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return text.replace(url, redact_url(url))
    userinfo = parts.netloc.rpartition("@")[0]
    for secret in (userinfo and userinfo + "@", parts.query and "?" + parts.query,
                   parts.fragment and "#" + parts.fragment):
        if secret:
            text = text.replace(secret, "")
    return text


def _unwrap(address: IPAddress) -> IPAddress:
    """Judge ``::ffff:127.0.0.1`` as the IPv4 address it connects to."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _is_public(address: IPAddress) -> bool:
    return (
        address.is_global
        and not address.is_multicast
        and not address.is_reserved
        and not any(address in network for network in _TRANSLATING)
    )


def _is_allowed(hostname: str, address: IPAddress, allowed: list[str]) -> bool:
    for entry in allowed:
        try:
            network = ipaddress.ip_network(entry, strict=False)
        except ValueError:
            if entry.lower().rstrip(".") == hostname.lower().rstrip("."):
                return True
        else:
            if address in network:
                return True
    return False


class _Deadline:
    """Cuts the connections of the attempt in progress at its deadline, wherever they are blocked.

    Timeouts in requests apply to each socket operation, so a receiver sending
    a byte every few seconds would hold an attempt open for ever; shutting the
    socket down from another thread ends any read, write or TLS handshake at
    once. One deadline serves the attempts of one :class:`Sender` in turn: it
    knows every connection the sender opened, a kept-alive one included, and
    one watchdog thread serves them all.
    """

    def __init__(self) -> None:
        self.passed = False
        self._connections: list[HTTPConnection] = []
        self._changed = threading.Condition()
        self._at: float | None = None  # monotonic time of the running attempt's deadline
        self._closed = False
        self._watchdog: threading.Thread | None = None

    def start(self, seconds: float) -> None:
        with self._changed:
            self.passed = False
            self._at = time.monotonic() + seconds
            if self._watchdog is None:
                self._watchdog = threading.Thread(target=self._watch, name="kroncases-webhook-deadline", daemon=True)
                self._watchdog.start()
            self._changed.notify()

    def cancel(self) -> None:
        with self._changed:  # a cut under way finishes first: it never reaches the next attempt
            self._at = None
            self._changed.notify()

    def close(self) -> None:
        """End the watchdog thread (the sender is done)."""
        with self._changed:
            self._at = None
            self._closed = True
            self._changed.notify()

    def watch(self, connection: HTTPConnection) -> None:
        with self._changed:
            if self.passed:
                raise ConnectTimeoutError(connection, "The attempt's deadline passed before connecting.")
            self._connections = [c for c in self._connections if c.sock is not None]
            self._connections.append(connection)

    def _watch(self) -> None:
        with self._changed:
            while not self._closed:
                if self._at is None:
                    self._changed.wait()
                    continue
                left = self._at - time.monotonic()
                if left > 0:
                    self._changed.wait(left)
                    continue
                self._at = None
                self.passed = True
                for connection in self._connections:
                    sock = connection.sock
                    if sock is not None:
                        try:
                            # The plain socket's shutdown, also for an SSLSocket: no TLS
                            # close_notify from this thread, just end every pending call.
                            socket.socket.shutdown(sock, socket.SHUT_RDWR)
                        except OSError:
                            pass


def _deadline_pools(deadline: _Deadline) -> dict[str, type[HTTPConnectionPool]]:
    """Connection pools whose connections answer to ``deadline``."""

    def connect(self: HTTPConnection, base: type[HTTPConnection]) -> None:
        deadline.watch(self)
        base.connect(self)
        if deadline.passed:  # connected just too late: send nothing
            self.close()
            raise ConnectTimeoutError(self, "The attempt's deadline passed while connecting.")

    http = type("DeadlineHTTPConnection", (HTTPConnection,),
                {"connect": lambda self: connect(self, HTTPConnection)})
    https = type("DeadlineHTTPSConnection", (HTTPSConnection,),
                 {"connect": lambda self: connect(self, HTTPSConnection)})
    return {
        "http": type("DeadlineHTTPConnectionPool", (HTTPConnectionPool,), {"ConnectionCls": http}),
        "https": type("DeadlineHTTPSConnectionPool", (HTTPSConnectionPool,), {"ConnectionCls": https}),
    }


class _PinnedAdapter(HTTPAdapter):
    """Connect to the checked address while TLS still verifies the hostname."""

    def __init__(self, target: _Target, deadline: _Deadline | None = None) -> None:
        super().__init__()
        self.target = target
        if deadline is not None:
            self.poolmanager.pool_classes_by_scheme = _deadline_pools(deadline)

    def build_connection_pool_key_attributes(
        self, request: requests.PreparedRequest, verify: bool | str, cert: Any = None
    ) -> Any:
        host, pool = super().build_connection_pool_key_attributes(request, verify, cert)
        host_params: dict[str, Any] = dict(host)
        pool_kwargs: dict[str, Any] = dict(pool)
        host_params["host"] = str(self.target.address)
        if host_params["scheme"] == "https":
            # SNI and the certificate check use this name, not the address.
            pool_kwargs["server_hostname"] = self.target.hostname
        return host_params, pool_kwargs


def _read_capped(response: requests.Response, limit: int, deadline: float) -> tuple[bytes, bool]:
    """Read at most ``limit`` bytes, stopping early at ``deadline``; say whether the body ended.

    The status decides the attempt, so a body that breaks off or trickles in
    only shortens the excerpt; the deadline stops a slow drip from holding a
    worker for long. Only a body read to its end leaves the connection fit for
    the next attempt.
    """
    chunks: list[bytes] = []
    size = 0
    try:
        while size < limit and time.monotonic() < deadline:
            # read1 returns what one socket read brings instead of waiting for more.
            chunk = response.raw.read1(min(limit - size, 8192), decode_content=True)
            if not chunk:
                return b"".join(chunks), True
            chunks.append(chunk)
            size += len(chunk)
    except (urllib3.exceptions.HTTPError, OSError):
        pass
    return b"".join(chunks), False


def _reason(error: requests.RequestException) -> str:
    """The useful part of requests' nested connection errors."""
    inner = error.args[0] if error.args else error
    return str(getattr(inner, "reason", inner))
