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
}


def apply_defaults(config: dict[str, Any]) -> None:
    """Fill in every key the host did not set."""
    for key, value in DEFAULTS.items():
        config.setdefault(key, value)
