"""``flask kroncases ...``: the worker and the sweeper, run inside the host app."""

from __future__ import annotations

import itertools
import logging
import math
import multiprocessing
import os
import time
from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup

from . import jobs
from .services.delivery import lease_seconds

cli = AppGroup("kroncases", help="Support cases: background worker and maintenance.")
log = logging.getLogger("flask_kroncases.worker")


def worker_class(simple: bool) -> type[Any]:
    """RQ's ``Worker`` (or ``SimpleWorker``) that remembers a warm shutdown request.

    RQ calls the public hook ``handle_warm_shutdown_request`` on SIGINT/SIGTERM;
    the flag it sets tells a stop on request from a stop because Redis went away.
    """
    from rq import SimpleWorker, Worker

    base: type[Any] = SimpleWorker if simple else Worker

    class KronCasesWorker(base):
        shutdown_requested = False

        def handle_warm_shutdown_request(self) -> None:
            self.shutdown_requested = True
            super().handle_warm_shutdown_request()

    KronCasesWorker.__name__ = KronCasesWorker.__qualname__ = f"KronCases{base.__name__}"
    return KronCasesWorker


@cli.command("worker")
@click.option("--burst", is_flag=True, help="Sweep once, run every due job, then exit.")
@click.option("--name", default=None, help="Worker name shown by RQ.")
@click.option("--simple", is_flag=True, help="Run jobs in this process instead of a forked child.")
@click.option("--sweep-interval", type=float, default=None,
              help="Seconds between sweeps (default: KRONCASES_SWEEP_INTERVAL; 0 turns them off).")
def worker_command(burst: bool, name: str | None, simple: bool, sweep_interval: float | None) -> None:
    """Run an RQ worker, with its scheduler, for the extension's queue."""
    from redis.exceptions import RedisError

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    state = app.extensions["kroncases"]
    if state.jobs.runner != "rq":
        raise click.UsageError("KRONCASES_JOB_RUNNER is not 'rq': jobs run inside the web process.")
    try:
        lease_seconds(app.config)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    jobs.bind_app(app)
    try:
        jobs.warm_up()
    except Exception:  # a cold start only costs time; the jobs prepare what they need themselves
        log.warning("could not warm up the worker", exc_info=True)
    interval = float(app.config["KRONCASES_SWEEP_INTERVAL"] if sweep_interval is None else sweep_interval)
    lease_check = float(app.config["KRONCASES_WEBHOOK_LEASE_CHECK_INTERVAL"] or 0)
    cls = worker_class(simple)
    if burst:
        jobs.sweep()
    elif interval > 0 or lease_check > 0:
        # A process, not a thread: the worker forks a child per job, and a fork
        # taken while a thread holds a lock (pool, logging) deadlocks the child.
        multiprocessing.get_context("fork").Process(
            target=_maintain_forever, args=(interval, lease_check, os.getpid()), name="kroncases-sweeper", daemon=True
        ).start()
    delay = 1.0
    for run in itertools.count():
        # RQ's worker quits when Redis vanishes mid-job; a worker that only
        # quits on a signal outlives a Redis restart (the outbox keeps the work).
        worker = None
        try:
            worker = cls(
                [state.jobs.rq_queue()], connection=state.jobs.connection,
                name=f"{name}-{run}" if name and run else name,
            )
            worked = worker.work(burst=burst, with_scheduler=True, logging_level="INFO")
        except RedisError as exc:
            log.warning("could not connect to Redis: %s", exc)
            worked = False
        if burst or (worker is not None and worker.shutdown_requested):
            return
        log.warning("the worker stopped (Redis gone?); starting again in %.0f s", delay)
        time.sleep(delay)
        delay = 1.0 if worked else min(delay * 2, 30.0)


def _maintain_forever(sweep_interval: float, lease_interval: float, parent_pid: int) -> None:
    """Until the worker that started us is gone: check leases every ``lease_interval``
    seconds (cheap: one UPDATE) and sweep every ``sweep_interval`` seconds (0: never).

    The lease check is what gets a killed worker's delivery sent again within
    seconds; the full sweep finds what Redis lost.
    """
    tick = min(i for i in (sweep_interval, lease_interval) if i > 0)
    next_sweep = time.monotonic() + sweep_interval if sweep_interval > 0 else math.inf
    while os.getppid() == parent_pid:
        time.sleep(tick)
        try:
            if time.monotonic() >= next_sweep:
                next_sweep = time.monotonic() + sweep_interval
                count = jobs.sweep()
                if count:
                    log.info("sweep enqueued %d pending deliveries", count)
            elif lease_interval > 0:
                jobs.reclaim()
        except Exception:  # keep sweeping; the next round may find Redis back
            log.exception("sweep failed")


@cli.command("sweep")
def sweep_command() -> None:
    """Enqueue webhook deliveries left pending (e.g. while Redis was down)."""
    count = jobs.sweep()
    click.echo(f"Enqueued {count} pending deliver{'y' if count == 1 else 'ies'}.")
