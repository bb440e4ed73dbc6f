"""Translations: nothing shown to agents is left unmarked, and every catalog is whole.

The catalogs are checked against a fresh extraction from the code (the same
command ``scripts/translations extract`` runs), so a new string without its
German, Spanish and French text fails here, not in an agent's browser.
"""

from __future__ import annotations

import ast
import io
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po
from jinja2 import Environment, nodes

from flask_kroncases.i18n import LANGUAGES, TRANSLATIONS

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "flask_kroncases"
TEMPLATES = PACKAGE / "templates" / "kroncases"
SCRIPTS = PACKAGE / "static" / "kroncases"
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")
#: Text that reads as words to an agent: a letter run of two or more (not a lone "x" or "#").
WORDS = re.compile(r"[^\W\d_]{2,}")
#: Attributes whose value an agent reads or hears.
SPOKEN_ATTRIBUTES = ("aria-label", "title", "placeholder", "alt", "aria-description", "aria-roledescription")
#: Markup and symbols, not words: tags, comments, entities.
MARKUP = re.compile(r"<!--.*?-->|<[^>]*>|&[#\w]+;", re.S)
#: Calls whose literal text an agent reads: errors, flashes, form labels and validator messages.
SHOWN_CALLS = {"CaseError", "flash", "ValidationError", "DataRequired", "InputRequired", "Length", "StopValidation"}
TRANSLATORS = {"_", "_l", "gettext", "lazy_gettext", "ngettext", "N_", "_kc", "_kcn", "_kc_label"}


def extract(tmp_path: Path) -> Catalog:
    pot = tmp_path / "fresh.pot"
    subprocess.run(
        [
            str(Path(sys.executable).with_name("pybabel")), "extract", "--no-location",
            "-F", "babel.cfg", "--sort-output", "-k", "_", "-k", "_l", "-k", "N_", "-k", "N_plural:1,2", "-k", "_kc",
            "-k", "_kcn:1,2", "-k", "ngettext:1,2", "-k", "gettext", "-o", str(pot), ".",
        ],
        cwd=ROOT, check=True, capture_output=True,
    )
    with pot.open("rb") as fh:
        return read_po(fh)


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    return extract(tmp_path_factory.mktemp("pot"))


def _key(message_id: str | tuple[str, ...]) -> str:
    return message_id if isinstance(message_id, str) else message_id[0]


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_string_is_translated_with_its_placeholders(fresh: Catalog, language: str) -> None:
    po_path = TRANSLATIONS / language / "LC_MESSAGES" / "flask_kroncases.po"
    with po_path.open("rb") as fh:
        catalog = read_po(fh, locale=language)
    problems: list[str] = []
    for message in fresh:
        if not message.id:
            continue
        ours = catalog.get(message.id)
        if ours is None:
            problems.append(f"missing: {_key(message.id)!r}")
            continue
        if ours.fuzzy:
            problems.append(f"fuzzy: {_key(message.id)!r}")
        forms = ours.string if isinstance(ours.string, tuple | list) else (ours.string,)
        if not all(forms):
            problems.append(f"untranslated: {_key(message.id)!r}")
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        wanted = set().union(*(PLACEHOLDER.findall(i) for i in ids))
        for form in forms:
            got = set(PLACEHOLDER.findall(form))
            # A singular may spell out "one" instead of %(num)d; nothing else may go missing or appear.
            if got - wanted or (wanted - got) - {"num"}:
                problems.append(f"placeholders {sorted(got)} != {sorted(wanted)}: {_key(message.id)!r} -> {form!r}")
    stale = [m.id for m in catalog if m.id and fresh.get(m.id) is None]  # obsolete entries are not iterated
    assert not problems, f"{language}: " + "\n".join(problems)
    assert not stale, f"{language}: strings no longer in the code (run scripts/translations update): {stale}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_compiled_catalog_matches_its_source(language: str) -> None:
    """The wheel ships the .mo: it must say what the .po says (run scripts/translations compile)."""
    folder = TRANSLATIONS / language / "LC_MESSAGES"
    with (folder / "flask_kroncases.po").open("rb") as fh:
        source = read_po(fh, locale=language)
    compiled_now = io.BytesIO()
    write_mo(compiled_now, source)
    compiled_now.seek(0)
    with (folder / "flask_kroncases.mo").open("rb") as fh:
        shipped = read_mo(fh)
    expected = read_mo(compiled_now)
    def entries(catalog: Catalog) -> dict[Any, Any]:
        def frozen(value: Any) -> Any:
            return tuple(value) if isinstance(value, list | tuple) else value

        return {frozen(m.id): frozen(m.string) for m in catalog if m.id}

    assert entries(shipped) == entries(expected)


