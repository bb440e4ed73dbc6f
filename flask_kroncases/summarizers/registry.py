"""Summarizer backends by name: the one place that knows every backend.

Kept apart from :mod:`.base` so the backends import the interface and this
module imports the backends, never both ways.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..config import DEFAULTS
from .base import Summarizer, SummarizerError
from .offline import OfflineSummarizer


def get_summarizer(name: str | None, config: Mapping[str, Any]) -> Summarizer:
    """Build the backend called ``name`` (``"offline"`` when empty) from ``config``.

    Reads ``KRONCASES_HF_MODEL``, ``KRONCASES_HF_TOKEN``, ``KRONCASES_HF_TIMEOUT``
    and ``KRONCASES_HF_MAX_TOKENS`` for the ``"huggingface"`` backend, falling
    back to :data:`DEFAULTS`. A bad name or missing model raises
    :class:`SummarizerError`, like a failing backend, so callers can fall back
    to the offline backend in one place.
    """
    key = (name or "offline").strip().lower()
    if key == "offline":
        return OfflineSummarizer()
    if key in ("huggingface", "hf"):
        return _huggingface_from_config(config)
    raise SummarizerError(f"Unknown summarizer {name!r}; use 'offline' or 'huggingface'.")


def _huggingface_from_config(config: Mapping[str, Any]) -> Summarizer:
    def setting(key: str) -> Any:
        value = config.get(key)
        return DEFAULTS[key] if value is None or value == "" else value

    model = setting("KRONCASES_HF_MODEL")
    if not model:
        raise SummarizerError("The huggingface summarizer needs KRONCASES_HF_MODEL (a model id or URL).")
    try:
        timeout = float(setting("KRONCASES_HF_TIMEOUT"))
        max_tokens = int(setting("KRONCASES_HF_MAX_TOKENS"))
    except (TypeError, ValueError) as exc:
        raise SummarizerError(f"Invalid summarizer setting: {exc}") from exc
    # Imported here so the offline path never pays for importing huggingface_hub.
    try:
        from .huggingface import HuggingFaceSummarizer
    except ImportError as exc:
        raise SummarizerError(
            f"The huggingface summarizer needs huggingface_hub ({exc}), a dependency of flask-kroncases; "
            "reinstall the package."
        ) from exc

    return HuggingFaceSummarizer(
        str(model), token=setting("KRONCASES_HF_TOKEN"), timeout=timeout, max_tokens=max_tokens
    )
