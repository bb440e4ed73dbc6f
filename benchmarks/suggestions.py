"""Suggestion latency: ``POST …/suggestions`` → the suggestion is ``done``, with a real RQ worker.

What an agent waits for between opening the Create Case form and seeing a
suggested title: the request, the job through Redis, one default (forking)
``flask kroncases worker`` running the offline summarizer, and the form's poll.
Polled every 5 ms, so figures are at most 5 ms late. Target (offline backend):
p50 < 300 ms, p99 < 1 s. PostgreSQL, a throwaway schema.

``python -m benchmarks.suggestions`` prints the row alone; ``python -m benchmarks``
includes it. ``BENCH_QUICK=1`` makes 40 requests instead of 150.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from . import host
from .common import purge_queue, throwaway_database

QUICK = os.environ.get("BENCH_QUICK") == "1"
REQUESTS = int(os.environ.get("BENCH_SUGGESTIONS", "40" if QUICK else "150"))
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
POLL = 0.005
MESSAGES = [
    "Hi, since this morning every checkout on our shop fails with error 502 after we click Pay.",
    "We tried two browsers and cleared the cache; same error. Order ORD-2231 was charged anyway.",
    "Can you check whether the payment gateway is down? We lose sales every minute.",
    "Thanks — also, the invoice INV-1093 for October shows the wrong VAT number.",
]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure() -> dict[str, Any]:
    """Run the requests; returns the row's fields (for ``python -m benchmarks``' Row)."""
    from flask_login import FlaskLoginClient
    from redis import Redis

    from .delivery import Workers

    queue_name = f"kroncases-bench-suggest-{uuid.uuid4().hex[:8]}"
    config = {"KRONCASES_REDIS_URL": REDIS_URL, "KRONCASES_QUEUE_NAME": queue_name, "KRONCASES_JOB_RUNNER": "rq"}
    with throwaway_database("postgresql", "suggest") as (url, options), tempfile.TemporaryDirectory() as tmp:
        app = host.create_app(url, options, extension=True, **config)
        app.test_client_class = FlaskLoginClient
        with app.app_context():
            host.db.create_all()
            agent = host.User(name="Agent", team="support")
            conversation = host.Conversation(subject="Checkout fails", customer_name="Cleo", team="support")
            host.db.session.add_all([agent, conversation])
            host.db.session.flush()
            messages = [host.Message(conversation_id=conversation.id, author_name="Cleo", body=body) for body in MESSAGES]
            host.db.session.add_all(messages)
            host.db.session.commit()
            conversation_id, message_ids = conversation.id, [m.id for m in messages]
            client = app.test_client(user=agent)
        token = client.get("/csrf").get_data(as_text=True)
        redis = Redis.from_url(REDIS_URL)
        workers = Workers(url, options, config, 1, False, Path(tmp))
        waits: list[float] = []
        try:
            workers.wait_ready(redis, queue_name)
            for n in range(REQUESTS + 3):
                began = time.perf_counter()
                response = client.post(f"/kroncases/api/conversations/{conversation_id}/suggestions",
                                       json={"message_ids": message_ids[: 2 + n % 3]}, headers={"X-CSRFToken": token})
                suggestion = response.get_json()["suggestion"]
                while suggestion["status"] not in ("done", "failed"):
                    time.sleep(POLL)
                    suggestion = client.get(f"/kroncases/api/suggestions/{suggestion['id']}").get_json()["suggestion"]
                if suggestion["status"] != "done":
                    raise RuntimeError(f"suggestion failed: {suggestion}")
                if n >= 3:  # the first three warm the worker's connection and caches, as on a live site
                    waits.append(time.perf_counter() - began)
        finally:
            workers.stop()
            purge_queue(queue_name, REDIS_URL)  # its finished jobs and registries too, not just the queue
            with app.app_context():
                host.db.session.remove()
                host.db.engine.dispose()
    p50, p99 = pct(waits, 0.5), pct(waits, 0.99)
    fields = {
        "name": "suggestion: POST → done, one default worker (offline)",
        "database": "postgresql",
        "ours": f"p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms",
        "baseline": "",
        "target": "p50 < 300 ms, p99 < 1 s",
        "met": p50 < 0.3 and p99 < 1.0,
        "note": f"{len(waits)} requests, mean {statistics.mean(waits) * 1000:.0f} ms, polled every {POLL * 1000:.0f} ms",
    }
    print(f"  {fields['name']}: {fields['ours']} ({fields['note']}) — target {fields['target']}: "
          + ("met" if fields["met"] else "MISSED"), flush=True)
    return fields


def suggestion_rows(report: Any, row_type: Any) -> None:
    """Add the row to ``python -m benchmarks``' report (``row_type`` is its ``Row``)."""
    try:
        report.add(row_type(**measure()))
    except Exception as exc:  # keep the other rows: say what failed
        report.notes.append(f"suggestion latency: failed with {type(exc).__name__}: {exc}")
        print(f"suggestion latency FAILED: {exc!r}", flush=True)


if __name__ == "__main__":
    print(f"suggestion latency: {REQUESTS} requests" + (" (BENCH_QUICK)" if QUICK else ""), flush=True)
    measure()
