"""``flask kroncases ...``: the worker and the sweeper, run inside the host app."""

from __future__ import annotations

import itertools
import logging
import multiprocessing
import os
import time

import click
from flask import current_app
from flask.cli import AppGroup

from . import jobs

cli = AppGroup("kroncases", help="Support cases: background worker and maintenance.")
log = logging.getLogger("flask_kroncases.worker")


@cli.command("worker")
@click.option("--burst", is_flag=True, help="Sweep once, run every due job, then exit.")
@click.option("--name", default=None, help="Worker name shown by RQ.")
@click.option("--simple", is_flag=True, help="Run jobs in this process instead of a forked child.")
@click.option("--sweep-interval", type=float, default=None,
              help="Seconds between sweeps (default: KRONCASES_SWEEP_INTERVAL; 0 turns them off).")
def worker_command(burst: bool, name: str | None, simple: bool, sweep_interval: float | None) -> None:
    """Run an RQ worker, with its scheduler, for the extension's queue."""
    from redis.exceptions import RedisError
    from rq import SimpleWorker, Worker

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    state = app.extensions["kroncases"]
    if state.jobs.runner != "rq":
        raise click.UsageError("KRONCASES_JOB_RUNNER is not 'rq': jobs run inside the web process.")
    jobs.bind_app(app)
    interval = app.config["KRONCASES_SWEEP_INTERVAL"] if sweep_interval is None else sweep_interval
    worker_class = SimpleWorker if simple else Worker
    if burst:
        jobs.sweep()
    elif interval:
        # A process, not a thread: the worker forks a child per job, and a fork
        # taken while a thread holds a lock (pool, logging) deadlocks the child.
        multiprocessing.get_context("fork").Process(
            target=_sweep_forever, args=(float(interval), os.getpid()), name="kroncases-sweeper", daemon=True
        ).start()
    delay = 1.0
    for run in itertools.count():
        # RQ's worker quits when Redis vanishes mid-job; a worker that only
        # quits on a signal outlives a Redis restart (the outbox keeps the work).
        worker = None
        try:
            worker = worker_class(
                [state.jobs.rq_queue()], connection=state.jobs.connection,
                name=f"{name}-{run}" if name and run else name,
            )
            worked = worker.work(burst=burst, with_scheduler=True, logging_level="INFO")
        except RedisError as exc:
            log.warning("could not connect to Redis: %s", exc)
            worked = False
        if burst or (worker is not None and worker._shutdown_requested_date is not None):
            return
        log.warning("the worker stopped (Redis gone?); starting again in %.0f s", delay)
        time.sleep(delay)
        delay = 1.0 if worked else min(delay * 2, 30.0)


def _sweep_forever(interval: float, parent_pid: int) -> None:
    """Sweep every ``interval`` seconds until the worker that started us is gone."""
    while os.getppid() == parent_pid:
        time.sleep(interval)
        try:
            count = jobs.sweep()
            if count:
                log.info("sweep enqueued %d pending deliveries", count)
        except Exception:  # keep sweeping; the next round may find Redis back
            log.exception("sweep failed")


@cli.command("sweep")
def sweep_command() -> None:
    """Enqueue webhook deliveries left pending (e.g. while Redis was down)."""
    count = jobs.sweep()
    click.echo(f"Enqueued {count} pending deliver{'y' if count == 1 else 'ies'}.")
