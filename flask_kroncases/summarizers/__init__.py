"""Suggested case titles and summaries: one interface, an offline and a Hugging Face backend.

Use :func:`get_summarizer` with the backend's name and the app config; the
Hugging Face backend lives in :mod:`.huggingface` and is imported only when
chosen.
"""

from __future__ import annotations

# The summarizer keys have their defaults with every other KRONCASES_* key.
from ..config import DEFAULTS
from ..hooks import SummaryInput
from .base import (
    Suggestion,
    Summarizer,
    SummarizerError,
    clip_title,
)
from .offline import OfflineSummarizer
from .registry import get_summarizer

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
