"""A real HTTP receiver on 127.0.0.1 that records what webhooks bring."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler that keeps the test output free of access logs."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


def hook_url(server: ThreadingHTTPServer) -> str:
    """The webhook URL a receiver on ``server`` answers."""
    return f"http://127.0.0.1:{server.server_address[1]}/hooks/cases"


def serve(handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
    """Serve ``handler`` on a free port of 127.0.0.1 from a daemon thread; ``shutdown()`` ends it."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Answers each POST with the next status of ``statuses`` (then the last one)."""

    statuses: list[int] = field(default_factory=lambda: [200])
    delay: float = 0.0
    hits: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        receiver = self
        self._lock = threading.Lock()

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                with receiver._lock:
                    receiver.hits.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                    index = min(len(receiver.hits) - 1, len(receiver.statuses) - 1)
                    status = receiver.statuses[index]
                if receiver.delay:
                    time.sleep(receiver.delay)
                payload = f"status {status}".encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = serve(Handler)

    @property
    def url(self) -> str:
        return hook_url(self.server)

    def wait_for(self, predicate: Callable[[list[Received]], bool], timeout: float = 20) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                hits = list(self.hits)
            if predicate(hits):
                return hits
            time.sleep(0.05)
        raise AssertionError(f"receiver did not get what was expected in {timeout}s; got {len(self.hits)} hits")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
