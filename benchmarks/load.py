"""Load over real HTTP: the demo helpdesk under gunicorn, PostgreSQL, Redis, two workers, many agents.

``python -m benchmarks.load`` runs the full version: the demo host
(``examples.host_app:create_app()``) served by gunicorn with 4 processes on a
PostgreSQL schema of its own, ``KRONCASES_JOB_RUNNER=rq`` with 2 default
``flask --app examples.host_app kroncases worker`` processes on the real Redis,
and 100 agents for 60 s. Each agent is a thread with an HTTP session of its own:
it signs in through the demo's ``/login`` form (CSRF field and all), reads the
``kroncases-csrf-token`` meta tag of the page it lands on, then works its own
conversation through the JSON API with the ``X-CSRFToken`` header: creates cases,
moves them (pending and back, assign to itself, a teammate or nobody, escalate),
resolves and reopens them, with a short pause between requests. A webhook
endpoint (made through the endpoint service) points at a receiver process on
127.0.0.1 that counts event ids.

When the time is up it waits until the outbox is empty, then one sweep longer,
and reports: requests/s, p50/p99 latency (all API requests and per action),
errors (any unexpected answer, a refused connection, a traceback in a server
log), webhook deliveries sent / received / lost / duplicated, and whether the
events are exactly what the case activity says happened. It exits 1 on any
error, lost or duplicated delivery.

Environment: ``LOAD_AGENTS`` (100), ``LOAD_SECONDS`` (60), ``LOAD_PROCESSES``
(gunicorn processes, 4), ``LOAD_THREADS`` (threads per gunicorn process, 1: the
sync worker), ``LOAD_WORKERS`` (kroncases workers, 2), ``LOAD_SIMPLE=1`` (``--simple`` workers: no fork per job), ``LOAD_THINK`` (seconds an
agent pauses between requests, ``min,max``, default ``0.05,0.25``),
``BENCH_POSTGRES_URL``, ``BENCH_REDIS_URL``.

The test suite runs a short version (``tests/test_load.py``) through :func:`load_run`.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urljoin

import requests
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.delivery import ReceiverProcess, children, pct  # noqa: E402

POSTGRES_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
#: The events the endpoint subscribes to: every one an agent's action can cause.
EVENTS = ["case.created", "case.resolved", "case.escalated", "case.reopened", "case.assigned"]
TEAMS = ("support", "billing")
PASSWORD = "demo"


@dataclass
class Settings:
    agents: int = 100
    seconds: float = 60.0
    #: gunicorn processes, and threads in each (1: the sync worker, one request at a time).
    processes: int = 4
    threads: int = 1
    #: ``flask kroncases worker`` processes (default ones: a forked work horse per job).
    workers: int = 2
    #: ``--simple`` workers: jobs in the worker process, no fork per job.
    simple: bool = False
    #: Pause between two requests of one agent, drawn uniformly from this range.
    think: tuple[float, float] = (0.05, 0.25)
    sweep_interval: float = 5.0
    #: The most to wait for the outbox to empty after the load.
    patience: float = 180.0
    seed: int = 7

    @property
    def messages_per_agent(self) -> int:
        """Enough for a case every second or so; an agent that runs out reopens its old cases."""
        return max(12, int(self.seconds))

    @classmethod
    def from_env(cls) -> Settings:
        low, high = (float(x) for x in os.environ.get("LOAD_THINK", "0.05,0.25").split(","))
        return cls(agents=int(os.environ.get("LOAD_AGENTS", "100")),
                   seconds=float(os.environ.get("LOAD_SECONDS", "60")),
                   processes=int(os.environ.get("LOAD_PROCESSES", "4")),
                   threads=int(os.environ.get("LOAD_THREADS", "1")),
                   workers=int(os.environ.get("LOAD_WORKERS", "2")),
                   simple=os.environ.get("LOAD_SIMPLE") == "1",
                   think=(low, high))


def with_search_path(url: str, schema: str) -> str:
    """``url`` with every connection put in ``schema`` (psycopg's ``options``): one string for
    processes that only read ``DATABASE_URL``."""
    return f"{url}{'&' if '?' in url else '?'}options={quote(f'-csearch_path={schema}', safe='')}"


@contextmanager
def postgres_schema(url: str = POSTGRES_URL) -> Iterator[str]:
    """A fresh schema, dropped with everything in it afterwards."""
    import psycopg

    schema = f"load_{uuid.uuid4().hex[:12]}"
    plain = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield schema
    finally:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


# -- the helpdesk ------------------------------------------------------------------------------------


@dataclass
class Plan:
    """One agent's account and the conversation it works on."""

    email: str
    user_id: int
    team: str
    conversation_id: int
    message_ids: list[int]
    #: Others who may own its cases (the same team).
    teammates: list[int]


def seed_helpdesk(app: Any, cases: Any, settings: Settings, receiver_url: str) -> list[Plan]:
    """Agents (own accounts, two teams), a conversation with messages each, and the webhook endpoint.

    Done once before gunicorn starts, so its processes only find a seeded database.
    """
    from werkzeug.security import generate_password_hash

    from examples.host_app.models import Conversation, Message, User, db

    with app.app_context():
        password_hash = generate_password_hash(PASSWORD)  # one hash for all: scrypt is slow on purpose
        users = [User(name=f"Agent {i:03d}", email=f"agent{i:03d}@load.example.com", password_hash=password_hash,
                      team=TEAMS[i % 2], locale="en", timezone="UTC") for i in range(settings.agents)]
        conversations = [Conversation(subject=f"Customer {i:03d} cannot pay", customer_name=f"Customer {i:03d}",
                                      customer_email=f"customer{i:03d}@example.com", team=TEAMS[i % 2],
                                      status="open") for i in range(settings.agents)]
        db.session.add_all(users + conversations)
        db.session.flush()
        per_agent = settings.messages_per_agent
        db.session.execute(sa.insert(Message), [
            {"conversation_id": c.id, "author_role": "customer", "author_name": c.customer_name,
             "body": f"Message {j} of {c.customer_name}: checkout fails with ERR_GATEWAY_TIMEOUT."}
            for c in conversations for j in range(per_agent)
        ])
        db.session.commit()
        messages: dict[int, list[int]] = {}
        for conversation_id, message_id in db.session.execute(
                sa.select(Message.conversation_id, Message.id).order_by(Message.id)):
            messages.setdefault(conversation_id, []).append(message_id)
        team_of = {u.id: u.team for u in db.session.scalars(sa.select(User).where(User.is_admin.is_(False)))}
        plans = [Plan(u.email, u.id, u.team, c.id, messages[c.id],
                      [key for key, team in team_of.items() if team == u.team and key != u.id])
                 for u, c in zip(users, conversations, strict=True)]
        cases.state.endpoints.create_endpoint(receiver_url, events=EVENTS, description="load test receiver")
        db.session.remove()
    return plans


# -- the processes ---------------------------------------------------------------------------------


def _stop(process: subprocess.Popen[bytes], grace: float) -> None:
    """SIGTERM (gunicorn and RQ both stop warmly on it), then SIGKILL the process group."""
    if process.poll() is None:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(process.pid, signal.SIGKILL)  # what is left of the group (forked children)
    except ProcessLookupError:
        pass
    process.wait(timeout=10)


class Gunicorn:
    """The demo under gunicorn on a socket bound here (``fd://``), so the port is known without a race."""

    def __init__(self, env: dict[str, str], settings: Settings, log: Path) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(2048)
        self.socket.set_inheritable(True)
        self.port = self.socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        env = {**env, "KRONCASES_BASE_URL": self.url}  # where webhook bodies link back to
        worker_class = ["--worker-class", "gthread", "--threads", str(settings.threads)] if settings.threads > 1 else []
        out = open(log, "wb")  # the error log (stderr): tracebacks of the app end up here
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--workers", str(settings.processes), *worker_class,
             "--bind", f"fd://{self.socket.fileno()}", "--backlog", "2048", "--timeout", "60",
             "--graceful-timeout", "20", "--log-level", "warning", "examples.host_app:create_app()"],
            cwd=ROOT, env=env, pass_fds=[self.socket.fileno()], stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        out.close()

    def wait_ready(self, timeout: float = 60) -> None:
        """Until every process answers: a process still building its app leaves requests in the backlog."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}:\n{self.output()}")
            try:
                if requests.get(self.url + "/login", timeout=5).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not answer in {timeout:g} s:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> None:
        _stop(self.process, 25)
        self.socket.close()


class Workers:
    """``flask --app examples.host_app kroncases worker`` processes, named after the queue."""

    def __init__(self, env: dict[str, str], count: int, queue_name: str, tmp: Path, simple: bool = False) -> None:
        self.logs = [tmp / f"worker-{i}.log" for i in range(count)]
        self.processes = []
        for i, path in enumerate(self.logs):
            with open(path, "wb") as log:
                self.processes.append(subprocess.Popen(
                    [sys.executable, "-m", "flask", "--app", "examples.host_app", "kroncases", "worker",
                     "--name", f"{queue_name}-load-{i}", *(["--simple"] if simple else [])],
                    cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                ))

    def wait_ready(self, redis_url: str, queue_name: str, timeout: float = 60) -> None:
        from redis import Redis
        from rq import Queue, Worker

        redis = Redis.from_url(redis_url)
        queue = Queue(queue_name, connection=redis)
        deadline = time.monotonic() + timeout
        try:
            while sum(1 for w in Worker.all(queue=queue) if w.get_state() == "idle") < len(self.processes):
                dead = [p.returncode for p in self.processes if p.poll() is not None]
                if dead or time.monotonic() > deadline:
                    raise RuntimeError(f"workers did not start (exit codes {dead}):\n{self.output()}")
                time.sleep(0.1)
        finally:
            redis.close()

    def alive(self) -> bool:
        return all(p.poll() is None for p in self.processes)

    def output(self) -> str:
        return "\n".join(path.read_text(errors="replace") for path in self.logs if path.exists())

    def stop(self) -> None:
        for process in self.processes:
            _stop(process, 30)


def purge_redis(redis_url: str, queue_name: str) -> None:
    """Every key of the run's queue and workers (job keys are deleted with the queue's registries by RQ)."""
    from redis import Redis
    from rq import Queue

    redis = Redis.from_url(redis_url)
    try:
        queue = Queue(queue_name, connection=redis)
        job_ids = set(queue.get_job_ids())
        for registry in (queue.started_job_registry, queue.finished_job_registry, queue.failed_job_registry,
                         queue.deferred_job_registry, queue.scheduled_job_registry, queue.canceled_job_registry):
            job_ids.update(m.decode().split(":")[0] for m in redis.zrange(registry.key, 0, -1))  # type: ignore[union-attr]
        keys = set(redis.scan_iter(f"*{queue_name}*", count=1000))
        if job_ids:
            keys.update(k for k in redis.scan_iter("rq:*", count=1000) if set(k.decode().split(":")[2:3]) & job_ids)
        if keys:
            redis.delete(*keys)
        for members in ("rq:queues", "rq:workers"):
            stale = [m for m in redis.smembers(members) if queue_name.encode() in m]  # type: ignore[union-attr]
            if stale:
                redis.srem(members, *stale)
    finally:
        redis.close()


def _cpu(pid: int, reaped: bool = False) -> float:
    """CPU seconds (user + system) of a process; with ``reaped``, of its waited-for children too."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = int(fields[11]) + int(fields[12]) + (int(fields[13]) + int(fields[14]) if reaped else 0)
    return ticks / os.sysconf("SC_CLK_TCK")


