"""Time the reports page at 50,000 cases, and count its SQL statements.

Run alone with ``python -m benchmarks.reports`` (prints its rows), or as part of
``python -m benchmarks`` (rows in the table and ``RESULTS.md``). Each database
gets a throwaway helpdesk: a PostgreSQL schema of its own (rows made by
``INSERT ... SELECT`` over ``generate_series``) or a SQLite file (``executemany``),
with 10,000 conversations (one in five billing's, which the support agent may
not see) and 50,000 cases over the last 60 days: 60 % resolved, 25 % open,
15 % pending, a tenth of the working ones overdue.

The target (issue 11): the page under 200 ms on PostgreSQL, with the host's
``visible_conversations`` hook so access is decided in SQL. Without the hook the
access hook is asked once per conversation: that figure is printed too, with no
target. Environment: ``BENCH_REPORT_CASES`` (default 50000), ``BENCH_REPORT_REPEAT``
(default 30), ``BENCH_DATABASES``, ``BENCH_POSTGRES_URL`` as for ``python -m benchmarks``.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from . import host
from .common import count_statements, throwaway_database

CASES = int(os.environ.get("BENCH_REPORT_CASES", "50000"))
CONVERSATIONS = max(1, CASES // 5)
REPEAT = int(os.environ.get("BENCH_REPORT_REPEAT", "30"))
DATABASES = [d for d in os.environ.get("BENCH_DATABASES", "sqlite,postgresql").split(",") if d]
TARGET_S = 0.200

#: One case per ``g`` in 1..n: the same layout on both databases (PostgreSQL computes it in SQL).
PG_CASES = """
INSERT INTO kroncases_cases (conversation_id, title, case_type, priority, status, created_by_id, created_at,
                             updated_at, resolved_at, due_at, clock_started_at, pending_since, escalation_level, version)
SELECT (g % :conversations) + 1, 'Checkout fails for order #' || g,
       (ARRAY['general', 'technical', 'billing', 'access'])[g % 4 + 1],
       (ARRAY['low', 'medium', 'high', 'urgent'])[(g / 4) % 4 + 1],
       s.status, 1, c.created, c.created,
       CASE WHEN s.status = 'resolved' THEN c.created + ((g % 97) + 1) * interval '1 hour' END,
       CASE WHEN s.status <> 'resolved' THEN c.created + CASE WHEN g % 10 IN (3, 9) THEN interval '1 hour'
                                                             ELSE interval '90 days' END END,
       CASE WHEN s.status <> 'resolved' THEN c.created END,
       CASE WHEN s.status = 'pending' THEN c.created + interval '2 hours' END,
       0, 1
FROM generate_series(1, :cases) AS g,
     LATERAL (SELECT CASE WHEN g % 20 < 12 THEN 'resolved' WHEN g % 20 < 17 THEN 'open' ELSE 'pending' END AS status) s,
     LATERAL (SELECT :now - (g % 60) * interval '1 day' - (g % 1440) * interval '1 minute' AS created) c
