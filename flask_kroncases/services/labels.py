"""Conversation labels: ``support-case`` and ``support-case-resolved``.

Two answers, on purpose. The stored rows are the audit record (who put which
label, when, for which case) and are never deleted: :func:`stored_labels_for`.
What a list shows is the conversation's current state, worked out from its
cases when asked: :func:`labels_for`, which also answers ``overdue`` for a
conversation with an open or pending case past its due time (never stored).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from ..enums import LABEL_SUPPORT_CASE, LABEL_SUPPORT_CASE_RESOLVED, Status
from ..models import Models

#: What :func:`labels_for` adds for a conversation with an overdue case (computed, never a stored label).
OVERDUE = "overdue"


def add(session: Any, models: Models, case: Any, name: str, actor: Any, *, at: datetime) -> Any:
    """Put ``name`` on the case's conversation, recording who, when and which case."""
    label = models.ConversationLabel(
        conversation_id=case.conversation_id,
        name=name,
        case_id=case.id,
        created_by_id=models.host.user.key_of(actor) if actor is not None else None,
        created_at=at,
    )
    session.add(label)
    return label


def exists(session: Any, models: Models, case: Any, name: str) -> bool:
    Label = models.ConversationLabel
    query = sa.select(Label.id).where(Label.case_id == case.id, Label.name == name).limit(1)
    return session.execute(query).first() is not None


def labels_for(
    session: Any,
    models: Models,
    conversation_keys: Sequence[Any],
    *,
    overdue: Callable[[Any, Any], Any] | None = None,
    now: datetime | None = None,
) -> dict[Any, list[str]]:
    """Each conversation's current state as sorted label names (empty list for none), in one query.

    Worked out from the cases, not from the stored labels, so a reopened case
    never looks resolved: ``support-case`` while the conversation has an open
    or pending case, ``support-case-resolved`` once all its cases are resolved.
    Given ``overdue`` (``due.overdue_clause``: the case table and a moment to a
    SQL condition) and ``now``, a conversation with a case overdue at that
    moment also gets :data:`OVERDUE`, from the same query.
    The stored rows are the audit record: see :func:`stored_labels_for`.
    """
    result: dict[Any, list[str]] = {key: [] for key in conversation_keys if key is not None}
    if not result:
        return result
    if session.autoflush:
        session.flush()  # what session.execute would do; a clean session's flush costs nothing
    # A Core statement on the session's connection: no ORM entities, so none of its execution machinery.
    connection = session.connection(bind_arguments={"mapper": models.Case})
    query = _state_query(models.Case, overdue=overdue, array=connection.dialect.name == "postgresql")
    rows = connection.execute(query, {"keys": list(result), "now": now})
    for key, working, is_late in rows:
        names = result.setdefault(key, [])
        names.append(LABEL_SUPPORT_CASE if working else LABEL_SUPPORT_CASE_RESOLVED)
        if is_late:
            names.append(OVERDUE)
        names.sort()
    return result


@functools.lru_cache(maxsize=64)
def _state_query(Case: Any, *, overdue: Callable[[Any, Any], Any] | None, array: bool) -> sa.Select[Any]:
    """:func:`labels_for`'s statement, built once per case model: a list page runs it on every view.

    The keys and the moment are bound parameters (``keys``, ``now``), so
    SQLAlchemy neither rebuilds the statement nor recompiles it. With
    ``array`` (PostgreSQL) the keys go as one array, ``= ANY(:keys)``: half
    the time of an ``IN`` list of fifty parameters, and the same index scan.
    """

    def any_case(condition: Any) -> Any:
        return sa.func.max(sa.case((condition, 1), else_=0))

    now = sa.bindparam("now", type_=Case.due_at.type)
    late = any_case(overdue(Case, now)) if overdue is not None else sa.literal(0)
    column = Case.conversation_id
    if array:
        keys = column == sa.any_(sa.bindparam("keys", type_=postgresql.ARRAY(column.type)))
    else:
        keys = column.in_(sa.bindparam("keys", expanding=True))
    return (
        sa.select(column, any_case(Case.status != Status.RESOLVED.value), late)
        .where(keys)
        .group_by(column)
    )


def stored_labels_for(session: Any, models: Models, conversation_keys: Sequence[Any]) -> dict[Any, list[str]]:
    """The audit record: every label ever put on each conversation, sorted, in one query.

    ``support-case-resolved`` stays here after a reopen: it says the
    conversation was resolved once, not that it is resolved now.
    """
    result: dict[Any, list[str]] = {key: [] for key in conversation_keys if key is not None}
    if not result:
        return result
    Label = models.ConversationLabel
    query = sa.select(Label.conversation_id, Label.name).where(Label.conversation_id.in_(list(result))).distinct()
    for key, name in session.execute(query):
        result.setdefault(key, []).append(name)
    for names in result.values():
        names.sort()
    return result