def _postgres_pids() -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if Path(f"/proc/{entry}/comm").read_text().strip() == "postgres":
                    found.append(int(entry))
            except OSError:
                continue
    return found


def cpu_snapshot(server: Gunicorn, workers: Workers, receiver: ReceiverProcess) -> dict[str, float]:
    """CPU seconds so far of each part: where a saturated machine spends its time.

    The kroncases workers count with their finished work horses (reaped children);
    PostgreSQL counts every backend on the server, other users' too.
    """
    own = os.times()
    return {
        "gunicorn": sum(_cpu(pid) for pid in children(server.process.pid)),
        "kroncases workers": sum(_cpu(p.pid, reaped=True) + sum(_cpu(c) for c in children(p.pid))
                                 for p in workers.processes),
        "PostgreSQL": sum(_cpu(pid) for pid in _postgres_pids()),
        "agents (this process)": own.user + own.system,
        "receiver": _cpu(receiver.process.pid),
    }


# -- the agents --------------------------------------------------------------------------------------

CSRF_FIELD = re.compile(r'<input[^>]*name="csrf_token"[^>]*value="([^"]+)"')
CSRF_META = re.compile(r'<meta name="kroncases-csrf-token" content="([^"]+)"')
#: What each API action must answer; anything else is an error.
EXPECTED = {"create": 201}


