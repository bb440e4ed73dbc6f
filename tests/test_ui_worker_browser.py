"""The case form's suggestion comes from a real RQ worker on the real Redis.

The demo helpdesk (``examples.host_app``) is served by a real server thread with
``KRONCASES_JOB_RUNNER="rq"`` and a queue of the test's own; a real
``flask --app examples.host_app kroncases worker`` process of the same demo, on
the same fresh database (a SQLite file, or a PostgreSQL schema of its own), runs
the jobs. Debian's Chromium, driven by Playwright, opens the form.

- The title and summary fields fill with what the worker made: the offline
  summarizer's suggestion for exactly the selected messages.
- A suggestion arriving after the agent typed a title leaves the typed title
  alone and fills only the summary, which the agent did not touch.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from examples.host_app import cases
from examples.host_app.models import Conversation, Message, db
from flask_kroncases.summarizers import Suggestion, SummaryInput, get_summarizer

from .browser.demo import DemoWorker, demo_app, demo_database, wait_until
from .browser.pages import browser_on, open_conversation, select_message
from .browser.support import CHROMIUM
from .support.databases import DATABASES
from .support.queues import REDIS_URL

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed")

SUBJECT = "API returns 500 on POST /v2/orders"


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with demo_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def demo_config(queue_name: str) -> dict[str, Any]:
    """What the server thread and the worker process share."""
    return {
        "KRONCASES_JOB_RUNNER": "rq",
        "KRONCASES_REDIS_URL": REDIS_URL,
        "KRONCASES_QUEUE_NAME": queue_name,
        "KRONCASES_SUMMARIZER": "offline",
    }


@pytest.fixture
def app(database_url: str, demo_config: dict[str, Any]) -> Iterator[Flask]:
    with demo_app(database_url, demo_config) as app:
        yield app


@pytest.fixture
def start_worker(database_url: str, demo_config: dict[str, Any], queue_name: str,
                 tmp_path: Path) -> Iterator[Any]:
    """Start workers on demand; each is stopped (and unregisters from Redis) before the queue is removed."""
    workers: list[DemoWorker] = []

    def start() -> DemoWorker:
        name = f"{queue_name}-w{len(workers)}"   # its Redis keys carry the queue name, so cleanup finds them
        worker = DemoWorker(database_url, demo_config, tmp_path / f"{name}.log",
                            "--sweep-interval", "0", "--name", name)
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()


@pytest.fixture
def browser_page(app: Flask) -> Iterator[tuple[Any, str]]:
    with browser_on(app) as (_, page, base_url):
        yield page, base_url


def sign_in(page: Any, base_url: str, email: str) -> None:
    page.goto(f"{base_url}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill("demo")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base_url}/")


def thread_of(app: Flask) -> tuple[int, list[int]]:
    with app.app_context():
        conversation: Any = db.session.scalar(sa.select(Conversation).where(Conversation.subject == SUBJECT))
        result = conversation.id, [m.id for m in sorted(conversation.messages, key=lambda m: m.id)]
        db.session.remove()
        return result


def offline_suggestion(app: Flask, message_ids: list[int]) -> Suggestion:
    """What the offline summarizer makes of these messages, built here from the host's rows."""
    with app.app_context():
        rows = db.session.scalars(
            sa.select(Message).where(Message.id.in_(message_ids)).order_by(Message.created_at, Message.id)
        ).all()
        inputs = [SummaryInput(author_role=m.author_role, text=m.body, sent_at=m.created_at) for m in rows]
        db.session.remove()
    return get_summarizer("offline", {}).suggest(inputs)


def suggestions(app: Flask, conversation_id: int) -> list[dict[str, Any]]:
    """The conversation's suggestion rows, read afresh from the database."""
    with app.app_context():
        Suggestion_: Any = cases.models.Suggestion
        rows: Any = db.session.scalars(
            sa.select(Suggestion_).where(Suggestion_.conversation_id == conversation_id).order_by(Suggestion_.created_at)
        ).all()
        result = [
            {"id": r.id, "status": r.status, "title": r.title, "summary": r.summary, "source": r.source,
             "error": r.error, "message_ids": [int(k) for k in r.message_ids]}
            for r in rows
        ]
        db.session.remove()
        return result


