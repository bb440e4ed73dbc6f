"""Title and summary from a chat model through ``huggingface_hub.InferenceClient``.

``model`` is a Hub model id (served by Inference Providers) or the URL of an
endpoint that speaks the OpenAI-compatible chat API, such as an Inference
Endpoint or a local TGI server; for a URL the client posts to
``<url>/v1/chat/completions``. The model is asked for JSON, and its answer is
read leniently, because models wrap JSON in prose and code fences, or ignore
the format altogether: a labelled answer ("Title: …", "Summary: …", "Type: …",
"Priority: …", after any chatty opening line) is read by its labels.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from huggingface_hub import InferenceClient
from huggingface_hub.errors import HfHubHTTPError, InferenceTimeoutError

from ..enums import TITLE_MAX_LENGTH, CaseType, Priority
from ..hooks import SummaryInput
from .base import (
    EMPTY_SUMMARY,
    EMPTY_TITLE,
    Suggestion,
    SummarizerError,
    case_type_of,
    clip_title,
    plain_text,
    priority_of,
)

SYSTEM_PROMPT = f"""\
You help support agents open cases from helpdesk conversations.
Read the conversation and reply with JSON only, no other text:
{{"title": "...", "summary": "...", "type": "...", "priority": "..."}}
- title: a short topic phrase, at most 60 characters (never more than \
{TITLE_MAX_LENGTH}), that names the customer's issue and keeps its error code, \
invoice or order number; no greeting, no "I" or "we".
- summary: a few short plain-text lines such as "Problem: ...", "Details: ...", \
"Tried: ...", "Asked: ..." or "Next step: ...". Copy error messages, amounts, \
versions, dates and order, invoice, account and ticket numbers exactly. \
No greetings, no markdown, no HTML.
- type: one of {", ".join(t.value for t in CaseType)}.
- priority: one of {", ".join(p.value for p in Priority)}; high or urgent only \
for outages, many affected users or a deadline.
Write title and summary in the language of the conversation."""

#: Characters of conversation sent to the model at most; long threads keep their start and end.
PROMPT_CHARS = 12_000
#: Characters of one message sent at most, so one pasted log cannot fill the prompt.
MESSAGE_CHARS = 2_000

_FENCED = re.compile(r"```(?:json|JSON)?\s*(\{.*?\})\s*```", re.S)
# Refusals, not a customer's "I can't log in": the verb must be about the task.
_REFUSAL = re.compile(
    r"^\W*(?:(?:i'?m|i am) sorry,? (?:but )?(?:i|this|that)|sorry,? (?:but )?i (?:can|am|won)"
    r"|i apologi[sz]e|as an ai|(?:unfortunately,? )?i (?:can(?:no|')?t|am unable to|am not able to"
    r"|won'?t|must decline to|do not feel comfortable) (?:help|assist|comply|summari[sz]e|fulfil"
    r"|provide|do that|process|create|generate|complete|respond))",
    re.I,
)
_FIELD = re.compile(r'"(title|summary|type|case_type|priority)"\s*:\s*"((?:[^"\\]|\\.)*)"', re.I)
_FENCE_LINE = re.compile(r"^\s*```\w*\s*$", re.M)
_LABEL = re.compile(r"^\W*(?:title|titel|título|titre|summary|zusammenfassung|resumen|résumé)\W*:\s*", re.I)
# "Title: …" lines of a prose answer; markdown around the label ("**Title:**") is allowed.
_LABELS = {
    "title": "title|titel|t[ií]tulo|titre",
    "summary": "summary|zusammenfassung|resumen|r[ée]sum[ée]",
    "type": "(?:case )?type|typ|tipo|kategorie|category|cat[ée]gorie",
    "priority": "priority|priorit[äa]t|prioridad|priorit[ée]",
}
_LABEL_LINE = re.compile(
    r"^[\s*#>_-]*(?:" + "|".join(f"(?P<{key}>{words})" for key, words in _LABELS.items())
    + r")[\s*_]*:[\s*_]*(?P<rest>.*)$",
    re.I | re.M,
)


class HuggingFaceSummarizer:
    """Ask a chat model on the Hub or at an endpoint URL for a title and summary.

    Every failure (HTTP error, timeout, unreachable host, refusal, empty
    answer) raises :class:`SummarizerError` with a message an agent can read.
    """

    source = "huggingface"

    def __init__(
        self,
        model: str,
        *,
        token: str | None = None,
        timeout: float = 20,
        max_tokens: int = 300,
        prompt_chars: int = PROMPT_CHARS,
    ) -> None:
        self.model = model
        self.timeout = timeout
        self.max_tokens = max_tokens
        self.prompt_chars = prompt_chars
        self._client = InferenceClient(model=model, token=token or None, timeout=timeout)

    def suggest(self, messages: Sequence[SummaryInput]) -> Suggestion:
        """Send the conversation in one chat call and read title and summary from the answer."""
        transcript = build_transcript(messages, self.prompt_chars)
        if not transcript:
            return Suggestion(EMPTY_TITLE, EMPTY_SUMMARY, self.source)
        title, summary, case_type, priority = read_answer(self._complete(transcript))
        return Suggestion(title, summary, self.source, case_type, priority)

    def _complete(self, transcript: str) -> str:
        chat = [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": f"Conversation:\n{transcript}"},
        ]
        where = _describe(self.model)
        try:
            output = self._client.chat_completion(chat, max_tokens=self.max_tokens)
        except InferenceTimeoutError as exc:
            raise SummarizerError(
                f"The model {where} did not answer within {self.timeout:g} seconds."
            ) from exc
        except HfHubHTTPError as exc:
            status = exc.response.status_code if exc.response is not None else "error"
            hint = " (it is loading or overloaded; try again later)" if status == 503 else ""
            detail = f": {clip_title(exc.server_message, 200)}" if exc.server_message else ""
            raise SummarizerError(f"The model {where} answered HTTP {status}{hint}{detail}") from exc
        except Exception as exc:
            # Connection and decoding errors come from whichever HTTP library this
            # huggingface_hub version uses; the caller needs one error type.
            raise SummarizerError(f"Could not get an answer from the model {where}: {exc}") from exc
        choices = getattr(output, "choices", None) or []
        content = choices[0].message.content if choices else None
        if not isinstance(content, str) or not content.strip():
            raise SummarizerError(f"The model {where} returned an empty answer.")
        return content


def _describe(model: str) -> str:
    """The model id, or the endpoint URL without query or credentials."""
    if not model.startswith(("http://", "https://")):
        return model
    parts = urlsplit(model)
    return f"at {parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}{parts.path}"


def build_transcript(messages: Sequence[SummaryInput], budget: int = PROMPT_CHARS) -> str:
    """Render the messages as ``[time] role: text`` lines within ``budget`` characters.

    A long thread keeps its first messages (where the problem is stated,
    up to a third of the budget) and its latest ones, with a marker for the
    messages left out in between.
    """
    lines = [line for line in map(_render, messages) if line]
    if sum(len(line) + 1 for line in lines) <= budget:
        return "\n".join(lines)
    head: list[str] = []
    used = 0
    for line in lines:
        if head and used + len(line) + 1 > budget // 3:
            break
        head.append(line[: budget // 3])
        used += len(head[-1]) + 1
    tail: list[str] = []
    for line in reversed(lines[len(head) :]):
        if used + len(line) + 1 > budget - 40:
            break
        tail.append(line)
        used += len(line) + 1
    omitted = len(lines) - len(head) - len(tail)
    return "\n".join([*head, f"[… {omitted} messages left out …]", *reversed(tail)])


def _render(message: SummaryInput) -> str:
    text = plain_text(message.text or "")
    if not text:
        return ""
    if len(text) > MESSAGE_CHARS:
        text = text[:MESSAGE_CHARS] + " […]"
    when = f"[{message.sent_at:%Y-%m-%d %H:%M}] " if message.sent_at else ""
    return f"{when}{message.author_role or 'customer'}: {text}"


def parse_answer(answer: str) -> tuple[str, str]:
    """Read ``(title, summary)`` from a model's answer; see :func:`read_answer`."""
    title, summary, _, _ = read_answer(answer)
    return title, summary