@dataclass
class CaseState:
    id: int
    status: str = "open"
    assignee: int | None = None


class Agent(threading.Thread):
    """One agent's session: sign in, then work its conversation's cases until ``until``."""

    def __init__(self, base_url: str, plan: Plan, think: tuple[float, float], seed: int) -> None:
        super().__init__(name=f"agent-{seed}", daemon=True)
        self.base, self.plan, self.think = base_url, plan, think
        self.rng = random.Random(seed)
        self.http = requests.Session()
        self.csrf = ""
        self.errors: list[str] = []
        self.timings: list[tuple[str, float]] = []
        self.signed_in_after = 0.0
        self.cases: list[CaseState] = []
        self.until = 0.0
        self.go = threading.Event()
        self.ready = threading.Event()
        self.messages = list(plan.message_ids)

    # -- sign in ----------------------------------------------------------------------------------

    def sign_in(self) -> None:
        began = time.perf_counter()
        page = self.http.get(self.base + "/login", timeout=60)
        field = CSRF_FIELD.search(page.text)
        if page.status_code != 200 or field is None:
            raise AssertionError(f"GET /login: {page.status_code}, no csrf_token field")
        answer = self.http.post(self.base + "/login", timeout=60, allow_redirects=False,
                                data={"csrf_token": field.group(1), "email": self.plan.email, "password": PASSWORD})
        if answer.status_code != 302:
            raise AssertionError(f"POST /login: {answer.status_code} {answer.text[:200]}")
        landing = self.http.get(urljoin(self.base + "/login", answer.headers["Location"]), timeout=60)
        meta = CSRF_META.search(landing.text)
        if landing.status_code != 200 or meta is None:
            raise AssertionError(f"after sign-in: {landing.status_code}, no kroncases-csrf-token meta tag")
        self.csrf = meta.group(1)
        self.signed_in_after = time.perf_counter() - began

    # -- the API -------------------------------------------------------------------------------------

    def call(self, action: str, path: str, body: Any = None, *, status: str | None = None) -> Any:
        """POST to the API, time it, check the answer (code, and the case's status if given)."""
        began = time.perf_counter()
        response = self.http.post(f"{self.base}/kroncases/api{path}", json=body, timeout=60,
                                  headers={"X-CSRFToken": self.csrf})
        self.timings.append((action, time.perf_counter() - began))
        expected = EXPECTED.get(action, 200)
        try:
            data = response.json()
        except ValueError:
            data = None
        if response.status_code != expected or not isinstance(data, dict) or "case" not in data:
            self.errors.append(f"{action} {path}: {response.status_code} {response.text[:300]}")
            return None
        if status is not None and data["case"]["status"] != status:
            self.errors.append(f"{action} {path}: status {data['case']['status']!r}, expected {status!r}")
            return None
        return data["case"]

    def pause(self) -> None:
        time.sleep(self.rng.uniform(*self.think))

    def more(self) -> bool:
        return time.monotonic() < self.until

    def create(self, cycle: int) -> CaseState | None:
        take = [self.messages.pop(0) for _ in range(min(len(self.messages), self.rng.choice((1, 1, 2))))]
        created = self.call("create", f"/conversations/{self.plan.conversation_id}/cases", {
            "title": f"{self.plan.email.split('@')[0]} case {cycle}: <b>ünïcode</b> & checkout",
            "case_type": self.rng.choice(["technical", "billing", "general"]),
            "priority": self.rng.choice(["low", "medium", "high", "urgent"]),
            "summary": "Checkout fails with ERR_GATEWAY_TIMEOUT.", "message_ids": [str(key) for key in take],
        }, status="open")
        if created is None:
            return None
        case = CaseState(created["id"])
        self.cases.append(case)
        return case

    def move(self, case: CaseState) -> None:
        """One move that is allowed from where the case is; never resolve here."""
        moves = ["assign", "escalate", "pending" if case.status == "open" else "open"]
        move = self.rng.choice(moves)
        if move == "assign":
            choices: list[Any] = ["me", self.rng.choice(self.plan.teammates), None]
            mine = {"me": self.plan.user_id}
            choices = [c for c in choices if mine.get(c, c) != case.assignee]
            target = self.rng.choice(choices)
            if self.call("assign", f"/cases/{case.id}/assign", {"assignee": target}) is not None:
                case.assignee = mine.get(target, target)
        elif move == "escalate":
            self.call("escalate", f"/cases/{case.id}/escalate", {"reason": "The customer is waiting."},
                      status=case.status)
        elif self.call("status", f"/cases/{case.id}/status", {"status": move}, status=move) is not None:
            case.status = move

    def work(self, case: CaseState) -> None:
        """A few moves, resolve; now and then reopen, move again and resolve again."""
        # Every agent's first case is reopened (so even a short, slow run sees reopens), then one in four.
        rounds = 2 if len(self.cases) == 1 or self.rng.random() < 0.25 else 1
        for round_ in range(rounds):
            if round_:
                if not self.more():
                    return
                self.pause()
                if self.call("reopen", f"/cases/{case.id}/reopen", status="open") is None:
                    return
                case.status = "open"
            for _ in range(self.rng.randint(0, 3)):
                if not self.more():
                    return
                self.pause()
                self.move(case)
            if not self.more():
                return
            self.pause()
            if self.call("resolve", f"/cases/{case.id}/resolve", status="resolved") is not None:
                case.status = "resolved"

    def run(self) -> None:
        try:
            self.sign_in()
        except Exception as exc:
            self.errors.append(f"sign-in: {type(exc).__name__}: {exc}")
            return
        finally:
            self.ready.set()
        self.go.wait()
        try:
            cycle = 0
            while self.more():
                cycle += 1
                if self.messages:
                    case = self.create(cycle)
                else:  # out of messages: back to an old case
                    resolved = [c for c in self.cases if c.status == "resolved"]
                    case = self.rng.choice(resolved) if resolved else None
                    if case is not None:
                        self.pause()
                        if self.call("reopen", f"/cases/{case.id}/reopen", status="open") is None:
                            case = None
                        else:
                            case.status = "open"
                if case is None:
                    self.pause()
                    continue
                self.work(case)
                self.pause()
        except Exception as exc:  # a refused connection, a timeout: errors too
            self.errors.append(f"{type(exc).__name__}: {exc}")


