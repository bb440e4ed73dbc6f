"""Time the offline summarizer on threads of 10, 100 and 500 messages, and score its quality.

Run with ``python -m benchmarks.summarizer``. Prints the median of several
runs per size (the messages are built here, the same on every run), then the
quality figures on the realistic conversations in ``tests/data``: fact recall
(key facts kept verbatim in the summary), titles naming their topic (one of
the conversation's title terms in the title) and the suggested type right.
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from flask_kroncases.summarizers import OfflineSummarizer, SummaryInput

#: The realistic conversations: messages plus key_facts, title_terms, case_type and priority.
DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
#: The figures the offline backend must reach (held by tests/test_suggestion_quality.py).
TARGETS = {"fact recall": 0.9, "titles naming their topic": 0.9, "type right": 0.8}

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


def conversations() -> dict[str, dict[str, Any]]:
    """Every conversation in ``tests/data`` by file name."""
    return {
        path.stem: json.loads(path.read_text(encoding="utf-8")) for path in sorted(DATA.glob("*.json"))
    }


def inputs(conversation: dict[str, Any]) -> list[SummaryInput]:
    return [
        SummaryInput(
            m["role"], m["text"], datetime.fromisoformat(m["sent_at"]) if m.get("sent_at") else None
        )
        for m in conversation["messages"]
    ]


@dataclass(frozen=True)
class Quality:
    """Quality figures over a set of conversations, with what each miss was."""

    conversations: int
    facts: int
    fact_recall: float
    titles_on_topic: float
    type_right: float
    priority_right: float
    titles_within_preferred: float
    misses: tuple[str, ...]

    def figures(self) -> dict[str, float]:
        return {
            "fact recall": self.fact_recall,
            "titles naming their topic": self.titles_on_topic,
            "type right": self.type_right,
        }


def quality(data: dict[str, dict[str, Any]] | None = None, preferred: int = 60) -> Quality:
    """Score the offline backend on ``data`` (default: every conversation in ``tests/data``)."""
    data = conversations() if data is None else data
    summarizer = OfflineSummarizer()
    found = total = on_topic = type_right = priority_right = short = 0
    misses: list[str] = []
    for name, conversation in data.items():
        suggestion = summarizer.suggest(inputs(conversation))
        for fact in conversation["key_facts"]:
            total += 1
            if fact in suggestion.summary:
                found += 1
            else:
                misses.append(f"{name}: fact {fact!r} not in the summary")
        if any(term.lower() in suggestion.title.lower() for term in conversation["title_terms"]):
            on_topic += 1
        else:
            misses.append(f"{name}: title {suggestion.title!r} names none of {conversation['title_terms']}")
        if suggestion.case_type == conversation.get("case_type"):
            type_right += 1
        else:
            misses.append(f"{name}: type {suggestion.case_type}, expected {conversation.get('case_type')}")
        priority_right += suggestion.priority == conversation.get("priority")
        short += len(suggestion.title) <= preferred
    count = max(len(data), 1)
    return Quality(
        conversations=len(data),
        facts=total,
        fact_recall=found / max(total, 1),
        titles_on_topic=on_topic / count,
        type_right=type_right / count,
        priority_right=priority_right / count,
        titles_within_preferred=short / count,
        misses=tuple(misses),
    )


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
    result = quality()
    print(f"\nquality on {result.conversations} conversations in tests/data ({result.facts} key facts)")
    for name, value in result.figures().items():
        print(f"{name:>26}: {value:.2f}  (target ≥ {TARGETS[name]:.1f})")
    print(f"{'priority right':>26}: {result.priority_right:.2f}  (no target)")
    print(f"{'titles ≤ 60 characters':>26}: {result.titles_within_preferred:.2f}  (no target)")
    for miss in result.misses:
        print(f"  miss: {miss}")


if __name__ == "__main__":
    main()
