"""The Hugging Face backend through the real ``InferenceClient``, against a server on 127.0.0.1.

Given an endpoint URL as ``model``, ``InferenceClient.chat_completion`` posts an
OpenAI-style body to ``<url>/v1/chat/completions`` (see
``huggingface_hub.inference._providers.hf_inference._build_chat_completion_url``).
The server below speaks that API; nothing in huggingface_hub is patched, and
every request goes to 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import huggingface_hub
import pytest

from flask_kroncases.summarizers import SummarizerError, SummaryInput, get_summarizer
from flask_kroncases.summarizers.huggingface import (
    HuggingFaceSummarizer,
    build_transcript,
    parse_answer,
    read_answer,
)

from .support.inference import Behaviour, inference_server

pytestmark = pytest.mark.skipif(
    huggingface_hub.is_offline_mode(),
    reason="HF_HUB_OFFLINE blocks every huggingface_hub request, even to 127.0.0.1",
)

TOKEN = "hf_test_token_for_local_server"
MESSAGES = [
    SummaryInput("customer", "Hi! I can't log in, it says ERR_ACCOUNT_LOCKED. Account anna@example.com."),
    SummaryInput("agent", "Sorry to hear that, I have unlocked the account."),
]


@pytest.fixture
def behaviour() -> Behaviour:
    return Behaviour()


@pytest.fixture
def endpoint(behaviour: Behaviour, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """URL of a chat-completions server on a free port of 127.0.0.1."""
    # No proxy from the environment may carry the requests off this machine;
    # the shared client reads the environment when it is created.
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    huggingface_hub.close_session()
    try:
        with inference_server(behaviour) as url:
            yield url
    finally:
        huggingface_hub.close_session()


def summarizer_for(endpoint: str, **options: Any) -> HuggingFaceSummarizer:
    return HuggingFaceSummarizer(endpoint, token=TOKEN, **{"timeout": 5, **options})


def test_success(endpoint: str, behaviour: Behaviour) -> None:
    behaviour.content = json.dumps(
        {
            "title": "Account locked with ERR_ACCOUNT_LOCKED",
            "summary": "Problem: cannot log in\nError: ERR_ACCOUNT_LOCKED\nDetails: anna@example.com",
        }
    )
    suggestion = summarizer_for(endpoint, max_tokens=123).suggest(MESSAGES)
    assert suggestion.title == "Account locked with ERR_ACCOUNT_LOCKED"
    assert (
        suggestion.summary == "Problem: cannot log in\nError: ERR_ACCOUNT_LOCKED\nDetails: anna@example.com"
    )
    assert suggestion.source == "huggingface"

    (request,) = behaviour.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["headers"]["authorization"] == f"Bearer {TOKEN}"
    body = request["json"]
    assert body["max_tokens"] == 123
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    assert "JSON" in body["messages"][0]["content"]
    assert "customer: Hi! I can't log in, it says ERR_ACCOUNT_LOCKED." in body["messages"][1]["content"]


def test_json_in_code_fence_and_prose(endpoint: str, behaviour: Behaviour) -> None:
    behaviour.content = (
        "Sure! Here is the case:\n```json\n"
        '{"title": "Refund for duplicate charge",'
        ' "summary": ["Problem: charged twice", "Details: €149.00"]}\n'
        "```\nLet me know if you need more."
    )
    suggestion = summarizer_for(endpoint).suggest(MESSAGES)
    assert suggestion.title == "Refund for duplicate charge"
    assert suggestion.summary == "Problem: charged twice\nDetails: €149.00"


def test_http_503(endpoint: str, behaviour: Behaviour) -> None:
    behaviour.status = 503
    with pytest.raises(SummarizerError, match=r"answered HTTP 503 \(it is loading or overloaded") as info:
        summarizer_for(endpoint).suggest(MESSAGES)
    message = str(info.value)
    assert "127.0.0.1" in message and "Model is currently loading" in message
    assert TOKEN not in message


def test_timeout(endpoint: str, behaviour: Behaviour) -> None:
    behaviour.delay = 5
    began = time.monotonic()
    with pytest.raises(SummarizerError, match=r"did not answer within 0\.5 seconds"):
        summarizer_for(endpoint, timeout=0.5).suggest(MESSAGES)
    assert time.monotonic() - began < 4


def test_unreachable_endpoint() -> None:
    # A port that was free a moment ago: nothing listens there.
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    port = server.server_address[1]
    server.server_close()
    with pytest.raises(SummarizerError, match="Could not get an answer"):
        summarizer_for(f"http://127.0.0.1:{port}", timeout=2).suggest(MESSAGES)


def test_malformed_output_falls_back_to_lines(endpoint: str, behaviour: Behaviour) -> None:
    behaviour.content = (
        "Title: **Customer locked out of account**\n"
        "Summary: The customer cannot log in.\nThe agent unlocked it."
    )
    suggestion = summarizer_for(endpoint).suggest(MESSAGES)
    assert suggestion.title == "Customer locked out of account"
    assert suggestion.summary == "The customer cannot log in.\nThe agent unlocked it."


def test_broken_json_still_yields_fields(endpoint: str, behaviour: Behaviour) -> None:
    behaviour.content = '```json\n{"title": "Login \\"locked\\"", "summary": "Problem: locked out",}\n```'
    suggestion = summarizer_for(endpoint).suggest(MESSAGES)
    assert suggestion.title == 'Login "locked"'
    assert suggestion.summary == "Problem: locked out"


@pytest.mark.parametrize(
    "content",
    [
        "I can't help with that.",
        "I'm sorry, but I cannot assist with this request.",
        '{"title": "I cannot help with that request", "summary": ""}',
    ],
)
def test_refusal(endpoint: str, behaviour: Behaviour, content: str) -> None:
    behaviour.content = content
    with pytest.raises(SummarizerError, match="declined"):
        summarizer_for(endpoint).suggest(MESSAGES)


def test_empty_answer(endpoint: str, behaviour: Behaviour) -> None:
    behaviour.content = "   "
    with pytest.raises(SummarizerError, match="empty answer"):
        summarizer_for(endpoint).suggest(MESSAGES)


def test_over_long_title_is_clipped(endpoint: str, behaviour: Behaviour) -> None:
    long_title = (
        "Customer cannot log in to the billing portal because the account was locked"
        " after six failed attempts"
    )
    behaviour.content = json.dumps({"title": long_title, "summary": "Problem: locked"})
    suggestion = summarizer_for(endpoint).suggest(MESSAGES)
    assert len(suggestion.title) <= 80
    assert long_title.startswith(suggestion.title)
    assert not suggestion.title.endswith(" ")


def test_markup_never_reaches_the_suggestion(endpoint: str, behaviour: Behaviour) -> None:
    behaviour.content = json.dumps(
        {"title": "<b>Locked</b> account", "summary": "<p>Problem: <i>locked</i></p>"}
    )
    suggestion = summarizer_for(endpoint).suggest(MESSAGES)
    assert suggestion.title == "Locked account"
    assert suggestion.summary == "Problem: locked"


def test_no_text_needs_no_call(endpoint: str, behaviour: Behaviour) -> None:
    suggestion = summarizer_for(endpoint).suggest([SummaryInput("customer", "  ")])
    assert suggestion.title == "Support request"
    assert behaviour.requests == []


def test_long_thread_prompt_is_capped(endpoint: str, behaviour: Behaviour) -> None:
    thread = [SummaryInput("customer", "FIRST: the export fails with ERR_EXPORT_LIMIT.")]
    thread += [
        SummaryInput("agent" if i % 2 else "customer", f"Message {i}: " + "blah " * 60) for i in range(1, 499)
    ]
    thread += [SummaryInput("agent", "LAST: fixed in release 4.2.")]
    summarizer_for(endpoint, prompt_chars=6000).suggest(thread)
    prompt = behaviour.requests[0]["json"]["messages"][1]["content"]
    assert len(prompt) <= 6000 + len("Conversation:\n")
    assert "FIRST: the export fails" in prompt and "LAST: fixed in release 4.2." in prompt
    assert "messages left out" in prompt


def test_get_summarizer_reads_config(endpoint: str, behaviour: Behaviour) -> None:
    config = {
        "KRONCASES_HF_MODEL": endpoint,
        "KRONCASES_HF_TOKEN": TOKEN,
        "KRONCASES_HF_TIMEOUT": "3",
        "KRONCASES_HF_MAX_TOKENS": 77,
    }
    summarizer = get_summarizer("huggingface", config)
    assert isinstance(summarizer, HuggingFaceSummarizer)
    assert summarizer.timeout == 3.0
    summarizer.suggest(MESSAGES)
    assert behaviour.requests[0]["json"]["max_tokens"] == 77


def test_offline_mode_is_reported_clearly() -> None:
    """HF_HUB_OFFLINE blocks even a local endpoint; the error says so."""
    code = (
        "from flask_kroncases.summarizers import SummaryInput, SummarizerError;"
        "from flask_kroncases.summarizers.huggingface import HuggingFaceSummarizer;"
        "s = HuggingFaceSummarizer('http://127.0.0.1:9', token='x', timeout=1)\n"
        "try:\n    s.suggest([SummaryInput('customer', 'help')])\n"
        "except SummarizerError as e:\n    print(e)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert "offline mode is enabled" in result.stdout


def test_build_transcript_formats_and_strips_markup() -> None:
    from datetime import datetime

    transcript = build_transcript(
        [
            SummaryInput("customer", "<p>Order <b>#123</b> late</p>", datetime(2024, 5, 1, 9, 30)),
            SummaryInput("agent", "   "),
        ]
    )
    assert transcript == "[2024-05-01 09:30] customer: Order #123 late"


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ('{"title": "A", "summary": "B"}', ("A", "B")),
        ('{"Title": "A", "Summary": "B"}', ("A", "B")),
        ('Here you go: {"title": "A", "summary": "B"} Hope it helps', ("A", "B")),
        ("# A\nB\nC", ("A", "B\nC")),
        ("Only a title", ("Only a title", "Only a title")),
        ('{"summary": "Problem: B"}', ("Problem: B", "Problem: B")),
        (
            "I can't log in since Monday\nCustomer locked out.",
            ("I can't log in since Monday", "Customer locked out."),
        ),
    ],
)
def test_parse_answer(answer: str, expected: tuple[str, str]) -> None:
    assert parse_answer(answer) == expected


def test_labelled_prose_answer_is_read_by_its_labels(endpoint: str, behaviour: Behaviour) -> None:
    """A chatty first line is not the title, and "Summary:" does not stay in the summary."""
    behaviour.content = (
        "Sure! Here is the case:\n"
        "Title: Account locked after failed logins (ERR_ACCOUNT_LOCKED)\n"
        "Summary: Problem: cannot log in\nDetails: ERR_ACCOUNT_LOCKED, anna@example.com\n"
        "Type: Access\n"
        "Priority: High\n"
        "Let me know if you need anything else."
    )
    suggestion = summarizer_for(endpoint).suggest(MESSAGES)
    assert suggestion.title == "Account locked after failed logins (ERR_ACCOUNT_LOCKED)"
    assert suggestion.summary.startswith("Problem: cannot log in\nDetails: ERR_ACCOUNT_LOCKED")
    assert "Summary:" not in suggestion.summary and "Sure!" not in suggestion.summary
    assert (suggestion.case_type, suggestion.priority) == ("access", "high")
    assert len(behaviour.requests) == 1  # type and priority come from the same single call


def test_type_and_priority_are_asked_for_in_the_one_call(endpoint: str, behaviour: Behaviour) -> None:
    behaviour.content = json.dumps(
        {"title": "Duplicate charge", "summary": "Problem: charged twice", "type": "Billing",
         "priority": "urgent"}
    )
    suggestion = summarizer_for(endpoint).suggest(MESSAGES)
    assert (suggestion.case_type, suggestion.priority) == ("billing", "urgent")
    (request,) = behaviour.requests
    system = request["json"]["messages"][0]["content"]
    assert '"type"' in system and '"priority"' in system
    assert "technical" in system and "urgent" in system


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ('{"title": "A", "summary": "B"}', ("A", "B", None, None)),
        ('{"title": "A", "summary": "B", "type": "shipping", "priority": "soon"}', ("A", "B", None, None)),
        ('{"title": "A", "summary": "B", "case_type": "Technical issue", "priority": "Low"}',
         ("A", "B", "technical", "low")),
        ("**Title:** A\n**Summary:** B\nC\n**Type:** billing", ("A", "B\nC", "billing", None)),
        ("Here you go.\n\nTitel: A\nZusammenfassung: B\nTyp: access\nPriorität: urgent",
         ("A", "B", "access", "urgent")),
        ("Type: billing\nThe customer was charged twice.", ("Type: billing", "The customer was charged twice.",
                                                          None, None)),
    ],
)
def test_read_answer(answer: str, expected: tuple[str, str, str | None, str | None]) -> None:
    assert read_answer(answer) == expected