def read_answer(answer: str) -> tuple[str, str, str | None, str | None]:
    """Read ``(title, summary, case_type, priority)`` from a model's answer.

    JSON is found bare, inside a code fence or inside prose; then labelled
    lines ("Title: …", "Summary: …", "Type: …", "Priority: …") are read by
    their labels, whatever prose comes before them; otherwise the first line
    is the title and the rest the summary. Type and priority are ``None``
    unless they name an allowed value. A refusal raises
    :class:`SummarizerError` instead of becoming a case title.
    """
    answer = answer.strip()
    data = _find_json(answer) or _find_fields(answer) or _find_labels(answer)
    if data:
        title, summary = _text(data.get("title")), _text(data.get("summary"))
    else:
        title, _, summary = _FENCE_LINE.sub("", answer).strip().partition("\n")
    if _REFUSAL.match(title or summary or answer):
        raise SummarizerError(f"The model declined to summarize: {clip_title(answer, 120)!r}")
    title = clip_title(_unwrap(plain_text(_LABEL.sub("", title).replace("**", "")).lstrip("# ")))
    summary = plain_text(_LABEL.sub("", summary.strip()).replace("**", ""))
    if not title and not summary:
        raise SummarizerError("The model's answer held neither a title nor a summary.")
    case_type = case_type_of(data.get("type") or data.get("case_type")) if data else None
    priority = priority_of(data.get("priority")) if data else None
    return title or clip_title(summary.split("\n", 1)[0]), summary or title, case_type, priority


