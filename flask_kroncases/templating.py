"""The ``kroncases`` template global: macros a host calls from its own pages.

Each helper renders an overridable template under ``templates/kroncases/``.
Whatever a page shows of a conversation (its cases and their messages, notes,
activity and the people they name) is loaded once per request, in bulk, so a
thread of many messages or a list page of many conversations costs a constant
number of queries. The small per-item partials (indicator, activity entry,
badges) are macros, called per item without a template render each.

A conversation page uses::

    <head>{{ kroncases.assets() }}</head>
    {% for item in kroncases.thread(conversation, messages) %}
      {% if item.is_message %}
        <li {{ item.attrs }}>… {{ item.indicator }}</li>  {# = message_attrs / message_indicator(item.message) #}
      {% else %}{{ item.activity }}{% endif %}
    {% endfor %}
    {{ kroncases.case_form(conversation) }}     {# selection, action bar, dialogs #}
    <aside>{{ kroncases.panel(conversation) }}</aside>
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from flask import Flask, current_app, g, render_template, url_for
from flask_login import current_user
from jinja2 import Template
from jinja2.runtime import Macro
from jinja2.utils import htmlsafe_json_dumps
from markupsafe import Markup, escape

from . import i18n
from .config import TEMPLATES, template_name
from .enums import OPENING_MESSAGE, TITLE_MAX_LENGTH, WORKING, CaseAction, CaseType, Priority, Status
from .hooks import _TIME_ATTRS, _first_attr, is_signed_in, unwrap_user
from .models import as_utc, host_time, utcnow
from .services import due as due_service


def _plain(key: Any) -> str:
    return str(key)


def _app() -> Flask:
    """The app behind ``current_app``: one proxy lookup, where each attribute read through it costs one."""
    return current_app._get_current_object()  # type: ignore[attr-defined, no-any-return]


def _url_if_registered(endpoint: str, **values: Any) -> str | None:
    """``url_for(endpoint)``, or None when the host switched that blueprint off."""
    if endpoint.partition(".")[0] not in current_app.blueprints:
        return None
    return url_for(endpoint, **values)


class ThreadItem(NamedTuple):
    """One entry of :meth:`TemplateHelpers.thread`: a host message or a case activity.

    A message comes with its ``attrs`` and ``indicator``: what ``message_attrs``
    and ``message_indicator`` give for it, worked out with the thread, so a long
    thread can use them without a call per message.
    """

    message: Any = None
    entry: Any = None
    activity: Markup | None = None
    attrs: Markup | None = None
    indicator: Markup | None = None

    @property
    def is_message(self) -> bool:
        return self.message is not None


@dataclass(frozen=True)
class CaseDetails:
    """What the panel shows of a case beyond its columns, worked out for all its cases at once."""

    #: The owner's name, or None while nobody owns it.
    owner: str | None
    #: Whether the signed-in agent owns it (the panel then offers no "Assign to me").
    mine: bool
    #: The due time in the host's zone (``KRONCASES_HOST_TIMEZONE``), None when there is none.
    due: datetime | None
    overdue: bool
    #: Open or pending: messages can be added to it.
    working: bool
    #: Pending: its clock stands still, the due time moves on by the wait.
    paused: bool
    notes: int
    latest_note: Any
    latest_note_author: str | None
    latest_note_at: datetime | None
    #: The case page, None when the pages blueprint is switched off.
    page_url: str | None


_SLOT_OPEN = '<span class="kc-indicator-slot" data-kc-indicator-slot>'
_EMPTY_SLOT = Markup(f"{_SLOT_OPEN}</span>")

#: Stands for the one value that differs between items sharing a rendered partial
#: (a message's key in its case's indicator, a conversation's key in its badges);
#: replaced by the item's own, escaped, value.
_KEY = "\x00kc-key\x00"
#: Stands for the case in our indicator, rendered once per request: an id no case
#: has (our ids are integers, and a URL rule takes it), replaced by the case's own.
_CASE_ID = 9_000_000_000_000_000_001
_CASE_TEXT = str(_CASE_ID)


class _CaseId(NamedTuple):
    """All our indicator reads of its case."""

    id: int


# The scripts' texts as JSON, by (locale, catalog id): (the catalog, the JSON).
_SCRIPT_STRINGS: dict[tuple[str, int], tuple[Any, Markup]] = {}

#: Where our own templates are, to tell them from a host's overrides.
_OUR_TEMPLATES = Path(__file__).resolve().parent / "templates"

#: The macro each compiled template defines (None: it defines none), found once per template.
_macros: weakref.WeakKeyDictionary[Template, dict[str, Any]] = weakref.WeakKeyDictionary()


def _macro(template: Template, name: str) -> Any | None:
    """The macro ``name`` of ``template``, or None when it has none (a host's override, most likely).

    The template's module is built without variables: a file that only works
    with them (an override without the macro) fails there and is rendered whole.
    """
    known = _macros.get(template)
    if known is None:
        known = _macros.setdefault(template, {})
    if name not in known:
        try:
            found = getattr(template.module, name, None)
        except Exception:  # rendered whole instead, where its errors show as usual
            found = None
        known[name] = found if isinstance(found, Macro) else None
    return known[name]


def _is_ours(template: Template, name: str) -> bool:
    """Whether ``template`` is the extension's own file for ``name``, not a host's override."""
    if template.filename is None:
        return False
    return os.path.normpath(template.filename) == os.path.normpath(_OUR_TEMPLATES / TEMPLATES[name])


class _Conversation:
    """What one request knows of one conversation; each part loaded once, in bulk."""

    __slots__ = ("activity", "by_message", "cases", "named_activity", "named_cases", "notes")

    def __init__(self) -> None:
        self.cases: list[Any] | None = None
        #: Case id → (note count, latest note), for the cases with notes.
        self.notes: dict[Any, tuple[int, Any]] = {}
        #: Message key (``"opening"`` too) → its case.
        self.by_message: dict[Any, Any] = {}
        self.activity: list[Any] | None = None
        self.named_cases = False
        self.named_activity = False


class TemplateHelpers:
    """Exposed to Jinja as ``kroncases``; stateless, so one serves every app."""

    CaseType = CaseType
    CaseAction = CaseAction
    Priority = Priority
    Status = Status

    @property
    def _state(self) -> Any:
        return _app().extensions["kroncases"]

    def _template(self, name: str) -> str:
        return template_name(_app().config, name)

    def _partial(self, name: str, macro: str) -> tuple[Callable[..., Markup], bool]:
        """How to render the partial ``name`` for one item, and whether it is our own file.

        Its macro when it defines one, else a render of the whole file with the
        item's variables; looked up once per request. Either way straight
        through Jinja: ``render_template`` runs the context processors and sends
        two signals per call, which costs more than the partial itself when a
        page has one per message or per list row. Partials use only what they
        are given and the environment's globals; hosts still override them by
        path or ``KRONCASES_TEMPLATES``.
        """
        cache = self._cache()
        found: tuple[Callable[..., Markup], bool] | None = cache.get(("partial", name))
        if found is None:
            template = _app().jinja_env.get_template(self._template(name))
            call = _macro(template, macro)

            def render(**context: Any) -> Markup:
                if call is None:
                    return Markup(template.render(context))
                out = call(**context)
                return out if isinstance(out, Markup) else Markup(out)

            found = cache[("partial", name)] = (render, _is_ours(template, name))
        return found

    def _cache(self) -> dict[Any, Any]:
        store = g._get_current_object()
        cache: dict[Any, Any] | None = store.__dict__.get("_kroncases_cache")
        if cache is None:
            cache = store._kroncases_cache = {}
        return cache

    def assets(self) -> Markup:
        """Styles, script and the CSRF token the script sends with every change.

        Rendered straight through Jinja like the small partials (the
        environment's globals, no context processors or signals): every page
        of the host pays for it, list pages included.
        """
        return Markup(_app().jinja_env.get_template(self._template("assets")).render())

    def csrf_token(self) -> str:
        """The CSRF token, whether or not the host set up ``CSRFProtect`` (its ``csrf_token`` global)."""
        from flask_wtf.csrf import generate_csrf

        return generate_csrf()  # type: ignore[no-any-return]

    # -- what a page shows of a conversation ----------------------------------------

    def _conversation(self, conversation: Any, *, cases: bool = True, activity: bool = False) -> _Conversation:
        """The request's record of a conversation (an instance or a key), with the parts asked for loaded.

        Its cases come with their messages and notes (``CaseService.page_cases``:
        two queries, three when they have notes), its activity in one more.
        """
        service = self._state.service
        key = service.conversation_key(conversation)
        cache = self._cache()
        found: _Conversation | None = cache.get(("conversation", key))
        if found is None:
            found = cache[("conversation", key)] = _Conversation()
        if cases and found.cases is None:
            found.cases, found.notes = service.page_cases(key)
            found.by_message = {message_id: case for case in found.cases for message_id in case.message_ids}
        if activity and found.activity is None:
            found.activity = service.activity_for(key)
        return found

    def _name_people(self, found: _Conversation) -> None:
        """Load the people its loaded cases, notes and activity name, in one query at most, once."""
        cases = found.cases if found.cases is not None and not found.named_cases else None
        activity = found.activity if found.activity is not None and not found.named_activity else None
        if cases is None and activity is None:
            return
        notes = [note for _count, note in found.notes.values()] if cases is not None else []
        self._state.service.name_people(cases or (), notes, activity or ())
        found.named_cases = found.cases is not None
        found.named_activity = found.activity is not None

    # -- cases of a conversation --------------------------------------------

    def cases(self, conversation: Any) -> list[Any]:
        return self._conversation(conversation).cases or []

    def _cases_by_message(self, conversation_key: Any) -> dict[Any, Any]:
        """Each message key of the conversation that is in a case (``"opening"`` too) → its case."""
        return self._conversation(conversation_key).by_message

    def panel(self, conversation: Any) -> Markup:
        """The Support Cases accordion for the conversation's sidebar: one render for all its cases."""
        return Markup(render_template(self._template("panel"), **self.panel_context(conversation)))

    def panel_context(self, conversation: Any, cases: list[Any] | None = None) -> dict[str, Any]:
        """What the panel template gets; ``cases`` when the caller has just loaded them afresh."""
        state = self._state
        if cases is None:
            found = self._conversation(conversation)
            self._name_people(found)
            cases = found.cases or []
            details = self.case_details(cases, found.notes)
        else:
            details = self.case_details(cases)
        return {
            "conversation": conversation,
            "conversation_key": _plain(state.service.conversation_key(conversation)),
            "cases": cases,
            "details": details,
            "display_name": state.hooks.shown_name,
            "actions": state.service.actions,
        }

    def case_details(self, cases: list[Any], notes: dict[Any, tuple[int, Any]] | None = None) -> dict[Any, CaseDetails]:
        """Owner, due time, overdue mark, notes and links of each case, by case id.

        ``notes`` as ``CaseService.page_cases`` gives them, with the people named
        already; without it, notes and the people named are loaded for all the
        cases together (``CaseService.panel_details``). A long panel costs what a
        short one does.
        """
        state = self._state
        if notes is None:
            notes = state.service.panel_details(cases)
        name = state.hooks.shown_name
        user = unwrap_user(current_user)
        me = state.models.host.user.key_of(user) if is_signed_in(user) and isinstance(
            user, state.models.host.user.model) else None
        now = utcnow()
        shown = self.shown_time
        page_url = self.case_page_url
        pending = Status.PENDING.value
        details: dict[Any, CaseDetails] = {}
        for case in cases:
            count, note = notes.get(case.id, (0, None))
            details[case.id] = CaseDetails(
                owner=name(case.assignee) if case.assignee_id is not None else None,
                mine=me is not None and case.assignee_id == me,
                due=shown(case.due_at),
                overdue=due_service.is_overdue(case, now),
                working=Status(case.status) in WORKING,
                paused=case.status == pending,
                notes=count,
                latest_note=note,
                latest_note_author=name(note.author) if note is not None and note.author_id is not None else None,
                latest_note_at=shown(note.created_at) if note is not None else None,
                page_url=page_url(case),
            )
        return details

    def case_page_url(self, case: Any) -> str | None:
        """The case page (``/kroncases/cases/<id>``); None when the pages blueprint is switched off."""
        cache = self._cache()
        key = ("case_page", case.id)
        if key not in cache:
            cache[key] = _url_if_registered("kroncases_panel.case_page", case_id=case.id)
        return cache[key]  # type: ignore[no-any-return]

    # -- messages -------------------------------------------------------------

    def message_attrs(self, message: Any) -> Markup:
        """Attributes for the host's message element: makes it selectable by the script.

        ``data-kc-case`` marks a message already logged under a case, which the
        script refuses to select again (and says why).
        """
        return self._marks(message)[1]

    def message_indicator(self, message: Any) -> Markup:
        """The "logged under Case #ID" icon; an empty slot the script fills for a message in no case."""
        return self._marks(message)[2]

    def _marks(self, message: Any) -> tuple[Any, Markup, Markup]:
        """(message, attrs, indicator) of a host message, worked out once per request.

        :meth:`thread` works them out for all its messages; a message met
        first here is looked up in its conversation's cases (loaded once).
        """
        cache = self._cache()
        memo: dict[int, tuple[Any, Markup, Markup]] | None = cache.get("marks")
        if memo is None:
            memo = cache["marks"] = {}
        found = memo.get(id(message))
        if found is None or found[0] is not message:
            host = self._state.models.host
            key = host.message.key_of(message)
            case = self._cases_by_message(host.conversation_key_of_message(message)).get(key)
            found = memo[id(message)] = self._mark(message, key, case)
        return found

    def _mark(self, message: Any, key: Any, case: Any) -> tuple[Any, Markup, Markup]:
        """(message, attrs, indicator) of one message; plain strings joined, one ``Markup`` each."""
        text = str(key) if type(key) is int else str(escape(str(key)))  # a number needs no escaping
        attrs = f'data-kc-message="{text}"'
        if case is None:
            return message, Markup(attrs), _EMPTY_SLOT
        return message, Markup(f'{attrs} data-kc-case="{case.id}"'), Markup(self._slot_html(case, key, text))

    def _slot(self, case: Any, message_key: str) -> Markup:
        if case is None:
            return _EMPTY_SLOT
        return Markup(self._slot_html(case, message_key, str(escape(message_key))))

    def _slot_html(self, case: Any, key: Any, text: str) -> str:
        """The indicator slot of message ``key`` of ``case``; ``text`` is the key as escaped text."""
        return f"{_SLOT_OPEN}{self._indicator_html(case, key, text)}</span>"

    def opening_attrs(self, conversation: Any) -> Markup:
        """``message_attrs`` for the opening text a host keeps on the conversation row."""
        attrs = f'data-kc-message="{OPENING_MESSAGE}"'
        case = self._cases_by_message(self._state.service.conversation_key(conversation)).get(OPENING_MESSAGE)
        return Markup(attrs + (f' data-kc-case="{case.id}"' if case is not None else ""))

    def opening_indicator(self, conversation: Any) -> Markup:
        """``message_indicator`` for the opening text."""
        case = self._cases_by_message(self._state.service.conversation_key(conversation)).get(OPENING_MESSAGE)
        return self._slot(case, OPENING_MESSAGE)

    def indicator_for(self, case: Any, message_key: str) -> Markup:
        """The indicator of one message of ``case`` (the script's fragments use it too).

        Ours differs between messages by the case's id and the message's key
        alone, so it is rendered once per request and both filled in. A host's
        override is called (or rendered) for every message.
        """
        return Markup(self._indicator_html(case, message_key, str(escape(message_key))))

    def _indicator_html(self, case: Any, key: Any, text: str) -> str:
        """:meth:`indicator_for` as a plain string; ``text`` is the message key as escaped text."""
        render, ours = self._partial("message_indicator", "indicator")
        if not ours:
            return str(render(case=case, message_key=_plain(key), page_url=self.case_page_url(case)))
        cache = self._cache()
        html: str | None = cache.get("indicator")
        if html is None:
            stand_in = _CaseId(_CASE_ID)
            page_url = self.case_page_url(stand_in)
            html = cache["indicator"] = str(render(case=stand_in, message_key=_KEY, page_url=page_url))
        return html.replace(_CASE_TEXT, str(case.id)).replace(_KEY, text)

    # -- the thread -------------------------------------------------------------

    def thread(
        self,
        conversation: Any,
        messages: Iterable[Any],
        time_attr: str | None = None,
        *,
        page_start: Any = None,
        page_end: Any = None,
    ) -> list[ThreadItem]:
        """The host's messages with the case activity merged in, in time order.

        ``messages`` keep the host's order; each activity entry goes before the
        first message that is later than it. A message's time is its
        ``time_attr`` attribute, or else what the ``message_reader`` hook says;
        naive datetimes are read in ``KRONCASES_HOST_TIMEZONE``.

        For a paginated thread, give the page's span: ``page_start`` the time of
        its first message (None on the first page), ``page_end`` the time of the
        next page's first message (None on the last page). Only the activity in
        ``[page_start, page_end)`` is merged, so every entry shows on exactly one page.

        Everything the thread shows is worked out here for all its items at
        once: the conversation's cases, activity and the people they name (in
        three to five queries, whatever their number), each message's ``attrs``
        and ``indicator``.
        """
        app = _app()
        state = app.extensions["kroncases"]
        zone = app.config["KRONCASES_HOST_TIMEZONE"]
        found = self._conversation(conversation, activity=True)
        self._name_people(found)
        start, end = host_time(page_start, zone), host_time(page_end, zone)
        entries = [
            (at, entry) for entry in found.activity or () if (at := as_utc(entry.created_at)) is not None
            and (start is None or at >= start) and (end is None or at < end)
        ]
        read = self._time_reader(state.hooks, time_attr)
        render = self._activity_renderer()
        host = state.models.host
        key_attr, conversation_attr = host.message.pk_attr, host.message_conversation_attr
        by_conversation = {state.service.conversation_key(conversation): found.by_message}
        cache = self._cache()
        memo: dict[int, tuple[Any, Markup, Markup]] = cache.setdefault("marks", {})
        mark = self._mark
        items: list[ThreadItem] = []
        index, count = 0, len(entries)
        for message in messages:
            if index < count:  # a message's time matters only while activity is left to merge
                at = read(message)
                if type(at) is not datetime or at.tzinfo is None:  # an aware one compares as it is
                    at = host_time(at, zone)
                while index < count and at is not None and entries[index][0] < at:
                    entry = entries[index][1]
                    items.append(ThreadItem(entry=entry, activity=render(entry)))
                    index += 1
            marks = memo.get(id(message))
            if marks is None or marks[0] is not message:
                key = getattr(message, key_attr)
                conversation_key = getattr(message, conversation_attr)
                cases = by_conversation.get(conversation_key)
                if cases is None:
                    cases = by_conversation[conversation_key] = self._cases_by_message(conversation_key)
                marks = memo[id(message)] = mark(message, key, cases.get(key))
            items.append(ThreadItem(message, None, None, marks[1], marks[2]))
        items.extend(ThreadItem(entry=entry, activity=render(entry)) for _at, entry in entries[index:])
        return items

    @staticmethod
    def _time_reader(hooks: Any, time_attr: str | None) -> Callable[[Any], Any]:
        """How the thread reads a message's time: ``time_attr``, else the ``message_reader`` hook's ``sent_at``."""
        if time_attr:
            return lambda message: getattr(message, time_attr, None)
        if hooks.message_reader is None:  # what the default reader takes, without reading the rest
            return lambda message: _first_attr(message, _TIME_ATTRS)
        read = hooks.read_message
        return lambda message: read(message).sent_at

    def activity_entries(self, conversation: Any) -> list[Any]:
        """The conversation's case activity, in time order, with the people it names loaded."""
        found = self._conversation(conversation, cases=False, activity=True)
        self._name_people(found)
        return found.activity or []

    def activity_entry(self, entry: Any) -> Markup:
        """One activity entry as a thread item: an ``<li>``, or the ``KRONCASES_ACTIVITY_TAG`` element."""
        return self._activity_renderer()(entry)

    def _activity_renderer(self) -> Callable[[Any], Markup]:
        """Renders one activity entry through the partial's macro; made once per request."""
        cache = self._cache()
        found: Callable[[Any], Markup] | None = cache.get("activity_entry")
        if found is None:
            app = _app()
            render, _ours = self._partial("activity_entry", "activity_entry")
            config = app.config
            name = app.extensions["kroncases"].hooks.shown_name
            shown = self.shown_time

            def found(entry: Any) -> Markup:
                # The tag is read per entry ("li" or "div", checked by init_app): config may change between renders.
                tag = config["KRONCASES_ACTIVITY_TAG"]
                return render(entry=entry, display_name=name, at=shown(entry.created_at), tag=tag)

            cache["activity_entry"] = found
        return found

    def time(self, value: Any, *, host: bool = False, css: str = "kc-time") -> Markup:
        """A ``<time>`` element in the one format of every page: relative when recent, full on hover.

        ``value`` is one of our UTC times, or with ``host=True`` a host's own
        (naive ones read in ``KRONCASES_HOST_TIMEZONE``), so a host can show its
        messages' times the same way. Shown in the agent's locale and time zone
        when the host set up Flask-Babel; empty for a missing time.
        """
        moment = host_time(value, _app().config["KRONCASES_HOST_TIMEZONE"]) if host else as_utc(value)
        if moment is None:
            return Markup("")
        short, full = i18n.format_moment(moment)
        # Built by hand: Markup.format costs more than the rest together, and a page has one per entry.
        return Markup(
            f'<time class="{escape(css)}" datetime="{moment.isoformat()}" title="{escape(full)}">{escape(short)}</time>'
        )

    def locale(self) -> str:
        """The agent's language as a BCP 47 tag, for ``<html lang>``: ``en`` without Flask-Babel."""
        return i18n.locale_name()

    def shown_time(self, value: Any) -> datetime | None:
        """One of our times (stored in UTC) in the zone the host shows its own times in.

        That is ``KRONCASES_HOST_TIMEZONE``, so an activity entry and the
        host's messages around it read alike.
        """
        moment = as_utc(value)
        if moment is None:
            return None
        zone = _app().config["KRONCASES_HOST_TIMEZONE"]
        return moment.astimezone() if zone == "local" else moment.astimezone(ZoneInfo(zone))

    def activity(self, conversation: Any) -> Markup:
        """The conversation's case activity as thread entries, for hosts that list it apart."""
        return Markup(
            render_template(
                self._template("activity"),
                entries=[self.activity_entry(e) for e in self.activity_entries(conversation)],
            )
        )

    # -- the case form, selection and dialogs ---------------------------------------

    def case_form(self, conversation: Any) -> Markup:
        """Selection menu, floating action bar, Create Case and Escalate dialogs."""
        from .forms import CaseForm

        state = self._state
        key = _plain(state.service.conversation_key(conversation))
        api = current_app.config["KRONCASES_URL_PREFIX"].rstrip("/") + "/api"
        return Markup(
            render_template(
                self._template("case_form"),
                form=CaseForm(formdata=None),
                conversation=conversation,
                conversation_key=key,
                urls={
                    "api": api,
                    "form": url_for("kroncases_panel.create_case", conversation_key=key),
                    "fragments": url_for("kroncases_panel.fragments", conversation_key=key),
                    "suggest": f"{api}/conversations/{key}/suggestions",
                    "suggestion": f"{api}/suggestions/",
                },
                title_max=TITLE_MAX_LENGTH,
            )
        )

    # -- list pages -----------------------------------------------------------------

    def preload_labels(self, conversations: Any) -> str:
        """Fetch the labels of a whole list page in one query; renders nothing."""
        labels = self._state.service.labels_for(conversations)
        self._cache().setdefault("labels", {}).update(labels)
        return ""

    def labels(self, conversation: Any) -> list[str]:
        return self._labels(self._state.service, conversation)[1]

    def _labels(self, service: Any, conversation: Any) -> tuple[Any, list[str]]:
        """(key, labels) of a conversation: from :meth:`preload_labels`, else one query for it alone."""
        key = service.conversation_key(conversation)
        known = self._cache().setdefault("labels", {})
        if key not in known:
            known.update(service.labels_for([conversation]))
        return key, known.get(key, [])

    def badges(self, conversation: Any) -> Markup:
        """A list row's badges: its current state (``support-case`` or ``support-case-resolved``), and ``overdue``.

        Ours differ between rows with the same labels by the conversation's key
        alone: rendered once per set of labels and request, each row's key
        filled in. A host's override is called (or rendered) for every row.
        """
        cache = self._cache()
        setup: tuple[Any, Callable[..., Markup], bool, dict[Any, str]] | None = cache.get("badges_setup")
        if setup is None:  # a list page calls this per row: what does not change is looked up once
            setup = cache["badges_setup"] = (self._state.service, *self._partial("badges", "badges"), {})
        service, render, ours, variants = setup
        key, labels = self._labels(service, conversation)
        if not ours:
            return render(labels=labels, conversation_key=_plain(key))
        variant = tuple(labels)
        html = variants.get(variant)
        if html is None:
            html = variants[variant] = str(render(labels=labels, conversation_key=_KEY))
        return Markup(html.replace(_KEY, str(key) if type(key) is int else str(escape(_plain(key)))))

    def cases_url(self, **filters: Any) -> str | None:
        """The cases page (every case the agent may see), with optional filters; None when it is off."""
        return _url_if_registered("kroncases_panel.cases", **{k: v for k, v in filters.items() if v})

    def settings_url(self) -> str | None:
        """Settings → Integrations → Cases Webhook (admins only); None when the settings are off."""
        return _url_if_registered("kroncases_settings.index")

    def conversation_label(self, conversation: Any) -> str:
        """A human name for a host conversation: its subject or title, else its key."""
        for attr in ("subject", "title", "name"):
            value = getattr(conversation, attr, None)
            if isinstance(value, str) and value:
                return value
        return i18n.gettext("Conversation %(key)s", key=self._state.models.host.conversation.key_of(conversation))

    def conversation_url(self, conversation: Any) -> str | None:
        """The host's URL of a conversation (its ``conversation_url`` hook), or None."""
        return self._state.hooks.url_for_conversation(conversation)  # type: ignore[no-any-return]

    def case_link(self, case: Any) -> str | None:
        """Where a case lives in the host: at its first message (the ``message_url`` hook
        lands on the right page of a paginated thread), else the conversation's page."""
        hooks = self._state.hooks
        links = case.message_links
        opening_first = bool(case.includes_opening)  # the opening text is on the conversation's first page
        if links and not opening_first and hooks.message_url is not None and links[0].message is not None:
            found = hooks.message_url(links[0].message)
            if found:
                return str(found)
        url = hooks.url_for_conversation(case.conversation)
        if not url:
            return None
        ids = case.message_ids
        return f"{url}#kc-message-{ids[0]}" if ids else f"{url}#kc-case-{case.id}"

    def day(self, value: Any, *, weekday: bool = False) -> str:
        """A calendar day (a ``date``) as a chart or table names it: ``Mar 4``, ``Mon Mar 4`` with ``weekday``.

        In the agent's locale when the host set up Flask-Babel (``4. März``,
        ``lun. 4 mars``: the locale's own order for month and day). A day is no
        moment, so no time zone moves it; the ``datetime`` attribute beside it
        keeps the ISO date.
        """
        if i18n.babel_active():
            locale = i18n.flask_babel.get_locale()
            found = locale.datetime_skeletons.get("MMMEd" if weekday else "MMMd") if locale is not None else None
            return str(i18n.flask_babel.format_date(value, found.pattern if found is not None else "medium"))
        text = f"{value.strftime('%b')} {value.day}"
        return f"{value.strftime('%a')} {text}" if weekday else text

    def script_strings_json(self) -> Markup:
        """:meth:`script_strings` as JSON safe inside ``<script>``, made once per language and process.

        Every page carries them; the texts change only with the agent's
        language (and its catalog), so the JSON is kept per catalog.
        """
        translations = i18n.catalog()
        key = (i18n.locale_name(), id(translations))
        found = _SCRIPT_STRINGS.get(key)
        if found is None or found[0] is not translations:
            text = htmlsafe_json_dumps(self.script_strings(), dumps=_app().json.dumps)
            found = _SCRIPT_STRINGS[key] = (translations, text)
        return found[1]

    def script_strings(self) -> dict[str, Any]:
        """The scripts' texts in the agent's language, for ``assets`` to hand them as JSON.

        ``plurals`` keep both forms with their placeholders: the script counts in
        the browser and picks the form with ``Intl.PluralRules`` for ``locale``.
        """
        from .script_strings import PLURALS, STRINGS

        return {
            "locale": i18n.locale_name(),
            "strings": i18n.translated(STRINGS),
            "plurals": {
                key: dict(zip(("one", "other"), i18n.plural_forms(*pair), strict=True)) for key, pair in PLURALS.items()
            },
        }
