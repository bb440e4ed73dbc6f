"""The extension's HTML error pages sit in ``kroncases/layout.html`` with a way back; the JSON API stays JSON.

A host overriding ``templates/kroncases/layout.html`` sees its own frame around
our 400, 403, 404 and 405 pages, for the pages blueprint (a missing case, a
wrong URL under the prefix, a form without its CSRF token) and the settings
blueprint (a non-admin, a stale form). The way back is the referrer when it is
on this host (path and query only), else the cases page: never another site.
"""

from __future__ import annotations

import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from jinja2 import ChoiceLoader, FileSystemLoader

from .conftest import Desk
from .hosts import HOSTS


@pytest.fixture
def host() -> ModuleType:
    """One host schema: nothing here touches the host's keys (both schemas are proved elsewhere),
    and the suite keeps within its time."""
    return HOSTS["classic"]


HOST_FRAME = ("<!doctype html><title>{% block title %}{% endblock %}</title><header>HOST NAV</header>"
              "<main>{% block kroncases_content %}{% endblock %}</main><footer>HOST FOOTER</footer>")
SETTINGS = "/kroncases/settings/integrations/webhooks"


@pytest.fixture
def framed(app: Flask, tmp_path: Path) -> Flask:
    """The test host with its own ``kroncases/layout.html``, as a host's template folder would hold it."""
    folder = tmp_path / "host_templates" / "kroncases"
    folder.mkdir(parents=True)
    (folder / "layout.html").write_text(HOST_FRAME)
    app.jinja_loader = ChoiceLoader([FileSystemLoader(str(tmp_path / "host_templates")), app.jinja_loader])
    return app


def client_as(app: Flask, desk: Desk, key: Any) -> FlaskClient:
    with app.app_context():
        return app.test_client(user=desk.user(key))


def in_frame(response: Any, status: int) -> str:
    """The page's text, checked to be our error page inside the host's frame."""
    html = response.get_data(as_text=True)
    assert response.status_code == status, html
    assert response.mimetype == "text/html"
    assert html.startswith("<!doctype html><title>") and "<header>HOST NAV</header>" in html
    assert html.rstrip().endswith("<footer>HOST FOOTER</footer>")
    assert f'data-kc-error="{status}"' in html
    assert "Werkzeug" not in html and "<h1>Not Found</h1>" not in html
    return html


def back_link(html: str) -> tuple[str, str]:
    match = re.search(r'<a class="kc-link kc-error-page__back" href="([^"]*)">([^<]*)</a>', html)
    assert match, html
    return match.group(1), match.group(2)


def test_404_pages_render_in_the_host_frame_with_a_way_back(framed: Flask, desk: Desk) -> None:
    agent = client_as(framed, desk, desk.agent)
    missing_case = in_frame(agent.get("/kroncases/cases/999999"), 404)
    assert "This case does not exist." in missing_case
    assert back_link(missing_case) == ("/kroncases/cases", "Back to support cases")

    wrong_url = in_frame(agent.get("/kroncases/no-such-page/at-all"), 404)
    assert "There is no such page." in wrong_url
    assert back_link(wrong_url) == ("/kroncases/cases", "Back to support cases")
    assert back_link(in_frame(agent.get("/kroncases/"), 404))[0] == "/kroncases/cases"

    # A conversation the agent may not see is refused exactly like a missing one, in the same frame.
    hidden = agent.post(f"/kroncases/conversations/{desk.hidden_conversation}/case-form", data={})
    nowhere = agent.post("/kroncases/conversations/99999999/case-form", data={})
    assert hidden.status_code == nowhere.status_code


def test_403_of_the_settings_renders_in_the_host_frame_with_a_way_back(framed: Flask, desk: Desk) -> None:
    agent = client_as(framed, desk, desk.agent)
    page = in_frame(agent.get(SETTINGS), 403)
    assert "You are not allowed to open this page." in page
    assert back_link(page) == ("/kroncases/cases", "Back to support cases")

    # The page the agent came from, when it is on this site: path and query only.
    came_from = f"http://localhost/conversations/{desk.conversation}?tab=cases"
    page = in_frame(agent.get(SETTINGS, headers={"Referer": came_from}), 403)
    assert back_link(page) == (f"/conversations/{desk.conversation}?tab=cases", "Go back")
    page = in_frame(agent.post(f"{SETTINGS}/1/rotate", headers={"Referer": came_from}), 403)
    assert back_link(page)[0] == f"/conversations/{desk.conversation}?tab=cases"


