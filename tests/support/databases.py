"""Fresh test databases: a SQLite file, or a PostgreSQL schema of the test's own."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import sqlalchemy as sa

POSTGRES_URL = os.environ.get(
    "KRONCASES_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
#: The same server for plain psycopg (administration: schemas, pg_terminate_backend).
PLAIN_URL = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://")
DATABASES = [d for d in os.environ.get("KRONCASES_TEST_DATABASES", "sqlite,postgresql").split(",") if d]
#: Where the workflow's browser walks run: their server side is proved on both databases by the
#: other tests, so one database keeps the suite within its time (both: set it to "sqlite,postgresql").
BROWSER_DATABASES = [
    d for d in os.environ.get(
        "KRONCASES_TEST_BROWSER_DATABASES", "postgresql" if "postgresql" in DATABASES else ",".join(DATABASES[:1])
    ).split(",")
    if d in DATABASES
]


@contextmanager
def postgres_schema() -> Iterator[str]:
    """Create a schema, yield its name, drop it with everything in it."""
    schema = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(PLAIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield schema
    finally:
        with psycopg.connect(PLAIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def search_path(schema: str) -> dict[str, object]:
    """Engine options that put every connection in ``schema``."""
    return {"connect_args": {"options": f"-csearch_path={schema}"}}


@contextmanager
def statements(app: Any, cases: Any) -> Iterator[list[str]]:
    """Every SQL statement the app's engine runs meanwhile, its whitespace folded to single spaces."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(" ".join(statement.split()))

    with app.app_context():
        engine = cases.state.db.engine
    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
