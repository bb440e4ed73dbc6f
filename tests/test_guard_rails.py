"""The house rules, checked with every test run: layers, lint and types.

``lint-imports`` holds the layers contract in pyproject.toml (views and
templating above services, services above models, summarizers and webhook
primitives, hooks/config/enums/errors/signals at the bottom, no cycles);
``ruff`` and ``mypy`` run with the settings there, no flags.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
BIN = Path(sys.executable).parent
#: Working papers beside the repository, which a clone does not have (spelt so this file does not match).
OUTSIDE = (".." + "/shared", "DESIGN" + ".md")


@pytest.mark.parametrize("command", [["lint-imports"], ["ruff", "check"], ["mypy"]], ids=lambda c: c[0])
def test_house_rules_hold(command: list[str]) -> None:
    result = subprocess.run([str(BIN / command[0]), *command[1:]], cwd=ROOT, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_the_repository_refers_to_nothing_outside_itself() -> None:
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    outside = [
        name for name in tracked
        if (ROOT / name).is_file() and name.endswith((".md", ".py", ".toml", ".html", ".js", ".cfg", ".txt"))
        and any(marker in (ROOT / name).read_text(errors="ignore") for marker in OUTSIDE)
    ]
    assert outside == []


def test_licence_and_version_stand_with_the_package() -> None:
    import flask_kroncases

    assert "MIT License" in (ROOT / "LICENSE").read_text()
    assert flask_kroncases.__version__ == __import__("importlib.metadata").metadata.version("flask-kroncases")


def test_the_title_length_has_one_home() -> None:
    """Models, forms, service, backends, templates and script read ``TITLE_MAX_LENGTH``; no copy of 80."""
    import re

    package = ROOT / "flask_kroncases"
    copies = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in package.rglob("*")
        if path.suffix in {".py", ".js", ".html"} and path.name != "enums.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"(?<![\w.])80(?![\w.])", line) and "port" not in line
    ]
    assert copies == []
    script = (package / "static" / "kroncases" / "kroncases.js").read_text()
    assert 'getAttribute("data-kc-max")' in script  # said, not cut: no maxlength on the field


def test_the_panel_offers_what_the_status_moves_allow() -> None:
    """The panel asks the service for a case's actions instead of repeating the rules."""
    from types import SimpleNamespace

    from flask_kroncases.enums import CaseAction, Status
    from flask_kroncases.services.cases import CaseService

    def actions(status: Status) -> list[CaseAction]:
        return CaseService.actions(SimpleNamespace(status=status.value))

    assert actions(Status.OPEN) == [CaseAction.PENDING, CaseAction.RESOLVE, CaseAction.ESCALATE, CaseAction.SUMMARY]
    assert actions(Status.PENDING) == [CaseAction.OPEN, CaseAction.RESOLVE, CaseAction.ESCALATE, CaseAction.SUMMARY]
    assert actions(Status.RESOLVED) == [CaseAction.REOPEN, CaseAction.SUMMARY]
    panel = (ROOT / "flask_kroncases" / "templates" / "kroncases" / "_panel.html").read_text()
    assert "case.status ==" not in panel and "actions(case)" in panel