@pytest.mark.parametrize("referrer", [
    "https://evil.example/phish",             # another site
    "http://localhost.evil.example/x",        # a host that only starts like ours
    "http://evil.example@localhost/x#",       # ours after userinfo is still not the same netloc
    "http://localhost//evil.example/x",       # a protocol-relative path on our host
    "http://localhost/\\evil.example",        # a backslash browsers read as a slash
    "http://localhost/\t/evil.example",        # a tab browsers drop, leaving //evil.example
    "javascript:alert(1)",
    "/relative/only",
])
def test_the_way_back_never_leaves_the_site(framed: Flask, desk: Desk, referrer: str) -> None:
    agent = client_as(framed, desk, desk.agent)
    page = in_frame(agent.get(SETTINGS, headers={"Referer": referrer}), 403)
    assert back_link(page) == ("/kroncases/cases", "Back to support cases")
    assert "evil" not in back_link(page)[0] and "javascript" not in page


def test_a_referrer_that_is_the_failing_page_is_no_way_back(framed: Flask, desk: Desk) -> None:
    agent = client_as(framed, desk, desk.agent)
    page = in_frame(agent.get("/kroncases/cases/999999", headers={"Referer": "http://localhost/kroncases/cases/999999"}),
                    404)
    assert back_link(page)[0] == "/kroncases/cases"


def test_400_pages_render_in_the_host_frame(framed: Flask, desk: Desk) -> None:
    agent = client_as(framed, desk, desk.agent)
    page = in_frame(agent.post(f"/kroncases/conversations/{desk.conversation}/case-form", data={}), 400)
    assert "security token" in page
    assert back_link(page)[0] == "/kroncases/cases"

    admin = client_as(framed, desk, desk.admin)
    page = in_frame(admin.post(SETTINGS, data={"url": "https://example.com/hook"}), 400)  # no CSRF token
    assert "security token" in page and "Reload the page" in page
    assert back_link(page)[0] == "/kroncases/cases"


def test_a_wrong_method_is_405_in_the_frame_with_its_allow_header(framed: Flask, desk: Desk) -> None:
    agent = client_as(framed, desk, desk.agent)
    response = agent.get(f"/kroncases/conversations/{desk.conversation}/case-form")
    page = in_frame(response, 405)
    assert "does not take that kind of request" in page
    assert "POST" in response.headers["Allow"]


def test_json_stays_json(framed: Flask, desk: Desk) -> None:
    agent = client_as(framed, desk, desk.agent)
    api = agent.get("/kroncases/api/no-such-route")
    assert api.status_code == 404 and api.json["error"] == "not_found"
    script = agent.get("/kroncases/no-such-page", headers={"Accept": "application/json"})
    assert script.status_code == 404 and script.json["error"] == "not_found"
    assert script.json["message"] == "There is no such page."
    fragments = agent.get("/kroncases/conversations/99999999/fragments")
    assert fragments.status_code == 404 and fragments.mimetype == "application/json"


def test_signed_out_visitors_are_sent_to_sign_in_not_shown_an_error(app: Flask) -> None:
    response = app.test_client().get("/kroncases/no-such-page")
    assert response.status_code in (302, 401)
    assert "There is no such page." not in response.get_data(as_text=True)


def test_without_our_layout_override_the_page_still_has_the_package_frame(app: Flask, desk: Desk) -> None:
    page = client_as(app, desk, desk.agent).get("/kroncases/no-such-page")
    html = page.get_data(as_text=True)
    assert page.status_code == 404 and '<body class="kc-page">' in html and 'data-kc-error="404"' in html
    assert back_link(html) == ("/kroncases/cases", "Back to support cases")


def test_at_the_site_root_wrong_urls_stay_the_hosts(tmp_path: Path) -> None:
    """With an empty prefix our pages share the host's root: a wrong URL there is the host's 404, not ours."""
    from flask_login import FlaskLoginClient

    from .hosts import classic, make_app

    app, _ = make_app(classic, f"sqlite:///{tmp_path / 'root.sqlite'}", KRONCASES_URL_PREFIX="")
    app.test_client_class = FlaskLoginClient
    with app.app_context():
        classic.db.create_all()
        user = classic.make_user("Ann", "support")
        classic.db.session.add(user)
        classic.db.session.commit()
        client = app.test_client(user=user)
    assert not [rule.rule for rule in app.url_map.iter_rules() if rule.endpoint == "kroncases_panel.no_such_page"]
    response = client.get("/no-such-page")
    assert response.status_code == 404 and "data-kc-error" not in response.get_data(as_text=True)
    assert client.get("/cases").status_code == 200  # our pages are there all the same