# -- the outcome -------------------------------------------------------------------------------------


def event_of(kind: str, from_status: str | None, to_status: str | None) -> str | None:
    """The webhook event an activity entry causes, if any."""
    if kind == "created":
        return "case.created"
    if kind == "escalated":
        return "case.escalated"
    if kind == "assigned":
        return "case.assigned"
    if kind == "status_changed" and to_status == "resolved":
        return "case.resolved"
    if kind == "status_changed" and from_status == "resolved":
        return "case.reopened"
    return None


@dataclass
class Delivery:
    event_id: str
    case_id: int | None
    event_type: str
    status: str
    attempts: int


@dataclass
class Outcome:
    settings: Settings
    #: The demo app this process seeded, on the run's schema (still there inside :func:`load_run`).
    app: Any = None
    cases: Any = None
    errors: list[str] = field(default_factory=list)
    timings: list[tuple[str, float]] = field(default_factory=list)
    sign_in: list[float] = field(default_factory=list)
    window: float = 0.0
    settle: float = 0.0
    #: The machine's load average (1 min) before the run, and its cores: a shared machine shows in the figures.
    machine: tuple[float, int] = (0.0, 0)
    #: CPU seconds each part used from the start of the load until the outbox was empty.
    cpu: dict[str, float] = field(default_factory=dict)
    #: Seconds each phase took: seeding, start (gunicorn and workers), sign-in, load, settle, stop.
    phases: dict[str, float] = field(default_factory=dict)
    case_ids: list[int] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    #: Event id → times of receipt, at the receiver.
    received: dict[str, list[float]] = field(default_factory=dict)
    #: (case id, event type) counted from the case activity, from the outbox, from the receiver.
    expected: Counter[tuple[int, str]] = field(default_factory=Counter)
    delivered: Counter[tuple[int, str]] = field(default_factory=Counter)

    @property
    def requests(self) -> int:
        return len(self.timings)

    @property
    def lost(self) -> list[str]:
        return [d.event_id for d in self.deliveries if d.event_id not in self.received]

    @property
    def duplicates(self) -> dict[str, int]:
        return {event_id: len(times) - 1 for event_id, times in self.received.items() if len(times) > 1}

    @property
    def strangers(self) -> list[str]:
        """Received ids the outbox never had."""
        known = {d.event_id for d in self.deliveries}
        return [event_id for event_id in self.received if event_id not in known]

    def report(self) -> list[str]:
        s = self.settings
        lines = [f"load: {s.agents} agents for {s.seconds:g} s; gunicorn {s.processes} processes"
                 + (f" × {s.threads} threads" if s.threads > 1 else "") + f", {s.workers} {'--simple' if s.simple else 'default'} workers, "
                 f"PostgreSQL, Redis; pause {s.think[0]:g}–{s.think[1]:g} s between requests"]
        if self.sign_in:
            lines.append(f"  sign-in (GET /login, POST /login, the inbox): p50 {pct(self.sign_in, 0.5) * 1000:.0f} ms, "
                         f"slowest {max(self.sign_in) * 1000:.0f} ms")
        if self.timings:
            every = [t for _, t in self.timings]
            lines.append(f"  API requests: {self.requests} in {self.window:.1f} s = {self.requests / self.window:.0f}/s; "
                         f"latency p50 {pct(every, 0.5) * 1000:.0f} ms, p99 {pct(every, 0.99) * 1000:.0f} ms, "
                         f"max {max(every) * 1000:.0f} ms")
            by_action: dict[str, list[float]] = {}
            for action, took in self.timings:
                by_action.setdefault(action, []).append(took)
            for action, took in sorted(by_action.items(), key=lambda item: -len(item[1])):
                lines.append(f"    {action:9} {len(took):6}  p50 {pct(took, 0.5) * 1000:5.0f} ms  "
                             f"p99 {pct(took, 0.99) * 1000:5.0f} ms")
        lines.append(f"  errors: {len(self.errors)}" + (f" (first: {self.errors[:3]})" if self.errors else ""))
        delivered = sum(1 for d in self.deliveries if d.status == "delivered")
        retried = sum(1 for d in self.deliveries if d.attempts > 1)
        lines.append(f"  webhooks: {len(self.case_ids)} cases, {len(self.deliveries)} events in the outbox, "
                     f"{delivered} delivered ({retried} after a retry), {len(self.received)} distinct ids received, "
                     f"{len(self.lost)} lost, {sum(self.duplicates.values())} duplicates, {len(self.strangers)} unknown; "
                     f"outbox empty {self.settle:.1f} s after the load")
        lines.append("  events match the activity: " + ("yes" if self.expected == self.delivered else
                                                          f"NO ({sum((self.expected - self.delivered).values())} "
                                                          f"missing, {sum((self.delivered - self.expected).values())} extra)"))
        if self.cpu and self.timings:
            total = self.window + self.settle
            lines.append(f"  CPU in {total:.0f} s ({self.machine[1] * total:.0f} core-seconds on the machine): "
                         + ", ".join(f"{part} {used:.1f} s" for part, used in self.cpu.items())
                         + f"; gunicorn {self.cpu['gunicorn'] / self.requests * 1000:.1f} ms per API request")
        lines.append(f"  machine: {self.machine[1]} cores, load average {self.machine[0]:.1f} before the run")
        lines.append("  phases: " + ", ".join(f"{name} {took:.1f} s" for name, took in self.phases.items()))
        return lines

    @property
    def ok(self) -> bool:
        return (not self.errors and not self.lost and not self.duplicates and not self.strangers
                and self.expected == self.delivered and bool(self.deliveries))


