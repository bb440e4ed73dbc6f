"""The agent's language and time zone, through Flask-Babel when the host set it up.

Flask-Babel is optional (``pip install flask-kroncases[babel]``). Without it, or
while the host has not called ``Babel(app)``, every string is the English source
and times are shown in ``KRONCASES_HOST_TIMEZONE``, as before translations came.
With it, the extension follows the host's locale and time zone selectors and
reads its own catalogs (domain ``flask_kroncases``, shipped in the wheel), so a
host's ``messages`` catalogs never need our strings.

Strings are looked up when shown, never when stored: an activity entry written by
a German agent reads in French to a French one.
"""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app, has_app_context, has_request_context

#: Flask-Babel, when installed (the ``babel`` extra); None otherwise.
flask_babel: Any = importlib.import_module("flask_babel") if importlib.util.find_spec("flask_babel") else None

#: The gettext domain of our catalogs.
DOMAIN = "flask_kroncases"
#: Where the catalogs live: ``<locale>/LC_MESSAGES/flask_kroncases.mo``.
TRANSLATIONS = Path(__file__).parent / "translations"
#: The languages whose catalogs ship with the extension, besides English.
LANGUAGES = ("de", "es", "fr")

_domain = flask_babel.Domain(translation_directories=[str(TRANSLATIONS)], domain=DOMAIN) if flask_babel else None


def babel_active() -> bool:
    """Whether the current app set up Flask-Babel (and it is installed).

    Asked for every string a page shows, so one context lookup, not two.
    """
    if _domain is None:
        return False
    try:
        return "babel" in current_app.extensions
    except RuntimeError:  # no app context
        return False


def gettext(string: str, **variables: Any) -> str:
    """``string`` in the agent's language; ``%(name)s`` placeholders filled from ``variables``."""
    if babel_active():
        return _domain.gettext(string, **variables)  # type: ignore[union-attr,no-any-return]
    return string % variables if variables else string


def ngettext(singular: str, plural: str, num: int, **variables: Any) -> str:
    """The singular or plural form for ``num`` (available as ``%(num)d``)."""
    if babel_active():  # Flask-Babel fills in %(num)d itself (and refuses it twice)
        return _domain.ngettext(singular, plural, num, **variables)  # type: ignore[union-attr,no-any-return]
    variables.setdefault("num", num)
    return (singular if num == 1 else plural) % variables


class LazyString:
    """A string looked up when it is shown: for form labels and module-level text.

    Defined at import time, they must not be translated then (no request yet).
    """

    __slots__ = ("_string", "_variables")

    def __init__(self, string: str, **variables: Any) -> None:
        self._string = string
        self._variables = variables

    def __str__(self) -> str:
        return str(gettext(self._string, **self._variables))

    def __html__(self) -> str:
        from markupsafe import escape

        return str(escape(str(self)))

    def __repr__(self) -> str:
        return f"l_({self._string!r})"

    def __eq__(self, other: object) -> bool:
        return str(self) == str(other)

    def __hash__(self) -> int:
        return hash(self._string)

    def __len__(self) -> int:
        return len(str(self))

    def __add__(self, other: str) -> str:
        return str(self) + other

    def __radd__(self, other: str) -> str:
        return other + str(self)

    def __mod__(self, other: Any) -> str:
        return str(str(self) % other)

    def __getattr__(self, name: str) -> Any:
        # str methods (format, lower, startswith, ...) act on the looked-up text.
        return getattr(str(self), name)


def lazy_gettext(string: str, **variables: Any) -> LazyString:
    """Like :func:`gettext`, looked up each time the result is shown."""
    return LazyString(string, **variables)


def format_number(number: int | float) -> str:
    """A figure in the agent's locale (``1.234`` in German), plain digits without Flask-Babel."""
    if babel_active() and has_request_context():
        return str(flask_babel.format_number(number))
    return str(number)


