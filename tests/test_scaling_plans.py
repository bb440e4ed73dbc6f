"""The worker's, the settings page's, the cases page's and the badges' queries read the big tables by index.

PostgreSQL only, on a small generated helpdesk (50,000 deliveries, 20,000 cases) built and
planned by ``benchmarks.scaling`` — the same fill and the same probe as the 10-million-row run:
the real service calls and pages run while every statement they send is EXPLAINed with its
values and as the generic plan a prepared statement may switch to. No planner switch is turned
off: after ANALYZE, the planner has to pick the index on its own.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from benchmarks import host, scaling
from flask_kroncases.config import DEFAULTS

from .support.databases import DATABASES, POSTGRES_URL, postgres_schema, search_path
from .support.queues import REDIS_URL, purge_queue

pytestmark = pytest.mark.skipif("postgresql" not in DATABASES, reason="query plans are PostgreSQL's")

SIZES = scaling.Sizes(deliveries=50_000, cases=20_000)

#: (scenario, the code that sends it, what it reads, the index it must use: one of ``a|b``).
SELECTIVE = [
    ("sweep", "DeliveryService.reclaim", "UPDATE kroncases_webhook_deliveries", "ix_kroncases_webhook_deliveries_due"),
    ("sweep", "DeliveryService.sweep", "SELECT kroncases_webhook_deliveries", "ix_kroncases_webhook_deliveries_due"),
    ("sweep", "CaseService.sweep_overdue", "SELECT kroncases_cases", "ix_kroncases_cases_due_at"),
    ("sweep", "DeliveryService.prune", "SELECT kroncases_webhook_deliveries", "ix_kroncases_webhook_deliveries_created"),
    ("sweep, steady", "DeliveryService.prune", "SELECT kroncases_webhook_deliveries",
     "ix_kroncases_webhook_deliveries_created"),
    ("lease check", "DeliveryService.reclaim", "UPDATE kroncases_webhook_deliveries",
     "ix_kroncases_webhook_deliveries_due"),
    ("batch job", "DeliveryService._claim", "UPDATE kroncases_webhook_deliveries",
     "ix_kroncases_webhook_deliveries_endpoint_due"),
    # Either index on the endpoint's rows will do; which one the planner takes depends on the table's size.
    ("delivery log, rare", "EndpointService.deliveries", "SELECT kroncases_webhook_deliveries",
     "ix_kroncases_webhook_deliveries_endpoint|ix_kroncases_webhook_deliveries_endpoint_due"),
    ("list badges", "labels_for", "SELECT kroncases_cases", "ix_kroncases_cases_conversation_id"),
    # Page 1 of the cases page, by its ORDER BY (its count: the test below).
    ("cases p1 (sql)", "CaseListService._page_ids", "SELECT kroncases_cases ORDER BY", "ix_kroncases_cases_updated"),
    # The Assignee filter's owners: a walk of the assignee index, never a DISTINCT over every case.
    ("cases p1 (sql)", "CaseListService._owners", "WITH kroncases_cases", "ix_kroncases_cases_assignee_id"),
]


@pytest.fixture(scope="module")
def planned() -> Iterator[tuple[Any, list[scaling.Plan]]]:
    """The generated schema, and the plans of every statement the scenarios sent."""
    queue = f"kroncases-test-{uuid.uuid4().hex[:10]}"
    with postgres_schema() as schema:
        app = host.create_app(POSTGRES_URL, search_path(schema), extension=True, KRONCASES_REDIS_URL=REDIS_URL,
                              KRONCASES_QUEUE_NAME=queue, KRONCASES_WEBHOOK_ALLOW_PRIVATE=True)
        state = app.extensions["kroncases"]
        try:
            with app.app_context():
                engine = host.db.engine
                scaling.build(engine, host.db.metadata, state.models, app.config, SIZES, datetime.now(UTC),
                              log=lambda line: None)
            probe = scaling.PlanProbe(engine, tuple(scaling.table_names(state.models)[k] for k in scaling.BIG))
            with probe:
                scaling.run_scenarios(probe, scaling.scenarios(app, SIZES, deep=False, hook_pages=False),
                                      log=lambda line: None)
            yield engine, probe.plans
        finally:
            with app.app_context():
                host.db.session.remove()
                host.db.engine.dispose()
            purge_queue(queue)


def test_the_indexes_growth_needs_are_created(planned: tuple[Any, list[scaling.Plan]]) -> None:
    engine, _plans = planned
    with engine.connect() as conn:
        names = set(conn.scalars(sa.text("SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()")))
    assert {
        "ix_kroncases_webhook_deliveries_created",  # pruning the delivery log
        "ix_kroncases_webhook_deliveries_case",  # a deleted case's deliveries (foreign key SET NULL)
        "ix_kroncases_cases_updated",  # the cases page's default order
    } <= names


@pytest.mark.parametrize(("scenario", "origin", "reads", "index"), SELECTIVE,
                         ids=[f"{s}:{o}" for s, o, _r, _i in SELECTIVE])
def test_a_selective_query_reads_by_index(planned: tuple[Any, list[scaling.Plan]], scenario: str, origin: str,
                                          reads: str, index: str) -> None:
    _engine, plans = planned
    reads, marker, _rest = reads.partition(" ORDER BY")
    found = [p for p in plans if p.scenario == scenario and p.origin == origin and p.verb == reads
             and (not marker or "ORDER BY" in p.sql)]
    assert found, f"{origin} sent no {reads} in {scenario}: {[(p.scenario, p.origin, p.verb) for p in plans]}"
    for plan in found:
        assert plan.error is None, plan.error
        assert set(index.split("|")) & set(plan.indexes()), f"{plan.shape()}\n{plan.sql}"
        # Nor does the generic plan of a prepared statement fall back to reading the table.
        assert plan.risky() == [], f"{plan.shape()} / generic: {plan.shape('generic')}"


def test_deleting_a_case_finds_its_deliveries_by_index(planned: tuple[Any, list[scaling.Plan]]) -> None:
    """What the foreign key's ON DELETE SET NULL runs for each case a host's delete removes."""
    engine, _plans = planned
    with engine.connect() as conn:
        custom, _generic, error = scaling.explain(
            conn.connection.driver_connection,
            "UPDATE kroncases_webhook_deliveries SET case_id = NULL WHERE case_id = %(case_id)s", {"case_id": 7},
            generic=False)
        conn.rollback()
    assert error is None, error
    plan = scaling.Plan("foreign key", "SET NULL", "UPDATE", custom, big=("kroncases_webhook_deliveries",))
    assert "ix_kroncases_webhook_deliveries_case" in plan.indexes(), plan.shape()
    assert plan.seq_scans() == []


def test_the_cases_page_counts_no_further_than_its_limit(planned: tuple[Any, list[scaling.Plan]]) -> None:
    """The pager's count stops one case past ``KRONCASES_COUNT_LIMIT`` (by index at a million; a scan of a
    table this small stops there too)."""
    _engine, plans = planned
    found = [p for p in plans if p.scenario == "cases p1 (sql)" and p.origin == "CaseListService._count"]
    assert found, [(p.scenario, p.origin) for p in plans]
    for plan in found:
        scans = [n for n in plan.nodes() if n.get("Relation Name") == "kroncases_cases"]
        assert scans, plan.shape()
        read = sum(int(n.get("Actual Rows", 0) * n.get("Actual Loops", 1)) for n in scans)
        # Past the limit it stops: it reads what gives limit + 1 visible cases, never the whole table.
        assert DEFAULTS["KRONCASES_COUNT_LIMIT"] + 1 <= read < SIZES.cases, (read, plan.shape())
