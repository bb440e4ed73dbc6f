"""Every ``KRONCASES_*`` configuration key with its default, in one place.

:meth:`KronCases.init_app` applies these with ``app.config.setdefault`` so a host
sets only what it wants to change. The README lists the same keys; a test keeps
the two in step.
"""

from __future__ import annotations

from typing import Any

DEFAULTS: dict[str, Any] = {
    # Where the extension's blueprints are mounted in the host app.
    "KRONCASES_URL_PREFIX": "/kroncases",
    # Number of cases per page on list views and in the JSON list.
    "KRONCASES_PER_PAGE": 25,
    # Longest accepted escalation reason, in characters.
    "KRONCASES_REASON_MAX_LENGTH": 2000,
    # Longest accepted case summary, in characters.
    "KRONCASES_SUMMARY_MAX_LENGTH": 20000,
    # -- AI titles and summaries ---------------------------------------------
    # Backend for suggestions: "offline" (extractive, no model, no network) or
    # "huggingface" (huggingface_hub.InferenceClient). A failing backend falls
    # back to offline; saving a case never waits for it.
    "KRONCASES_SUMMARIZER": "offline",
    # Hugging Face model id, or the URL of an endpoint (Inference Endpoint, local TGI/vLLM).
    "KRONCASES_HF_MODEL": None,
    # Token sent to Hugging Face; None uses the token saved on the machine, if any.
    "KRONCASES_HF_TOKEN": None,
    # Seconds to wait for the model before giving up.
    "KRONCASES_HF_TIMEOUT": 20,
    # Most tokens the model may generate for one suggestion.
    "KRONCASES_HF_MAX_TOKENS": 300,
    # -- background jobs ---------------------------------------------------
    # "rq": jobs go to Redis and run in ``flask kroncases worker`` processes.
    # "thread": jobs run in a small thread pool inside the web process; for the
    # demo and for trying things out, never for production (nothing survives a restart).
    "KRONCASES_JOB_RUNNER": "rq",
    "KRONCASES_REDIS_URL": "redis://127.0.0.1:6379/0",
    "KRONCASES_QUEUE_NAME": "kroncases",
    # Seconds between two sweeps for pending webhook deliveries in each worker.
    "KRONCASES_SWEEP_INTERVAL": 60,
    # -- webhooks ------------------------------------------------------------
    # Seconds between attempts, the first one immediate (Standard Webhooks style,
    # about a day in all); each delay gets +/-10% jitter.
    "KRONCASES_WEBHOOK_RETRY_SCHEDULE": (0, 5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400),
    # Seconds the old secret keeps signing after a rotation.
    "KRONCASES_WEBHOOK_SECRET_OVERLAP": 24 * 3600,
    # An endpoint failing continuously this long (seconds) is disabled.
    "KRONCASES_WEBHOOK_DISABLE_AFTER": 5 * 24 * 3600,
    "KRONCASES_WEBHOOK_CONNECT_TIMEOUT": 5.0,
    "KRONCASES_WEBHOOK_READ_TIMEOUT": 15.0,
    # Bytes of a receiver's response kept (and read at all).
    "KRONCASES_WEBHOOK_MAX_RESPONSE_BYTES": 65536,
    # False: refuse URLs resolving to private, loopback, link-local or metadata
    # addresses. True: allow all. A list of networks or hostnames: allow those.
    "KRONCASES_WEBHOOK_ALLOW_PRIVATE": False,
    # A delivery claimed by a worker that has not finished after this many
    # seconds (a killed worker) is handed out again by the sweeper.
    "KRONCASES_WEBHOOK_CLAIM_TIMEOUT": 120,
    "KRONCASES_WEBHOOK_USER_AGENT": "KronGage-Webhooks/1.0 (+flask-kroncases)",
    # Absolute base for conversation links in webhook bodies when no request is
    # active (e.g. "https://help.example.com"); relative URLs are joined to it.
    "KRONCASES_BASE_URL": None,
}


def apply_defaults(config: dict[str, Any]) -> None:
    """Fill in every key the host did not set."""
    for key, value in DEFAULTS.items():
        config.setdefault(key, value)