def _template_problems(path: Path) -> list[str]:
    env = Environment()
    tree = env.parse(path.read_text())
    translated_args: set[int] = set()
    for call in tree.find_all(nodes.Call):
        if isinstance(call.node, nodes.Name) and call.node.name in TRANSLATORS:
            translated_args.update(id(a) for a in call.args)
    # The page as a reader meets it: Jinja's comments gone, its tags and expressions
    # a placeholder without letters, scripts and styles (code, not text) left out.
    source = re.sub(r"\{#.*?#\}", "", path.read_text(), flags=re.S)
    source = re.sub(r"\{\{.*?\}\}|\{%.*?%\}", "\u00a7", source, flags=re.S)
    source = re.sub(r"<(script|style)\b.*?</\1>", " ", source, flags=re.S)
    problems: list[str] = []
    for attribute in SPOKEN_ATTRIBUTES:
        problems += [f"{attribute}={v!r}" for v in re.findall(rf'\s{attribute}="([^"]*)"', source) if WORDS.search(v)]
    for line in MARKUP.sub("\n", source).splitlines():
        if WORDS.search(line):
            problems.append(f"text {line.strip()[:60]!r}")
    for const in tree.find_all(nodes.Const):
        value = const.value
        if isinstance(value, str) and id(const) not in translated_args and re.match(r"^[A-Z][a-z]+[ ,.:]", value):
            problems.append(f"string {value[:60]!r}")
    return [f"{path.relative_to(PACKAGE)}: {p}" for p in problems]


def test_no_template_text_is_left_unmarked() -> None:
    problems = [p for path in sorted(TEMPLATES.rglob("*.html")) for p in _template_problems(path)]
    assert not problems, "mark these with _kc(...):\n" + "\n".join(problems)


def _python_problems(path: Path) -> list[str]:
    problems = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
        literal_args: list[ast.expr] = []
        if name in SHOWN_CALLS or name.endswith("Field"):
            # A field's label and a flash's text come first (then a category, a code); a validator's are all text.
            literal_args += node.args[:1] if name.endswith("Field") or name in {"flash", "CaseError"} else node.args
        literal_args += [k.value for k in node.keywords if k.arg in {"message", "label"}]
        problems += [
            f"{path.relative_to(PACKAGE)}:{arg.lineno}: {name}({arg.value!r})"
            for arg in literal_args
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and WORDS.search(arg.value)
            or isinstance(arg, ast.JoinedStr)
        ]
    return problems


def test_no_python_message_shown_to_agents_is_left_unmarked() -> None:
    paths = [PACKAGE / "forms.py", *sorted((PACKAGE / "services").glob("*.py")), *sorted((PACKAGE / "blueprints").glob("*.py"))]
    problems = [p for path in paths for p in _python_problems(path)]
    assert not problems, "wrap these in _(...) / _l(...):\n" + "\n".join(problems)


def _prose_literals(source: str) -> list[str]:
    """String and template literals of a script that read as words (two words or more)."""
    source = re.sub(r"^\s*//[^\n]*|/\*.*?\*/", "", source, flags=re.M | re.S)  # comments are for developers
    found = []
    for match in re.finditer(r"([\"'`])((?:\\.|(?!\1).)*)\1", source, flags=re.S):
        text = re.sub(r"\$\{[^}]*\}", " ", match.group(2))  # a template literal's ${...} is code
        if text == "use strict" or re.search(r"[\[\]=>{}]", text):
            continue
        if re.search(r"(?<![-\w.#\[=\"'/])[A-Za-z]{2,}[,.:]? +[A-Za-z]{2,}\b", text):
            found.append(match.group(2))
    return found


def test_the_scripts_hold_no_english_of_their_own() -> None:
    """The scripts' texts come from the page (in the agent's language), not from string literals."""
    problems = [f"{path.name}: {text!r}" for path in sorted(SCRIPTS.glob("*.js")) for text in _prose_literals(path.read_text())]
    assert not problems, "hand these to the script from the page:\n" + "\n".join(problems)


def test_the_script_check_finds_english() -> None:
    assert _prose_literals('announce(`Case #${id} created from ${n} messages.`); x = "Select message";') == [
        "Case #${id} created from ${n} messages.", "Select message",
    ]
    assert _prose_literals('$(`[data-kc-message="${id}"]`); el.classList.add("kc-selected"); t("case_created")') == []
