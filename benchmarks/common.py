"""What every benchmark script needs: a throwaway database and a statement counter."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

from . import host

POSTGRES_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@contextmanager
def throwaway_database(name: str, label: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """A database URL and engine options: a SQLite file, or a PostgreSQL schema dropped afterwards."""
    if name == "sqlite":
        with tempfile.TemporaryDirectory(prefix=f"kroncases-{label}-") as tmp:
            yield f"sqlite:///{tmp}/{label}.sqlite", {}
        return
    import psycopg

    schema = f"bench_{label}_{uuid.uuid4().hex[:10]}"
    plain = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield POSTGRES_URL, {"connect_args": {"options": f"-csearch_path={schema}"}}
    finally:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def count_statements(app: Any, fn: Callable[[], Any]) -> int:
    """How many SQL statements ``fn`` sends to the app's database."""
    with app.app_context():
        engine = host.db.engine
    seen = [0]

    def count(*args: Any) -> None:
        seen[0] += 1

    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        fn()
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    return seen[0]
