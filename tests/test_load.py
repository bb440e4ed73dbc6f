"""Load over real HTTP: 20 agents against the demo under gunicorn, on PostgreSQL and Redis.

The short version of ``python -m benchmarks.load`` (same harness): the demo host
(``examples.host_app:create_app()``) in 2 gunicorn processes on a schema of its
own, ``KRONCASES_JOB_RUNNER=rq`` with 2 default ``flask kroncases worker``
processes, a webhook endpoint pointing at a receiver process on 127.0.0.1 that
counts event ids. Each agent signs in through the demo's login form and works
its own conversation through the JSON API with the CSRF header: creates cases,
sets them pending and open, assigns, escalates, resolves and reopens them.

Afterwards: no unexpected answer, every event received exactly once (none lost,
none twice, none unknown), the events are exactly what the activity says
happened, and every case's activity tells a consistent story that ends in the
case's status. No timings are asserted; the benchmark prints them.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import sqlalchemy as sa

from benchmarks.load import Settings, load_run, with_search_path

from .support.databases import DATABASES, POSTGRES_URL, postgres_schema
from .support.queues import REDIS_URL

pytestmark = pytest.mark.skipif("postgresql" not in DATABASES, reason="the load test needs PostgreSQL")

SETTINGS = Settings(agents=20, seconds=8, processes=2, workers=2, sweep_interval=2, patience=60)


def test_twenty_agents_over_http_lose_and_repeat_no_webhook(queue_name: str, tmp_path: Any) -> None:
    from examples.host_app.models import db

    with postgres_schema() as schema, load_run(SETTINGS, database_url=with_search_path(POSTGRES_URL, schema),
                                               redis_url=REDIS_URL, queue_name=queue_name, tmp=tmp_path) as outcome:
        print("\n" + "\n".join(outcome.report()))
        assert outcome.errors == [], outcome.errors[:10]
        assert len(outcome.sign_in) == SETTINGS.agents
        actions = Counter(action for action, _ in outcome.timings)
        assert set(actions) == {"create", "status", "assign", "escalate", "resolve", "reopen"}, actions

        # Every event in the outbox was delivered once, and the receiver got each exactly once.
        rows = outcome.deliveries
        assert rows
        assert [(r.status, r.attempts) for r in rows if (r.status, r.attempts) != ("delivered", 1)] == []
        assert set(outcome.received) == {r.event_id for r in rows}
        assert {e: len(t) for e, t in outcome.received.items() if len(t) != 1} == {}
        assert len({r.event_id for r in rows}) == len(rows)

        # The events are exactly what the activity says happened: none missing, none extra.
        assert outcome.delivered == outcome.expected
        assert {event for _, event in outcome.expected} == {
            "case.created", "case.assigned", "case.escalated", "case.resolved", "case.reopened"}

        with outcome.app.app_context():
            m = outcome.cases.state.models
            session = db.session
            all_cases = {c.id: c for c in session.scalars(sa.select(m.Case))}
            assert sorted(all_cases) == sorted(outcome.case_ids)
            by_case: dict[int, list[Any]] = {}
            for entry in session.scalars(sa.select(m.CaseActivity).order_by(m.CaseActivity.id)):
                by_case.setdefault(entry.case_id, []).append(entry)
            labels = Counter((label.case_id, label.name) for label in session.scalars(sa.select(m.ConversationLabel)))

            # Every case's activity is a consistent story ending in its status.
            for case_id, case in all_cases.items():
                entries = by_case[case_id]
                assert (entries[0].kind, entries[0].to_status) == ("created", "open"), case_id
                status, escalations, resolved, assignee = "open", 0, False, None
                for entry in entries[1:]:
                    assert entry.from_status == status, (case_id, entry.kind, entry.from_status, status)
                    if entry.kind == "escalated":
                        escalations += 1
                        assert entry.to_status == status
                    elif entry.kind == "assigned":
                        assert entry.to_status == status
                        assignee = entry.detail["assignee_id"]
                    else:
                        assert entry.kind == "status_changed", (case_id, entry.kind)
                        status = entry.to_status
                        resolved = resolved or status == "resolved"
                assert case.status == status, case_id
                assert case.escalation_level == escalations, case_id
                assert case.assignee_id == assignee, case_id
                assert labels[(case_id, "support-case")] == 1
                assert labels[(case_id, "support-case-resolved")] == (1 if resolved else 0)
                assert case.version == len(entries), case_id
            session.remove()
