"""A chat-completions server on 127.0.0.1 that speaks the inference API ``InferenceClient`` calls.

Given an endpoint URL as ``model``, ``InferenceClient.chat_completion`` posts an
OpenAI-style body to ``<url>/v1/chat/completions``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from .receiver import serve


@dataclass
class Behaviour:
    """What the fake endpoint answers next, and what it received."""

    content: str = '{"title": "Login locked", "summary": "Problem: locked out"}'
    status: int = 200
    delay: float = 0.0
    requests: list[dict[str, Any]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)


def chat_response(content: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-local",
        "object": "chat.completion",
        "created": 1_717_000_000,
        "model": "local-tgi",
        "system_fingerprint": "3.0.0-native",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": content},
                "logprobs": None,
            }
        ],
        "usage": {"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150},
    }


def make_handler(behaviour: Behaviour) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            behaviour.requests.append(
                {"path": self.path, "headers": dict(self.headers), "json": json.loads(body)}
            )
            if behaviour.delay:
                behaviour.release.wait(behaviour.delay)
            if behaviour.status != 200:
                payload = {"error": "Model is currently loading", "error_type": "overloaded"}
            else:
                payload = chat_response(behaviour.content)
            data = json.dumps(payload).encode()
            try:
                self.send_response(behaviour.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up first: the timeout case

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def inference_server(behaviour: Behaviour) -> Iterator[str]:
    """Serve ``behaviour`` on a free port; yield the endpoint URL."""
    server = serve(make_handler(behaviour))
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        behaviour.release.set()
        server.shutdown()
        server.server_close()