"""


def _case_row(g: int, now: datetime) -> dict[str, Any]:
    """:data:`PG_CASES` in Python, for SQLite."""
    status = "resolved" if g % 20 < 12 else "open" if g % 20 < 17 else "pending"
    created = now - timedelta(days=g % 60, minutes=g % 1440)
    working = status != "resolved"
    return {
        "conversation_id": g % CONVERSATIONS + 1, "title": f"Checkout fails for order #{g}",
        "case_type": ("general", "technical", "billing", "access")[g % 4],
        "priority": ("low", "medium", "high", "urgent")[(g // 4) % 4], "status": status, "created_by_id": 1,
        "created_at": created, "updated_at": created,
        "resolved_at": None if working else created + timedelta(hours=g % 97 + 1),
        "due_at": (created + (timedelta(hours=1) if g % 10 in (3, 9) else timedelta(days=90))) if working else None,
        "clock_started_at": created if working else None,
        "pending_since": created + timedelta(hours=2) if status == "pending" else None,
        "escalation_level": 0, "version": 1,
    }


def build(app: Any, now: datetime) -> None:
    with app.app_context():
        engine = host.db.engine
        host.db.metadata.create_all(engine)
        t = host.db.metadata.tables
        with engine.begin() as conn:
            conn.execute(t["users"].insert(), [
                {"id": 1, "name": "Alex Agent", "team": "support", "is_admin": False},
                {"id": 2, "name": "Ada Admin", "team": "ops", "is_admin": True},
            ])
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text(
                    "INSERT INTO conversations (id, subject, customer_name, team, status, created_at) "
                    "SELECT c, 'Conversation ' || c, 'Customer ' || c, "
                    "CASE WHEN c % 5 = 0 THEN 'billing' ELSE 'support' END, 'open', :now "
                    "FROM generate_series(1, :n) AS c"), {"n": CONVERSATIONS, "now": now})
                conn.execute(sa.text(PG_CASES), {"conversations": CONVERSATIONS, "cases": CASES, "now": now})
            else:
                conn.execute(t["conversations"].insert(), [
                    {"id": c, "subject": f"Conversation {c}", "customer_name": f"Customer {c}",
                     "team": "billing" if c % 5 == 0 else "support", "status": "open", "created_at": now}
                    for c in range(1, CONVERSATIONS + 1)])
                rows = [_case_row(g, now) for g in range(1, CASES + 1)]
                for start in range(0, len(rows), 5000):
                    conn.execute(t["kroncases_cases"].insert(), rows[start:start + 5000])
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")


def timed(fn: Callable[[], Any], n: int, warmup: int = 2) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(n):
        began = time.perf_counter()
        fn()
        out.append(time.perf_counter() - began)
    return out


def measure(name: str) -> list[dict[str, Any]]:
    """The rows for one database, as the fields of ``benchmarks.__main__.Row``."""
    from flask_login import FlaskLoginClient

    rows: list[dict[str, Any]] = []
    now = datetime.now(UTC)
    with throwaway_database(name, "reports") as (url, engine_options):
        app = host.create_app(url, engine_options, extension=True)
        app.test_client_class = FlaskLoginClient
        began = time.perf_counter()
        build(app, now)
        print(f"[{name}] reports data: {CONVERSATIONS:,} conversations, {CASES:,} cases in "
              f"{time.perf_counter() - began:.1f} s", flush=True)
        with app.app_context():
            client = app.test_client(user=host.db.session.get(host.User, 1))

        def page() -> None:
            response = client.get("/kroncases/reports")
            if response.status_code != 200:
                raise RuntimeError(f"GET /kroncases/reports: {response.status_code}")

        host.cases.visible_conversations(lambda user: sa.or_(
            sa.true() if user.is_admin else sa.false(), host.Conversation.team == user.team))
        try:
            times = timed(page, REPEAT)
            queries = count_statements(app, page)
        finally:
            host.cases.hooks.visible_conversations = None
        median = statistics.median(times)
        target = name == "postgresql"
        rows.append({
            "name": f"reports page, {CASES:,} cases (visible_conversations)", "database": name,
            "ours": f"p50 {median * 1000:.1f} ms, max {max(times) * 1000:.1f} ms",
            "baseline": f"{TARGET_S * 1000:.0f} ms (target)", "ratio": median / TARGET_S,
            "target": "< 200 ms" if target else "", "met": (median < TARGET_S) if target else None,
            "note": f"median of {REPEAT}; ratio = median / 200 ms",
        })
        rows.append({"name": "SQL statements, reports page", "database": name, "ours": str(queries),
                     "baseline": "", "ratio": None, "target": "", "met": None,
                     "note": "one render: the session's user, then every figure in one statement"})
        slow = timed(page, max(3, REPEAT // 10), warmup=1)
        fallback_queries = count_statements(app, page)
        rows.append({
            "name": f"reports page, {CASES:,} cases (access hook only)", "database": name,
            "ours": f"p50 {statistics.median(slow) * 1000:.1f} ms", "baseline": "", "ratio": None,
            "target": "", "met": None,
            "note": f"{fallback_queries} statements; the hook is asked once per conversation with cases",
        })
        with app.app_context():
            host.db.session.remove()
            host.db.engine.dispose()
    return rows


def reports_rows(report: Any, row_type: Any) -> None:
    """Add the rows to ``python -m benchmarks``' report (``row_type`` is its ``Row``)."""
    for name in DATABASES:
        try:
            for fields in measure(name):
                report.add(row_type(**fields))
        except Exception as exc:  # keep the other rows: say what failed
            report.notes.append(f"reports [{name}]: failed with {type(exc).__name__}: {exc}")
            print(f"[{name}] reports FAILED: {exc!r}", flush=True)


def main() -> None:
    print(f"reports page: {CASES:,} cases, {CONVERSATIONS:,} conversations, median of {REPEAT} renders")
    for name in DATABASES:
        for row in measure(name):
            ratio = f" | ratio {row['ratio']:.2f}" if row["ratio"] is not None else ""
            verdict = "" if row["met"] is None else (" | met" if row["met"] else " | MISSED")
            print(f"  {row['name']} [{row['database']}]: {row['ours']}{ratio}{verdict}  ({row['note']})")


if __name__ == "__main__":
    main()
