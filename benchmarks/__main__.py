"""``python -m benchmarks``: build a large helpdesk, measure ours against a baseline, print a table.

Every row times the extension against a baseline in the same run, on the same
data: the host's own page without the extension, a bare host endpoint that
inserts one row, a plain loop of HTTP POSTs. Pages are requested through the
WSGI app (werkzeug's test client: routing, sessions, CSRF, templates, SQL —
no network), ours and the baseline interleaved, medians compared. Webhooks go
through real ``flask kroncases worker`` processes on the real Redis to a
receiver in a process of its own on 127.0.0.1 (``benchmarks/delivery.py``).

Environment (all optional):

``BENCH_QUICK=1``            a small run (10,000 conversations, fewer repetitions) in about a minute
``BENCH_CONVERSATIONS``      conversations (default 100000; two messages each)
``BENCH_CASES``              cases in the bulk (default half the conversations)
``BENCH_DATABASES``          ``sqlite,postgresql`` (default both)
``BENCH_POSTGRES_URL``       default ``postgresql+psycopg://postgres@127.0.0.1:5432/test`` (a schema of its own is made and dropped)
``BENCH_REDIS_URL``          default ``redis://127.0.0.1:6379/0`` (a queue of its own)
``BENCH_REPEAT``             requests per page measurement (default 60)
``BENCH_CREATES``            case creations measured (default 300)
``BENCH_EVENTS``             webhook deliveries per throughput run (default 2000)
``BENCH_BACKLOG``            deliveries in the backlog a worker drains once the receiver is back (default 10000)
``BENCH_LATENCY_EVENTS``     deliveries made one by one for the commit→receipt delay (default 40, one every 0.25 s)
``BENCH_SUGGESTIONS``        suggestion requests timed from POST to done with one default worker (default 150)
``BENCH_RESULTS``            where to write the Markdown results (default ``benchmarks/RESULTS.md``; ``-`` to skip)

Prints a table of figures and ratios with the targets of the issue, a profile
for every target missed, peak memory of the web process and of the workers, and
writes the same to ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import cProfile
import io
import os
import platform
import pstats
import resource
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import data as bench_data  # noqa: E402
from benchmarks import host  # noqa: E402
from benchmarks.common import POSTGRES_URL, count_statements, throwaway_database  # noqa: E402

QUICK = os.environ.get("BENCH_QUICK") == "1"


def _int(name: str, default: int, quick: int) -> int:
    return int(os.environ.get(name, quick if QUICK else default))


CONVERSATIONS = _int("BENCH_CONVERSATIONS", 100_000, 10_000)
CASES = int(os.environ.get("BENCH_CASES", CONVERSATIONS // 2))
REPEAT = _int("BENCH_REPEAT", 60, 15)
CREATES = _int("BENCH_CREATES", 300, 60)
DATABASES = [d for d in os.environ.get("BENCH_DATABASES", "sqlite,postgresql").split(",") if d]
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
RESULTS = os.environ.get("BENCH_RESULTS", str(ROOT / "benchmarks" / "RESULTS.md"))


# -- results ------------------------------------------------------------------


@dataclass
class Row:
    name: str
    database: str
    ours: str
    baseline: str
    ratio: float | None = None
    target: str = ""
    met: bool | None = None
    note: str = ""

    @property
    def verdict(self) -> str:
        return "" if self.met is None else ("met" if self.met else "MISSED")


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    profiles: dict[str, str] = field(default_factory=dict)
    memory: dict[str, str] = field(default_factory=dict)
    builds: dict[str, str] = field(default_factory=dict)

    def add(self, row: Row) -> None:
        self.rows.append(row)
        print(f"  {row.name} [{row.database}]: ours {row.ours} | baseline {row.baseline}"
              + (f" | ratio {row.ratio:.2f}" if row.ratio is not None else "")
              + (f" | target {row.target}: {row.verdict}" if row.target else ""), flush=True)

    def table(self) -> str:
        header = ["row", "db", "ours", "baseline", "ratio", "target", "verdict"]
        lines = [[r.name, r.database, r.ours, r.baseline, "" if r.ratio is None else f"{r.ratio:.2f}",
                  r.target, r.verdict] for r in self.rows]
        widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
        out = ["| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |",
               "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
        out += ["| " + " | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) + " |" for line in lines]
        return "\n".join(out)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- databases ----------------------------------------------------------------


@dataclass
class Dataset:
    name: str
    url: str
    engine_options: dict[str, Any]
    layout: bench_data.Layout | None = None


@contextmanager
def dataset(name: str) -> Iterator[Dataset]:
    with throwaway_database(name, "bench") as (url, options):
        yield Dataset(name, url, options)


# -- clients ---------------------------------------------------------------------


class Client:
    """A signed-in werkzeug test client with the CSRF token, like the UI script."""

    def __init__(self, app: Any, user_id: int) -> None:
        from flask_login import FlaskLoginClient

        app.test_client_class = FlaskLoginClient
        with app.app_context():
            user = host.db.session.get(host.User, user_id)
            self.client = app.test_client(user=user)
        self.token = self.client.get("/csrf").get_data(as_text=True)

    def get(self, url: str) -> Any:
        response = self.client.get(url)
        if response.status_code != 200:
            raise RuntimeError(f"GET {url}: {response.status_code} {response.get_data(as_text=True)[:300]}")
        return response

    def post(self, url: str, body: Any, expect: int = 201) -> Any:
        response = self.client.post(url, json=body, headers={"X-CSRFToken": self.token})
        if response.status_code != expect:
            raise RuntimeError(f"POST {url}: {response.status_code} {response.get_data(as_text=True)[:300]}")
        return response


def interleaved(ours: Callable[[], Any], base: Callable[[], Any], n: int, warmup: int = 3) -> tuple[list[float], list[float]]:
    """Time ``n`` calls of each, alternating which goes first."""
    for _ in range(warmup):
        ours()
        base()
    t_ours: list[float] = []
    t_base: list[float] = []
    for i in range(n):
        pair = ((ours, t_ours), (base, t_base)) if i % 2 == 0 else ((base, t_base), (ours, t_ours))
        for fn, sink in pair:
            began = time.perf_counter()
            fn()
            sink.append(time.perf_counter() - began)
    return t_ours, t_base


def profile(fn: Callable[[], Any], n: int = 10, limit: int = 14) -> str:
    """Where the time of ``n`` calls goes: the extension's own functions first, then the hottest overall."""
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(n):
        fn()
    prof.disable()
    stats = pstats.Stats(prof)
    total = stats.total_tt  # type: ignore[attr-defined]
    rows = []
    for (filename, line, func), (_cc, nc, tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        rows.append((ct, tt, nc, filename, line, func))
    def short(path: str) -> str:
        for marker in ("flask_kroncases/", "site-packages/", "benchmarks/"):
            if marker in path:
                return path.split(marker, 1)[1] if marker != "flask_kroncases/" else "flask_kroncases/" + path.split(marker, 1)[1]
        return path
    out = io.StringIO()
    out.write(f"{n} requests, {total * 1000 / n:.2f} ms profiled per request (profiler overhead included)\n")
    out.write("cumulative ms/request  calls/request  function (flask_kroncases only)\n")
    ours = sorted((r for r in rows if "flask_kroncases" in r[3]), reverse=True)[:limit]
    for ct, _tt, nc, filename, line, func in ours:
        out.write(f"{ct * 1000 / n:>20.2f}  {nc / n:>13.1f}  {short(filename)}:{line}({func})\n")
    out.write("own ms/request  calls/request  function (hottest overall)\n")
    for _ct, tt, nc, filename, line, func in sorted(rows, key=lambda r: -r[1])[:limit]:
        out.write(f"{tt * 1000 / n:>14.2f}  {nc / n:>13.1f}  {short(filename)}:{line}({func})\n")
    return out.getvalue()


# -- web rows ---------------------------------------------------------------------


def web_rows(report: Report, ds: Dataset, queue_name: str) -> dict[str, Any]:
    config = {"KRONCASES_REDIS_URL": REDIS_URL, "KRONCASES_QUEUE_NAME": queue_name}
    ours_app = host.create_app(ds.url, ds.engine_options, extension=True, **config)
    bare_app = host.create_app(ds.url, ds.engine_options, extension=False)
    with ours_app.app_context():
        began = time.perf_counter()
        layout = bench_data.build(host.db.engine, host.db.metadata, ours_app.extensions["kroncases"].models,
                                  conversations=CONVERSATIONS, cases=CASES)
        build_s = time.perf_counter() - began
    ds.layout = layout
    report.builds[ds.name] = (f"{layout.conversations:,} conversations, {layout.messages:,} messages, "
                              f"{layout.cases:,} cases built in {build_s:.1f} s")
    print(f"[{ds.name}] {report.builds[ds.name]}", flush=True)
    ours = Client(ours_app, layout.agent_id)
    bare = Client(bare_app, layout.agent_id)

    # 1. Conversation list, 50 rows: page 2 (every row has a case), and a deep page (no case).
    pages = -(-layout.conversations // host.PER_PAGE)
    cased_page, plain_page = 2, pages - 1
    for label, page in (("list page, 50 rows with cases", cased_page), ("list page, 50 rows without cases", plain_page)):
        url = f"/conversations?page={page}"
        t_ours, t_base = interleaved(lambda url=url: ours.get(url), lambda url=url: bare.get(url), REPEAT)
        ratio = statistics.median(t_ours) / statistics.median(t_base)
        row = Row(label, ds.name, ms(statistics.median(t_ours)), ms(statistics.median(t_base)), ratio,
                  "≤ 1.15", ratio <= 1.15, f"page {page} of {pages}, medians of {REPEAT}")
        report.add(row)
        if not row.met:
            report.profiles[f"{label} [{ds.name}]"] = profile(lambda url=url: ours.get(url))
    q_cased = count_statements(ours_app, lambda: ours.get(f"/conversations?page={cased_page}"))
    q_plain = count_statements(ours_app, lambda: ours.get(f"/conversations?page={plain_page}"))
    q_bare = count_statements(bare_app, lambda: bare.get(f"/conversations?page={cased_page}"))
    report.add(Row("SQL queries per list page", ds.name, f"{q_cased} (50 cased) / {q_plain} (0 cased)",
                   f"{q_bare}", None, "constant in cases", q_cased == q_plain,
                   "ours: with 50 conversations with cases vs none"))

    # 2. Conversation page: 1,000 messages, 50 cases, with panel, indicators, activity.
    url = f"/conversations/{layout.big_conversation}"
    n = max(5, REPEAT // 3)
    t_ours, t_base = interleaved(lambda: ours.get(url), lambda: bare.get(url), n, warmup=2)
    ratio = statistics.median(t_ours) / statistics.median(t_base)
    row = Row(f"conversation page, {layout.big_messages} msgs / {layout.big_cases} cases", ds.name,
              ms(statistics.median(t_ours)), ms(statistics.median(t_base)), ratio, "≤ 1.25", ratio <= 1.25,
              f"medians of {n}")
    report.add(row)
    q_ours = count_statements(ours_app, lambda: ours.get(url))
    q_bare = count_statements(bare_app, lambda: bare.get(url))
    report.add(Row("SQL queries, conversation page", ds.name, str(q_ours), str(q_bare)))
    if not row.met:
        report.profiles[f"{row.name} [{ds.name}]"] = profile(lambda: ours.get(url), n=5)

    # 3. Case creation from two messages through the JSON API vs a bare insert endpoint.
    free = iter(layout.free_conversations)

    def create() -> None:
        conv = next(free)
        ours.post(f"/kroncases/api/conversations/{conv}/cases", {
            "title": f"Checkout fails on order #{conv}", "case_type": "technical", "priority": "high",
            "summary": "Payment declined with ERR_GATEWAY_TIMEOUT since this morning.",
            "message_ids": [2 * conv - 1, 2 * conv],
        })

    def insert() -> None:
        bare.post("/notes", {"conversation_id": 1, "body": "Payment declined with ERR_GATEWAY_TIMEOUT."})

    t_ours, t_base = interleaved(create, insert, CREATES)
    ratio = statistics.median(t_ours) / statistics.median(t_base)
    row = Row("case creation (JSON API) vs 1-row insert", ds.name,
              f"p50 {ms(pct(t_ours, .5))}, p99 {ms(pct(t_ours, .99))}",
              f"p50 {ms(pct(t_base, .5))}, p99 {ms(pct(t_base, .99))}", ratio, "≤ 2.0", ratio <= 2.0,
              f"{CREATES} each; ratio of p50")
    report.add(row)
    q_create = count_statements(ours_app, create)
    q_insert = count_statements(bare_app, insert)
    report.add(Row("SQL queries, case creation", ds.name, str(q_create), str(q_insert), None, "≤ 6", q_create <= 6,
                   "two messages; the host's user loader included; no webhook endpoint"))
    if not row.met:
        report.profiles[f"{row.name} [{ds.name}]"] = profile(create, n=30)
    return {"app": ours_app, "free": free}


# -- summarizer ------------------------------------------------------------------------


def summarizer_rows(report: Report) -> None:
    from benchmarks.summarizer import RUNS, TARGETS, median_seconds, quality, thread
    from flask_kroncases.summarizers import OfflineSummarizer

    for size in (10, 100, 500):
        messages = thread(size)
        summary = OfflineSummarizer().suggest(messages).summary
        seconds = median_seconds(messages)
        target, met = ("< 25 ms", seconds < 0.025) if size == 500 else ("", None)
        report.add(Row(f"offline summarizer, {size} messages", "-", ms(seconds),
                       f"{seconds * 1e6 / size:.0f} µs/message", None, target, met,
                       f"median of {RUNS}; {len(summary)} summary chars"))
    result = quality()
    figures = result.figures()
    report.add(Row("offline suggestion quality", "-",
                   ", ".join(f"{name} {value:.2f}" for name, value in figures.items()), "", None,
                   ", ".join(f"≥ {TARGETS[name]:g}" for name in figures),
                   all(value >= TARGETS[name] for name, value in figures.items()),
                   f"{result.conversations} conversations in tests/data, {result.facts} key facts; "
                   f"priority right {result.priority_right:.2f}"))


# -- the machine --------------------------------------------------------------------------


def machine() -> list[str]:
    import sqlite3

    import flask
    import redis as redis_py
    import rq

    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "?"
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kib / 1024 / 1024:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    pg = redis_v = "?"
    try:
        import psycopg

        with psycopg.connect(POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://")) as conn:
            pg = conn.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
    except Exception:
        pass
    try:
        redis_v = redis_py.Redis.from_url(REDIS_URL).info()["redis_version"]
    except Exception:
        pass
    return [
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- machine: {platform.node() and 'Linux' or ''} {platform.machine()}, {os.cpu_count()} cores ({cpu}), {mem} RAM, {platform.platform()}",
        f"- Python {platform.python_version()}, Flask {flask.__version__ if hasattr(flask, '__version__') else _version('flask')}, "
        f"SQLAlchemy {sa.__version__}, RQ {rq.__version__ if hasattr(rq, '__version__') else _version('rq')}, "
        f"redis-py {redis_py.__version__}, flask-kroncases {_version('flask-kroncases')}",
        f"- PostgreSQL {pg}, Redis {redis_v}, SQLite {sqlite3.sqlite_version}",
    ]


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "?"


def main() -> None:
    began = time.perf_counter()
    report = Report()
    print(f"flask-kroncases benchmarks: {CONVERSATIONS:,} conversations, databases {', '.join(DATABASES)}"
          + (" (BENCH_QUICK)" if QUICK else ""), flush=True)
    for name in DATABASES:
        queue_name = f"kroncases-bench-{uuid.uuid4().hex[:8]}"
        try:
            with dataset(name) as ds:
                web = web_rows(report, ds, queue_name)
                report.memory[f"web process after the {name} rows (peak RSS, includes the bulk build)"] = (
                    f"{peak_rss_mib():.0f} MiB")
                with web["app"].app_context():
                    host.db.session.remove()
                    host.db.engine.dispose()
        except Exception as exc:  # keep the other rows: say what failed
            report.notes.append(f"{name}: failed with {type(exc).__name__}: {exc}")
            print(f"[{name}] FAILED: {exc!r}", flush=True)
            import traceback

            traceback.print_exc()
    if "postgresql" in DATABASES:
        from benchmarks.delivery import delivery_rows  # webhook delivery, on a throwaway database of its own

        delivery_rows(report, Row)
        from benchmarks.suggestions import suggestion_rows  # POST → suggestion done, with a real worker

        suggestion_rows(report, Row)
    else:
        report.notes.append("webhook rows run on PostgreSQL only; add postgresql to BENCH_DATABASES")
    summarizer_rows(report)
    from benchmarks.reports import reports_rows  # the reports page at 50,000 cases, on its own data

    reports_rows(report, Row)
    from benchmarks.case_list import case_list_rows  # the CSV export's peak memory at 100,000 cases, on its own data

    case_list_rows(report, Row)
    elapsed = time.perf_counter() - began

    lines = ["", "## Results", "", report.table(), ""]
    lines += ["Peak memory:", ""] + [f"- {k}: {v}" for k, v in report.memory.items()] + [""]
    lines += ["Data:", ""] + [f"- {k}: {v}" for k, v in report.builds.items()] + [""]
    if report.notes:
        lines += ["Notes:", ""] + [f"- {n}" for n in report.notes] + [""]
    missed = [r for r in report.rows if r.met is False]
    if missed:
        lines += ["Targets missed: " + "; ".join(f"{r.name} [{r.database}] ({r.ratio:.2f}, target {r.target})"
                                                 if r.ratio is not None else f"{r.name} [{r.database}]" for r in missed), ""]
    for name, text in report.profiles.items():
        lines += [f"### Profile: {name}", "", "```", text.rstrip(), "```", ""]
    lines.append(f"Total run time: {elapsed:.0f} s.")
    text = "\n".join(lines)
    print(text)
    if RESULTS != "-":
        head = ["# Benchmark results", "",
                "Written by `python -m benchmarks`" + (" with BENCH_QUICK=1" if QUICK else "") + "; see "
                "`benchmarks/__main__.py` for what each row measures.", ""] + machine()
        Path(RESULTS).write_text("\n".join(head) + "\n" + text + "\n")
        print(f"\nwrote {RESULTS}")


if __name__ == "__main__":
    main()
