"""Load: 20 agents at once create, escalate, resolve and reopen cases on PostgreSQL and Redis.

Each agent is a thread with a signed-in client of its own (the JSON API, CSRF
header and all, through the WSGI app) working its own conversation, with a
short pause between actions. Two real ``flask kroncases worker`` processes
send every case event to a receiver on 127.0.0.1 that counts event ids.

Afterwards: no unexpected answer, every event delivered exactly once (none
lost, none twice), the events match the activity, and every case's activity
tells a consistent story that ends in the case's status.

The load lasts ``KRONCASES_LOAD_SECONDS`` (default 20; 60 for the full run).
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from flask_login import FlaskLoginClient

from .conftest import REDIS_URL, ApiClient, Database
from .support.databases import DATABASES, POSTGRES_URL, postgres_schema, search_path
from .support.faults import wait_until
from .test_faults import host, receiver, start_worker  # noqa: F401  (fixtures)

pytestmark = pytest.mark.skipif("postgresql" not in DATABASES, reason="the load test needs PostgreSQL")

SECONDS = float(os.environ.get("KRONCASES_LOAD_SECONDS", "20"))
AGENTS = 20


@pytest.fixture
def database() -> Iterator[Database]:
    with postgres_schema() as schema:
        yield Database("postgresql", POSTGRES_URL, {**search_path(schema), "pool_size": AGENTS})


@pytest.fixture
def app_config(queue_name: str) -> dict[str, Any]:
    return {
        "KRONCASES_REDIS_URL": REDIS_URL,
        "KRONCASES_QUEUE_NAME": queue_name,
        "KRONCASES_WEBHOOK_ALLOW_PRIVATE": ["127.0.0.1/32"],
        "KRONCASES_WEBHOOK_RETRY_SCHEDULE": [0, 0.5, 1, 2, 4],
        "KRONCASES_SWEEP_INTERVAL": 2,
        "KRONCASES_BASE_URL": "https://help.example.com",
    }


# What an agent may be told, per action. Anything else is an error.
EXPECTED = {"create": {201}, "pending": {200}, "escalate": {200}, "resolve": {200}, "reopen": {200}}


class Agent(threading.Thread):
    def __init__(self, app: Any, user: Any, conversation: Any, messages: list[Any], until: float, seed: int) -> None:
        super().__init__(name=f"agent-{seed}", daemon=True)
        self.app, self.conversation, self.messages, self.until = app, conversation, messages, until
        self.user = user
        self.rng = random.Random(seed)
        self.errors: list[str] = []
        self.actions: Counter[str] = Counter()
        self.case_ids: list[int] = []

    def call(self, api: ApiClient, action: str, path: str, body: Any = None) -> Any:
        response = api.post(path, json=body)
        self.actions[action] += 1
        if response.status_code not in EXPECTED[action]:
            self.errors.append(f"{action} {path}: {response.status_code} {response.get_data(as_text=True)[:200]}")
            return None
        return response.json

    def pause(self) -> None:
        time.sleep(self.rng.uniform(0.02, 0.12))

    def run(self) -> None:
        try:
            with self.app.app_context():
                client = self.app.test_client(user=self.user)
            api = ApiClient(client)
            queue = list(self.messages)
            cycle = 0
            while time.monotonic() < self.until and queue:
                cycle += 1
                take = [str(queue.pop(0)) for _ in range(min(len(queue), self.rng.choice((1, 1, 2))))]
                created = self.call(api, "create", f"/conversations/{self.conversation}/cases", {
                    "title": f"Agent {self.name} case {cycle} <b>ünïcode</b>", "case_type": "technical",
                    "priority": self.rng.choice(["low", "medium", "high", "urgent"]),
                    "summary": "Checkout fails with ERR_GATEWAY_TIMEOUT.", "message_ids": take,
                })
                if created is None:
                    continue
                case_id = created["case"]["id"]
                self.case_ids.append(case_id)
                self.pause()
                if cycle % 3 == 0:
                    self.call(api, "pending", f"/cases/{case_id}/status", {"status": "pending"})
                    self.pause()
                if cycle % 4 == 0:
                    self.call(api, "escalate", f"/cases/{case_id}/escalate", {"reason": "Customer is waiting"})
                    self.pause()
                self.call(api, "resolve", f"/cases/{case_id}/resolve")
                if cycle % 5 == 0:
                    self.pause()
                    self.call(api, "reopen", f"/cases/{case_id}/reopen")
                    self.pause()
                    self.call(api, "resolve", f"/cases/{case_id}/resolve")
                self.pause()
        except Exception as exc:  # an agent that crashes is an error too
            self.errors.append(f"{type(exc).__name__}: {exc}")


def _events_from_activity(entry: Any) -> str | None:
    if entry.kind == "created":
        return "case.created"
    if entry.kind == "escalated":
        return "case.escalated"
    if entry.kind == "status_changed" and entry.to_status == "resolved":
        return "case.resolved"
    if entry.kind == "status_changed" and entry.from_status == "resolved" and entry.to_status == "open":
        return "case.reopened"
    return None


def test_twenty_agents_under_load(app, cases, receiver, start_worker, host):  # noqa: F811
    db = host.db
    per_agent = int(SECONDS * 8) + 40
    with app.app_context():
        cases.state.endpoints.create_endpoint(receiver.url)
        agents_rows = []
        for i in range(AGENTS):
            user = host.make_user(f"Agent {i}", "support")
            conversation = host.make_conversation(f"Customer {i} cannot pay", "support")
            db.session.add_all([user, conversation])
            db.session.flush()
            messages = [host.make_message(conversation, f"Message {j} of customer {i}") for j in range(per_agent)]
            db.session.add_all(messages)
            agents_rows.append((user, conversation, messages))
        db.session.commit()
        plan = [(host.key(u), host.key(c), [host.key(m) for m in ms]) for u, c, ms in agents_rows]
        users = {key: db.session.get(host.User, key) for key, _, _ in plan}
        for user in users.values():
            db.session.expunge(user)
    app.test_client_class = FlaskLoginClient

    start_worker("--simple")
    start_worker("--simple")
    began = time.monotonic()
    until = began + SECONDS
    agents = [Agent(app, users[u], c, ms, until, seed=i) for i, (u, c, ms) in enumerate(plan)]
    for agent in agents:
        agent.start()
    for agent in agents:
        agent.join(timeout=SECONDS + 60)
    load_took = time.monotonic() - began

    errors = [e for agent in agents for e in agent.errors]
    actions = sum((agent.actions for agent in agents), Counter())
    assert not any(agent.is_alive() for agent in agents), "an agent hung"
    assert errors == [], errors[:10]
    assert actions["create"] >= AGENTS, actions

    with app.app_context():
        session = db.session
        m = cases.models
        Delivery = m.WebhookDelivery

        def settled() -> bool:
            session.expire_all()
            pending = session.scalar(sa.select(sa.func.count()).where(Delivery.status != "delivered"))
            session.commit()
            return pending == 0

        wait_until(settled, 90, "every delivery delivered", interval=0.5)
        rows = list(session.scalars(sa.select(Delivery).order_by(Delivery.id)))
        time.sleep(2.5)   # one more sweep round: nothing is sent again

        # Every event exactly once at the receiver, none lost, none twice.
        counts = receiver.counts()
        assert len(rows) == len(counts), (len(rows), len(counts))
        assert {r.event_id for r in rows} == set(counts)
        assert [e for e, n in counts.items() if n > 1] == []
        assert all(r.attempts == 1 for r in rows), [r.attempts for r in rows if r.attempts != 1][:5]

        # The events are exactly what the activity says happened.
        case_ids = [cid for agent in agents for cid in agent.case_ids]
        activity = list(session.scalars(sa.select(m.CaseActivity).order_by(m.CaseActivity.id)))
        expected = Counter((a.case_id, _events_from_activity(a)) for a in activity if _events_from_activity(a))
        delivered = Counter((r.case_id, r.event_type) for r in rows)
        assert delivered == expected
        received = Counter()
        for hit in receiver.hits:
            body = json.loads(hit.body)
            received[(body["data"]["case"]["id"], body["type"])] += 1
        assert received == expected

        # Every case's activity is a consistent story ending in its status.
        by_case: dict[int, list[Any]] = {}
        for entry in activity:
            by_case.setdefault(entry.case_id, []).append(entry)
        labels = Counter((label.case_id, label.name) for label in session.scalars(sa.select(m.ConversationLabel)))
        all_cases = {c.id: c for c in session.scalars(sa.select(m.Case))}
        assert sorted(all_cases) == sorted(case_ids)
        for case_id, case in all_cases.items():
            entries = by_case[case_id]
            assert (entries[0].kind, entries[0].to_status) == ("created", "open"), case_id
            status, escalations, resolved = "open", 0, False
            for entry in entries[1:]:
                assert entry.from_status == status, (case_id, entry.kind, entry.from_status, status)
                if entry.kind == "escalated":
                    escalations += 1
                    assert entry.to_status == status
                else:
                    assert entry.kind == "status_changed"
                    status = entry.to_status
                    resolved = resolved or status == "resolved"
            assert case.status == status, case_id
            assert case.escalation_level == escalations, case_id
            assert labels[(case_id, "support-case")] == 1
            assert labels[(case_id, "support-case-resolved")] == (1 if resolved else 0)
            assert case.version == len(entries), case_id

    print(f"\nload: {AGENTS} agents for {SECONDS:g} s (took {load_took:.1f} s): {dict(actions)}; "
          f"{len(all_cases)} cases, {len(rows)} webhook events, each received once")
