"""Suggestions and summaries as RQ jobs on a real worker, with the offline and the HF backend."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import huggingface_hub
import pytest
import sqlalchemy as sa

from .conftest import classic_host_only
from .hosts import HOSTS
from .support.inference import Behaviour, inference_server
from .support.worker import WorkerProcess, worker_env
from .test_api import payload


@pytest.fixture
def behaviour() -> Behaviour:
    return Behaviour(content='{"title": "Account locked after password reset", "summary": "Customer is locked out."}')


@pytest.fixture
def inference_url(behaviour: Behaviour, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    huggingface_hub.close_session()
    with inference_server(behaviour) as url:
        yield url
    huggingface_hub.close_session()


@pytest.fixture
def summarizer_config() -> dict[str, Any]:
    return {}


@pytest.fixture
def app_config(queue_name: str, summarizer_config: dict[str, Any]) -> dict[str, Any]:
    from .conftest import REDIS_URL

    return {"KRONCASES_REDIS_URL": REDIS_URL, "KRONCASES_QUEUE_NAME": queue_name, **summarizer_config}


@pytest.fixture
def worker(host: Any, database: Any, app_config: dict[str, Any], tmp_path: Any) -> Iterator[WorkerProcess]:
    host_name = next(name for name, module in HOSTS.items() if module is host)
    process = WorkerProcess(worker_env(host_name, database, app_config), tmp_path / "worker.log", "--sweep-interval", "0")
    yield process
    process.stop()


def poll(api: Any, suggestion: dict[str, Any], timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while suggestion["status"] == "pending" and time.monotonic() < deadline:
        time.sleep(0.1)
        response = api.get(f"/suggestions/{suggestion['id']}")
        assert response.status_code == 200
        suggestion = response.json["suggestion"]
    return suggestion


def ask(api: Any, desk: Any, keys: list[Any] | None = None) -> Any:
    keys = desk.messages[:3] if keys is None else keys
    return api.post(f"/conversations/{desk.conversation}/suggestions", json={"message_ids": [str(k) for k in keys]})


def test_the_worker_makes_the_offline_suggestion(app, desk, api_as, worker):
    api = api_as(desk.agent)
    response = ask(api, desk)
    assert response.status_code == 202
    assert response.json["suggestion"]["status"] == "pending"
    done = poll(api, response.json["suggestion"])
    assert done["status"] == "done" and done["source"] == "offline" and done["error"] is None
    assert 0 < len(done["title"]) <= 80
    assert "locked" in done["summary"].lower()
    assert "Invalid credentials" in done["summary"]


@pytest.mark.parametrize("summarizer_config", [{"KRONCASES_SUMMARIZER": "huggingface"}], indirect=False)
def test_the_worker_asks_the_inference_server(app, desk, api_as, inference_url, behaviour, app_config, host, database, tmp_path):
    app_config["KRONCASES_HF_MODEL"] = inference_url
    host_name = next(name for name, module in HOSTS.items() if module is host)
    worker = WorkerProcess(worker_env(host_name, database, app_config), tmp_path / "w.log", "--sweep-interval", "0")
    try:
        api = api_as(desk.agent)
        done = poll(api, ask(api, desk).json["suggestion"])
    finally:
        worker.stop()
    assert done == {**done, "status": "done", "source": "huggingface",
                    "title": "Account locked after password reset", "summary": "Customer is locked out.", "error": None}
    assert behaviour.requests and behaviour.requests[0]["path"] == "/v1/chat/completions"


@pytest.mark.parametrize("failure", ["503", "timeout", "malformed"])
def test_a_failing_backend_falls_back_to_offline_and_says_so(app, cases, desk, api_as, inference_url, behaviour, failure, ctx):
    app.config.update(KRONCASES_SUMMARIZER="huggingface", KRONCASES_HF_MODEL=inference_url, KRONCASES_HF_TIMEOUT=0.5)
    if failure == "503":
        behaviour.status = 503
    elif failure == "timeout":
        behaviour.delay = 5
    else:
        behaviour.content = ""
    suggestion, error = cases.state.summaries.suggest(desk.msgs(desk.messages[:3]))
    assert suggestion.source == "offline" and suggestion.title
    assert error and error.startswith("The AI summarizer is unavailable")
    # Saving never waits for the backend: the case is created with the agent's own text.
    case = cases.create_case(desk.conv(desk.conversation), desk.msgs(desk.messages[:2]), title="Mine",
                             summary="Typed by the agent", by=desk.user(desk.agent))
    assert case.summary == "Typed by the agent"


@classic_host_only
def test_a_case_saved_without_summary_gets_one_from_the_worker(app, cases, desk, api_as, worker):
    api = api_as(desk.agent)
    created = api.post(f"/conversations/{desk.conversation}/cases", json=payload(desk, summary=None))
    assert created.status_code == 201 and created.json["case"]["summary"] is None
    case_id = created.json["case"]["id"]
    deadline = time.monotonic() + 20
    case = created.json["case"]
    while case["summary"] is None and time.monotonic() < deadline:
        time.sleep(0.1)
        case = api.get(f"/cases/{case_id}").json["case"]
    assert case["summary"] and "Invalid credentials" in case["summary"]
    with app.app_context():
        kinds = [e.kind for e in cases.activity_for(desk.conversation)]
    assert kinds == ["created", "summary_updated"]


@classic_host_only
def test_regenerate_summary_replaces_it_by_a_job(app, cases, desk, api_as, worker):
    api = api_as(desk.agent)
    case_id = api.post(f"/conversations/{desk.conversation}/cases", json=payload(desk, summary="old text")).json["case"]["id"]
    response = api.post(f"/cases/{case_id}/summary")
    assert response.status_code == 202
    deadline = time.monotonic() + 20
    summary = "old text"
    while summary == "old text" and time.monotonic() < deadline:
        time.sleep(0.1)
        summary = api.get(f"/cases/{case_id}").json["case"]["summary"]
    assert summary != "old text" and "Invalid credentials" in summary
    with app.app_context():
        entries = cases.activity_for(desk.conversation)
        assert [(e.kind, e.actor_id) for e in entries] == [("created", desk.agent), ("summary_updated", desk.agent)]


def test_without_redis_the_suggestion_is_made_in_the_request(app, cases, desk, api_as):
    with app.app_context():
        jobs = app.extensions["kroncases"].jobs
        jobs.redis_url, jobs._redis = "redis://127.0.0.1:1/0", None
    api = api_as(desk.agent)
    suggestion = ask(api, desk).json["suggestion"]
    assert suggestion["status"] == "done" and suggestion["source"] == "offline"
    created = api.post(f"/conversations/{desk.conversation}/cases", json=payload(desk, summary=None))
    assert created.status_code == 201
    assert "Invalid credentials" in api.get(f"/cases/{created.json['case']['id']}").json["case"]["summary"]


def test_suggestions_respect_access(app, cases, desk, api_as):
    agent = api_as(desk.agent)
    outsider = api_as(desk.outsider)
    hidden = ask(outsider, desk)
    assert hidden.status_code == 404 and hidden.json["message"] == "This conversation does not exist."
    mine = ask(agent, desk).json["suggestion"]
    foreign_eyes = outsider.get(f"/suggestions/{mine['id']}")
    missing = outsider.get(f"/suggestions/{'0' * 32}")
    assert foreign_eyes.status_code == missing.status_code == 404
    assert foreign_eyes.get_data() == missing.get_data()
    for bad in ("doesnotexist", "%00", "%C2%B2", "A" * 32, "0" * 33):
        response = agent.get(f"/suggestions/{bad}")
        assert response.status_code == 404 and response.json["error"] == "not_found", bad
    foreign = ask(agent, desk, [desk.messages[0], desk.other_messages[0]])
    assert foreign.status_code == 400
    assert foreign.json["errors"]["messages"] == [f"Message {desk.other_messages[0]} is not in this conversation."]
    assert ask(agent, desk, []).status_code == 400
    with app.app_context():
        assert cases.state.db.session.scalar(sa.select(sa.func.count()).select_from(cases.models.Suggestion)) == 1


def test_a_summary_arriving_does_not_make_the_next_move_a_conflict(app, cases, desk, ctx):
    agent = desk.user(desk.agent)
    case = cases.create_case(desk.conv(desk.conversation), desk.msgs(desk.messages[:2]), title="Locked out", by=agent)
    version = case.version
    results: list[str] = []

    def job() -> None:  # another session, as in a worker
        with app.app_context():
            results.append(app.extensions["kroncases"].summaries.summarize_case(case.id, offline_only=True))

    thread = threading.Thread(target=job)
    thread.start()
    thread.join(timeout=30)
    assert results == ["offline"]
    assert cases.resolve(case, by=agent).status == "resolved"   # the agent's copy predates the summary
    cases.state.db.session.expire_all()
    case = cases.get_case(case.id)
    assert case.summary and "Invalid credentials" in case.summary
    assert case.version == version + 1


def test_the_panel_offers_regenerate_summary(app, cases, desk):
    from flask import render_template_string

    with app.test_request_context():
        agent = desk.user(desk.agent)
        case = cases.create_case(desk.conv(desk.conversation), desk.msgs(desk.messages[:1]), title="One",
                                 summary="Short", by=agent)
        html = render_template_string("{{ kroncases.panel(conv) }}", conv=desk.conv(desk.conversation))
    assert f'data-kc-action="summary" data-case-id="{case.id}">Regenerate summary</button>' in html
