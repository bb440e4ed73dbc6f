"""Signatures are checked here the way receivers check them: with plain ``hmac``
and with the ``standardwebhooks`` package, never with our own functions."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from flask_kroncases.webhooks import (
    build_headers,
    generate_secret,
    kron_signature,
    mask_secret,
    serialize,
    standard_signature,
)

BODY = serialize({"id": "evt_1", "type": "case.created", "data": {"case": {"title": "Zoë's löst order"}}})


def headers_for(secrets: list[str], timestamp: int | None = None) -> dict[str, str]:
    return build_headers(
        event_type="case.created",
        event_id="evt_1",
        delivery_id="dlv_7",
        body=BODY,
        secrets=secrets,
        timestamp=int(time.time()) if timestamp is None else timestamp,
        user_agent="KronGage-Webhooks/1.0",
    )


def test_generate_secret_is_whsec_and_32_random_bytes() -> None:
    secret = generate_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) == 32
    assert generate_secret() != secret


def test_serialize_is_compact_sorted_utf8() -> None:
    body = serialize({"b": 1, "a": {"z": "é", "y": [1, 2]}})
    assert body == '{"a":{"y":[1,2],"z":"é"},"b":1}'.encode()
    assert json.loads(body) == {"a": {"y": [1, 2], "z": "é"}, "b": 1}


def test_kron_signature_keys_hmac_with_the_secret_string() -> None:
    secret = generate_secret()
    expected = hmac.new(secret.encode(), BODY, hashlib.sha256).hexdigest()
    assert kron_signature(secret, BODY) == f"sha256={expected}"


def test_standard_signature_verifies_with_standardwebhooks() -> None:
    secret = generate_secret()
    timestamp = int(time.time())
    signature = standard_signature(secret, "evt_1", timestamp, BODY)
    headers = {"webhook-id": "evt_1", "webhook-timestamp": str(timestamp), "webhook-signature": signature}
    assert Webhook(secret).verify(BODY, headers) == json.loads(BODY)
    # The key is the decoded secret, not the string: a GitHub-style HMAC differs.
    wrong = hmac.new(secret.encode(), f"evt_1.{timestamp}.".encode() + BODY, hashlib.sha256)
    assert signature != "v1," + base64.b64encode(wrong.digest()).decode()


def test_headers_carry_everything_receivers_need() -> None:
    secret = generate_secret()
    headers = headers_for([secret])
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"] == "KronGage-Webhooks/1.0"
    assert headers["X-KronGage-Event"] == "case.created"
    assert headers["X-KronGage-Delivery"] == "dlv_7"
    assert headers["webhook-id"] == "evt_1"
    expected = hmac.new(secret.encode(), BODY, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-KronGage-Signature"], f"sha256={expected}")
    Webhook(secret).verify(BODY, headers)


def kron_verifies(header: str, secret: str, body: bytes = BODY) -> bool:
    """The README's receiver: any of the comma-separated ``sha256=`` entries, compared in constant time."""
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, entry.strip()) for entry in header.split(","))


def test_both_secrets_verify_during_rotation() -> None:
    new, old = generate_secret(), generate_secret()
    headers = headers_for([new, old])
    assert len(headers["webhook-signature"].split(" ")) == 2
    Webhook(new).verify(BODY, headers)
    Webhook(old).verify(BODY, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(generate_secret()).verify(BODY, headers)
    # The GitHub-style header lists one signature per secret, newest first, joined by ", ".
    assert headers["X-KronGage-Signature"] == f"{kron_signature(new, BODY)}, {kron_signature(old, BODY)}"
    assert kron_verifies(headers["X-KronGage-Signature"], new)
    assert kron_verifies(headers["X-KronGage-Signature"], old)
    assert not kron_verifies(headers["X-KronGage-Signature"], generate_secret())
    assert not kron_verifies(headers["X-KronGage-Signature"], old, BODY + b" ")


def test_outside_a_rotation_each_header_has_exactly_one_signature() -> None:
    secret = generate_secret()
    headers = headers_for([secret])
    assert headers["X-KronGage-Signature"] == kron_signature(secret, BODY)
    assert "," not in headers["X-KronGage-Signature"]
    assert len(headers["webhook-signature"].split(" ")) == 1


def test_retries_keep_the_id_but_sign_a_fresh_timestamp() -> None:
    secret = generate_secret()
    now = int(time.time())
    first, retry = headers_for([secret], now - 600), headers_for([secret], now)
    assert first["webhook-id"] == retry["webhook-id"] == "evt_1"
    assert first["webhook-signature"] != retry["webhook-signature"]
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(secret).verify(BODY, first)
    Webhook(secret).verify(BODY, retry)


def test_tampered_body_fails_both_checks() -> None:
    secret = generate_secret()
    headers = headers_for([secret])
    tampered = BODY.replace(b"created", b"deleted")
    expected = hmac.new(secret.encode(), tampered, hashlib.sha256).hexdigest()
    assert headers["X-KronGage-Signature"] != f"sha256={expected}"
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(tampered, headers)


def test_build_headers_needs_a_secret() -> None:
    with pytest.raises(ValueError):
        headers_for([])


def test_mask_secret_shows_only_the_ends() -> None:
    secret = "whsec_abcdEFGHijklMNOPqrstuvwxyz"
    assert mask_secret(secret) == "whsec_abcd…wxyz"
    assert "EFGH" not in mask_secret(secret)
    assert mask_secret("whsec_short") == "whsec_…"
