"""Build the benchmark helpdesk in bulk: conversations, messages, cases, activity, labels.

Rows go in with PostgreSQL ``COPY`` or SQLite ``executemany``, in chunks, so
100,000 conversations take seconds and little memory. The layout:

* conversations ``1..n`` (team ``support``), two messages each;
* the newest ``n_cases`` conversations (``n - n_cases + 1 .. n``) have one case
  each on their first message; every fourth is resolved (status activity and the
  ``support-case-resolved`` label); conversations ``1 .. n - n_cases`` have none,
  so their messages are free for new cases;
* conversation ``n + 1`` (``big``) has ``big_messages`` messages and
  ``big_cases`` cases of four messages each, some resolved, some escalated, with
  the activity interleaved with the messages in time.

The list is ordered by id, newest first, so page 2 shows 50 conversations that
all have a case and the last pages conversations without any.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any

import sqlalchemy as sa

BASE = datetime(2024, 1, 1, 8, 0, tzinfo=UTC)
CHUNK = 5000

BODIES = (
    "Hi, since this morning checkout fails with 'Payment declined (ERR_GATEWAY_TIMEOUT)' on order #{n}.",
    "Thanks for reaching out! Could you share the request id from the failed call?",
    "I reset my password but the login page says 'Invalid credentials'. Account {n}.",
    "The invoice INV-{n} shows the wrong VAT number, it should be DE123456789.",
)


@dataclass
class Layout:
    conversations: int
    messages: int
    cases: int
    big_conversation: int
    big_messages: int
    big_cases: int
    agent_id: int = 1
    outsider_id: int = 2

    @property
    def free_conversations(self) -> range:
        """Conversations without a case: their two messages (``2i - 1``, ``2i``) are free."""
        return range(1, self.conversations - self.cases + self.big_cases)


def _chunks(rows: Iterable[tuple[Any, ...]]) -> Iterator[list[tuple[Any, ...]]]:
    it = iter(rows)
    while chunk := list(islice(it, CHUNK)):
        yield chunk


def _insert(conn: Any, table: sa.Table, columns: list[str], rows: Iterable[tuple[Any, ...]]) -> int:
    """Insert ``rows`` (tuples in ``columns`` order): COPY on PostgreSQL, executemany elsewhere."""
    count = 0
    if conn.dialect.name == "postgresql":
        json_cols = {i for i, c in enumerate(columns) if isinstance(table.c[c].type, sa.JSON)}
        raw = conn.connection.driver_connection
        with raw.cursor() as cur, cur.copy(f'COPY {table.name} ({", ".join(columns)}) FROM STDIN') as copy:
            for row in rows:
                if json_cols:
                    row = tuple(json.dumps(v) if i in json_cols else v for i, v in enumerate(row))
                copy.write_row(row)
                count += 1
        return count
    stmt = table.insert()
    for chunk in _chunks(rows):
        conn.execute(stmt, [dict(zip(columns, row, strict=True)) for row in chunk])
        count += len(chunk)
    return count


def build(engine: sa.Engine, metadata: sa.MetaData, models: Any, *, conversations: int = 100_000,
          cases: int = 50_000, big_messages: int = 1000, big_cases: int = 50) -> Layout:
    """Create every table and fill it; return what was made."""
    metadata.create_all(engine)
    t = metadata.tables
    p = models.table_prefix
    n, big = conversations, conversations + 1
    layout = Layout(conversations=n + 1, messages=2 * n + big_messages, cases=cases + big_cases,
                    big_conversation=big, big_messages=big_messages, big_cases=big_cases)
    if cases > n:
        raise ValueError("at most one case per conversation in the bulk part")

    with engine.begin() as conn:
        _insert(conn, t["users"], ["id", "name", "team", "is_admin"],
                [(1, "Alex Agent", "support", False), (2, "Olga Outsider", "billing", False)])
        _insert(conn, t["conversations"], ["id", "subject", "customer_name", "team", "status", "created_at"],
                ((i, f"Conversation {i}: checkout fails on order #{i}", f"Customer {i % 997}", "support",
                  "open", BASE + timedelta(seconds=i)) for i in range(1, big + 1)))

        def messages() -> Iterator[tuple[Any, ...]]:
            for i in range(1, n + 1):
                at = BASE + timedelta(seconds=i)
                yield (2 * i - 1, i, "customer", f"Customer {i % 997}", BODIES[i % 4].format(n=i), at)
                yield (2 * i, i, "agent", "Alex Agent", BODIES[1], at + timedelta(minutes=5))
            for k in range(big_messages):
                role = "agent" if k % 3 == 1 else "customer"
                yield (2 * n + 1 + k, big, role, "Alex Agent" if role == "agent" else "Big Customer",
                       BODIES[k % 4].format(n=k), BASE + timedelta(minutes=k))

        _insert(conn, t["messages"], ["id", "conversation_id", "author_role", "author_name", "body", "created_at"],
                messages())

        # Cases: the bulk ones, then the big conversation's.
        case_rows: list[tuple[Any, ...]] = []
        link_rows: list[tuple[Any, ...]] = []
        activity_rows: list[tuple[Any, ...]] = []
        label_rows: list[tuple[Any, ...]] = []

        def add_case(case_id: int, conversation_id: int, message_ids: list[int], created: datetime,
                     resolved: bool, escalated: bool) -> None:
            status = "resolved" if resolved else "open"
            resolved_at = created + timedelta(minutes=20) if resolved else None
            escalated_at = created + timedelta(minutes=10) if escalated else None
            case_rows.append((
                case_id, conversation_id, f"Checkout fails for order #{conversation_id}-{case_id}",
                ("technical", "billing", "access", "general")[case_id % 4],
                ("low", "medium", "high", "urgent")[case_id % 4], status,
                "Payment declined with ERR_GATEWAY_TIMEOUT; customer restarted servers.",
                1, created, resolved_at or escalated_at or created, resolved_at, escalated_at,
                1 if escalated else 0, "VIP customer" if escalated else None, 1,
            ))
            for mid in message_ids:
                link_rows.append((len(link_rows) + 1, case_id, mid))
            activity_rows.append((len(activity_rows) + 1, case_id, conversation_id, 1, "created", None, "open",
                                  {"title": "Checkout fails", "case_type": "technical", "priority": "high",
                                   "message_count": len(message_ids)}, created))
            label_rows.append((len(label_rows) + 1, conversation_id, "support-case", case_id, 1, created))
            if escalated:
                activity_rows.append((len(activity_rows) + 1, case_id, conversation_id, 1, "escalated", "open",
                                      "open", {"reason": "VIP customer", "level": 1}, escalated_at))
            if resolved:
                activity_rows.append((len(activity_rows) + 1, case_id, conversation_id, 1, "status_changed",
                                      "open", "resolved", {}, resolved_at))
                label_rows.append((len(label_rows) + 1, conversation_id, "support-case-resolved", case_id, 1,
                                   resolved_at))

        for c in range(1, cases + 1):
            conv = n - cases + c
            add_case(c, conv, [2 * conv - 1], BASE + timedelta(seconds=conv, minutes=1), resolved=c % 4 == 0, escalated=False)
        step = max(1, big_messages // max(big_cases, 1))
        for j in range(big_cases):
            first = 2 * n + 1 + j * step
            ids = [mid for mid in range(first, first + 4) if mid < 2 * n + 1 + big_messages]
            created = BASE + timedelta(minutes=j * step + 4, seconds=30)
            add_case(cases + 1 + j, big, ids, created, resolved=j % 3 == 0, escalated=j % 5 == 1)

        _insert(conn, t[f"{p}cases"], [
            "id", "conversation_id", "title", "case_type", "priority", "status", "summary", "created_by_id",
            "created_at", "updated_at", "resolved_at", "escalated_at", "escalation_level", "escalation_reason",
            "version"], case_rows)
        _insert(conn, t[f"{p}case_messages"], ["id", "case_id", "message_id"], link_rows)
        _insert(conn, t[f"{p}activity"], ["id", "case_id", "conversation_id", "actor_id", "kind", "from_status",
                                          "to_status", "detail", "created_at"], activity_rows)
        _insert(conn, t[f"{p}conversation_labels"], ["id", "conversation_id", "name", "case_id", "created_by_id",
                                                     "created_at"], label_rows)
        if conn.dialect.name == "postgresql":
            for name in ("users", "conversations", "messages", f"{p}cases", f"{p}case_messages",
                         f"{p}activity", f"{p}conversation_labels"):
                conn.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), (SELECT max(id) FROM {name}))"
                )
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.exec_driver_sql("ANALYZE")
    return layout
