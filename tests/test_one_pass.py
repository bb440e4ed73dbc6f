"""One-pass pages: per-item partials are macros, called without a template render per item.

A conversation page shows an indicator per message in a case and an entry per
case activity; a list page a badge per row. Each used to be a Jinja render of
its own. Now each partial's macro is called per item (ours rendered once per
request or set of labels and the item's case and key filled in), and a host's override is
still honoured: its macro when it defines one, else a render of the file.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, render_template_string
from flask_login import login_user
from jinja2 import ChoiceLoader, FileSystemLoader, Template

from flask_kroncases import KronCases

from .conftest import Desk
from .test_ui_panel import PAGE  # a thread through message_attrs/message_indicator, then the panel

LIST = "{{ kroncases.preload_labels(convs) }}{% for c in convs %}<row>{{ kroncases.badges(c) }}</row>{% endfor %}"
PARTIALS = ("kroncases/_message_indicator.html", "kroncases/_activity_entry.html", "kroncases/_badges.html")


@contextmanager
def renders(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str | None]]:
    """The name of every template Jinja renders whole while the block runs."""
    seen: list[str | None] = []
    render = Template.render

    def spy(self: Template, *args: Any, **kwargs: Any) -> str:
        seen.append(self.name)
        return render(self, *args, **kwargs)

    monkeypatch.setattr(Template, "render", spy)
    yield seen


def make_cases(cases: KronCases, desk: Desk) -> list[Any]:
    """Two cases in the conversation: messages 1-2 and message 3; the second escalated."""
    agent = desk.user(desk.agent)
    conv = desk.conv(desk.conversation)
    first = cases.create_case(conv, desk.msgs(desk.messages[:2]), title="Locked", by=agent)
    second = cases.create_case(conv, desk.msgs(desk.messages[2:3]), title="Reset", by=agent)
    cases.escalate(second, by=agent, reason="VIP")
    return [first.id, second.id]


def page(app: Flask, desk: Desk, template: str = PAGE) -> str:
    with app.test_request_context():
        login_user(desk.user(desk.agent))
        return render_template_string(template, conv=desk.conv(desk.conversation), messages=desk.msgs(desk.messages))


def test_a_conversation_page_renders_no_template_per_message_or_entry(
    app: Flask, cases: KronCases, desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    with app.app_context():
        first, second = make_cases(cases, desk)
    with renders(monkeypatch) as seen:
        html = page(app, desk)
    assert not set(seen) & set(PARTIALS), seen
    assert seen.count("kroncases/_panel.html") == 1
    assert html.count('data-kc-indicator-slot><span class="kc-indicator"') == 3
    for key, case_id in zip(desk.messages[:3], (first, first, second), strict=True):
        assert f'data-kc-message="{key}" data-kc-case="{case_id}"' in html
        assert f'id="kc-tip-{key}">This message is logged under Case #{case_id}.</span>' in html
    assert f'data-kc-message="{desk.messages[3]}"><span class="kc-indicator-slot" data-kc-indicator-slot></span>' in html
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html))
    assert f"Case #{first} created by Alex Agent" in text and f"Case #{second} escalated by Alex Agent" in text


def test_a_list_page_renders_no_template_per_row(
    app: Flask, cases: KronCases, desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    with app.app_context():
        make_cases(cases, desk)
    keys = [desk.conversation, desk.other_conversation]
    with renders(monkeypatch) as seen, app.test_request_context():
        html = render_template_string(LIST, convs=[desk.conv(k) for k in keys])
    assert not set(seen) & set(PARTIALS), seen
    rows = re.findall(r"<row>(.*?)</row>", html)
    assert rows == [
        f'<span class="kc-badges" data-kc-badges="{keys[0]}"><span class="kc-badge kc-badge--support-case">'
        'support-case</span></span>',
        f'<span class="kc-badges" data-kc-badges="{keys[1]}"></span>',
    ]


def test_our_partials_read_as_a_whole_render_of_their_file(app: Flask, cases: KronCases, desk: Desk) -> None:
    """Filling an item's key into a partial rendered once gives what rendering the file for the item gives."""
    with app.app_context():
        first, second = make_cases(cases, desk)
    hostile = '<b title="x">&amp;\'</b>'
    with app.test_request_context():
        helpers = app.jinja_env.globals["kroncases"]
        indicator = app.jinja_env.get_template(PARTIALS[0])
        for case in (cases.get_case(first), cases.get_case(second)):  # one render per request, each case's own id
            for key in (str(desk.messages[0]), hostile, "opening"):
                whole = indicator.render(case=case, message_key=key, page_url=helpers.case_page_url(case))
                assert str(helpers.indicator_for(case, key)) == whole
                assert f"/cases/{case.id}" in whole
        badges = app.jinja_env.get_template(PARTIALS[2])
        conv = desk.conv(desk.conversation)
        assert str(helpers.badges(conv)) == badges.render(labels=["support-case"], conversation_key=str(desk.conversation))
        entries = helpers.activity_entries(conv)
        entry = app.jinja_env.get_template(PARTIALS[1])
        for item in entries:
            whole = entry.render(entry=item, display_name=cases.hooks.display_name,
                                 at=helpers.shown_time(item.created_at), tag="li")
            assert str(helpers.activity_entry(item)) == whole
        assert len(entries) == 3


