"""The summarizer interface, its value types and the helpers every backend shares.

A summarizer turns the messages an agent selected into a suggested case title,
summary, case type and priority. Backends are chosen by name from the app config with
:func:`~.registry.get_summarizer`; every failure they report is a :class:`SummarizerError`
so a job can catch one type and let the agent save the case regardless.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ..enums import TITLE_MAX_LENGTH, CaseType, Priority
from ..hooks import SummaryInput

#: What a suggestion says when the messages hold no text at all.
EMPTY_TITLE = "Support request"
EMPTY_SUMMARY = "The selected messages contain no text."


@dataclass(frozen=True)
class Suggestion:
    """A suggested case title (at most ``TITLE_MAX_LENGTH`` characters) and plain-text summary.

    ``case_type`` and ``priority`` are :class:`~..enums.CaseType` and
    :class:`~..enums.Priority` values, or ``None`` when the backend has no
    opinion; the form then keeps its defaults.
    """

    title: str
    summary: str
    source: str
    case_type: str | None = None
    priority: str | None = None


class SummarizerError(Exception):
    """A backend could not produce a suggestion; the message says why."""


@runtime_checkable
class Summarizer(Protocol):
    """Anything that suggests a title and summary for a run of messages."""

    def suggest(self, messages: Sequence[SummaryInput]) -> Suggestion:
        """Return a suggestion, or raise :class:`SummarizerError`."""
        ...


def clip_title(text: str, limit: int = TITLE_MAX_LENGTH) -> str:
    """Collapse whitespace and cut ``text`` to ``limit`` characters at a word boundary.

    No ellipsis is added: the title goes into an editable form field whose
    length counter must match what is stored. A single word longer than the
    limit is cut hard.
    """
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit + 1].rsplit(" ", 1)[0] if " " in text[: limit + 1] else text[:limit]
    return cut.rstrip(" ,;:-–—(/").strip() or text[:limit]


_CHOICE_WORD = re.compile(r"[a-z]+")


def case_type_of(value: object) -> str | None:
    """A :class:`CaseType` value named in ``value`` ("Billing", "billing issue"), or ``None``."""
    return _choice(value, [t.value for t in CaseType])


def priority_of(value: object) -> str | None:
    """A :class:`Priority` value named in ``value`` ("High", "priority: urgent"), or ``None``."""
    return _choice(value, [p.value for p in Priority])


def _choice(value: object, allowed: list[str]) -> str | None:
    # The first allowed word wins, so "High (not urgent)" is high.
    if not isinstance(value, str):
        return None
    for match in _CHOICE_WORD.finditer(value.lower()):
        if match.group(0) in allowed:
            return match.group(0)
    return None


# Only tags HTML mail and rich editors produce are removed, so code such as
# ``List<String>`` or a Java frame's ``<init>`` survives as text.
_HIDDEN_BLOCK = re.compile(r"<(script|style|head|title)\b[^>]*>.*?</\1\s*>|<!--.*?-->", re.I | re.S)
_BREAK_TAG = re.compile(
    r"</?(?:br|p|div|li|ul|ol|dl|dt|dd|tr|table|h[1-6]|pre|blockquote|hr|section|article"
    r"|header|footer)\b[^>]*>",
    re.I,
)
_INLINE_TAG = re.compile(
    r"</?(?:a|abbr|b|big|body|button|center|cite|code|del|em|font|form|html|i|iframe|img|input"
    r"|ins|kbd|label|link|mark|meta|o:p|q|s|samp|script|small|span|strike|strong|style|sub|sup"
    r"|svg|tbody|td|tfoot|th|thead|time|tt|u|var|wbr)\b[^>]*>|<!DOCTYPE[^>]*>",
    re.I,
)


def _strip_tags(text: str) -> str:
    text = _HIDDEN_BLOCK.sub(" ", text)
    text = _BREAK_TAG.sub("\n", text)
    return _INLINE_TAG.sub("", text)


def plain_text(text: str) -> str:
    """Return ``text`` without markup: tags removed, entities decoded, lines trimmed.

    Helpdesk messages often arrive as HTML from email or a rich editor; a
    suggestion must never carry markup into the case form. Tags are stripped
    again after decoding so an escaped ``&lt;script&gt;`` cannot turn into one.
    """
    if "<" in text:
        text = _strip_tags(text)
    if "&" in text:
        text = html.unescape(text)
        if "<" in text:
            text = _strip_tags(text)
    lines = (" ".join(line.split()) for line in text.replace("\r", "\n").split("\n"))
    return "\n".join(line for line in lines if line)
