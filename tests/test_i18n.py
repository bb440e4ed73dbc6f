"""The agent's language and time zone: Flask-Babel's selectors, and English/UTC without them.

Expected texts are read from the shipped catalogs, so these tests prove the
pages follow the selectors, not what a translator chose to write.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from babel.support import Translations
from flask import Flask, g, render_template_string, request
from flask_babel import Babel

from flask_kroncases import KronCases, i18n
from flask_kroncases.errors import CaseError
from flask_kroncases.i18n import DOMAIN, TRANSLATIONS

from .conftest import Database, Desk

ROOT = Path(__file__).resolve().parents[1]
#: The refusal of a long title, as the code words it (a catalog key).
TITLE_TOO_LONG = "Shorten the title to %(max)d characters; it has %(length)d."


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    """Languages do not depend on the database: SQLite only."""
    yield Database("sqlite", f"sqlite:///{tmp_path / 'test.sqlite'}")


@pytest.fixture
def host() -> Any:
    from .hosts import HOSTS

    return HOSTS["classic"]


def catalog(language: str) -> Translations:
    return Translations.load(str(TRANSLATIONS), [language], DOMAIN)


def in_(language: str, text: str, **variables: Any) -> str:
    translated = catalog(language).gettext(text)
    assert translated != text, f"{text!r} has no {language} translation"
    return translated % variables if variables else translated


@pytest.fixture
def babel(app: Flask) -> Babel:
    """Flask-Babel with selectors a test steers through two request headers."""

    def locale() -> str | None:
        return request.headers.get("X-Locale") if request else None

    def timezone() -> str | None:
        return request.headers.get("X-Zone") if request else None

    return Babel(app, locale_selector=locale, timezone_selector=timezone)


def panel_html(app: Flask, desk: Desk, **headers: str) -> str:
    with app.test_request_context(headers=headers):
        g._login_user = desk.user(desk.agent)
        conv = desk.conv(desk.conversation)
        return render_template_string("{{ kroncases.case_form(conv) }}{{ kroncases.panel(conv) }}", conv=conv)


def thread_html(app: Flask, desk: Desk, **headers: str) -> str:
    with app.test_request_context(headers=headers):
        g._login_user = desk.user(desk.agent)
        conv = desk.conv(desk.conversation)
        return render_template_string(
            "{% for e in kroncases.activity_entries(conv) %}{{ kroncases.activity_entry(e) }}{% endfor %}", conv=conv
        )


def make_case(app: Flask, cases: KronCases, desk: Desk, **headers: str) -> int:
    with app.test_request_context(headers=headers):
        messages = desk.msgs(desk.messages[:2])
        case = cases.create_case(desk.conv(desk.conversation), messages, title="Locked out", by=desk.user(desk.agent))
        cases.escalate(case, by=desk.user(desk.agent), reason="VIP customer")
        return int(case.id)


def test_without_babel_set_up_pages_are_english_in_the_host_zone(app: Flask, cases: KronCases, desk: Desk) -> None:
    app.config["KRONCASES_HOST_TIMEZONE"] = "Asia/Tokyo"
    case_id = make_case(app, cases, desk)
    html = panel_html(app, desk, **{"X-Locale": "de"}) + thread_html(app, desk, **{"X-Locale": "de"})
    assert "Support Cases" in html and f"Case #{case_id} created by" in html
    assert re.search(r'<time[^>]*title="[^"]*JST"', html), "times follow KRONCASES_HOST_TIMEZONE"


def test_the_locale_selector_picks_the_language_of_every_part(
    app: Flask, cases: KronCases, desk: Desk, babel: Babel
) -> None:
    case_id = make_case(app, cases, desk, **{"X-Locale": "de"})
    for language in ("de", "es", "fr"):
        html = panel_html(app, desk, **{"X-Locale": language})
        assert in_(language, "Support Cases") in html
        assert in_(language, "Create Case") in html
        assert "Support Cases" not in html
    # Activity is stored as facts and worded for its reader: written under German, read in French.
    french = thread_html(app, desk, **{"X-Locale": "fr"})
    assert "created by" not in french and "escalated by" not in french
    assert f"#{case_id}" in french and "VIP customer" in french
    english = thread_html(app, desk, **{"X-Locale": "en"})
    assert f"Case #{case_id} created by" in english


def test_the_timezone_selector_sets_the_zone_of_shown_times(
    app: Flask, cases: KronCases, desk: Desk, babel: Babel
) -> None:
    make_case(app, cases, desk)
    berlin = thread_html(app, desk, **{"X-Locale": "en", "X-Zone": "Europe/Berlin"})
    tokyo = thread_html(app, desk, **{"X-Locale": "en", "X-Zone": "Asia/Tokyo"})
    # The machine-readable time stays UTC; what the agent reads is in their zone.
    stamps = re.findall(r'<time[^>]*datetime="([^"]+)"[^>]*title="([^"]+)"', berlin)
    assert stamps and all(s[0].endswith("+00:00") for s in stamps)
    assert re.search(r'title="[^"]*(CET|CEST|GMT\+0?[12]|\+0[12]00)"', berlin), berlin
    assert re.search(r'title="[^"]*(JST|GMT\+0?9|\+0900)"', tokyo), tokyo


def test_refusals_reach_the_agent_in_their_language(app: Flask, cases: KronCases, desk: Desk, babel: Babel) -> None:
    with app.test_request_context(headers={"X-Locale": "de"}):
        messages = desk.msgs(desk.messages[:1])
        with pytest.raises(CaseError) as refused:
            cases.create_case(desk.conv(desk.conversation), messages, title="x" * 81, by=desk.user(desk.agent))
    assert refused.value.kind == "invalid"  # the kind stays a code, for programs
    assert in_("de", TITLE_TOO_LONG, max=80, length=81) in str(refused.value.to_dict())


def test_the_json_api_stays_language_neutral(app: Flask, cases: KronCases, desk: Desk, babel: Babel) -> None:
    case_id = make_case(app, cases, desk)
    with app.app_context():
        client = app.test_client(user=desk.user(desk.agent))
    body = client.get(f"/kroncases/api/cases/{case_id}", headers={"X-Locale": "de", "X-Zone": "Asia/Tokyo"}).get_json()
    case = body.get("case", body)
    assert (case["status"], case["case_type"], case["priority"]) == ("open", "general", "medium")
    assert datetime.fromisoformat(case["created_at"]).utcoffset() == UTC.utcoffset(None)


def test_without_flask_babel_installed_the_extension_works_in_english(tmp_path: Path) -> None:
    """A host without the ``babel`` extra: no import error, English text, the host's zone."""
    script = textwrap.dedent(
        f"""
        import sys
        sys.modules["flask_babel"] = None  # as if not installed: importing it raises ImportError
        sys.path.insert(0, {str(ROOT)!r})
        from flask import render_template_string
        from flask_kroncases import i18n
        from tests.hosts import HOSTS, make_app
        assert i18n.flask_babel is None
        host = HOSTS["classic"]
        app, cases = make_app(host, "sqlite:///{tmp_path / 'plain.sqlite'}", KRONCASES_HOST_TIMEZONE="Asia/Tokyo")
        with app.test_request_context():
            host.db.create_all()
            agent = host.make_user("Ann", "support")
            conv = host.make_conversation("Hi", "support")
            host.db.session.add_all([agent, conv]); host.db.session.commit()
            msg = host.make_message(conv, "Locked out")
            host.db.session.add(msg); host.db.session.commit()
            case = cases.create_case(conv, [msg], title="Locked", by=agent)
            html = render_template_string(
                "{{{{ kroncases.panel(conv) }}}}{{% for e in kroncases.activity_entries(conv) %}}"
                "{{{{ kroncases.activity_entry(e) }}}}{{% endfor %}}", conv=conv)
        assert "Support Cases" in html and "created by Ann" in html, html
        assert "JST" in html, html
        print("ok")
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


def test_figures_follow_the_locale(app: Flask, babel: Babel) -> None:
    from flask_kroncases.i18n import format_number

    with app.test_request_context(headers={"X-Locale": "de"}):
        assert format_number(1234567) == "1.234.567"
    with app.test_request_context(headers={"X-Locale": "en"}):
        assert format_number(1234567) == "1,234,567"


def test_figures_are_plain_without_babel(app: Flask) -> None:
    from flask_kroncases.i18n import format_number

    with app.test_request_context(headers={"X-Locale": "de"}):
        assert format_number(1234567) == "1234567"


def test_an_agent_who_is_gone_is_someone_in_the_readers_language_and_in_english_in_data(
    app: Flask, cases: KronCases, desk: Desk, babel: Babel
) -> None:
    """A deleted agent's entries read "Jemand" to a German agent; webhook bodies and JSON keep "Someone"."""
    case_id = make_case(app, cases, desk)
    with app.app_context():  # the agent's account deleted: the foreign keys set their id to NULL
        models, session = cases.models, desk.host.db.session
        session.execute(sa.update(models.Case).where(models.Case.id == case_id).values(created_by_id=None))
        session.execute(sa.update(models.CaseActivity).where(models.CaseActivity.case_id == case_id).values(actor_id=None))
        session.commit()
    someone = in_("de", "Someone")
    german = thread_html(app, desk, **{"X-Locale": "de"}) + panel_html(app, desk, **{"X-Locale": "de"})
    assert someone in german and "Someone" not in german
    assert "Someone" in thread_html(app, desk, **{"X-Locale": "en"})
    with app.test_request_context(headers={"X-Locale": "de"}):
        assert cases.hooks.display_name(None) == "Someone"  # what the API's JSON and webhook bodies name
        assert cases.hooks.shown_name(None) == someone


def test_a_translated_bulk_refusal_names_its_case_once(app: Flask, babel: Babel) -> None:
    """The English refusal loses its "Case #12 is"; a translated one is shown whole, not after "Fall #12:"."""
    from flask_kroncases.services.case_list import BulkResult, _refusal

    with app.test_request_context(headers={"X-Locale": "de"}):
        refused = CaseError(i18n.gettext("Case #%(id)s is already resolved.", id=12), kind="conflict")
        line = BulkResult("12", False, _refusal("12", refused)).line
        assert line == in_("de", "Case #%(id)s is already resolved.", id=12).rstrip(".")
        assert line.count(in_("de", "Case #%(id)s", id=12)) == 1
        assert BulkResult("13", True, in_("de", "resolved")).line.startswith(in_("de", "Case #%(id)s", id=13))
    with app.test_request_context(headers={"X-Locale": "en"}):
        refused = CaseError("Case #12 is already resolved.", kind="conflict")
        assert BulkResult("12", False, _refusal("12", refused)).line == "Case #12: already resolved"
