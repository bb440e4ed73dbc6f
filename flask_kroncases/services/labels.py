"""Conversation labels: ``support-case`` and ``support-case-resolved``, kept as an audit record.

:func:`labels_for` also answers ``overdue`` for a conversation with an open or
pending case past its due time: a mark worked out when asked, never stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

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
    session: Any, models: Models, conversation_keys: Sequence[Any], *, overdue: Any = None
) -> dict[Any, list[str]]:
    """Sorted label names for each key (empty list for none), in one query.

    ``overdue`` is a SQL condition on the case table that holds for an overdue
    case (``due.overdue_clause``); given, a conversation with such a case also
    gets :data:`OVERDUE`, from the same query.
    """
    result: dict[Any, list[str]] = {key: [] for key in conversation_keys if key is not None}
    if not result:
        return result
    Label = models.ConversationLabel
    keys = list(result)
    query: Any = sa.select(Label.conversation_id, Label.name).where(Label.conversation_id.in_(keys))
    if overdue is None:
        query = query.distinct()
    else:
        Case = models.Case
        late = sa.select(Case.conversation_id, sa.literal(OVERDUE, Label.name.type).label("name")).where(
            Case.conversation_id.in_(keys), overdue
        )
        query = sa.union(query, late)  # UNION drops duplicates, as DISTINCT did
    for key, name in session.execute(query):
        result.setdefault(key, []).append(name)
    for names in result.values():
        names.sort()
    return result
