"""Growth, planned: the product's own queries at 10 million deliveries and 1 million cases.

``python -m benchmarks.scaling`` builds a throwaway PostgreSQL schema with the
extension's tables (the benchmark host's ``db.create_all()``), fills it with
``INSERT … SELECT generate_series`` (secondary indexes dropped during the fill
and built afterwards, as a migration would), runs ``VACUUM ANALYZE``, then runs
the real service calls and pages inside the app — the worker's sweep, the lease
check, a batch job of one endpoint, the settings page's delivery log, the
cases page (page 1 and a deep page), the list page's badges, a case created and
resolved — while a ``before_cursor_execute`` listener runs
``EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)`` of every statement they send, in a
savepoint rolled back before the statement itself runs (so each plan is taken in
the state the statement meets). Each statement is planned twice: with its
values (what the first executions get) and as the generic plan PostgreSQL may
switch to once psycopg has prepared a statement run five times on a connection.

Printed: one line per statement (scenario, the code that sent it, plan nodes,
whether a big table is read by a Seq Scan, time, rows, rows examined), the
table and index sizes, the rows one case event writes, what deleting a host
conversation or user costs through the foreign keys, and the PostgreSQL and
Redis connections of one real ``flask kroncases worker``.

The data (``now`` is the time of the run):

* ~20 webhook endpoints; deliveries spread over the 30 days the delivery log
  keeps, almost all delivered with one attempt, some failed after ten, a few
  hundred pending, a few retrying (some due), a few dozen being sent (a few
  with a lease that ran out), and a small backlog just past the retention that
  the sweep's prune deletes;
* cases over two years on ``cases / 5`` conversations (five per conversation,
  one message each), nearly all of the old ones resolved, the last three weeks
  open, pending and resolved, with due times from ``KRONCASES_DUE_AFTER`` (the
  overdue ones already reported, but for those that became overdue minutes ago);
* activity and label rows per case as the product writes them: ``created``,
  ``assigned``, ``escalated``, ``status_changed``, ``overdue``; ``support-case``
  for every case, ``support-case-resolved`` for the resolved ones.

Environment: ``BENCH_SCALE_DELIVERIES`` (default 10,000,000), ``BENCH_SCALE_CASES``
(default 1,000,000); ``BENCH_QUICK=1`` makes them 1,000,000 and 100,000.
``BENCH_SCALE_WORKER=0`` skips the worker's connection count.
``BENCH_POSTGRES_URL`` and ``BENCH_REDIS_URL`` as for ``python -m benchmarks``.
"""

from __future__ import annotations

import json
import os
import re
import socket
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import Enum
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from . import host
from .common import purge_queue, throwaway_database

QUICK = os.environ.get("BENCH_QUICK") == "1"
DELIVERIES = int(os.environ.get("BENCH_SCALE_DELIVERIES", 1_000_000 if QUICK else 10_000_000))
CASES = int(os.environ.get("BENCH_SCALE_CASES", 100_000 if QUICK else 1_000_000))
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
WORKER = os.environ.get("BENCH_SCALE_WORKER", "1") != "0"
ROOT = Path(__file__).resolve().parents[1]
PACKAGE = str(ROOT / "flask_kroncases") + os.sep

SUMMARY = "Payment declined with ERR_GATEWAY_TIMEOUT; customer restarted servers and retried twice."


