"""The one JSON shape of a case: the JSON API's replies and the webhook bodies both use it.

Language-neutral on purpose: codes (``open``, ``billing``) and ISO-8601 times
in UTC, never labels in an agent's language.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from flask import current_app, has_app_context

from ..enums import Status
from ..models import as_utc


def json_key(key: Any) -> Any:
    """A host key as JSON can carry it: ints and strings as they are, UUIDs as text."""
    return key if isinstance(key, (int, str)) or key is None else str(key)


def iso(value: Any) -> str | None:
    """A stored time as ISO-8601 in UTC (SQLite hands times back naive)."""
    moment = as_utc(value)
    return moment.isoformat() if moment is not None else None


def describe_case(
    case: Any,
    *,
    conversation_url: str | None = None,
    case_url: str | None = None,
    name_of: Callable[[Any], str] | None = None,
) -> dict[str, Any]:
    """A JSON-ready description of a case (the API's and the webhook's ``case`` object).

    ``name_of`` names the assignee (the host's ``user_name`` hook); without it
    the assignee is given by id only. Notes are internal and never described here.

    ``resolved_at`` is set only while the case is resolved, so a reopened case
    never looks resolved; ``last_resolved_at`` keeps the time of its last
    resolution through a reopen (null for a case never resolved).
    """
    assignee = None
    if case.assignee_id is not None:
        assignee = {"id": json_key(case.assignee_id)}
        if name_of is not None and case.assignee is not None:
            assignee["name"] = name_of(case.assignee)
    return {
        "id": case.id,
        "url": case_url,
        "title": case.title,
        "case_type": case.case_type,
        "priority": case.priority,
        "status": case.status,
        "summary": case.summary,
        "conversation_id": json_key(case.conversation_id),
        "conversation_url": conversation_url,
        "message_ids": [json_key(k) for k in case.message_ids],
        "created_by_id": json_key(case.created_by_id),
        "created_at": iso(case.created_at),
        "updated_at": iso(case.updated_at),
        "resolved_at": iso(case.resolved_at) if case.status == Status.RESOLVED.value else None,
        "last_resolved_at": iso(case.resolved_at),
        "escalated_at": iso(case.escalated_at),
        "escalation_level": case.escalation_level,
        "escalation_reason": case.escalation_reason,
        "assignee": assignee,
        "due_at": iso(case.due_at),
    }


def describe_note(note: Any, *, name_of: Callable[[Any], str] | None = None) -> dict[str, Any]:
    """An internal note as the JSON API gives it (never in a webhook body)."""
    return {
        "id": note.id,
        "case_id": note.case_id,
        "text": note.body,
        "author": None if note.author_id is None else {
            "id": json_key(note.author_id),
            **({"name": name_of(note.author)} if name_of is not None and note.author is not None else {}),
        },
        "created_at": iso(note.created_at),
    }


def describe_suggestion(row: Any) -> dict[str, Any]:
    """A case form suggestion as the script polls it.

    ``case_type`` and ``priority`` are codes, or null when the backend had no
    opinion. ``model`` names the model a suggestion came from (null for the
    offline backend), so the form can say "Suggested by <model>"; the words
    stay in the script.
    """
    return {
        "id": row.id,
        "status": row.status,
        "title": row.title,
        "summary": row.summary,
        "case_type": row.case_type,
        "priority": row.priority,
        "source": row.source,
        "model": model_of(row.source),
        "error": row.error,
    }


def model_of(source: str | None) -> str | None:
    """The configured model for a Hugging Face suggestion: its id, or an endpoint's host, port and path.

    An endpoint URL loses its scheme, credentials and query, which may hold a token.
    """
    if source != "huggingface" or not has_app_context():
        return None
    model = str(current_app.config.get("KRONCASES_HF_MODEL") or "")
    if not model.startswith(("http://", "https://")):
        return model or None
    parts = urlsplit(model)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.hostname}{port}{parts.path.rstrip('/')}"
