"""The demo helpdesk on a fresh database, and a real ``flask kroncases worker`` for it.

The browser tests that need a worker serve ``examples.host_app.create_app`` in a
server thread and run the worker as a separate process of the *same* demo app:
``python -m flask --app examples.host_app kroncases worker``. The demo reads its
database from ``DATABASE_URL`` and every ``KRONCASES_*`` setting from the
environment (JSON or plain text), so both sides get one URL and one config.
A PostgreSQL schema travels in the URL (``?options=-csearch_path%3D<schema>``),
which SQLAlchemy hands to psycopg as a connection option.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from flask import Flask

from ..support.databases import POSTGRES_URL, postgres_schema
from ..support.worker import WorkerProcess

ROOT = Path(__file__).resolve().parents[2]

T = TypeVar("T")


@contextmanager
def demo_database(kind: str, tmp_path: Path) -> Iterator[str]:
    """A fresh database URL both the server thread and the worker process can use."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'helpdesk.sqlite'}"
        return
    separator = "&" if "?" in POSTGRES_URL else "?"
    with postgres_schema() as schema:
        # In the URL, not engine options: the worker process only gets the URL.
        yield f"{POSTGRES_URL}{separator}options={quote(f'-csearch_path={schema}', safe='')}"


@contextmanager
def demo_app(database_url: str, config: dict[str, Any]) -> Iterator[Flask]:
    """The demo helpdesk on ``database_url`` with ``config``; its connections closed afterwards."""
    from examples.host_app import create_app
    from examples.host_app.models import db

    app = create_app({"TESTING": True, "SECRET_KEY": "browser-test", "SQLALCHEMY_DATABASE_URI": database_url, **config})
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def demo_env(database_url: str, config: dict[str, Any]) -> dict[str, str]:
    """The environment of a demo process: our database and config, nothing inherited of either."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KRONCASES_", "FLASK_")) and k != "DATABASE_URL"}
    env.update({key: json.dumps(value) for key, value in config.items()})
    env.update(DATABASE_URL=database_url, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    return env


class DemoWorker(WorkerProcess):
    """``flask --app examples.host_app kroncases worker``; stopped with SIGTERM, then SIGKILL."""

    def __init__(self, database_url: str, config: dict[str, Any], log_path: Path, *args: str) -> None:
        super().__init__(demo_env(database_url, config), log_path, *args, app="examples.host_app")


def wait_until(probe: Callable[[], T | None], what: str, timeout: float = 20, worker: DemoWorker | None = None) -> T:
    """Poll ``probe`` until it returns something truthy; fail with ``what`` (and the worker's log) otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if worker is not None:
            worker.assert_alive()
        if time.monotonic() > deadline:
            log = f"\nworker log:\n{worker.output()}" if worker is not None else ""
            raise AssertionError(f"timed out after {timeout}s waiting for {what}{log}")
        time.sleep(0.1)
