"""Every ``KRONCASES_*`` configuration key with its default, in one place.

:meth:`KronCases.init_app` applies these with ``app.config.setdefault`` so a host
sets only what it wants to change. The README lists the same keys; a test keeps
the two in step.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

#: Seconds before each webhook attempt, the first one immediate: now, 5 s, 5 min,
#: 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h (the Standard Webhooks / Svix
#: schedule). Ten attempts spread over 272,105 s, about 75.6 hours or three
#: days, so a receiver that is down for a day still gets every event.
DEFAULT_RETRY_SCHEDULE: tuple[float, ...] = (0, 5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400)

#: Seconds from a case's creation (or reopening) to its due time, per priority.
DEFAULT_DUE_AFTER: dict[str, int] = {
    "urgent": 4 * 3600,
    "high": 24 * 3600,
    "medium": 3 * 24 * 3600,
    "low": 7 * 24 * 3600,
}

DEFAULTS: dict[str, Any] = {
    # Where the extension's blueprints are mounted in the host app.
    "KRONCASES_URL_PREFIX": "/kroncases",
    # Number of cases per page on list views and in the JSON list.
    "KRONCASES_PER_PAGE": 25,
    # The cases page counts matching cases up to this many and then says "more
    # than"; an exact count reads every case the agent may see (~0.2 s at a
    # million). None counts them all.
    "KRONCASES_COUNT_LIMIT": 10_000,
    # Longest accepted escalation reason, in characters.
    "KRONCASES_REASON_MAX_LENGTH": 2000,
    # Longest accepted case summary, in characters.
    "KRONCASES_SUMMARY_MAX_LENGTH": 20000,
    # Most messages one case may be made of; a longer list is refused before
    # any query, so no request can make the database bind an unbounded list.
    "KRONCASES_MAX_MESSAGES_PER_CASE": 500,
    # Largest request body (bytes) the extension's routes read when the host
    # set no MAX_CONTENT_LENGTH; a larger one gets 413.
    "KRONCASES_MAX_BODY_BYTES": 1024 * 1024,
    # What a naive datetime of the host (a message's time) means: "UTC", an IANA
    # zone name ("Europe/Berlin"), or "local" for the server's own zone (a host
    # that stores datetime.now()). Orders the thread; our own times are UTC.
    "KRONCASES_HOST_TIMEZONE": "UTC",
    # Seconds from creation (or reopening) to a case's due time, by priority;
    # time spent pending does not count. None turns due times off.
    "KRONCASES_DUE_AFTER": DEFAULT_DUE_AFTER,
    # Keyboard shortcuts on the conversation page (j/k move through the thread,
    # x selects, c creates a case, ? lists them); False turns the script's key
    # handling off and leaves the host's tab order of its messages alone.
    "KRONCASES_SHORTCUTS": True,
    # -- what the extension adds to the host app -----------------------------
    # Register the JSON API, the agent pages (case form, fragments, cases page)
    # and the webhook settings pages. A host that serves one of them its own
    # way turns it off; templates and static files are always registered.
    "KRONCASES_REGISTER_API": True,
    "KRONCASES_REGISTER_PAGES": True,
    "KRONCASES_REGISTER_SETTINGS": True,
    # Template for each page and partial, by short name; a host replaces only
    # the ones it names, e.g. {"cases_page": "helpdesk/cases.html"}. Overriding
    # a template by its path under templates/kroncases/ works as well.
    "KRONCASES_TEMPLATES": {},
    # Element of a case activity entry in the host's thread: "li" for a thread
    # that is a list (<ol>/<ul>), "div" for one of <div>s (e.g. a grid of rows).
    "KRONCASES_ACTIVITY_TAG": "li",
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
    # Seconds between two checks, in each worker, for deliveries whose claim
    # (lease) ran out because the worker sending them died; 0 turns them off.
    "KRONCASES_WEBHOOK_LEASE_CHECK_INTERVAL": 2,
    # -- webhooks ------------------------------------------------------------
    # Seconds before each attempt, the first one immediate (Standard Webhooks
    # style, 272,105 s or about three days in all); each delay gets +/-10% jitter.
    "KRONCASES_WEBHOOK_RETRY_SCHEDULE": DEFAULT_RETRY_SCHEDULE,
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
    # Seconds a worker's claim on a delivery (its lease) lasts; a delivery
    # still claimed after that (its worker died) is handed out again. Must
    # exceed CONNECT_TIMEOUT + READ_TIMEOUT, the longest an attempt can take;
    # None: those two plus 5 s (25 s with the defaults).
    "KRONCASES_WEBHOOK_CLAIM_TIMEOUT": None,
    "KRONCASES_WEBHOOK_USER_AGENT": "KronGage-Webhooks/1.0 (+flask-kroncases)",
    # How long the delivery log keeps delivered and failed deliveries (a
    # timedelta); the worker's sweep deletes older ones, a batch at a time.
    # Pending and retrying ones are never deleted. None keeps them all.
    "KRONCASES_WEBHOOK_LOG_RETENTION": timedelta(days=30),
    # Absolute base for conversation links in webhook bodies (e.g.
    # "https://help.example.com"): relative URLs from the conversation_url hook
    # are joined to it. The request's Host header is never used.
    "KRONCASES_BASE_URL": None,
}


#: The templates the extension renders, by the short names ``KRONCASES_TEMPLATES`` takes.
TEMPLATES: dict[str, str] = {
    "assets": "kroncases/_assets.html",
    "panel": "kroncases/_panel.html",
    "message_indicator": "kroncases/_message_indicator.html",
    "activity": "kroncases/_activity.html",
    "activity_entry": "kroncases/_activity_entry.html",
    "badges": "kroncases/_badges.html",
    "case_form": "kroncases/_case_form.html",
    "case_form_page": "kroncases/case_form_page.html",
    "cases_page": "kroncases/cases.html",
    "case_page": "kroncases/case.html",
    "reports_page": "kroncases/reports.html",
    "error_page": "kroncases/error.html",
    "webhook_settings": "kroncases/settings/webhooks.html",
    "webhook_settings_error": "kroncases/settings/error.html",
}

#: Flask-WTF's CSRF settings, with its own defaults: the extension checks its
#: POSTs with them whether or not the host set up ``CSRFProtect``.
CSRF_DEFAULTS: dict[str, Any] = {
    "WTF_CSRF_ENABLED": True,
    "WTF_CSRF_FIELD_NAME": "csrf_token",
    "WTF_CSRF_HEADERS": ["X-CSRFToken", "X-CSRF-Token"],
    "WTF_CSRF_TIME_LIMIT": 3600,
    "WTF_CSRF_SSL_STRICT": True,
}


def apply_defaults(config: dict[str, Any]) -> None:
    """Fill in every key the host did not set; check the ones that must make sense together."""
    for key, value in {**DEFAULTS, **CSRF_DEFAULTS}.items():
        config.setdefault(key, value)
    config["WTF_CSRF_METHODS"] = set(config.get("WTF_CSRF_METHODS", ["POST", "PUT", "PATCH", "DELETE"]))
    if config["KRONCASES_ACTIVITY_TAG"] not in ("li", "div"):
        raise ValueError(f'KRONCASES_ACTIVITY_TAG must be "li" or "div", not {config["KRONCASES_ACTIVITY_TAG"]!r}')
    zone = config["KRONCASES_HOST_TIMEZONE"]
    if zone != "local":
        try:
            ZoneInfo(zone)
        except (ValueError, KeyError) as exc:  # ZoneInfoNotFoundError is a KeyError
            raise ValueError(f"KRONCASES_HOST_TIMEZONE {zone!r} is not a time zone: use 'UTC', 'local' "
                             "or an IANA name such as 'Europe/Berlin'") from exc
    retention = config["KRONCASES_WEBHOOK_LOG_RETENTION"]
    if retention is not None and (not isinstance(retention, timedelta) or retention <= timedelta(0)):
        raise ValueError("KRONCASES_WEBHOOK_LOG_RETENTION must be a positive timedelta (e.g. timedelta(days=30)) "
                         f"or None to keep the whole delivery log, not {retention!r}")
    cap = config["KRONCASES_COUNT_LIMIT"]
    if cap is not None and (type(cap) is not int or cap < 1):
        raise ValueError(f"KRONCASES_COUNT_LIMIT must be a whole number of cases (1 or more) or None, not {cap!r}")
    unknown = set(config["KRONCASES_TEMPLATES"]) - set(TEMPLATES)
    if unknown:
        raise ValueError(f"KRONCASES_TEMPLATES names unknown templates {sorted(unknown)}; known: {sorted(TEMPLATES)}")


def template_name(config: Any, name: str) -> str:
    """The template to render for ``name``: the host's choice, else ours."""
    return config["KRONCASES_TEMPLATES"].get(name) or TEMPLATES[name]
