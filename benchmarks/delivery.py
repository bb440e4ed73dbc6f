"""Webhook delivery through real ``flask kroncases worker`` processes, Redis and a receiver process.

Run alone with ``python -m benchmarks.delivery`` (prints its rows), or as part of
``python -m benchmarks`` (rows in the table and ``RESULTS.md``). PostgreSQL only:
a throwaway schema with the benchmark host's tables, one or twenty endpoints that
all point at one receiver on 127.0.0.1 (``benchmarks.receiver``, a process of its
own that keeps connections alive), and a queue of its own on the real Redis.

Rows:

- the baseline: a plain loop of POSTs from one process, a new connection each (best of three);
- deliveries/s with 1 and 2 default workers (a forked work horse per job), to one
  endpoint and spread over 20: the deliveries are written to the outbox and handed
  to the queue as a case change does (``DeliveryService.dispatch``), then the
  workers start; first → last receipt. Target: at least half the baseline per worker;
- the drain of a backlog (``BENCH_BACKLOG``, default 10,000) after the receiver comes
  back: every delivery due for a retry, nothing queued, one default worker; the sweep
  hands them out; time from the sweep to the last receipt, and the worker's resident
  memory (worker, work horses, sweeper: sampled every 0.2 s) at the start and at the end
  of the drain — it must not grow with the backlog;
- commit → receipt with one idle worker, default and ``--simple``: one delivery at a
  time, ``BENCH_LATENCY_PAUSE`` apart. Target: p50 < 50 ms, p99 < 250 ms with the default worker.

Environment: ``BENCH_QUICK=1`` (a smaller run), ``BENCH_EVENTS`` (deliveries per rate
run, default 2,000; 600 quick), ``BENCH_BACKLOG`` (default 10,000; 3,000 quick),
``BENCH_LATENCY_EVENTS`` (default 40; 20 quick), ``BENCH_POSTGRES_URL``, ``BENCH_REDIS_URL``.
Figures only: nothing here fails on a missed target.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa

from . import host
from .common import purge_queue, throwaway_database

ROOT = Path(__file__).resolve().parents[1]
QUICK = os.environ.get("BENCH_QUICK") == "1"


def _int(name: str, default: int, quick: int) -> int:
    return int(os.environ.get(name, quick if QUICK else default))


EVENTS = _int("BENCH_EVENTS", 2000, 600)
BACKLOG = _int("BENCH_BACKLOG", 10_000, 3000)
LATENCY_EVENTS = _int("BENCH_LATENCY_EVENTS", 40, 20)
LATENCY_PAUSE = float(os.environ.get("BENCH_LATENCY_PAUSE", "0.25"))
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
#: The most a run waits for its deliveries; a slow build reports how many arrived by then.
PATIENCE = float(os.environ.get("BENCH_DELIVERY_PATIENCE", "120"))


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


# -- processes ------------------------------------------------------------------------------------


class ReceiverProcess:
    """``benchmarks.receiver`` in a process of its own."""

    def __init__(self) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "benchmarks.receiver"], cwd=ROOT,
                                        stdout=subprocess.PIPE, text=True, start_new_session=True)
        assert self.process.stdout is not None
        self.port = int(self.process.stdout.readline())
        self.url = f"http://127.0.0.1:{self.port}/hooks/cases"

    def stats(self) -> dict[str, list[float]]:
        import requests

        return requests.get(self.url, timeout=30).json()["events"]  # type: ignore[no-any-return]

    def count(self) -> int:
        import requests

        return int(requests.get(self.url + "?count=1", timeout=10).json()["events"])

    def reset(self) -> None:
        import requests

        requests.delete(self.url, timeout=10)

    def wait(self, count: int, timeout: float, tick: Callable[[], None] | None = None) -> int:
        """Wait until ``count`` distinct events arrived (or ``timeout``); return how many did."""
        deadline = time.monotonic() + timeout
        while True:
            got = self.count()
            if got >= count or time.monotonic() > deadline:
                return got
            if tick is not None:
                tick()
            time.sleep(0.1)

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)


def _kib(path: str, field: str) -> int:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_kib(pid: int) -> int:
    """Resident memory of one process, pages it shares with others included."""
    return _kib(f"/proc/{pid}/status", "VmRSS:")


def pss_kib(pid: int) -> int:
    """Resident memory of one process with each shared page split among its sharers: sums add up."""
    return _kib(f"/proc/{pid}/smaps_rollup", "Pss:")


def children(pid: int) -> list[int]:
    found: list[int] = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


class Workers:
    """``k`` real ``flask kroncases worker`` processes (with their scheduler and sweeper)."""

    def __init__(self, url: str, options: dict[str, Any], config: dict[str, Any], k: int, simple: bool,
                 tmp: Path) -> None:
        env = dict(os.environ, BENCH_DATABASE_URL=url, BENCH_ENGINE_OPTIONS=json.dumps(options),
                   BENCH_CONFIG=json.dumps(config), PYTHONPATH=str(ROOT))
        self.reports = [tmp / f"worker-{uuid.uuid4().hex[:6]}.json" for _ in range(k)]
        self.logs = [open(tmp / f"{path.stem}.log", "wb") for path in self.reports]
        flags = ["--simple"] if simple else []
        self.processes = [
            subprocess.Popen([sys.executable, "-m", "benchmarks.worker", str(path), *flags], cwd=ROOT, env=env,
                             stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            for path, log in zip(self.reports, self.logs, strict=True)
        ]

    def wait_ready(self, connection: Any, queue_name: str, timeout: float = 60) -> None:
        from rq import Queue, Worker

        deadline = time.monotonic() + timeout
        queue = Queue(queue_name, connection=connection)
        while sum(1 for w in Worker.all(queue=queue) if w.get_state() == "idle") < len(self.processes):
            if time.monotonic() > deadline:
                raise RuntimeError("workers did not start: " + self.logs[0].name)
            time.sleep(0.1)

    def memory(self) -> tuple[int, int]:
        """KiB now: the worker processes' resident memory, and the proportional memory (PSS) of the
        workers with all their children (work horses, scheduler, sweeper), shared pages counted once."""
        own = sum(rss_kib(p.pid) for p in self.processes)
        everything = sum(pss_kib(pid) for p in self.processes for pid in (p.pid, *children(p.pid)))
        return own, everything

    def stop(self) -> list[dict[str, int]]:
        for process in self.processes:
            if process.poll() is None:
                os.kill(process.pid, signal.SIGTERM)
        out = []
        for process, path, log in zip(self.processes, self.reports, self.logs, strict=True):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
            log.close()
            if path.exists():
                out.append(json.loads(path.read_text()))
        return out


# -- the outbox --------------------------------------------------------------------------------------


class Outbox:
    """A throwaway helpdesk database with endpoints, and ways to fill its outbox."""

    def __init__(self, url: str, options: dict[str, Any], config: dict[str, Any]) -> None:
        self.app = host.create_app(url, options, extension=True, **config)
        with self.app.app_context():
            host.db.create_all()
        self.state = self.app.extensions["kroncases"]
        self.endpoints: list[int] = []

    def set_endpoints(self, url: str, count: int) -> None:
        with self.app.app_context():
            Endpoint = self.state.models.WebhookEndpoint
            host.db.session.execute(sa.update(Endpoint).values(enabled=False))
            host.db.session.commit()
            self.endpoints = []
            batch = uuid.uuid4().hex[:6]
            for i in range(count):
                endpoint, _ = self.state.endpoints.create_endpoint(f"{url}?set={batch}&endpoint={i}",
                                                                   events=["case.created"])
                self.endpoints.append(endpoint.id)

    def write(self, count: int, *, due_retry: bool = False) -> list[Any]:
        """``count`` deliveries spread over the endpoints, committed; pending, or retrying and due."""
        from flask_kroncases.models import utcnow

        with self.app.app_context():
            session = host.db.session
            endpoints = [session.get(self.state.models.WebhookEndpoint, e) for e in self.endpoints]
            now = utcnow()
            rows = []
            for i in range(count):
                row = self.state.delivery.new_delivery(endpoints[i % len(endpoints)], "case.created", None,
                                                       {"case": {"id": i, "title": f"Order #{i} fails"}}, now)
                if due_retry:
                    row.status, row.attempts = "retrying", 1
                    row.next_attempt_at = now - timedelta(seconds=1)
                    row.last_error = "Could not connect: connection refused"
                rows.append(row)
            session.add_all(rows)
            session.flush()
            # What dispatch() reads, kept past the commit (which expires the rows).
            made = [SimpleNamespace(id=r.id, endpoint_id=r.endpoint_id, event_id=r.event_id) for r in rows]
            session.commit()
            session.remove()
            return made

    def dispatch(self, rows: list[Any]) -> None:
        with self.app.app_context():
            self.state.delivery.dispatch(rows)

    def sweep(self) -> int:
        with self.app.app_context():
            try:
                return int(self.state.delivery.sweep())
            finally:
                host.db.session.remove()

    def clear(self) -> None:
        with self.app.app_context():
            models = self.state.models
            host.db.session.execute(sa.delete(models.WebhookAttempt))
            host.db.session.execute(sa.delete(models.WebhookDelivery))
            host.db.session.commit()

    def close(self) -> None:
        with self.app.app_context():
            host.db.session.remove()
            host.db.engine.dispose()


# -- the rows ------------------------------------------------------------------------------------------


def reset_queue(redis: Any, queue_name: str) -> None:
    """Empty the queue between runs: what one run left (jobs, scheduled wake-ups, locks) must not slow the next."""
    from rq import Queue

    queue = Queue(queue_name, connection=redis)
    queue.empty()
    registry = queue.scheduled_job_registry
    for job_id in registry.get_job_ids():
        registry.remove(job_id, delete_job=True)
    keys = list(redis.scan_iter(f"kroncases:{queue_name}:*"))
    if keys:
        redis.delete(*keys)


def baseline_rate(receiver: ReceiverProcess, n: int, runs: int = 3) -> float:
    """POSTs per second from a plain loop, a new connection each (``requests.post``): the best of
    ``runs`` loops, so a moment of load on a shared machine does not flatter the ratios."""
    import requests

    body = json.dumps({"id": "evt_x", "type": "case.created", "data": {"case": {"id": 1}}}).encode()
    rates = []
    for run in range(runs):
        receiver.reset()
        began = time.perf_counter()
        for i in range(n):
            requests.post(receiver.url, data=body, timeout=10,
                          headers={"Content-Type": "application/json", "webhook-id": f"base_{run}_{i}"})
        rates.append(n / (time.perf_counter() - began))
    receiver.reset()
    return max(rates)


def measure() -> tuple[list[dict[str, Any]], dict[str, str]]:
    from redis import Redis

    rows: list[dict[str, Any]] = []
    memory: dict[str, str] = {}
    queue_name = f"kroncases-bench-{uuid.uuid4().hex[:8]}"
    redis = Redis.from_url(REDIS_URL)
    receiver = ReceiverProcess()
    tmp = Path(tempfile.mkdtemp(prefix="kroncases-bench-delivery-"))
    config = {
        "KRONCASES_REDIS_URL": REDIS_URL, "KRONCASES_QUEUE_NAME": queue_name,
        "KRONCASES_WEBHOOK_ALLOW_PRIVATE": ["127.0.0.1/32"], "KRONCASES_SWEEP_INTERVAL": 600,
    }
    peaks: list[dict[str, int]] = []

    def row(name: str, ours: str, baseline: str = "", ratio: float | None = None, target: str = "",
            met: bool | None = None, note: str = "") -> None:
        rows.append({"name": name, "database": "postgresql", "ours": ours, "baseline": baseline, "ratio": ratio,
                     "target": target, "met": met, "note": note})
        print(f"  {name}: {ours}" + (f" | baseline {baseline}" if baseline else "")
              + (f" | ratio {ratio:.2f}" if ratio is not None else "")
              + (f" | {'met' if met else 'MISSED'} ({target})" if met is not None else "")
              + (f"  ({note})" if note else ""), flush=True)

    try:
        with throwaway_database("postgresql", "delivery") as (url, options):
            outbox = Outbox(url, options, config)
            try:
                base = baseline_rate(receiver, min(EVENTS, 500))
                row("plain POST loop (baseline)", "", f"{base:.0f}/s",
                    note=f"{min(EVENTS, 500)} POSTs from one process, a new connection each; best of 3")

                for spread in (1, 20):
                    outbox.set_endpoints(receiver.url, spread)
                    for k in (1, 2):
                        outbox.clear()
                        reset_queue(redis, queue_name)
                        receiver.reset()
                        made = outbox.write(EVENTS)
                        outbox.dispatch(made)
                        workers = Workers(url, options, config, k, False, tmp)
                        got = receiver.wait(EVENTS, PATIENCE)
                        peaks += workers.stop()
                        events = receiver.stats()
                        times = sorted(t for ts in events.values() for t in ts)
                        dupes = sum(len(ts) - 1 for ts in events.values())
                        name = f"webhook deliveries/s, {k} × default worker, {spread} endpoint{'s' if spread > 1 else ''}"
                        if got < EVENTS or len(times) < 2:
                            rate = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0
                            row(name, f"{rate:.0f}/s ({got} of {EVENTS} in {PATIENCE:g} s)", f"{base:.0f}/s",
                                rate / (k * base), "≥ 0.5 per worker", False)
                            continue
                        rate = (len(times) - 1) / (times[-1] - times[0])
                        ratio = rate / (k * base)
                        note = f"{EVENTS} deliveries, {dupes} duplicates; first→last receipt"
                        if k > 1 and spread == 1:
                            note += "; one job at a time sends to an endpoint, the second worker has nothing to do"
                        row(name, f"{rate:.0f}/s", f"{base:.0f}/s" + (f" × {k}" if k > 1 else ""), ratio,
                            "≥ 0.5 per worker", ratio >= 0.5, note)

                # The receiver was down; it is back, and the backlog is due.
                outbox.set_endpoints(receiver.url, 1)
                outbox.clear()
                reset_queue(redis, queue_name)
                receiver.reset()
                outbox.write(BACKLOG, due_retry=True)
                workers = Workers(url, options, config, 1, False, tmp)
                workers.wait_ready(redis, queue_name)
                samples: list[tuple[float, int, int]] = []
                stop_sampling = threading.Event()

                def sample() -> None:
                    while not stop_sampling.is_set():
                        own, kids = workers.memory()
                        samples.append((time.monotonic(), own, kids))
                        stop_sampling.wait(0.2)

                sampler = threading.Thread(target=sample, daemon=True)
                began = time.monotonic()
                wall = time.time()
                sampler.start()
                outbox.sweep()
                got = receiver.wait(BACKLOG, max(PATIENCE, BACKLOG / 50))
                stop_sampling.set()
                sampler.join()
                peaks += workers.stop()
                events = receiver.stats()
                times = sorted(t for ts in events.values() for t in ts)
                drained = (times[-1] - wall) if times else float("nan")
                dupes = sum(len(ts) - 1 for ts in events.values())
                if got >= BACKLOG:
                    row(f"drain of a {BACKLOG:,}-delivery backlog, 1 × default worker", f"{drained:.1f} s",
                        note=f"{BACKLOG / drained:.0f}/s; {dupes} duplicates; sweep → last receipt")
                else:
                    took = time.monotonic() - began
                    row(f"drain of a {BACKLOG:,}-delivery backlog, 1 × default worker",
                        f"{got:,} of {BACKLOG:,} in {took:.0f} s", note=f"{got / took:.0f}/s; stopped waiting")
                if samples:
                    tenth = max(1, len(samples) // 10)
                    head, tail = samples[:tenth], samples[-tenth:]

                    def mib(values: Any) -> float:
                        return float(statistics.median(values)) / 1024

                    row("worker memory during the drain",
                        f"worker RSS {mib(s[1] for s in head):.0f} → {mib(s[1] for s in tail):.0f} MiB; "
                        f"with children (PSS) {mib(s[2] for s in head):.0f} → {mib(s[2] for s in tail):.0f} MiB, "
                        f"peak {max(s[2] for s in samples) / 1024:.0f} MiB",
                        note=f"{len(samples)} samples every 0.2 s, first and last tenth; RSS of the worker process, "
                             "PSS of it with its work horses, scheduler and sweeper")

                # Commit → receipt, one idle worker, one delivery at a time.
                outbox.set_endpoints(receiver.url, 1)
                for simple in (False, True):
                    outbox.clear()
                    reset_queue(redis, queue_name)
                    receiver.reset()
                    kind = "--simple worker" if simple else "default worker"
                    workers = Workers(url, options, config, 1, simple, tmp)
                    workers.wait_ready(redis, queue_name)
                    made: list[tuple[str, float]] = []
                    for _ in range(LATENCY_EVENTS):
                        [delivery] = outbox.write(1)
                        committed = time.time()
                        outbox.dispatch([delivery])
                        made.append((delivery.event_id, committed))
                        time.sleep(LATENCY_PAUSE)
                    receiver.wait(LATENCY_EVENTS, 60)
                    peaks += workers.stop()
                    events = receiver.stats()
                    delays = [events[e][0] - t for e, t in made if e in events]
                    if not delays:
                        row(f"webhook commit→receipt, 1 × {kind}", "none arrived")
                        continue
                    p50, p99 = pct(delays, 0.5), pct(delays, 0.99)
                    row(f"webhook commit→receipt, 1 × {kind}", f"p50 {ms(p50)}, p99 {ms(p99)}",
                        target="p50 < 50 ms, p99 < 250 ms" if not simple else "",
                        met=(p50 < 0.050 and p99 < 0.250) if not simple else None,
                        note=f"{len(delays)} of {LATENCY_EVENTS}, one every {LATENCY_PAUSE:g} s")
            finally:
                outbox.close()
    finally:
        receiver.stop()
        purge_queue(queue_name, REDIS_URL)
    if peaks:
        memory["worker process (peak RSS)"] = f"{max(p['self_kib'] for p in peaks) / 1024:.0f} MiB"
        memory["worker's largest child: work horse / sweeper (peak RSS)"] = (
            f"{max(p['children_kib'] for p in peaks) / 1024:.0f} MiB")
    for name, value in memory.items():
        print(f"  {name}: {value}")
    return rows, memory


def delivery_rows(report: Any, row_type: Any) -> None:
    """Add the rows to ``python -m benchmarks``' report (``row_type`` is its ``Row``)."""
    try:
        rows, memory = measure()
        for fields in rows:
            report.add(row_type(**fields))
        report.memory.update(memory)
    except Exception as exc:  # keep the other rows: say what failed
        report.notes.append(f"webhook delivery: failed with {type(exc).__name__}: {exc}")
        print(f"webhook delivery FAILED: {exc!r}", flush=True)


def main() -> None:
    print(f"webhook delivery: {EVENTS:,} deliveries per rate run, a {BACKLOG:,}-delivery backlog, "
          f"{LATENCY_EVENTS} one by one" + (" (BENCH_QUICK)" if QUICK else ""), flush=True)
    measure()


if __name__ == "__main__":
    main()
