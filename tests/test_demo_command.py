"""The README's demo command serves a helpdesk where an agent can sign in and read conversations."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_scripts_demo_serves_the_helpdesk(tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite'}",
        # Use the interpreter running the tests; a fresh clone gets its own .venv.
        "KRONCASES_VENV": sys.prefix,
    }
    log = open(tmp_path / "demo.log", "wb")
    process = subprocess.Popen(["bash", "scripts/demo"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240
        while True:
            try:
                page = requests.get(f"{base}/login", timeout=2)
                break
            except requests.ConnectionError:
                assert process.poll() is None, (tmp_path / "demo.log").read_text()
                assert time.monotonic() < deadline, "the demo did not start"
                time.sleep(0.3)
        session = requests.Session()
        page = session.get(f"{base}/login", timeout=5)
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text).group(1)
        inbox = session.post(f"{base}/login", data={"csrf_token": token, "email": "alex@example.com", "password": "demo"},
                             timeout=10)
        assert inbox.status_code == 200 and "Sign out" in inbox.text
        links = re.findall(r'href="(/conversations/\d+)"', inbox.text)
        assert links, inbox.text[:2000]
        conversation = session.get(base + links[0], timeout=10)
        assert conversation.status_code == 200
        assert conversation.text.count('data-message-id="') >= 2
        assert "Support Cases" in conversation.text
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
        log.close()