def done_suggestion(app: Flask, conversation_id: int) -> dict[str, Any] | None:
    rows = suggestions(app, conversation_id)
    return rows[0] if len(rows) == 1 and rows[0]["status"] == "done" else None


def open_case_form(page: Any, base_url: str, message_ids: list[int]) -> Any:
    sign_in(page, base_url, "alex@example.com")
    open_conversation(page, SUBJECT)
    for message_id in message_ids:
        select_message(page, message_id)
    page.get_by_role("region", name="Selected messages").get_by_role("button", name="Create Case").click()
    dialog = page.get_by_role("dialog", name="Create Case")
    expect(dialog).to_be_visible()
    return dialog


def test_the_form_shows_the_suggestion_a_real_worker_made(app: Flask, browser_page: tuple[Any, str],
                                                           start_worker: Any) -> None:
    page, base_url = browser_page
    conversation_id, message_ids = thread_of(app)
    chosen = [message_ids[0], message_ids[2]]          # the customer's report and their "is there a workaround?"
    expected = offline_suggestion(app, chosen)
    worker = start_worker()

    dialog = open_case_form(page, base_url, chosen)
    row = wait_until(lambda: done_suggestion(app, conversation_id), "the worker to finish the suggestion",
                     worker=worker)

    status = dialog.locator("[data-kc-suggest-status]")
    expect(status).to_have_text("Suggested automatically", timeout=10000)
    expect(dialog.get_by_label("Title")).to_have_value(expected.title)
    expect(dialog.get_by_label("AI Summary")).to_have_value(expected.summary)

    # The row the form showed was made by that worker process, for exactly the selected messages.
    assert row == {**row, "source": "offline", "error": None, "title": expected.title,
                   "summary": expected.summary, "message_ids": chosen}
    wait_until(lambda: row["id"] in worker.output(), "the worker's log to name the suggestion job", timeout=5)


def test_a_late_suggestion_keeps_the_typed_title_and_fills_the_untouched_summary(
    app: Flask, browser_page: tuple[Any, str], start_worker: Any,
) -> None:
    page, base_url = browser_page
    conversation_id, message_ids = thread_of(app)
    chosen = [message_ids[0], message_ids[2]]
    expected = offline_suggestion(app, chosen)
    typed = "Orders to Northern Ireland fail (GB-NIR)"
    assert typed != expected.title

    # No worker yet: the suggestion waits in Redis and the form keeps asking.
    dialog = open_case_form(page, base_url, chosen)
    status = dialog.locator("[data-kc-suggest-status]")
    expect(status).to_have_text("Suggesting a title and summary…")
    rows = wait_until(lambda: suggestions(app, conversation_id), "the suggestion row")
    assert [r["status"] for r in rows] == ["pending"]
    title, summary = dialog.get_by_label("Title"), dialog.get_by_label("AI Summary")
    title.fill(typed)
    expect(summary).to_have_value("")

    worker = start_worker()
    row = wait_until(lambda: done_suggestion(app, conversation_id), "the late worker to finish the suggestion",
                     worker=worker)
    assert row == {**row, "source": "offline", "title": expected.title, "summary": expected.summary}

    # The page polled again and took the summary; the typed title stays.
    expect(status).to_have_text("Suggested automatically", timeout=10000)
    expect(summary).to_have_value(expected.summary)
    expect(title).to_have_value(typed)
    expect(dialog.locator("[data-kc-counter]")).to_have_text(f"{len(typed)}/80")

    # Saving keeps both: the agent's title, the worker's summary. (The form posts the textarea the
    # way browsers submit forms, with CRLF line breaks, and the product stores them as sent.)
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_be_hidden()
    with app.app_context():
        saved: Any = db.session.scalars(sa.select(cases.models.Case)).all()
        assert [(c.title, c.summary.replace("\r\n", "\n"), sorted(c.message_ids)) for c in saved] == [
            (typed, expected.summary, chosen)
        ]
        db.session.remove()
