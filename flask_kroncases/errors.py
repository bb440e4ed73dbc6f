"""The one error type every refused call raises."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .i18n import ngettext

#: HTTP status for each kind of refusal; the JSON API uses it as is.
HTTP_STATUS = {
    "invalid": 400,
    "forbidden": 403,
    "not_found": 404,
    "conflict": 409,
}


#: Most characters of a message, and most messages per field, a reply carries.
MAX_REPLY_MESSAGE = 1000
MAX_REPLY_ERRORS = 10


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _first(messages: list[str]) -> list[str]:
    shown = [_clip(m, MAX_REPLY_MESSAGE) for m in messages[:MAX_REPLY_ERRORS]]
    if len(messages) > MAX_REPLY_ERRORS:
        shown.append(ngettext("… and %(num)d more.", "… and %(num)d more.", len(messages) - MAX_REPLY_ERRORS))
    return shown


class CaseError(Exception):
    """A case operation was refused and nothing was written.

    ``kind`` is one of ``invalid``, ``forbidden``, ``not_found`` or ``conflict``;
    ``errors`` maps a field name (``title``, ``messages`` ...) to the messages a
    form shows next to that field. Host code catches this one type.

    The words are in the language of the agent who made the call (raise it
    with ``gettext(...)``); lazy strings (a form validator's) are looked up here.
    """

    def __init__(
        self,
        message: str,
        *,
        kind: str = "invalid",
        errors: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        if kind not in HTTP_STATUS:
            raise ValueError(f"unknown CaseError kind {kind!r}")
        message = str(message)
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.errors: dict[str, list[str]] = {k: [str(m) for m in v] for k, v in (errors or {}).items()}

    @property
    def http_status(self) -> int:
        return HTTP_STATUS[self.kind]

    def to_dict(self) -> dict[str, object]:
        """The JSON reply: bounded in size however many problems were found."""
        return {
            "error": self.kind,
            "message": _clip(self.message, MAX_REPLY_MESSAGE),
            "errors": {field: _first(messages) for field, messages in self.errors.items()},
        }

    def __repr__(self) -> str:
        return f"CaseError({self.message!r}, kind={self.kind!r}, errors={self.errors!r})"
