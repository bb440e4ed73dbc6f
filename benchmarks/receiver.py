"""A webhook receiver in a process of its own, on 127.0.0.1: counts event ids and when they came.

``python -m benchmarks.receiver`` prints its port and serves until killed:
``POST`` anything records ``webhook-id`` (or the body's ``id``) with the time of
receipt; ``GET`` returns ``{"events": {id: [time, ...]}, "posts": n}`` (with ``?count=1``:
``{"events": distinct ids, "posts": n}``, cheap to poll);
``DELETE /stats`` forgets everything.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

events: dict[str, list[float]] = {}
posts = 0
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        global posts
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        received = time.time()
        event_id = self.headers.get("webhook-id")
        if not event_id:
            try:
                event_id = str(json.loads(body)["id"])
            except (ValueError, KeyError, TypeError):
                event_id = "?"
        with lock:
            posts += 1
            events.setdefault(event_id, []).append(received)
        self._answer(204, b"")

    def do_GET(self) -> None:
        with lock:
            if self.path.endswith("count=1"):
                payload = json.dumps({"events": len(events), "posts": posts}).encode()
            else:
                payload = json.dumps({"events": events, "posts": posts}).encode()
        self._answer(200, payload)

    def do_DELETE(self) -> None:
        global posts
        with lock:
            events.clear()
            posts = 0
        self._answer(204, b"")

    def _answer(self, status: int, payload: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if payload:
            self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
