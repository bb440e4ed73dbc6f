"""The host's callbacks, kept in one small object the services receive.

The host registers them on :class:`~flask_kroncases.KronCases` with decorators
(``@cases.conversation_access`` ...); the extension hands this object to every
service. It sits at the bottom of the house: it imports nothing of ours
above the ground floor, so services never reach back up to the extension.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import g, has_request_context

from . import i18n

log = logging.getLogger("flask_kroncases")

AccessCheck = Callable[[Any, Any], bool]
AdminCheck = Callable[[Any], bool]
UrlBuilder = Callable[[Any], "str | None"]
NameOf = Callable[[Any], str]
VisibleClause = Callable[[Any], Any]


@dataclass(frozen=True)
class SummaryInput:
    """One host message as the summarizers and the thread see it.

    ``author_role`` is ``"customer"`` or ``"agent"``; hosts map their own
    message types onto these. ``"staff"``, ``"bot"``, ``"system"`` and similar
    count as the support side, any other value as the customer.
    """

    author_role: str
    text: str
    sent_at: datetime | None = None


MessageReader = Callable[[Any], SummaryInput]
OpeningReader = Callable[[Any], "SummaryInput | None"]

_TEXT_ATTRS = ("body", "text", "content", "message", "html")
_ROLE_ATTRS = ("author_role", "role", "author_type", "sender_type", "sender_role")
_TIME_ATTRS = ("created_at", "sent_at", "posted_at", "timestamp", "created")
_NAME_ATTRS = ("name", "display_name", "full_name", "username", "email")


def _first_attr(obj: Any, names: tuple[str, ...]) -> Any:
    for name in names:
        value = getattr(obj, name, None)
        if value is not None:
            return value
    return None


def unwrap_user(user: Any) -> Any:
    """Return the real user behind Flask-Login's ``current_user`` proxy."""
    getter = getattr(user, "_get_current_object", None)
    return getter() if callable(getter) else user


def is_signed_in(user: Any) -> bool:
    return user is not None and bool(getattr(user, "is_authenticated", True))


@dataclass
class HostHooks:
    """What the host told us about its own world, and safe defaults for the rest.

    Every field may stay ``None``: without ``conversation_access`` every
    conversation is refused (and a warning logged once); the others fall back
    to guesses from common attribute names.
    """

    conversation_access: AccessCheck | None = None
    admin_check: AdminCheck | None = None
    conversation_url: UrlBuilder | None = None
    message_url: UrlBuilder | None = None
    user_name: NameOf | None = None
    message_reader: MessageReader | None = None
    visible_conversations: VisibleClause | None = None
    opening_message: OpeningReader | None = None
    _warned_no_access_hook: bool = field(default=False, repr=False)

    def may_see(self, user: Any, conversation: Any, conversation_key: Any = None) -> bool:
        """Ask the host whether ``user`` may see ``conversation``: once per request and pair.

        Within a request the answer is remembered, so a route that needs it in
        two places (the service and a template) asks the host once.
        """
        user = unwrap_user(user)
        if not is_signed_in(user):
            return False
        if self.conversation_access is None:
            if not self._warned_no_access_hook:
                log.warning("no @conversation_access hook registered: every conversation is refused")
                self._warned_no_access_hook = True
            return False
        if not has_request_context() or conversation_key is None:
            return bool(self.conversation_access(user, conversation))
        memo: dict[Any, bool] = g.setdefault("_kroncases_access", {})
        key = (id(user), conversation_key)
        if key not in memo:
            memo[key] = bool(self.conversation_access(user, conversation))
        return memo[key]

    def is_admin(self, user: Any) -> bool:
        user = unwrap_user(user)
        if self.admin_check is None or not is_signed_in(user):
            return False
        return bool(self.admin_check(user))

    def url_for_conversation(self, conversation: Any) -> str | None:
        """The host's URL of a conversation, as the host builds it (may be relative)."""
        return self.conversation_url(conversation) if self.conversation_url is not None else None

    def display_name(self, user: Any) -> str:
        """How an agent is named in activity entries and webhook bodies ("Someone" for none)."""
        if user is None:
            return "Someone"
        if self.user_name is not None:
            return self.user_name(user)
        value = _first_attr(user, _NAME_ATTRS)
        return value if isinstance(value, str) and value else str(user)

    def shown_name(self, user: Any) -> str:
        """:meth:`display_name` for a page: "Someone" in the agent's language (a deleted user).

        Webhook bodies and JSON keep the English word: they are data, not text
        for one agent.
        """
        return self.display_name(user) if user is not None else i18n.gettext("Someone")

    def read_message(self, message: Any) -> SummaryInput:
        """What the summarizers and the thread see of a host message."""
        if self.message_reader is not None:
            return self.message_reader(message)
        return SummaryInput(
            author_role=str(_first_attr(message, _ROLE_ATTRS) or "customer"),
            text=str(_first_attr(message, _TEXT_ATTRS) or ""),
            sent_at=_first_attr(message, _TIME_ATTRS),
        )

    def reading_plan(self, message_model: type) -> str | None:
        """What the default reader will take from ``message_model``, when it misses something.

        ``None`` when a ``message_reader`` is registered or every part was found;
        else one sentence for the log, naming what was found and what stands in.
        """
        if self.message_reader is not None:
            return None
        wanted = (
            ("text", _TEXT_ATTRS, "empty text"),
            ("time", _TIME_ATTRS, "no time (the thread keeps the host's order and puts case activity last)"),
            ("author role", _ROLE_ATTRS, "every message counted as the customer's"),
        )
        found = [(part, names, fallback, next((a for a in names if hasattr(message_model, a)), None))
                 for part, names, fallback in wanted]
        if all(attr for *_, attr in found):
            return None
        parts = [f"{part} from .{attr}" if attr else f"{part}: none of {', '.join(names)} ({fallback})"
                 for part, names, fallback, attr in found]
        return (f"{message_model.__name__} messages are read with " + "; ".join(parts)
                + ". Register @cases.message_reader to say how.")

    def read_opening(self, conversation: Any) -> SummaryInput | None:
        """The conversation's opening text as a message, when the host keeps it on the row."""
        if self.opening_message is None:
            return None
        opening = self.opening_message(conversation)
        return opening if opening is not None and opening.text.strip() else None

    def visible_clause(self, user: Any) -> Any | None:
        """The host's ``WHERE`` clause for conversations ``user`` may see, if it gave one."""
        return self.visible_conversations(user) if self.visible_conversations is not None else None