def _find_labels(answer: str) -> dict[str, Any]:
    """The labelled parts of a prose answer; a label's text runs to the next label.

    Needs a title or summary label, so "Type: …" alone in a chatty answer is
    not mistaken for a labelled one.
    """
    fields: dict[str, Any] = {}
    text = _FENCE_LINE.sub("", answer)
    matches = list(_LABEL_LINE.finditer(text))
    for match, following in zip(matches, [*matches[1:], None], strict=False):
        key = next(k for k in _LABELS if match.group(k))
        end = following.start() if following is not None else len(text)
        value = (match.group("rest") + text[match.end() : end]).strip()
        fields.setdefault(key, value)
    return fields if "title" in fields or "summary" in fields else {}


def _unwrap(title: str) -> str:
    """Drop quotes or backticks that wrap the whole title."""
    title = title.strip()
    if len(title) >= 2 and title[0] == title[-1] and title[0] in "\"'`":
        return title[1:-1].strip()
    return title


def _find_json(answer: str) -> dict[str, Any] | None:
    """The first JSON object with a title or summary, in a code fence or anywhere in the text."""
    candidates = [m.group(1) for m in _FENCED.finditer(answer)]
    decoder = json.JSONDecoder()
    for text in [*candidates, answer]:
        start = text.find("{")
        while start != -1:
            try:
                value, _ = decoder.raw_decode(text, start)
            except json.JSONDecodeError:
                value = None
            if isinstance(value, dict):
                data = {str(k).lower(): v for k, v in value.items()}
                if "title" in data or "summary" in data:
                    return data
            start = text.find("{", start + 1)
    return None


def _find_fields(answer: str) -> dict[str, Any]:
    """Title and summary strings from JSON too broken to decode (a trailing comma, a cut end)."""
    fields: dict[str, Any] = {}
    for match in _FIELD.finditer(answer):
        try:
            fields.setdefault(match.group(1).lower(), json.loads(f'"{match.group(2)}"'))
        except json.JSONDecodeError:
            fields.setdefault(match.group(1).lower(), match.group(2))
    return fields if "title" in fields or "summary" in fields else {}


def _text(value: Any) -> str:
    """A JSON field as text: lists become lines, missing values empty."""
    if value is None:
        return ""
    if isinstance(value, list):
        return "\n".join(_text(item) for item in value)
    if isinstance(value, dict):
        return "\n".join(f"{k}: {_text(v)}" for k, v in value.items())
    return str(value)
