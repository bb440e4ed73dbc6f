"""Webhook signing, SSRF-safe sending and the retry schedule, free of Flask.

The outbox, jobs and settings page call these; nothing here touches the
database or the app, so every piece can be tested on its own.
"""

from __future__ import annotations

from .schedule import DEFAULT_SCHEDULE, Verdict, classify, next_delay
from .sender import AllowPrivate, Sender, SendResult, parse_retry_after, redact_url, send, validate_url
from .signing import (
    SIGNATURE_SEPARATOR,
    build_headers,
    generate_secret,
    kron_signature,
    mask_secret,
    serialize,
    standard_signature,
)

__all__ = [
    "DEFAULT_SCHEDULE",
    "SIGNATURE_SEPARATOR",
    "AllowPrivate",
    "SendResult",
    "Sender",
    "Verdict",
    "build_headers",
    "classify",
    "generate_secret",
    "kron_signature",
    "mask_secret",
    "next_delay",
    "parse_retry_after",
    "redact_url",
    "send",
    "serialize",
    "standard_signature",
    "validate_url",
]
