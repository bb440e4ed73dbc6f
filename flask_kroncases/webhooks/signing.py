"""Secrets, payload bytes and signature headers for outgoing webhooks.

Two signature headers go with every attempt: ``X-KronGage-Signature``
(GitHub/Stripe style, keyed with the secret string as the admin sees it) and the
Standard Webhooks ``webhook-signature``, so receivers can verify with
off-the-shelf libraries and reject replays through ``webhook-timestamp``. During
a secret rotation each carries a signature per active secret, newest first.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets as _secrets
from collections.abc import Mapping, Sequence
from typing import Any

SECRET_PREFIX = "whsec_"

#: Between the ``sha256=<hex>`` entries of ``X-KronGage-Signature`` during a
#: rotation (an HTTP list); receivers split on ``","`` and strip the spaces.
SIGNATURE_SEPARATOR = ", "


def generate_secret() -> str:
    """A new endpoint secret: ``whsec_`` and base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(_secrets.token_bytes(32)).decode("ascii")


def serialize(payload: Mapping[str, Any]) -> bytes:
    """Serialize a payload once; these bytes are stored, signed and sent as is.

    Compact and with sorted keys so the same payload always gives the same bytes.
    """
    return json.dumps(
        payload, separators=(",", ":"), sort_keys=True, ensure_ascii=False
    ).encode("utf-8")


def kron_signature(secret: str, body: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 of the raw body keyed with the secret string.

    The key is the secret exactly as shown to the admin (UTF-8), as GitHub and
    Stripe do, so receivers need no knowledge of the ``whsec_`` format.
    """
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def standard_signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64>`` per Standard Webhooks: keyed with the decoded secret,
    over ``{msg_id}.{timestamp}.{body}``.
    """
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def build_headers(
    *,
    event_type: str,
    event_id: str,
    delivery_id: str,
    body: bytes,
    secrets: Sequence[str],
    timestamp: int,
    user_agent: str,
) -> dict[str, str]:
    """The headers of one attempt; build them afresh for every attempt.

    ``secrets`` are the endpoint's active secrets, newest first. Both signature
    headers carry one signature per secret, so a receiver still holding the
    previous secret keeps verifying during a rotation: ``X-KronGage-Signature``
    as ``sha256=<hex>`` entries joined by :data:`SIGNATURE_SEPARATOR` (``", "``),
    ``webhook-signature`` as ``v1,<base64>`` entries joined by a space (the
    Standard Webhooks rule). Outside a rotation each holds exactly one.
    ``webhook-id`` is the event id, the same on every retry and redelivery, so
    receivers can drop duplicates; ``timestamp`` must be the time of this
    attempt, since receivers reject timestamps older than a few minutes.
    """
    if not secrets:
        raise ValueError("A webhook needs at least one secret to be signed.")
    return {
        "Content-Type": "application/json",
        "User-Agent": user_agent,
        "X-KronGage-Event": event_type,
        "X-KronGage-Delivery": delivery_id,
        "X-KronGage-Signature": SIGNATURE_SEPARATOR.join(kron_signature(secret, body) for secret in secrets),
        "webhook-id": event_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(
            standard_signature(secret, event_id, timestamp, body) for secret in secrets
        ),
    }


def mask_secret(secret: str) -> str:
    """Show enough of a secret to recognise it, e.g. ``whsec_abcd…wxyz``."""
    key = secret.removeprefix(SECRET_PREFIX)
    prefix = secret[: len(secret) - len(key)]
    if len(key) < 12:
        return prefix + "…"
    return f"{prefix}{key[:4]}…{key[-4:]}"