def locale_name() -> str:
    """The agent's locale as a BCP 47 tag (``de``, ``pt-BR``), ``en`` without Flask-Babel."""
    if babel_active() and has_request_context():
        locale = flask_babel.get_locale()
        if locale is not None:
            return str(locale).replace("_", "-")
    return "en"


def display_zone() -> tzinfo:
    """The zone times are shown in: the agent's (Babel's selector), else ``KRONCASES_HOST_TIMEZONE``."""
    if babel_active() and has_request_context():
        zone = flask_babel.get_timezone()
        if zone is not None:
            return zone  # type: ignore[no-any-return]
    name = current_app.config.get("KRONCASES_HOST_TIMEZONE", "UTC") if has_app_context() else "UTC"
    if name == "local":
        return datetime.now().astimezone().tzinfo or UTC
    return ZoneInfo(name)


def to_display_zone(moment: datetime) -> datetime:
    """An aware UTC time in the zone it is shown in."""
    return moment.astimezone(display_zone())


def format_moment(moment: datetime, *, now: datetime | None = None) -> tuple[str, str]:
    """(short text, full text) for an aware time: the short one is relative when recent.

    Within a minute "just now"; within an hour and a day, "12 minutes ago" / "in
    3 hours"; otherwise a short date and time in the agent's locale. The full
    text (for the hover title) is always the complete date, time and zone.
    """
    now = now or datetime.now(UTC)
    delta = moment - now
    zone = display_zone()  # once: a page shows a time per entry
    local = moment.astimezone(zone)
    if babel_active() and has_request_context():
        full = flask_babel.format_datetime(moment, "medium") + " " + _zone_label(local)
        if abs(delta) < timedelta(minutes=1):
            short = gettext("just now")
        elif abs(delta) < timedelta(days=1):
            short = flask_babel.format_timedelta(delta, add_direction=True, threshold=1.0)
        else:
            short = flask_babel.format_datetime(moment, "short")
        return short, full
    full = local.strftime("%Y-%m-%d %H:%M ") + _zone_label(local)
    seconds = int(abs(delta).total_seconds())
    if seconds < 60:
        return gettext("just now"), full
    if seconds < 86400:
        unit_count = seconds // 3600 or seconds // 60
        if seconds >= 3600:
            text = ngettext("%(num)d hour", "%(num)d hours", unit_count)
        else:
            text = ngettext("%(num)d minute", "%(num)d minutes", unit_count)
        short = gettext("in %(span)s", span=text) if delta > timedelta(0) else gettext("%(span)s ago", span=text)
        return short, full
    if local.year == now.astimezone(zone).year:
        return local.strftime("%b %d, %H:%M"), full
    return local.strftime("%b %d %Y, %H:%M"), full


def _zone_label(local: datetime) -> str:
    return local.tzname() or local.strftime("%z")


def N_(string: str) -> str:
    """Mark ``string`` for the catalogs without looking it up (it is looked up when shown)."""
    return string


def N_plural(singular: str, plural: str) -> tuple[str, str]:
    """Mark a singular and plural pair for the catalogs without looking it up (see :func:`plural_forms`)."""
    return singular, plural


def catalog() -> Any:
    """The agent's translations object (the same one for every request in a locale), None without Flask-Babel."""
    return _domain.get_translations() if babel_active() else None  # type: ignore[union-attr]


def plural_forms(singular: str, plural: str) -> tuple[str, str]:
    """The agent's (one, other) forms of a pair, placeholders left in, for a script to fill.

    :func:`ngettext` picks one form and fills it; a script counts in the browser,
    so it needs both forms as they stand in the catalog.
    """
    if babel_active():
        translations = _domain.get_translations()  # type: ignore[union-attr]
        return translations.ungettext(singular, plural, 1), translations.ungettext(singular, plural, 2)
    return singular, plural


def translated(strings: dict[str, str]) -> dict[str, str]:
    """Each of ``strings`` looked up in the agent's language (e.g. the script's texts)."""
    return {key: gettext(text) for key, text in strings.items()}