@dataclass(frozen=True)
class Sizes:
    """How much to generate; everything else follows from the two numbers."""

    deliveries: int
    cases: int
    endpoints: int = 20
    agents: int = 50

    @property
    def conversations(self) -> int:
        return max(1, self.cases // 5)

    @property
    def backlog(self) -> int:
        """Settled deliveries just past the retention: less than one sweep's prune takes."""
        return min(15_000, max(10, self.deliveries // 700))

    @property
    def pending(self) -> int:
        return max(20, self.deliveries // 20_000)

    @property
    def sending(self) -> int:
        return 40

    @property
    def admin_id(self) -> int:
        return self.agents + 1


# -- the data ------------------------------------------------------------------------------------


def table_names(models: Any) -> dict[str, str]:
    """The host's and the extension's table names, by a short key."""
    p = models.table_prefix
    return {
        "users": host.User.__tablename__, "conversations": host.Conversation.__tablename__,
        "messages": host.Message.__tablename__,
        "cases": f"{p}cases", "case_messages": f"{p}case_messages", "activity": f"{p}activity",
        "labels": f"{p}conversation_labels", "notes": f"{p}case_notes", "endpoints": f"{p}webhook_endpoints",
        "deliveries": f"{p}webhook_deliveries", "attempts": f"{p}webhook_attempts", "suggestions": f"{p}suggestions",
    }


#: The tables a Seq Scan must not read in a query that picks a few rows.
BIG = ("conversations", "messages", "cases", "case_messages", "activity", "labels", "deliveries", "attempts")


def _fill_statements(t: dict[str, str]) -> list[tuple[str, str]]:
    """(table key, INSERT … SELECT) in dependency order; parameters are named (``%(now)s`` …)."""
    recent = "interval '21 days'"
    return [
        ("users", f"""
INSERT INTO {t['users']} (id, name, team, is_admin)
SELECT u, CASE WHEN u > %(agents)s THEN 'Ada Admin' ELSE 'Agent ' || u END,
       CASE WHEN u > %(agents)s THEN 'admin' ELSE 'support' END, u > %(agents)s
FROM generate_series(1, %(agents)s + 1) u"""),
        ("conversations", f"""
INSERT INTO {t['conversations']} (id, subject, customer_name, team, status, created_at)
SELECT j, 'Conversation ' || j || ': checkout fails on order #' || j, 'Customer ' || mod(j, 997),
       CASE WHEN mod(j, 10) = 0 THEN 'billing' ELSE 'support' END, 'open',
       %(now)s - interval '731 days' + make_interval(secs => j)
FROM generate_series(1, %(conversations)s) j"""),
        # Message i (i <= cases) is case i's; the last ones, one per conversation, are in no case.
        ("messages", f"""
INSERT INTO {t['messages']} (id, conversation_id, author_role, author_name, body, created_at)
SELECT m, CASE WHEN m <= %(cases)s THEN mod(m - 1, %(conversations)s) + 1 ELSE m - %(cases)s END,
       'customer', 'Customer ' || mod(m, 997),
       'Hi, since this morning checkout fails with ''Payment declined (ERR_GATEWAY_TIMEOUT)'' on order #' || m,
       CASE WHEN m <= %(cases)s
            THEN %(now)s - interval '730 days' * (1 - m::float8 / %(cases)s) - interval '5 minutes'
            ELSE %(now)s - interval '1 hour' END
FROM generate_series(1, %(cases)s + %(conversations)s) m"""),
        ("cases", f"""
INSERT INTO {t['cases']} (id, conversation_id, title, case_type, priority, status, summary, created_by_id,
    created_at, updated_at, resolved_at, escalated_at, escalation_level, escalation_reason, assignee_id, due_at,
    clock_started_at, paused_seconds, pending_since, overdue_notified_for, summary_by_agent, includes_opening,
    version)
SELECT i, mod(i - 1, %(conversations)s) + 1, 'Checkout fails for order #' || i,
       (ARRAY['technical', 'billing', 'access', 'general'])[mod(h, 4) + 1], priority, status, %(summary)s,
       1 + mod(h, %(agents)s), created_at,
       CASE WHEN status = 'resolved' THEN resolved_at
            ELSE least(%(now)s, created_at + make_interval(hours => mod(h, 48))) END,
       CASE WHEN status = 'resolved' THEN resolved_at END,
       CASE WHEN escalated THEN created_at + interval '20 minutes' END, CASE WHEN escalated THEN 1 ELSE 0 END,
       CASE WHEN escalated THEN 'VIP customer' END,
       CASE WHEN mod(h / 3, 10) < 7 THEN 1 + mod(h / 7, %(agents)s) END,
       due_at, CASE WHEN status <> 'resolved' THEN created_at END, 0, pending_since,
       CASE WHEN due_at < %(now)s - interval '10 minutes' AND (status = 'open' OR due_at < pending_since)
            THEN due_at END,
       true, false, CASE WHEN status = 'open' THEN 1 ELSE 2 END
FROM (
    SELECT *, CASE WHEN status <> 'resolved'
                   THEN created_at + make_interval(secs => CASE priority WHEN 'urgent' THEN %(due_urgent)s
                        WHEN 'high' THEN %(due_high)s WHEN 'medium' THEN %(due_medium)s ELSE %(due_low)s END) END
                   AS due_at,
              CASE WHEN status = 'pending' THEN least(%(now)s, created_at + interval '1 hour') END AS pending_since,
              least(%(now)s, created_at + make_interval(hours => 1 + mod(h, 120))) AS resolved_at,
              mod(h, 50) = 0 AS escalated
    FROM (
        SELECT i, h, created_at,
               CASE WHEN created_at > %(now)s - {recent}
                    THEN CASE WHEN h < 4000 THEN 'resolved' WHEN h < 8000 THEN 'open' ELSE 'pending' END
                    ELSE CASE WHEN h < 9950 THEN 'resolved' WHEN h < 9980 THEN 'open' ELSE 'pending' END END AS status,
               (ARRAY['low', 'low', 'low', 'medium', 'medium', 'medium', 'medium', 'high', 'high', 'urgent'])[
                   mod(h / 11, 10) + 1] AS priority
        FROM (SELECT i, mod(abs(hashint4(i)), 10000) AS h,
                     %(now)s - interval '730 days' * (1 - i::float8 / %(cases)s) AS created_at
              FROM generate_series(1, %(cases)s) i) a
    ) b
) c"""),
        ("case_messages", f"""
INSERT INTO {t['case_messages']} (id, case_id, message_id) SELECT i, i, i FROM generate_series(1, %(cases)s) i"""),
        ("activity", f"""
INSERT INTO {t['activity']} (case_id, conversation_id, actor_id, kind, from_status, to_status, detail, created_at)
SELECT * FROM (
    SELECT id, conversation_id, created_by_id, 'created', NULL, 'open',
           json_build_object('title', title, 'case_type', case_type, 'priority', priority, 'message_count', 1),
           created_at AS at
    FROM {t['cases']}
    UNION ALL
    SELECT id, conversation_id, created_by_id, 'assigned', 'open', 'open',
           json_build_object('assignee', json_build_object('id', assignee_id, 'name', 'Agent ' || assignee_id),
                             'previous', NULL), created_at + interval '10 minutes'
    FROM {t['cases']} WHERE assignee_id IS NOT NULL
    UNION ALL
    SELECT id, conversation_id, created_by_id, 'escalated', 'open', 'open',
           json_build_object('reason', escalation_reason, 'level', 1), escalated_at
    FROM {t['cases']} WHERE escalated_at IS NOT NULL
    UNION ALL
    SELECT id, conversation_id, created_by_id, 'status_changed', 'open', status, '{{}}'::json,
           coalesce(resolved_at, pending_since)
    FROM {t['cases']} WHERE status <> 'open'
    UNION ALL
    SELECT id, conversation_id, NULL, 'overdue', status, status,
           json_build_object('due_at', overdue_notified_for), overdue_notified_for + interval '1 minute'
    FROM {t['cases']} WHERE overdue_notified_for IS NOT NULL
) entries ORDER BY at"""),
        ("labels", f"""
INSERT INTO {t['labels']} (conversation_id, name, case_id, created_by_id, created_at)
SELECT * FROM (
    SELECT conversation_id, 'support-case', id, created_by_id, created_at AS at FROM {t['cases']}
    UNION ALL
    SELECT conversation_id, 'support-case-resolved', id, created_by_id, resolved_at
    FROM {t['cases']} WHERE status = 'resolved'
) labels ORDER BY at"""),
        # Newest first by age: the last few are pending, then being sent (a few with a lease run out);
        # the oldest ``backlog`` are past the retention; a few are retrying or failed.
        ("deliveries", f"""
INSERT INTO {t['deliveries']} (id, endpoint_id, event_id, event_type, case_id, body, status, attempts,
    next_attempt_at, claimed_at, last_status_code, last_latency_ms, last_response_excerpt, last_error,
    created_at, delivered_at)
SELECT d, endpoint_id, 'evt_' || md5(d::text), event_type, case_id,
       convert_to('{{"created_at":"' || created_at || '","data":{{"actor":{{"id":' || actor || ',"name":"Agent '
           || actor || '"}},"case":{{"assignee":null,"case_type":"technical","conversation_id":' || conversation
           || ',"conversation_url":"https://help.example.com/conversations/' || conversation || '","created_at":"'
           || created_at || '","created_by_id":' || actor || ',"due_at":"' || created_at
           || '","escalated_at":null,"escalation_level":0,"escalation_reason":null,"id":' || case_id
           || ',"last_resolved_at":null,"message_ids":[' || case_id || '],"priority":"medium","resolved_at":null,'
           || '"status":"open","summary":"' || %(summary)s || '","title":"Checkout fails for order #' || case_id
           || '","updated_at":"' || created_at || '","url":"https://help.example.com/kroncases/cases/' || case_id
           || '"}},"conversation":{{"id":' || conversation || ',"url":"https://help.example.com/conversations/'
           || conversation || '"}}}},"id":"evt_' || md5(d::text) || '","type":"' || event_type || '"}}', 'UTF8'),
       status,
       CASE status WHEN 'pending' THEN 0 WHEN 'sending' THEN 1 WHEN 'retrying' THEN 2 + mod(h, 3) WHEN 'failed' THEN 10
                   ELSE 1 + (mod(h, 33) = 0)::int END,
       CASE WHEN status = 'retrying' THEN %(now)s + make_interval(mins => mod(h, 40) - 20) END,
       CASE WHEN status = 'sending' THEN %(now)s - CASE WHEN mod(h, 8) = 0 THEN interval '10 minutes'
                                                        ELSE interval '2 seconds' END END,
       CASE status WHEN 'delivered' THEN 200 WHEN 'pending' THEN NULL WHEN 'sending' THEN NULL ELSE 503 END,
       CASE WHEN status IN ('delivered', 'failed', 'retrying') THEN 40 + mod(h, 200) END,
       CASE WHEN status IN ('delivered', 'failed', 'retrying') THEN '{{"ok":true}}' END,
       CASE WHEN status = 'failed' THEN 'HTTP 503 — gave up after 10 attempts.'
            WHEN status = 'retrying' THEN 'HTTP 503' END,
       created_at, CASE WHEN status = 'delivered' THEN created_at + interval '200 milliseconds' END
FROM (
    SELECT *, CASE WHEN age < %(pending)s THEN 'pending'
                   WHEN age < %(pending)s + %(sending)s THEN 'sending'
                   WHEN h < 30 AND age < %(deliveries)s / 30 THEN 'retrying'
                   WHEN h < 50 THEN 'failed'
                   ELSE 'delivered' END AS status
    FROM (
        SELECT d, CASE WHEN mod(d, 1000) = 0 THEN %(endpoints)s ELSE mod(d - 1, %(endpoints)s - 1) + 1 END
                      AS endpoint_id,
               %(deliveries)s - d AS age,
               mod(abs(hashint4(d)), 10000) AS h,
               1 + mod((d - 1) / %(endpoints)s, %(cases)s) AS case_id,
               mod(mod((d - 1) / %(endpoints)s, %(cases)s), %(conversations)s) + 1 AS conversation,
               1 + mod(d, %(agents)s) AS actor,
               (ARRAY['case.created', 'case.resolved', 'case.created', 'case.resolved', 'case.assigned',
                      'case.escalated', 'case.overdue', 'case.reopened'])[mod(abs(hashint4(d / %(endpoints)s)), 8) + 1]
                   AS event_type,
               CASE WHEN d <= %(backlog)s
                    THEN %(now)s - %(retention)s - interval '1 hour' - make_interval(secs => %(backlog)s - d)
                    ELSE %(now)s - (%(retention)s - interval '10 minutes')
                         * ((%(deliveries)s - d)::float8 / %(deliveries)s) END AS created_at
        FROM generate_series(1, %(deliveries)s) d
    ) a
) b"""),
        ("attempts", f"""
INSERT INTO {t['attempts']} (delivery_id, number, started_at, status_code, latency_ms, response_excerpt, error,
    outcome)
SELECT d.id, n, d.created_at + make_interval(mins => n - 1),
       CASE WHEN n = d.attempts AND d.status = 'delivered' THEN 200 ELSE 503 END, d.last_latency_ms,
       d.last_response_excerpt, NULL,
       CASE WHEN n < d.attempts THEN 'retry' WHEN d.status = 'delivered' THEN 'delivered'
            WHEN d.status = 'failed' THEN 'failed' ELSE 'retry' END
FROM {t['deliveries']} d, generate_series(1, CASE WHEN d.status = 'sending' THEN d.attempts - 1 ELSE d.attempts END) n
ORDER BY d.id, n"""),
    ]


@dataclass
class Built:
    """What the fill took, by step, and the indexes built afterwards with their build times."""

    seconds: dict[str, float] = field(default_factory=dict)
    index_seconds: dict[str, float] = field(default_factory=dict)


def _set_quietly(conn: Any, statement: str) -> None:
    try:
        conn.exec_driver_sql(statement)
    except sa.exc.DBAPIError:  # not a superuser: the fill is only slower
        pass


def build(engine: sa.Engine, metadata: sa.MetaData, models: Any, config: Any, sizes: Sizes, now: datetime,
          *, log: Callable[[str], None] = print) -> Built:
    """Create the tables and fill them; indexes are dropped for the fill and built afterwards."""
    from flask_kroncases.webhooks import generate_secret

    metadata.create_all(engine)
    t = table_names(models)
    built = Built()
    big = [metadata.tables[t[key]] for key in BIG]
    indexes = [index for table in big for index in sorted(table.indexes, key=lambda i: i.name or "")]
    due = config["KRONCASES_DUE_AFTER"] or {"urgent": 4 * 3600, "high": 86400, "medium": 3 * 86400,
                                            "low": 7 * 86400}
    retention = config["KRONCASES_WEBHOOK_LOG_RETENTION"] or timedelta(days=30)
    params = {
        "now": now, "agents": sizes.agents, "conversations": sizes.conversations, "cases": sizes.cases,
        "deliveries": sizes.deliveries, "endpoints": sizes.endpoints, "backlog": sizes.backlog,
        "pending": sizes.pending, "sending": sizes.sending, "retention": retention, "summary": SUMMARY,
        **{f"due_{name}": int(seconds) for name, seconds in due.items()},
    }
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        try:
            _set_quietly(conn, "SET session_replication_role = replica")  # no foreign key triggers while filling
            conn.exec_driver_sql("SET synchronous_commit = off")
            conn.exec_driver_sql("SET work_mem = '256MB'")
            conn.exec_driver_sql("SET maintenance_work_mem = '1GB'")
            for index in indexes:
                conn.exec_driver_sql(f'DROP INDEX "{index.name}"')
            endpoint_rows = [
                {"id": e, "url": f"http://127.0.0.1:9/hooks/{e}", "description": f"Receiver {e}",
                 "secret": generate_secret(),
                 "events": json.dumps(["case.created", "case.resolved", "case.escalated", "case.reopened"]
                                      + (["case.assigned", "case.overdue"] if e <= 5 else [])),
                 "created": now - timedelta(days=90)}
                for e in range(1, sizes.endpoints + 1)
            ]
            conn.exec_driver_sql(
                f"INSERT INTO {t['endpoints']} (id, url, description, secret, events, enabled, created_at, updated_at) "
                "VALUES (%(id)s, %(url)s, %(description)s, %(secret)s, %(events)s, true, %(created)s, %(created)s)",
                endpoint_rows)
            for key, statement in _fill_statements(t):
                began = time.perf_counter()
                conn.exec_driver_sql(statement, params)
                built.seconds[key] = time.perf_counter() - began
                log(f"  filled {key} in {built.seconds[key]:.1f} s")
            for index in indexes:
                began = time.perf_counter()
                conn.exec_driver_sql(str(sa.schema.CreateIndex(index).compile(dialect=engine.dialect)))
                built.index_seconds[str(index.name)] = time.perf_counter() - began
            log(f"  built {len(indexes)} indexes in {sum(built.index_seconds.values()):.1f} s")
            for key in ("users", "conversations", "messages", "cases", "case_messages", "endpoints", "deliveries"):
                conn.exec_driver_sql(f"SELECT setval(pg_get_serial_sequence('{t[key]}', 'id'), "
                                     f"(SELECT max(id) FROM {t[key]}))")
            began = time.perf_counter()
            for table in t.values():
                conn.exec_driver_sql(f"VACUUM (ANALYZE) {table}")
            built.seconds["vacuum analyze"] = time.perf_counter() - began
            log(f"  VACUUM ANALYZE in {built.seconds['vacuum analyze']:.1f} s")
        finally:
            conn.exec_driver_sql("RESET ALL")  # the connection goes back to the pool: foreign keys on again
    return built


# -- plans -----------------------------------------------------------------------------------------


def _origin() -> str | None:
    """The innermost function of the extension on the stack: who sent the statement."""
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_code.co_filename.startswith(PACKAGE):
            return frame.f_code.co_qualname
        frame = frame.f_back  # type: ignore[assignment]
    return None


_PLACEHOLDER = re.compile(r"%\((\w+)\)s|%%")


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


def _pg_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "bigint"
    if isinstance(value, float):
        return "double precision"
    if isinstance(value, datetime):
        return "timestamptz" if value.tzinfo else "timestamp"
    if isinstance(value, (bytes, bytearray)):
        return "bytea"
    if isinstance(value, list):
        return _pg_type(value[0]) + "[]" if value else "text[]"
    return "text"


def _walk(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", ()):
        yield from _walk(child)


@dataclass
class Plan:
    """One statement's plans: with its values (custom) and generic."""

    scenario: str
    origin: str
    sql: str
    custom: dict[str, Any] | None = None
    generic: dict[str, Any] | None = None
    error: str | None = None
    big: tuple[str, ...] = ()

    @property
    def verb(self) -> str:
        words = self.sql.split()
        verb = words[0].upper()
        target = ""
        for marker in ("FROM", "UPDATE", "INTO"):
            if marker in (w.upper() for w in words):
                target = words[[w.upper() for w in words].index(marker) + 1]
                break
        if verb == "UPDATE":
            target = words[1]
        return f"{verb} {target}".strip()

    def nodes(self, which: str = "custom") -> list[dict[str, Any]]:
        plan = self.custom if which == "custom" else self.generic
        return list(_walk(plan["Plan"])) if plan else []

    @property
    def generic_chosen(self) -> bool:
        """Whether PostgreSQL would run the generic plan once the statement is prepared.

        Its rule (``plancache.c``): after five custom plans, the generic one is used when its
        cost is below the custom plans' average plus their planning cost (1000 ×
        ``cpu_operator_cost`` per relation and one more).
        """
        if not self.custom or not self.generic:
            return False
        relations = len({n["Relation Name"] for n in self.nodes() if n.get("Relation Name")})
        planning = 1000 * 0.0025 * (relations + 1)
        return float(self.generic["Plan"]["Total Cost"]) < float(self.custom["Plan"]["Total Cost"]) + planning

    def risky(self) -> list[str]:
        """The big tables read by a Seq Scan in the plan that runs: custom, or generic once chosen."""
        return sorted(set(self.seq_scans()) | (set(self.seq_scans("generic")) if self.generic_chosen else set()))

    def seq_scans(self, which: str = "custom") -> list[str]:
        return sorted({n["Relation Name"] for n in self.nodes(which)
                       if n["Node Type"] == "Seq Scan" and n.get("Relation Name") in self.big})

    def indexes(self, which: str = "custom") -> list[str]:
        return sorted({n["Index Name"] for n in self.nodes(which) if n.get("Index Name")})

    def shape(self, which: str = "custom") -> str:
        parts = []
        for n in self.nodes(which):
            kind = n["Node Type"]
            if n.get("Index Name"):
                kind += f"({n['Index Name']})"
            elif n.get("Relation Name"):
                kind += f"({n['Relation Name']})"
            parts.append(kind)
        return " > ".join(parts)

    @property
    def ms(self) -> float:
        return float(self.custom["Execution Time"]) if self.custom else float("nan")

    @property
    def generic_ms(self) -> float:
        return float(self.generic["Execution Time"]) if self.generic else float("nan")

    @property
    def rows(self) -> int:
        return int(self.custom["Plan"].get("Actual Rows", 0)) if self.custom else 0

    @property
    def examined(self) -> int:
        return self.examined_by()

    def examined_by(self, which: str = "custom") -> int:
        """Rows the scans touched: returned plus removed by filters, over all loops."""
        total = 0
        for n in self.nodes(which):
            if n.get("Relation Name") and "Scan" in n["Node Type"]:
                total += int((n.get("Actual Rows", 0) + n.get("Rows Removed by Filter", 0)
                              + n.get("Rows Removed by Index Recheck", 0)) * n.get("Actual Loops", 1))
        return total

    @property
    def triggers(self) -> list[tuple[str, str, float, int]]:
        return [(t.get("Constraint Name") or t.get("Trigger Name", ""), t.get("Relation", ""), float(t.get("Time", 0)), int(t.get("Calls", 0)))
                for t in (self.custom or {}).get("Triggers", [])]


def explain(raw: Any, statement: str, parameters: Any, *, generic: bool = True) -> tuple[Any, Any, str | None]:
    """(custom plan, generic plan, error) of one statement, in a savepoint rolled back afterwards."""
    from psycopg import sql as pgsql

    custom = generic_plan = None
    error: str | None = None
    prepared = False
    with raw.cursor() as cur:
        cur.execute("SAVEPOINT kc_plan")
        try:
            cur.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + statement, parameters)
            custom = cur.fetchone()[0][0]
            if generic and parameters:
                names: list[str] = []

                def number(match: re.Match[str]) -> str:
                    if match.group(0) == "%%":
                        return "%"
                    if match.group(1) not in names:
                        names.append(match.group(1))
                    return f"${names.index(match.group(1)) + 1}"

                dollar = _PLACEHOLDER.sub(number, statement)
                values = [_plain(parameters[name]) for name in names]
                cur.execute("SAVEPOINT kc_prepare")
                try:
                    cur.execute(f"PREPARE kc_generic AS {dollar}")
                except Exception:  # a parameter whose type the statement does not tell: declare them all
                    cur.execute("ROLLBACK TO SAVEPOINT kc_prepare")
                    types = ", ".join(_pg_type(v) for v in values)
                    cur.execute(f"PREPARE kc_generic ({types}) AS {dollar}")
                prepared = True
                cur.execute("SET LOCAL plan_cache_mode = force_generic_plan")
                args = ", ".join(pgsql.Literal(v).as_string(raw) for v in values)
                cur.execute(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) EXECUTE kc_generic({args})")
                generic_plan = cur.fetchone()[0][0]
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}".splitlines()[0]
        finally:
            cur.execute("ROLLBACK TO SAVEPOINT kc_plan")
            cur.execute("RELEASE SAVEPOINT kc_plan")
            if prepared:  # not transactional: it outlives the rollback (DEALLOCATE ALL would drop psycopg's too)
                cur.execute("DEALLOCATE kc_generic")
    return custom, generic_plan, error


class PlanProbe:
    """Plans every SELECT, UPDATE and DELETE the extension sends, before it runs; once per scenario and text."""

    def __init__(self, engine: sa.Engine, big: tuple[str, ...], *, generic: bool = True) -> None:
        self.engine = engine
        self.big = big
        self.generic = generic
        self.scenario = ""
        self.plans: list[Plan] = []
        self._seen: set[tuple[str, str, str]] = set()

    def __enter__(self) -> PlanProbe:
        sa.event.listen(self.engine, "before_cursor_execute", self._before)
        return self

    def __exit__(self, *exc: Any) -> None:
        sa.event.remove(self.engine, "before_cursor_execute", self._before)

    def _before(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
                executemany: bool) -> None:
        if executemany or statement.lstrip().split(None, 1)[0].upper() not in ("SELECT", "UPDATE", "DELETE", "WITH"):
            return
        origin = _origin()
        if origin is None:  # the host's own queries
            return
        key = (self.scenario, origin, statement)
        if key in self._seen:
            return
        self._seen.add(key)
        custom, generic, error = explain(conn.connection.driver_connection, statement, parameters,
                                         generic=self.generic)
        self.plans.append(Plan(self.scenario, origin, statement, custom, generic, error, self.big))

    @contextmanager
    def scenario_named(self, name: str) -> Iterator[None]:
        self.scenario = name
        try:
            yield
        finally:
            self.scenario = ""


# -- scenarios --------------------------------------------------------------------------------------


@dataclass
class Scenario:
    name: str
    run: Callable[[], Any]
    seconds: float = 0.0
    #: A second run, without the EXPLAINs: what the call costs (in the state the first run left).
    plain_seconds: float = float("nan")
    note: str = ""


def scenarios(app: Any, sizes: Sizes, *, deep: bool = True, hook_pages: bool = True) -> list[Scenario]:
    """The product's calls and pages, in the order the benchmark runs them."""
    from flask_login import FlaskLoginClient

    from flask_kroncases import jobs

    app.test_client_class = FlaskLoginClient
    state = app.extensions["kroncases"]
    with app.app_context():
        agent = host.db.session.get(host.User, 1)
        admin = host.db.session.get(host.User, sizes.admin_id)
        host.db.session.expunge_all()
    as_agent = app.test_client(user=agent)
    as_admin = app.test_client(user=admin)
    per_page = app.config["KRONCASES_PER_PAGE"]

    def in_app(fn: Callable[[], Any]) -> Callable[[], Any]:
        def run() -> Any:
            with app.app_context():
                try:
                    return fn()
                finally:
                    host.db.session.remove()
        return run

    def page(client: Any, url: str) -> Callable[[], Any]:
        def get() -> int:
            response = client.get(url)
            if response.status_code != 200:
                raise RuntimeError(f"GET {url}: {response.status_code}")
            return len(response.data)
        return get

    def with_clause(fn: Callable[[], Any]) -> Callable[[], Any]:
        def run() -> Any:
            host.cases.visible_conversations(lambda user: host.Conversation.team == user.team)
            try:
                return fn()
            finally:
                host.cases.hooks.visible_conversations = None
        return run

    visible = sizes.cases - sizes.cases // 10  # one conversation in ten is another team's
    middle = max(1, -(-visible // per_page) // 2)
    found = [
        Scenario("sweep", in_app(jobs.sweep), note="reclaim + due deliveries + overdue cases + prune (backlog)"),
        Scenario("sweep, steady", in_app(jobs.sweep), note="the next sweep: nothing left to prune or report"),
        Scenario("lease check", in_app(jobs.reclaim), note="every 2 s in each worker"),
        Scenario("batch job", in_app(lambda: state.delivery.deliver_endpoint(1)),
                 note="deliver_endpoint(1): claim 100, send (refused), record, follow up"),
        Scenario("delivery log", page(as_admin, "/kroncases/settings/integrations/webhooks/2"),
                 note="settings page of a busy endpoint: its last 50 deliveries"),
        Scenario("delivery log, rare", page(as_admin, f"/kroncases/settings/integrations/webhooks/{sizes.endpoints}"),
                 note="settings page of an endpoint with one delivery in a thousand"),
        Scenario("list badges", page(as_agent, "/conversations"), note="host list page: labels of 50 conversations"),
        Scenario("cases p1 (sql)", with_clause(page(as_agent, "/kroncases/cases")),
                 note="visible_conversations registered, default filters and sort"),
    ]
    if deep:
        found.append(Scenario(f"cases p{middle} (sql)", with_clause(page(as_agent, f"/kroncases/cases?page={middle}")),
                              note="a deep page: OFFSET half the cases"))
    if hook_pages:
        found.append(Scenario("cases p1 (hook)", page(as_agent, "/kroncases/cases"),
                              note="no visible_conversations: the access hook decides"))
    return found


def run_scenarios(probe: PlanProbe, found: list[Scenario], *, log: Callable[[str], None] = print,
                  plain: bool = False) -> None:
    """Run each scenario with its statements planned; with ``plain``, once more without (timed)."""
    for scenario in found:
        with probe.scenario_named(scenario.name):
            began = time.perf_counter()
            scenario.run()
            scenario.seconds = time.perf_counter() - began
        log(f"  {scenario.name}: {scenario.seconds:.2f} s (with its EXPLAINs)")
    if plain:
        probe.__exit__()
        for scenario in found:
            began = time.perf_counter()
            scenario.run()
            scenario.plain_seconds = time.perf_counter() - began
        probe.__enter__()


# -- rows per event, sizes, foreign keys ---------------------------------------------------------------


def rows_per_event(app: Any, sizes: Sizes) -> dict[str, dict[str, int]]:
    """Rows each extension table gains from one create_case and one resolve (ids past the max before)."""
    state = app.extensions["kroncases"]
    t = table_names(state.models)
    keys = ("cases", "case_messages", "activity", "labels", "deliveries", "attempts", "notes", "suggestions")
    with app.app_context():
        session = host.db.session

        def high() -> dict[str, int]:
            return {k: int(session.execute(sa.text(f"SELECT coalesce(max(id), 0) FROM {t[k]}")).scalar() or 0)
                    for k in keys if k != "suggestions"}

        def grown(before: dict[str, int]) -> dict[str, int]:
            return {k: int(session.execute(sa.text(f"SELECT count(*) FROM {t[k]} WHERE id > :v"), {"v": v}).scalar()
                           or 0) for k, v in before.items()}

        agent = session.get(host.User, 1)
        conversation = sizes.conversations  # a support conversation (mod 10 != 0) with a free message
        if conversation % 10 == 0:
            conversation -= 1
        free_message = sizes.cases + conversation
        before = high()
        case = state.service.create_case(conversation, [free_message], title="Checkout fails again",
                                         summary=SUMMARY, by=agent)
        created = grown(before)
        version = case.version
        before = high()
        case = state.service.resolve(case.id, by=agent)
        resolved = grown(before)
        resolved["cases (updated)"] = int(case.version != version)
        created["cases (updated)"] = 0
        session.remove()
    return {"create_case": created, "resolve": resolved}


def table_sizes(engine: sa.Engine, models: Any) -> list[dict[str, Any]]:
    t = table_names(models)
    out = []
    with engine.connect() as conn:
        for key, name in t.items():
            rows = conn.execute(sa.text(f"SELECT count(*) FROM {name}")).scalar() if key in (
                "users", "endpoints", "notes", "suggestions") else conn.execute(
                sa.text("SELECT greatest(reltuples, 0)::bigint FROM pg_class WHERE oid = to_regclass(:n)"),
                {"n": name}).scalar()
            heap, total, idx = conn.execute(sa.text(
                "SELECT pg_relation_size(to_regclass(:n)), pg_total_relation_size(to_regclass(:n)), "
                "pg_indexes_size(to_regclass(:n))"), {"n": name}).one()
            indexes = conn.execute(sa.text(
                "SELECT c.relname, pg_relation_size(c.oid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                "WHERE i.indrelid = to_regclass(:n) ORDER BY c.relname"), {"n": name}).all()
            out.append({"table": name, "rows": int(rows or 0), "heap": int(heap), "total": int(total),
                        "indexes_total": int(idx), "indexes": [(r[0], int(r[1])) for r in indexes]})
    return out


def foreign_key_costs(engine: sa.Engine, sizes: Sizes) -> list[Plan]:
    """What a host deleting one conversation (its cases cascade) or one agent costs, rolled back."""
    plans = []
    with engine.connect() as conn:
        raw = conn.connection.driver_connection
        for label, statement in (
            ("host deletes a conversation", f"DELETE FROM {host.Conversation.__tablename__} WHERE id = %(id)s"),
            ("host deletes an agent", f"DELETE FROM {host.User.__tablename__} WHERE id = %(id)s"),
        ):
            key = 7 if "conversation" in label else 2
            custom, _generic, error = explain(raw, statement, {"id": key}, generic=False)
            plans.append(Plan("foreign keys", label, statement, custom, None, error, ()))
        conn.rollback()
    return plans


# -- one worker's connections ---------------------------------------------------------------------------


def _sockets_by_inode() -> dict[str, int]:
    """Established TCP connections to PostgreSQL's and Redis's ports: socket inode → remote port."""
    found: dict[str, int] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            remote_port = int(parts[2].rsplit(":", 1)[1], 16)
            if parts[3] == "01" and remote_port in (5432, 6379):
                found[parts[9]] = remote_port
    return found


def _sockets(pid: int, ports: dict[str, int]) -> set[tuple[str, int]]:
    """(socket inode, remote port) of the process's connections to PostgreSQL and Redis."""
    found: set[tuple[str, int]] = set()
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return found
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:[") and target[8:-1] in ports:
            found.add((target[8:-1], ports[target[8:-1]]))
    return found


@dataclass
class WorkerConnections:
    """Peaks of one worker's connections; a socket a child inherited from its parent by the fork counts once."""

    postgresql: int = 0
    redis: int = 0
    #: role → (PostgreSQL, Redis) peaks of the connections the process opened itself.
    roles: dict[str, tuple[int, int]] = field(default_factory=dict)
    samples: int = 0


def worker_connections(url: str, options: dict[str, Any], config: dict[str, Any], app: Any,
                       seconds: float = 8.0) -> WorkerConnections:
    """Run one real ``flask kroncases worker`` (sweeping every second) with delivery jobs queued, and
    sample the PostgreSQL and Redis connections of it and its children."""
    from .delivery import Workers, children

    state = app.extensions["kroncases"]
    config = dict(config, KRONCASES_SWEEP_INTERVAL=1)
    out = WorkerConnections()
    seen: dict[int, int] = {}
    own: dict[int, tuple[int, int]] = {}
    with tempfile.TemporaryDirectory(prefix="kroncases-scaling-") as tmp:
        workers = Workers(url, options, config, 1, False, Path(tmp))
        try:
            workers.wait_ready(state.jobs.connection, config["KRONCASES_QUEUE_NAME"], timeout=120)
            with app.app_context():
                for endpoint_id in range(1, 6):
                    state.delivery.dispatch_endpoint(endpoint_id, force=True)
            parent = workers.processes[0].pid
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                ports = _sockets_by_inode()
                tree = [parent, *children(parent)]
                tree += [grandchild for pid in tree[1:] for grandchild in children(pid)]
                by_pid = {pid: _sockets(pid, ports) for pid in tree}
                everything = set().union(*by_pid.values())
                out.postgresql = max(out.postgresql, sum(1 for _, port in everything if port == 5432))
                out.redis = max(out.redis, sum(1 for _, port in everything if port == 6379))
                inherited = by_pid[parent]
                for pid, sockets in by_pid.items():
                    mine = sockets if pid == parent else sockets - inherited
                    counts = (sum(1 for _, port in mine if port == 5432), sum(1 for _, port in mine if port == 6379))
                    old = own.get(pid, (0, 0))
                    own[pid] = (max(old[0], counts[0]), max(old[1], counts[1]))
                    seen[pid] = seen.get(pid, 0) + 1
                out.samples += 1
                time.sleep(0.05)
        finally:
            workers.stop()
    for pid, (pg, redis) in own.items():
        if pid == parent:
            role = "worker process"
        elif seen[pid] > out.samples // 2:
            role = f"long-lived child {pid}"
        else:
            role = "work horses (one per job, peak)"
        old = out.roles.get(role, (0, 0))
        out.roles[role] = (max(old[0], pg), max(old[1], redis))
    return out


# -- report ------------------------------------------------------------------------------------------------


def mib(size: float) -> str:
    return f"{size / 1024 / 1024:,.1f} MiB"


def print_plans(plans: list[Plan], found: list[Scenario] | None = None) -> None:
    print("\nPlans (custom: with the statement's values; generic: the plan a prepared statement may switch to,"
          " * where PostgreSQL would switch)")
    header = f"{'scenario':<18} {'sent by':<36} {'statement':<34} {'seq scan (custom/generic)':<26} " \
             f"{'ms':>9} {'gen ms':>9} {'rows':>7} {'examined':>10} {'gen exam.':>10}"
    print(header)
    print("-" * len(header))
    for plan in plans:
        seq = ",".join(plan.seq_scans()) or "-"
        gseq = (",".join(plan.seq_scans("generic")) or "-") if plan.generic else "n/a"
        if plan.generic_chosen:
            gseq += "*"
        print(f"{plan.scenario:<18} {plan.origin[:36]:<36} {plan.verb[:34]:<34} {seq + ' / ' + gseq:<26} "
              f"{plan.ms:>9.2f} {plan.generic_ms:>9.2f} {plan.rows:>7} {plan.examined:>10,} "
              f"{plan.examined_by('generic') if plan.generic else '':>10}")
        print(f"{'':<18} nodes: {plan.shape()[:400]}")
        if plan.generic and plan.shape("generic") != plan.shape():
            print(f"{'':<18} generic: {plan.shape('generic')[:400]}")
        if plan.error:
            print(f"{'':<18} EXPLAIN failed: {plan.error}")
    if found:
        print("\nScenarios: wall time with the EXPLAINs of their statements, then of a second run without them")
        for scenario in found:
            print(f"  {scenario.name:<18} {scenario.seconds:8.2f} s {scenario.plain_seconds * 1000:9.1f} ms   "
                  f"{scenario.note}")


def print_sizes(sizes_found: list[dict[str, Any]]) -> None:
    print("\nTables and indexes")
    print(f"{'table':<34} {'rows':>12} {'heap':>12} {'indexes':>12} {'total':>12} {'B/row heap':>11}")
    for entry in sizes_found:
        rows = entry["rows"]
        print(f"{entry['table']:<34} {rows:>12,} {mib(entry['heap']):>12} {mib(entry['indexes_total']):>12} "
              f"{mib(entry['total']):>12} {entry['heap'] / rows if rows else 0:>11.0f}")
        for name, size in entry["indexes"]:
            per_million = size / rows * 1_000_000 if rows else 0
            print(f"    {name:<60} {mib(size):>12}   {mib(per_million)} per million rows")


def main() -> None:
    sizes = Sizes(DELIVERIES, CASES)
    queue_name = f"kroncases-scaling-{uuid.uuid4().hex[:8]}"
    config = {"KRONCASES_REDIS_URL": REDIS_URL, "KRONCASES_QUEUE_NAME": queue_name,
              "KRONCASES_WEBHOOK_ALLOW_PRIVATE": True, "KRONCASES_BASE_URL": "https://help.example.com"}
    print(f"scaling: {sizes.deliveries:,} deliveries, {sizes.cases:,} cases over {sizes.conversations:,} "
          f"conversations, {sizes.endpoints} endpoints on {socket.gethostname()}", flush=True)
    started = time.perf_counter()
    try:
        with throwaway_database("postgresql", "scaling") as (url, options):
            app = host.create_app(url, options, extension=True, **config)
            state = app.extensions["kroncases"]
            now = datetime.now(UTC)
            with app.app_context():
                engine = host.db.engine
                built = build(engine, host.db.metadata, state.models, app.config, sizes, now,
                              log=lambda line: print(line, flush=True))
            print(f"built in {sum(built.seconds.values()) + sum(built.index_seconds.values()):.0f} s", flush=True)
            probe = PlanProbe(engine, tuple(table_names(state.models)[k] for k in BIG))
            found = scenarios(app, sizes)
            with probe:
                run_scenarios(probe, found, log=lambda line: print(line, flush=True), plain=True)
            print_plans(probe.plans, found)
            bad = [p for p in probe.plans if p.risky()]
            print(f"\n{len(probe.plans)} statements planned; {len(bad)} read a big table with a Seq Scan"
                  " (in the plan that runs):")
            for plan in bad:
                print(f"  {plan.scenario}: {plan.origin}: {plan.verb}: {', '.join(plan.risky())} "
                      f"({plan.ms:.1f} ms, {plan.examined:,} rows examined for {plan.rows:,})")
            events = rows_per_event(app, sizes)
            print("\nRows written per case event (with every endpoint subscribed to the event)")
            for event, counts in events.items():
                print(f"  {event}: " + ", ".join(f"{k} {v}" for k, v in counts.items() if v))
            with app.app_context():
                print("\nForeign keys: what a host's delete costs (rolled back)")
                for plan in foreign_key_costs(host.db.engine, sizes):
                    print(f"  {plan.origin}: {plan.ms:.1f} ms; " + "; ".join(
                        f"{name} on {relation}: {ms:.1f} ms × {calls}" for name, relation, ms, calls in plan.triggers
                        if ms >= 0.5) + (f" [{plan.error}]" if plan.error else ""))
                print_sizes(table_sizes(host.db.engine, state.models))
                print("\nIndex build times (a migration adding one to a live table of this size)")
                for name, seconds in built.index_seconds.items():
                    print(f"  {name:<60} {seconds:7.1f} s")
                pool = host.db.engine.pool
                print(f"\nWeb process: SQLAlchemy pool {type(pool).__name__} size {pool.size()} "  # type: ignore[attr-defined]
                      f"+ overflow {pool._max_overflow}")  # type: ignore[attr-defined]
            if WORKER:
                held = worker_connections(url, options, config, app)
                print(f"One worker (sweeping every second, delivery jobs running): peak PostgreSQL connections "
                      f"{held.postgresql}, peak Redis connections {held.redis} ({held.samples} samples)")
                for role, (pg, redis) in held.roles.items():
                    print(f"  {role}: PostgreSQL {pg}, Redis {redis} (opened by itself)")
            with app.app_context():
                host.db.session.remove()
                host.db.engine.dispose()
    finally:
        purge_queue(queue_name, REDIS_URL)
    print(f"\ndone in {time.perf_counter() - started:.0f} s")



if __name__ == "__main__":
    main()