def test_thread_items_carry_the_attrs_and_indicator_of_their_message(app: Flask, cases: KronCases, desk: Desk) -> None:
    with app.app_context():
        make_cases(cases, desk)
    with app.test_request_context():
        helpers = app.jinja_env.globals["kroncases"]
        items = helpers.thread(desk.conv(desk.conversation), desk.msgs(desk.messages))
        messages = [item for item in items if item.is_message]
        assert len(messages) == 4 and len(items) == 4 + 3
        for item in messages:
            assert item.attrs == helpers.message_attrs(item.message)
            assert item.indicator == helpers.message_indicator(item.message)
        assert all(item.attrs is None and item.activity for item in items if not item.is_message)


def test_a_hostile_message_key_is_escaped_where_it_is_filled_in(app: Flask, cases: KronCases, desk: Desk) -> None:
    with app.app_context():
        first, _second = make_cases(cases, desk)
    hostile = '"><script>alert(1)</script>'
    with app.test_request_context():
        helpers = app.jinja_env.globals["kroncases"]
        html = str(helpers.indicator_for(cases.get_case(first), hostile))
    assert "<script>" not in html
    assert html.count('id="kc-tip-&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"') == 1


OVERRIDES: dict[str, tuple[str, str]] = {
    # partial: (with its macro, without one: the file uses its variables)
    "_message_indicator.html": (
        '{% macro indicator(case, message_key, page_url) %}<b data-host="macro">{{ case.id }}/{{ message_key }}</b>'
        "{% endmacro %}",
        '<b data-host="render">{{ case.id }}/{{ message_key }}</b>',
    ),
    "_activity_entry.html": (
        '{% macro activity_entry(entry, display_name, at, tag) %}<{{ tag }} data-host="macro">{{ entry.kind }} by '
        "{{ display_name(entry.actor) }}</{{ tag }}>{% endmacro %}",
        '<{{ tag }} data-host="render">{{ entry.kind }} by {{ display_name(entry.actor) }}</{{ tag }}>',
    ),
    "_badges.html": (
        '{% macro badges(labels, conversation_key) %}<i data-host="macro">{{ conversation_key }}:{{ labels|join(",") }}'
        "</i>{% endmacro %}",
        '<i data-host="render">{{ conversation_key }}:{{ labels|join(",") }}</i>',
    ),
}


@pytest.mark.parametrize("style", ["macro", "render"])
@pytest.mark.parametrize("partial", sorted(OVERRIDES))
def test_a_host_override_of_a_partial_is_used_for_every_item(
    app: Flask, cases: KronCases, desk: Desk, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, partial: str, style: str
) -> None:
    """The host's file wins: its macro is called per item when it has one, else the file is rendered per item."""
    folder = tmp_path / "host_templates" / "kroncases"
    folder.mkdir(parents=True)
    (folder / partial).write_text(OVERRIDES[partial][0 if style == "macro" else 1])
    app.jinja_loader = ChoiceLoader([FileSystemLoader(str(tmp_path / "host_templates")), app.jinja_loader])
    with app.app_context():
        first, second = make_cases(cases, desk)
    name = f"kroncases/{partial}"
    with renders(monkeypatch) as seen:
        if partial == "_badges.html":
            with app.test_request_context():
                html = render_template_string(LIST, convs=[desk.conv(desk.conversation), desk.conv(desk.other_conversation)])
            expected = [f'<i data-host="{style}">{desk.conversation}:support-case</i>',
                        f'<i data-host="{style}">{desk.other_conversation}:</i>']
        else:
            html = page(app, desk)
            if partial == "_message_indicator.html":
                expected = [f'<b data-host="{style}">{case_id}/{key}</b>'
                            for key, case_id in zip(desk.messages[:3], (first, first, second), strict=True)]
            else:
                expected = [f'<li data-host="{style}">{kind} by Alex Agent</li>'
                            for kind in ("created", "created", "escalated")]
    found = re.findall(rf'<(?:b|i|li) data-host="{style}">.*?</(?:b|i|li)>', html)
    assert found == expected
    assert seen.count(name) == (0 if style == "macro" else len(found))