def _read_outbox(outcome: Outcome) -> None:
    """Fill the outcome from the database: deliveries and what the activity says should have been sent."""
    from examples.host_app.models import db

    with outcome.app.app_context():
        models = outcome.cases.state.models
        session = db.session
        outcome.deliveries = [Delivery(d.event_id, d.case_id, d.event_type, d.status, d.attempts)
                             for d in session.scalars(sa.select(models.WebhookDelivery).order_by(models.WebhookDelivery.id))]
        activity = session.execute(sa.select(models.CaseActivity.case_id, models.CaseActivity.kind,
                                             models.CaseActivity.from_status, models.CaseActivity.to_status))
        outcome.expected = Counter((case_id, event) for case_id, kind, old, new in activity
                                  if (event := event_of(kind, old, new)) is not None)
        outcome.delivered = Counter((d.case_id, d.event_type) for d in outcome.deliveries)
        session.remove()


def _outbox_empty(outcome: Outcome) -> tuple[int, int]:
    """Deliveries not delivered yet, and all deliveries."""
    from examples.host_app.models import db

    with outcome.app.app_context():
        Delivery_ = outcome.cases.state.models.WebhookDelivery
        try:
            waiting = db.session.scalar(sa.select(sa.func.count()).where(Delivery_.status != "delivered"))
            total = db.session.scalar(sa.select(sa.func.count()).select_from(Delivery_))
            return int(waiting or 0), int(total or 0)
        finally:
            db.session.remove()


