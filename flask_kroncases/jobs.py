"""RQ entry points: thin functions that push an app context and call a service.

A worker started with ``flask kroncases worker`` runs inside the app, so each
job finds the app through :func:`job_context`. Every job takes plain ids, never
objects, and re-reads the database: the row, not the job, is the truth.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask, current_app, has_app_context

_worker_app: Flask | None = None
_engine_pid: int | None = None


def bind_app(app: Flask) -> None:
    """Remember the app for jobs run outside its context (a forked work horse)."""
    global _worker_app, _engine_pid
    _worker_app = app
    _engine_pid = os.getpid()


@contextmanager
def job_context() -> Iterator[Any]:
    """Push a fresh app context for one job and yield the extension's state."""
    global _engine_pid
    if has_app_context():
        app = current_app._get_current_object()  # type: ignore[attr-defined]
    elif _worker_app is not None:
        app = _worker_app
    else:
        raise RuntimeError("flask-kroncases jobs must run in 'flask kroncases worker' (no app found)")
    with app.app_context():
        state = app.extensions["kroncases"]
        if _engine_pid is not None and _engine_pid != os.getpid():
            # A forked work horse must not share the parent's pooled connections.
            for engine in state.db.engines.values():
                engine.dispose(close=False)
            _engine_pid = os.getpid()
        try:
            yield state
        finally:
            state.db.session.remove()


def deliver_endpoint(endpoint_id: int) -> int:
    """Send one endpoint's due webhook deliveries, in batches, one job per endpoint at a time."""
    with job_context() as state:
        return state.delivery.deliver_endpoint(endpoint_id)  # type: ignore[no-any-return]


def deliver_webhook(delivery_id: int) -> str:
    """One attempt at one webhook delivery (jobs queued by versions without batches still run)."""
    with job_context() as state:
        return state.delivery.deliver(delivery_id)  # type: ignore[no-any-return]


def sweep() -> int:
    """Enqueue due webhook deliveries that no job holds; report cases that became overdue;
    prune the delivery log (``KRONCASES_WEBHOOK_LOG_RETENTION``)."""
    with job_context() as state:
        enqueued: int = state.delivery.sweep()
        state.service.sweep_overdue()
        state.delivery.prune()
        return enqueued


def reclaim() -> list[int]:
    """Take back and enqueue deliveries whose lease ran out (their worker died)."""
    with job_context() as state:
        return state.delivery.reclaim()  # type: ignore[no-any-return]


def warm_up() -> None:
    """Prepare the worker before it forks its first work horse.

    A horse is a fork of the worker and starts with a copy of its memory: what
    the worker has imported, connected to, configured and compiled, every horse
    has for free instead of doing it again in each job (the pool's connections
    stay the worker's; a horse opens its own, see :func:`job_context`). Then the
    garbage collector is told to leave everything loaded so far alone
    (``gc.freeze``), so a horse's collections do not write to, and so copy,
    the pages it shares with the worker.
    """
    with job_context() as state:
        state.delivery.warm_up()
        state.summaries.run_suggestion("")   # nothing has that id: one SELECT, compiled
        state.summaries.summarize_case(0)    # nor that one
    gc.collect()
    gc.freeze()


def suggest(suggestion_id: str) -> str | None:
    """Fill in a suggestion for the case form."""
    with job_context() as state:
        row = state.summaries.run_suggestion(suggestion_id)
        return row.status if row is not None else None


def summarize_case(case_id: int, overwrite: bool = False, actor_key: object = None) -> str:
    """Write a saved case's summary."""
    with job_context() as state:
        return state.summaries.summarize_case(case_id, overwrite=overwrite, actor_key=actor_key)  # type: ignore[no-any-return]
