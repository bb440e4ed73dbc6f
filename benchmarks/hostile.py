"""How fast hostile requests are refused: huge id lists, a body over the limit, deep JSON.

Run with ``python -m benchmarks.hostile``. Builds the benchmark host on a
SQLite file of its own, signs an agent in and prints the median answer time of
each refusal over several runs, against the target (each well under 100 ms).
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from flask_login import FlaskLoginClient

from . import host

RUNS = 7


def build(folder: Path) -> tuple[Any, Any, str, int]:
    app = host.create_app(f"sqlite:///{folder / 'hostile.sqlite'}")
    app.test_client_class = FlaskLoginClient
    with app.app_context():
        host.db.create_all()
        agent = host.User(name="Agent", team="support")
        conversation = host.Conversation(subject="Help", customer_name="Cy", team="support")
        host.db.session.add_all([agent, conversation])
        host.db.session.commit()
        client = app.test_client(user=agent)
        conversation_id = conversation.id
    token = client.get("/csrf").get_data(as_text=True)
    return app, client, token, conversation_id


def median_ms(send: Any) -> tuple[float, int]:
    timings, status = [], 0
    for _ in range(RUNS):
        began = time.perf_counter()
        status = send().status_code
        timings.append(time.perf_counter() - began)
    return statistics.median(timings) * 1000, status


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        _, client, token, conversation_id = build(Path(folder))
        url = f"/kroncases/api/conversations/{conversation_id}/cases"
        headers = {"X-CSRFToken": token, "Content-Type": "application/json"}
        cases = {
            "200,000 message ids": json.dumps({"title": "t", "message_ids": [1] * 200_000}),
            "200,000 distinct ids": json.dumps({"title": "t", "message_ids": list(range(200_000))}),
            "body over the limit (2 MiB)": json.dumps({"title": "t", "summary": "s" * 2 * 1024 * 1024}),
            "50,000 nested [": "[" * 50_000,
        }
        print(f"hostile requests, median of {RUNS} runs (target: each < 100 ms)")
        print(f"{'request':<30} {'bytes':>9} {'status':>6} {'median ms':>10}  met")
        for label, body in cases.items():
            ms, status = median_ms(lambda body=body: client.post(url, data=body, headers=headers))
            print(f"{label:<30} {len(body):>9} {status:>6} {ms:>10.1f}  {'yes' if ms < 100 else 'NO'}")


if __name__ == "__main__":
    main()
