"""Fixtures: every integration test runs on SQLite and PostgreSQL, for both host schemas."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from flask_login import FlaskLoginClient

from flask_kroncases import KronCases

from .hosts import HOSTS, make_app
from .support.databases import DATABASES, POSTGRES_URL, postgres_schema, search_path
from .support.queues import REDIS_URL, purge_queue


@dataclass
class Database:
    name: str
    url: str
    engine_options: dict[str, Any] = field(default_factory=dict)


@pytest.fixture(params=DATABASES)
def database(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[Database]:
    """A fresh database: a SQLite file, or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        yield Database("sqlite", f"sqlite:///{tmp_path / 'test.sqlite'}")
        return
    with postgres_schema() as schema:
        yield Database("postgresql", POSTGRES_URL, search_path(schema))


@pytest.fixture(params=sorted(HOSTS))
def host(request: pytest.FixtureRequest) -> ModuleType:
    return HOSTS[request.param]


#: For a test where the host's key type plays no part (validation of our own fields, a job
#: that carries only our case id): the classic host proves it, on both databases.
classic_host_only = pytest.mark.parametrize("host", ["classic"], indirect=True)


@pytest.fixture
def queue_name() -> Iterator[str]:
    """A Redis queue of the test's own, removed afterwards with its jobs and workers."""
    name = f"kroncases-test-{uuid.uuid4().hex[:10]}"
    yield name
    purge_queue(name)


@pytest.fixture
def app_config(queue_name: str) -> dict[str, Any]:
    """Extra app config; a test module overrides this fixture to change it."""
    return {"KRONCASES_REDIS_URL": REDIS_URL, "KRONCASES_QUEUE_NAME": queue_name}


@pytest.fixture
def app_and_cases(host: ModuleType, database: Database, app_config: dict[str, Any]) -> Iterator[tuple[Flask, KronCases]]:
    app, cases = make_app(host, database.url, database.engine_options, **app_config)
    app.test_client_class = FlaskLoginClient
    with app.app_context():
        host.db.create_all()
    yield app, cases
    with app.app_context():
        host.db.session.remove()
        host.db.engine.dispose()


@pytest.fixture
def app(app_and_cases: tuple[Flask, KronCases]) -> Flask:
    return app_and_cases[0]


@pytest.fixture
def cases(app_and_cases: tuple[Flask, KronCases]) -> KronCases:
    return app_and_cases[1]


@pytest.fixture
def ctx(app: Flask) -> Iterator[None]:
    with app.app_context():
        yield


@dataclass
class Desk:
    """Keys of a small helpdesk: three people, three conversations."""

    host: ModuleType
    agent: Any
    outsider: Any
    admin: Any
    conversation: Any
    messages: list[Any]
    other_conversation: Any
    other_messages: list[Any]
    hidden_conversation: Any
    hidden_messages: list[Any]

    def get(self, model: type, key: Any) -> Any:
        return self.host.db.session.get(model, key)

    def user(self, key: Any) -> Any:
        return self.get(self.host.User, key)

    def conv(self, key: Any) -> Any:
        return self.get(self.host.Conversation, key)

    def msgs(self, keys: list[Any]) -> list[Any]:
        return [self.get(self.host.Message, k) for k in keys]


@pytest.fixture
def desk(app: Flask, host: ModuleType) -> Desk:
    db = host.db
    with app.app_context():
        agent = host.make_user("Alex Agent", "support")
        outsider = host.make_user("Olga Outsider", "billing")
        admin = host.make_user("Ada Admin", "ops", admin=True)
        conv = host.make_conversation("Cannot log in after password reset", "support")
        other = host.make_conversation("Invoice shows the wrong VAT number", "support")
        hidden = host.make_conversation("Refund for order 5531", "billing")
        db.session.add_all([agent, outsider, admin, conv, other, hidden])
        db.session.flush()
        bodies = [
            "Hi, I reset my password but the login page says 'Invalid credentials'.",
            "I tried three times and cleared my cookies.",
            "Now it says my account is locked.",
            "Thanks, I'll wait.",
        ]
        msgs = [host.make_message(conv, b) for b in bodies]
        other_msgs = [host.make_message(other, b) for b in ("The VAT id is wrong.", "It should be DE123456789.")]
        hidden_msgs = [host.make_message(hidden, b) for b in ("Where is my refund?", "Order 5531.")]
        db.session.add_all(msgs + other_msgs + hidden_msgs)
        db.session.commit()
        key = host.key
        return Desk(
            host=host,
            agent=key(agent),
            outsider=key(outsider),
            admin=key(admin),
            conversation=key(conv),
            messages=[key(m) for m in msgs],
            other_conversation=key(other),
            other_messages=[key(m) for m in other_msgs],
            hidden_conversation=key(hidden),
            hidden_messages=[key(m) for m in hidden_msgs],
        )


def table_counts(app: Flask, cases: KronCases) -> dict[str, int]:
    """Row counts of every extension table, read on a connection of its own."""
    with app.app_context():
        models = cases.models
        engine = cases.state.db.engine
        with engine.connect() as conn:
            return {
                model.__tablename__: conn.execute(sa.select(sa.func.count()).select_from(model.__table__)).scalar_one()
                for model in (models.Case, models.CaseMessage, models.CaseActivity, models.ConversationLabel)
            }


class ApiClient:
    """A signed-in test client that sends the CSRF header like the UI script does."""

    def __init__(self, client: FlaskClient, prefix: str = "/kroncases/api") -> None:
        self.client = client
        self.prefix = prefix
        self.token = client.get("/csrf").get_data(as_text=True)

    def get(self, path: str) -> Any:
        return self.client.get(self.prefix + path)

    def post(self, path: str, json: Any = None, csrf: bool = True, **kwargs: Any) -> Any:
        headers = {"X-CSRFToken": self.token} if csrf else {}
        return self.client.post(self.prefix + path, json=json, headers=headers, **kwargs)


@pytest.fixture
def api_as(app: Flask, desk: Desk) -> Any:
    def login(user_key: Any) -> ApiClient:
        with app.app_context():
            user = desk.user(user_key)
            client = app.test_client(user=user)
        return ApiClient(client)

    return login


@contextmanager
def failing_commit(session: Any) -> Iterator[None]:
    """Make the session's next commits fail, as a database that refuses them would."""

    def fail(session_: Any) -> None:
        raise RuntimeError("disk full")

    sa.event.listen(session, "before_commit", fail)
    try:
        yield
    finally:
        sa.event.remove(session, "before_commit", fail)