@contextmanager
def load_run(settings: Settings, *, database_url: str, redis_url: str = REDIS_URL, queue_name: str | None = None,
             tmp: Path | None = None) -> Iterator[Outcome]:
    """Run the load and yield its outcome, every process stopped but the database still there.

    ``database_url`` must land every connection in a fresh schema (see :func:`with_search_path`).
    """
    queue_name = queue_name or f"kroncases-load-{uuid.uuid4().hex[:8]}"
    tmp = tmp or Path(tempfile.mkdtemp(prefix="kroncases-load-"))
    outcome = Outcome(settings, machine=(os.getloadavg()[0], os.cpu_count() or 0))
    with ExitStack() as stack:
        stack.callback(purge_redis, redis_url, queue_name)
        receiver = ReceiverProcess()
        stack.callback(receiver.stop)
        config = {
            "KRONCASES_JOB_RUNNER": "rq",
            "KRONCASES_REDIS_URL": redis_url,
            "KRONCASES_QUEUE_NAME": queue_name,
            "KRONCASES_WEBHOOK_ALLOW_PRIVATE": ["127.0.0.1/32"],
            "KRONCASES_SWEEP_INTERVAL": settings.sweep_interval,
        }
        from examples.host_app import cases, create_app
        from examples.host_app.models import db

        app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "DEMO_CASES": False, **config})
        outcome.app, outcome.cases = app, cases

        def dispose() -> None:
            with app.app_context():
                db.session.remove()
                db.engine.dispose()

        stack.callback(dispose)
        clock = time.monotonic()

        def phase(name: str) -> None:
            nonlocal clock
            now = time.monotonic()
            outcome.phases[name] = now - clock
            clock = now

        plans = seed_helpdesk(app, cases, settings, receiver.url)
        phase("seed")

        env = {key: value for key, value in os.environ.items() if not key.startswith("KRONCASES_")}
        env.update({key: json.dumps(value) for key, value in config.items()})
        env.update(DATABASE_URL=database_url, DEMO_CASES="0", SECRET_KEY=uuid.uuid4().hex, PYTHONPATH=str(ROOT),
                   FLASK_DEBUG="0")
        server = Gunicorn(env, settings, tmp / "gunicorn.log")
        stack.callback(server.stop)
        env["KRONCASES_BASE_URL"] = server.url
        workers = Workers(env, settings.workers, queue_name, tmp, settings.simple)
        stack.callback(workers.stop)
        server.wait_ready()
        workers.wait_ready(redis_url, queue_name)
        phase("start")

        agents = [Agent(server.url, plan, settings.think, settings.seed * 1000 + i) for i, plan in enumerate(plans)]
        for agent in agents:
            agent.start()
        for agent in agents:
            agent.ready.wait(120)
        phase("sign-in")
        cpu_before = cpu_snapshot(server, workers, receiver)
        began = time.monotonic()
        for agent in agents:
            agent.until = began + settings.seconds
            agent.go.set()
        for agent in agents:
            agent.join(settings.seconds + 120)
        outcome.window = time.monotonic() - began
        phase("load")
        if any(agent.is_alive() for agent in agents):
            outcome.errors.append("an agent hung")
        for agent in agents:
            outcome.errors += agent.errors
            outcome.timings += agent.timings
            outcome.case_ids += [case.id for case in agent.cases]
            if agent.signed_in_after:
                outcome.sign_in.append(agent.signed_in_after)

        # The outbox empties, then one more sweep and lease check: nothing may be sent again.
        load_done = time.monotonic()
        while True:
            waiting, total = _outbox_empty(outcome)
            if (waiting == 0 and receiver.count() >= total) or time.monotonic() - load_done > settings.patience:
                break
            if not workers.alive():
                break
            time.sleep(0.2)
        outcome.settle = time.monotonic() - load_done
        cpu_after = cpu_snapshot(server, workers, receiver)
        outcome.cpu = {part: cpu_after[part] - cpu_before[part] for part in cpu_before}
        time.sleep(settings.sweep_interval + 2.5)
        if not workers.alive():
            outcome.errors.append("a worker exited:\n" + workers.output()[-3000:])
        outcome.received = receiver.stats()
        phase("settle")
        workers.stop()
        server.stop()
        phase("stop")
        for name, text in (("gunicorn", server.output()), ("worker", workers.output())):
            if "Traceback" in text:
                outcome.errors.append(f"a traceback in the {name} log:\n{text[text.index('Traceback'):][:3000]}")
        _read_outbox(outcome)
        yield outcome


def main() -> None:
    settings = Settings.from_env()
    print(f"load: {settings.agents} agents, {settings.seconds:g} s, gunicorn × {settings.processes}, "
          f"{settings.workers} workers ...", flush=True)
    with postgres_schema() as schema, load_run(settings, database_url=with_search_path(POSTGRES_URL, schema)) as outcome:
        print("\n".join(outcome.report()))
        for error in outcome.errors[:20]:
            print("  error:", error)
    sys.exit(0 if outcome.ok else 1)


if __name__ == "__main__":
    main()
