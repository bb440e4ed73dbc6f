"""Suggested case titles and summaries: one interface, an offline and a Hugging Face backend.

Use :func:`get_summarizer` with the backend's name and the app config; the
Hugging Face backend lives in :mod:`.huggingface` and is imported only when
chosen.
"""

from __future__ import annotations

from .base import (
    DEFAULTS,
    Suggestion,
    Summarizer,
    SummarizerError,
    SummaryInput,
    clip_title,
    get_summarizer,
)
from .offline import OfflineSummarizer

__all__ = [
    "DEFAULTS",
    "OfflineSummarizer",
    "Suggestion",
    "Summarizer",
    "SummarizerError",
    "SummaryInput",
    "clip_title",
    "get_summarizer",
]
