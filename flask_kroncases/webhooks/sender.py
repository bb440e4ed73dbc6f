"""Send one webhook attempt without letting the URL reach inside the network.

Endpoint URLs are typed in by admins, so a request to one could otherwise reach
the cloud metadata service, the database or an admin port on localhost. The
host is resolved once, every address it resolves to must be global, and the
connection then goes to the address that was checked, so a DNS answer that
changes between check and connect (DNS rebinding) cannot redirect it. The
``Host`` header, TLS SNI and certificate verification keep the URL's hostname.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter

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


def validate_url(url: str, allow_private: AllowPrivate = False) -> str | None:
    """Why ``url`` cannot receive webhooks, for the settings form, or ``None``.

    :func:`send` checks again at send time, since DNS answers change.
    """
    try:
        _check(url, allow_private)
    except _Refused as e:
        return str(e)
    except OSError:
        return f"The host of {url!r} could not be resolved."
    return None


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
    start = time.monotonic()

    def result(status: int | None = None, **kwargs: Any) -> SendResult:
        latency_ms = round((time.monotonic() - start) * 1000)
        return SendResult(status_code=status, latency_ms=latency_ms, **kwargs)

    try:
        target = _check(url, allow_private)
    except _Refused as e:
        return result(error=str(e), refused=True)
    except OSError as e:
        return result(error=f"Could not resolve the host: {e}")

    with requests.Session() as session:
        session.trust_env = False
        adapter = _PinnedAdapter(target)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        try:
            response = session.post(
                url,
                data=body,
                headers={**headers, "Host": target.host_header},
                timeout=(connect_timeout, read_timeout),
                allow_redirects=False,
                stream=True,
                verify=verify,
            )
        except requests.ConnectTimeout:
            return result(error=f"Connecting timed out after {connect_timeout:g} s.")
        except requests.ReadTimeout:
            return result(error=f"No response: timed out after {read_timeout:g} s.")
        except requests.RequestException as e:
            return result(error=f"Could not connect: {_reason(e)}")
        with response:
            deadline = start + connect_timeout + read_timeout
            excerpt = _read_capped(response, max_response_bytes, deadline)
        return result(
            response.status_code,
            response_excerpt=excerpt.decode("utf-8", errors="replace"),
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )


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


def _check(url: str, allow_private: AllowPrivate) -> _Target:
    """Resolve the URL's host once and refuse it unless every address is allowed."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:
        raise _Refused(f"{url!r} is not a valid URL: {e}.") from None
    if parts.scheme not in ("http", "https"):
        raise _Refused(
            f"Only http:// and https:// URLs can receive webhooks, not {url!r}."
        )
    hostname = parts.hostname
    if not hostname:
        raise _Refused(f"{url!r} has no host.")
    default_port = 443 if parts.scheme == "https" else 80
    try:
        infos = socket.getaddrinfo(hostname, port or default_port, type=socket.SOCK_STREAM)
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


class _PinnedAdapter(HTTPAdapter):
    """Connect to the checked address while TLS still verifies the hostname."""

    def __init__(self, target: _Target) -> None:
        super().__init__()
        self.target = target

    def build_connection_pool_key_attributes(
        self, request: requests.PreparedRequest, verify: bool | str, cert: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(
            request, verify, cert
        )
        host_params["host"] = str(self.target.address)
        if host_params["scheme"] == "https":
            # SNI and the certificate check use this name, not the address.
            pool_kwargs["server_hostname"] = self.target.hostname
        return host_params, pool_kwargs


def _read_capped(response: requests.Response, limit: int, deadline: float) -> bytes:
    """Read at most ``limit`` bytes, stopping early at ``deadline``.

    The status decides the attempt, so a body that breaks off or trickles in
    only shortens the excerpt; the deadline stops a slow drip from holding a
    worker for long.
    """
    chunks: list[bytes] = []
    size = 0
    try:
        while size < limit and time.monotonic() < deadline:
            # read1 returns what one socket read brings instead of waiting for more.
            chunk = response.raw.read1(min(limit - size, 8192), decode_content=True)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except (urllib3.exceptions.HTTPError, OSError):
        pass
    return b"".join(chunks)


def _reason(error: requests.RequestException) -> str:
    """The useful part of requests' nested connection errors."""
    inner = error.args[0] if error.args else error
    return str(getattr(inner, "reason", inner))
