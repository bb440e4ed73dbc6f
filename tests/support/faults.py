"""Helpers for the load and fault tests: a Redis server of the test's own, a deduplicating receiver.

Everything listens on 127.0.0.1 only. The machine's shared Redis on 6379 is never touched.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from .receiver import QuietHandler, hook_url, serve


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class OwnRedis:
    """``redis-server`` on a free port of 127.0.0.1, without persistence: a restart loses everything."""

    def __init__(self) -> None:
        self.binary = shutil.which("redis-server")
        if self.binary is None:
            raise RuntimeError("redis-server is not installed")
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10) -> None:
        assert self.binary is not None
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--daemonize", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def kill(self) -> None:
        """SIGKILL: the server and everything in it are gone."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        self.kill()


@dataclass
class Hit:
    event_id: str
    event_type: str
    at: float
    body: bytes


@dataclass
class DedupReceiver:
    """A receiver that processes each event id once, as the README tells receivers to.

    ``hangs`` lists how long to sit on the 1st, 2nd, ... request before
    answering (then 0). ``hits`` is every request that came; ``processed`` the
    event ids handled, each once; ``duplicates`` the requests dropped as repeats.
    """

    hangs: list[float] = field(default_factory=list)
    status: int = 200
    hits: list[Hit] = field(default_factory=list)
    processed: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        receiver = self
        self._lock = threading.Lock()
        self._seen: set[str] = set()

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                event_id = self.headers.get("webhook-id", "?")
                with receiver._lock:
                    index = len(receiver.hits)
                    receiver.hits.append(Hit(event_id, self.headers.get("X-KronGage-Event", "?"), time.time(), body))
                    if event_id not in receiver._seen:
                        receiver._seen.add(event_id)
                        receiver.processed.append(event_id)
                    hang = receiver.hangs[index] if index < len(receiver.hangs) else 0.0
                if hang:
                    time.sleep(hang)
                try:
                    self.send_response(receiver.status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:  # the sender gave up waiting
                    pass

        self.server = serve(Handler)

    @property
    def url(self) -> str:
        return hook_url(self.server)

    def counts(self) -> Counter[str]:
        with self._lock:
            return Counter(hit.event_id for hit in self.hits)

    @property
    def duplicates(self) -> int:
        return sum(n - 1 for n in self.counts().values())

    def wait_for(self, predicate: Callable[[DedupReceiver], bool], timeout: float, what: str = "") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self):
                return
            time.sleep(0.05)
        raise AssertionError(f"receiver: {what or 'condition'} not reached in {timeout:g}s "
                             f"({len(self.hits)} hits, {len(self.processed)} distinct)")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def wait_until(predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"{what}: not reached in {timeout:g}s")


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (Linux /proc), e.g. RQ's work horses, which leave the worker's group."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def kill_tree(pid: int) -> list[int]:
    """SIGKILL a process and everything below it, as the OOM killer or a lost machine would."""
    victims = [pid, *descendants(pid)]
    for victim in victims:
        try:
            os.kill(victim, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return victims
