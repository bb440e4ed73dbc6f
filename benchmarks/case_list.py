"""Peak memory of the cases page's CSV export at 100,000 cases, against loading them all at once.

Run alone with ``python -m benchmarks.case_list`` (prints its rows), or as part of
``python -m benchmarks`` (rows in the table and ``RESULTS.md``). Each database gets a
throwaway helpdesk built by :func:`benchmarks.data.build`: 100,000 conversations with one
case each.

``tracemalloc`` measures the Python heap's peak while the whole file goes through the
WSGI app (werkzeug's test client, the body read chunk by chunk as a server would send
it), once with the ``conversation_access`` hook alone and once with the host's
``visible_conversations`` clause. The baseline, on the same data, is the naive export:
every case loaded with one query, then written. The target: the streamed export's peak
is at most a fifth of the baseline's (it reads 500 cases at a time, so its peak does not
grow with the number of cases; the access hook's answers, one per conversation, do).

Environment: ``BENCH_EXPORT_CASES`` (default 100000; 10000 with ``BENCH_QUICK=1``),
``BENCH_DATABASES``, ``BENCH_POSTGRES_URL`` as for ``python -m benchmarks``.
"""

from __future__ import annotations

import csv
import gc
import io
import os
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from . import data as bench_data
from . import host
from .common import throwaway_database

QUICK = os.environ.get("BENCH_QUICK") == "1"
CASES = int(os.environ.get("BENCH_EXPORT_CASES", "10000" if QUICK else "100000"))
DATABASES = [d for d in os.environ.get("BENCH_DATABASES", "sqlite,postgresql").split(",") if d]
TARGET_RATIO = 0.2


def peak(fn: Callable[[], int]) -> tuple[int, float, int]:
    """(peak traced bytes, seconds, what ``fn`` returned) of one call of ``fn``."""
    gc.collect()
    tracemalloc.start()
    began = time.perf_counter()
    try:
        result = fn()
        elapsed = time.perf_counter() - began
        _, top = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return top, elapsed, result


def mib(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MiB"


def export_rows(name: str) -> list[dict[str, Any]]:
    """Measure one database; the rows as keyword arguments of ``benchmarks.__main__.Row``."""
    from flask_login import FlaskLoginClient

    rows: list[dict[str, Any]] = []
    with throwaway_database(name, "export") as (url, options):
        app = host.create_app(url, options, extension=True)
        app.test_client_class = FlaskLoginClient
        with app.app_context():
            began = time.perf_counter()
            bench_data.build(host.db.engine, host.db.metadata, app.extensions["kroncases"].models,
                             conversations=CASES, cases=CASES, big_messages=0, big_cases=0)
            built = time.perf_counter() - began
            agent = host.db.session.get(host.User, 1)
            client = app.test_client(user=agent)
            host.db.session.remove()
        print(f"[{name}] export data: {CASES:,} conversations and cases built in {built:.1f} s", flush=True)

        def streamed() -> int:
            response = client.get("/kroncases/cases/export.csv", buffered=False)
            if response.status_code != 200:
                raise RuntimeError(f"export: {response.status_code}")
            lines = 0
            for chunk in response.response:
                lines += chunk.count(b"\n")
            response.close()
            return lines

        def all_at_once() -> int:
            """The naive export: one query for every case, then the file in memory."""
            with app.test_request_context():
                Case = app.extensions["kroncases"].models.Case
                name_of = app.extensions["kroncases"].hooks.display_name
                cases = host.db.session.scalars(sa.select(Case).order_by(Case.id)).all()
                buffer = io.StringIO()
                writer = csv.writer(buffer)
                writer.writerow(["id", "title", "type", "priority", "status", "owner", "due_at", "created_at",
                                 "updated_at", "resolved_at", "conversation_id", "case_url"])
                for case in cases:
                    writer.writerow([case.id, case.title, case.case_type, case.priority, case.status,
                                     name_of(case.assignee) if case.assignee is not None else "",
                                     case.due_at, case.created_at, case.updated_at, case.resolved_at,
                                     case.conversation_id, f"/kroncases/cases/{case.id}"])
                body = ("\ufeff" + buffer.getvalue()).encode()
                host.db.session.remove()
                return body.count(b"\n")

        base_peak, base_s, base_lines = peak(all_at_once)
        for label, clause in (("access hook", None), ("visible_conversations", True)):
            if clause:
                host.cases.visible_conversations(lambda user: host.Conversation.team == user.team)
            try:
                ours_peak, ours_s, lines = peak(streamed)
            finally:
                host.cases.hooks.visible_conversations = None
            if lines != CASES + 1 or base_lines != CASES + 1:
                raise RuntimeError(f"export wrote {lines - 1} cases, the baseline {base_lines - 1}, of {CASES}")
            ratio = ours_peak / base_peak
            rows.append({
                "name": f"CSV export {CASES:,} cases: peak memory ({label})", "database": name,
                "ours": f"{mib(ours_peak)} in {ours_s:.1f} s", "baseline": f"{mib(base_peak)} in {base_s:.1f} s",
                "ratio": ratio, "target": f"≤ {TARGET_RATIO:g}", "met": ratio <= TARGET_RATIO,
                "note": "tracemalloc peak; baseline: every case loaded by one query, then written",
            })
        with app.app_context():
            host.db.session.remove()
            host.db.engine.dispose()
    return rows


def case_list_rows(report: Any, row: type) -> None:
    """Add the export rows of every database to ``report`` (``benchmarks.__main__``'s)."""
    for name in DATABASES:
        try:
            for values in export_rows(name):
                report.add(row(**values))
        except Exception as exc:  # keep the other rows: say what failed
            report.notes.append(f"CSV export [{name}]: failed with {type(exc).__name__}: {exc}")
            print(f"[{name}] CSV export FAILED: {exc!r}", flush=True)


if __name__ == "__main__":
    for database_name in DATABASES:
        for values in export_rows(database_name):
            print(f"{values['name']} [{values['database']}]: ours {values['ours']} | baseline {values['baseline']}"
                  f" | ratio {values['ratio']:.2f} | target {values['target']}: {'met' if values['met'] else 'MISSED'}")
