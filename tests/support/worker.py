"""A real ``flask kroncases worker`` process on the real Redis."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def worker_env(host_name: str, database: Any, config: dict[str, Any]) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        KRONCASES_TEST_HOST=host_name,
        KRONCASES_TEST_DATABASE_URL=database.url,
        KRONCASES_TEST_ENGINE_OPTIONS=json.dumps(database.engine_options),
        KRONCASES_TEST_CONFIG=json.dumps(config),
        PYTHONPATH=str(ROOT),
    )
    return env


def flask_command(*args: str, app: str = "tests.hosts.wsgi:create_app") -> list[str]:
    return [sys.executable, "-m", "flask", "--app", app, "kroncases", *args]


class WorkerProcess:
    """Starts ``flask kroncases worker`` and stops it (SIGTERM, then SIGKILL)."""

    def __init__(self, env: dict[str, str], log_path: Path, *args: str, app: str = "tests.hosts.wsgi:create_app") -> None:
        self.log_path = log_path
        self._log = open(log_path, "wb")
        queue = json.loads(env.get("KRONCASES_TEST_CONFIG", "{}")).get("KRONCASES_QUEUE_NAME")
        if queue and "--name" not in args:  # named after its queue, so the clean-up finds it
            args = (*args, "--name", f"{queue}-{log_path.stem}")
        self.process = subprocess.Popen(
            flask_command("worker", *args, app=app), env=env, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        if not self._log.closed:
            self._log.close()

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def assert_alive(self) -> None:
        code = self.process.poll()
        assert code is None, f"the worker exited with {code}:\n{self.output()}"
