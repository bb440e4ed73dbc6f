"""Time the offline summarizer on threads of 10, 100 and 500 messages.

Run with ``python benchmarks/summarizer.py``. Prints the median of several
runs per size; the messages are built here, the same on every run.
"""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime, timedelta

from flask_kroncases.summarizers import OfflineSummarizer, SummaryInput

SIZES = (10, 100, 500)
RUNS = 7

OPENING = (
    'Hi, since this morning checkout fails for every customer with "Payment declined '
    '(ERR_GATEWAY_TIMEOUT)". Order #58211 for $1,249.00 and invoice INV-2024-1177 are affected.'
)
TURNS = (
    ("agent", "Thanks for reaching out! Could you share the request id from the failed call?"),
    ("customer", "The request id is req_77ab21c3 and the response was HTTP 504 Gateway Timeout."),
    ("customer", "We already restarted our servers and rotated the API key, same result."),
    ("agent", "I have escalated this to our payments team, ticket PAY-3310."),
    ("customer", "Any update? <b>We are losing sales</b> 😟"),
    ("agent", "The gateway provider reports degraded service in eu-west; we are failing over now."),
    ("customer", "ok thanks"),
    ("customer", "Still seeing the error on order #58240 (€89.90) a few minutes ago."),
)


def thread(count: int) -> list[SummaryInput]:
    start = datetime(2024, 6, 3, 9, 0, tzinfo=UTC)
    messages = [SummaryInput("customer", OPENING, start)]
    for i in range(1, count):
        role, text = TURNS[i % len(TURNS)]
        messages.append(SummaryInput(role, text, start + timedelta(minutes=3 * i)))
    return messages


def median_seconds(messages: list[SummaryInput]) -> float:
    summarizer = OfflineSummarizer()
    timings = []
    for _ in range(RUNS):
        began = time.perf_counter()
        summarizer.suggest(messages)
        timings.append(time.perf_counter() - began)
    return statistics.median(timings)


def main() -> None:
    print(f"offline summarizer, median of {RUNS} runs")
    print(
        f"{'messages':>8}  {'input chars':>11}  {'summary chars':>13}  {'median ms':>9}  {'µs/message':>10}"
    )
    for size in SIZES:
        messages = thread(size)
        summary = OfflineSummarizer().suggest(messages).summary
        seconds = median_seconds(messages)
        chars = sum(len(m.text) for m in messages)
        print(
            f"{size:>8}  {chars:>11}  {len(summary):>13}  {seconds * 1000:>9.2f}"
            f"  {seconds * 1e6 / size:>10.1f}"
        )


if __name__ == "__main__":
    main()
