"""The ``kroncases`` template global: macros a host calls from its own pages.

Each helper renders an overridable template under ``templates/kroncases/``.
Lookups are cached for the request, so a thread of many messages or a list page
of many conversations costs a constant number of queries.

A conversation page uses::

    <head>{{ kroncases.assets() }}</head>
    {% for item in kroncases.thread(conversation, messages) %}
      {% if item.message %}
        <li {{ kroncases.message_attrs(item.message) }}>… {{ kroncases.message_indicator(item.message) }}</li>
      {% else %}{{ item.activity }}{% endif %}
    {% endfor %}
    {{ kroncases.case_form(conversation) }}     {# selection, action bar, dialogs #}
    <aside>{{ kroncases.panel(conversation) }}</aside>
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app, g, render_template, url_for
from flask_login import current_user
from markupsafe import Markup, escape

from . import i18n
from .config import template_name
from .enums import OPENING_MESSAGE, TITLE_MAX_LENGTH, WORKING, CaseAction, CaseType, Priority, Status
from .hooks import is_signed_in, unwrap_user
from .models import as_utc, host_time, utcnow
from .services import due as due_service


def _plain(key: Any) -> str:
    return str(key)


def _url_if_registered(endpoint: str, **values: Any) -> str | None:
    """``url_for(endpoint)``, or None when the host switched that blueprint off."""
    if endpoint.partition(".")[0] not in current_app.blueprints:
        return None
    return url_for(endpoint, **values)


@dataclass(frozen=True)
class ThreadItem:
    """One entry of :meth:`TemplateHelpers.thread`: a host message or a case activity."""

    message: Any = None
    entry: Any = None
    activity: Markup | None = None

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


_EMPTY_SLOT = Markup('<span class="kc-indicator-slot" data-kc-indicator-slot></span>')


class TemplateHelpers:
    """Exposed to Jinja as ``kroncases``; stateless, so one serves every app."""

    CaseType = CaseType
    CaseAction = CaseAction
    Priority = Priority
    Status = Status

    @property
    def _state(self) -> Any:
        return current_app.extensions["kroncases"]

    def _template(self, name: str) -> str:
        return template_name(current_app.config, name)

    def _partial(self, name: str, **context: Any) -> Markup:
        """Render a small partial straight through Jinja.

        ``render_template`` runs the context processors and sends two signals per
        call, which costs more than the partial itself when a page renders one
        per message or per list row. Partials use only what they are given and
        the environment's globals; hosts still override them by path.
        """
        return Markup(current_app.jinja_env.get_template(self._template(name)).render(context))

    def _cache(self) -> dict[Any, Any]:
        cache: dict[Any, Any] | None = g.get("_kroncases_cache")
        if cache is None:
            cache = g._kroncases_cache = {}
        return cache

    def assets(self) -> Markup:
        """Styles, script and the CSRF token the script sends with every change."""
        return Markup(render_template(self._template("assets")))

    def csrf_token(self) -> str:
        """The CSRF token, whether or not the host set up ``CSRFProtect`` (its ``csrf_token`` global)."""
        from flask_wtf.csrf import generate_csrf

        return generate_csrf()  # type: ignore[no-any-return]

    # -- cases of a conversation --------------------------------------------

    def cases(self, conversation: Any) -> list[Any]:
        service = self._state.service
        key = ("cases", service.conversation_key(conversation))
        cache = self._cache()
        if key not in cache:
            cache[key] = service.for_conversation(conversation)
        return cache[key]  # type: ignore[no-any-return]

    def _case_of(self, message: Any, host: Any) -> Any | None:
        """The case a message is in, from one map per conversation and request.

        Called twice for every message of a thread, so it keeps its lookups few.
        """
        return self._cases_by_message(host.conversation_key_of_message(message)).get(host.message.key_of(message))

    def _cases_by_message(self, conversation_key: Any) -> dict[Any, Any]:
        """Each message key of the conversation that is in a case (``"opening"`` too) → its case."""
        cache = self._cache()
        key = ("message_cases", conversation_key)
        cases = cache.get(key)
        if cases is None:
            cases = cache[key] = {
                message_id: case for case in self.cases(conversation_key) for message_id in case.message_ids
            }
        return cases

    def panel(self, conversation: Any) -> Markup:
        """The Support Cases accordion for the conversation's sidebar."""
        return Markup(render_template(self._template("panel"), **self.panel_context(conversation)))

    def panel_context(self, conversation: Any, cases: list[Any] | None = None) -> dict[str, Any]:
        """What the panel template gets; ``cases`` when the caller has just loaded them afresh."""
        state = self._state
        cases = self.cases(conversation) if cases is None else cases
        return {
            "conversation": conversation,
            "conversation_key": _plain(state.service.conversation_key(conversation)),
            "cases": cases,
            "details": self.case_details(cases),
            "display_name": state.hooks.display_name,
            "actions": state.service.actions,
        }

    def case_details(self, cases: list[Any]) -> dict[Any, CaseDetails]:
        """Owner, due time, overdue mark, notes and links of each case, by case id.

        Notes and the people named are loaded for all the cases together
        (``CaseService.panel_details``), so a long panel costs what a short one does.
        """
        state = self._state
        notes = state.service.panel_details(cases)
        name = state.hooks.display_name
        user = unwrap_user(current_user)
        me = state.models.host.user.key_of(user) if is_signed_in(user) and isinstance(
            user, state.models.host.user.model) else None
        now = utcnow()
        details: dict[Any, CaseDetails] = {}
        for case in cases:
            count, note = notes.get(case.id, (0, None))
            details[case.id] = CaseDetails(
                owner=name(case.assignee) if case.assignee_id is not None else None,
                mine=me is not None and case.assignee_id == me,
                due=self.shown_time(case.due_at),
                overdue=due_service.is_overdue(case, now),
                working=Status(case.status) in WORKING,
                paused=case.status == Status.PENDING.value,
                notes=count,
                latest_note=note,
                latest_note_author=name(note.author) if note is not None and note.author_id is not None else None,
                latest_note_at=self.shown_time(note.created_at) if note is not None else None,
                page_url=self.case_page_url(case),
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
        host = self._state.models.host
        attrs = f' data-kc-message="{escape(_plain(host.message.key_of(message)))}"'
        case = self._case_of(message, host)
        if case is not None:
            attrs += f' data-kc-case="{case.id}"'
        return Markup(attrs.strip())

    def message_indicator(self, message: Any) -> Markup:
        """The "logged under Case #ID" icon; an empty slot the script fills for a message in no case."""
        host = self._state.models.host
        return self._slot(self._case_of(message, host), _plain(host.message.key_of(message)))

    def _slot(self, case: Any, message_key: str) -> Markup:
        if case is None:
            return _EMPTY_SLOT
        inner = self.indicator_for(case, message_key)
        return Markup('<span class="kc-indicator-slot" data-kc-indicator-slot>') + inner + Markup("</span>")

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
        return self._partial("message_indicator", case=case, message_key=message_key,
                             page_url=self.case_page_url(case))

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
        """
        zone = current_app.config["KRONCASES_HOST_TIMEZONE"]
        start, end = host_time(page_start, zone), host_time(page_end, zone)
        entries = [
            entry for entry in self.activity_entries(conversation)
            if (start is None or as_utc(entry.created_at) >= start)  # type: ignore[operator]
            and (end is None or as_utc(entry.created_at) < end)  # type: ignore[operator]
        ]
        read = self._state.hooks.read_message
        items: list[ThreadItem] = []
        index = 0
        for message in messages:
            at = host_time(getattr(message, time_attr, None) if time_attr else read(message).sent_at, zone)
            while index < len(entries) and at is not None and as_utc(entries[index].created_at) < at:  # type: ignore[operator]
                items.append(self._activity_item(entries[index]))
                index += 1
            items.append(ThreadItem(message=message))
        items.extend(self._activity_item(entry) for entry in entries[index:])
        return items

    def _activity_item(self, entry: Any) -> ThreadItem:
        return ThreadItem(entry=entry, activity=self.activity_entry(entry))

    def activity_entries(self, conversation: Any) -> list[Any]:
        service = self._state.service
        key = ("activity", service.conversation_key(conversation))
        cache = self._cache()
        if key not in cache:
            cache[key] = service.activity_for(conversation)
        return cache[key]  # type: ignore[no-any-return]

    def activity_entry(self, entry: Any) -> Markup:
        """One activity entry as a thread item: an ``<li>``, or the ``KRONCASES_ACTIVITY_TAG`` element."""
        tag = current_app.config["KRONCASES_ACTIVITY_TAG"]  # "li" or "div", checked by init_app
        return self._partial(
            "activity_entry",
            entry=entry,
            display_name=self._state.hooks.display_name,
            at=self.shown_time(entry.created_at),
            tag=tag,
        )

    def time(self, value: Any, *, host: bool = False, css: str = "kc-time") -> Markup:
        """A ``<time>`` element in the one format of every page: relative when recent, full on hover.

        ``value`` is one of our UTC times, or with ``host=True`` a host's own
        (naive ones read in ``KRONCASES_HOST_TIMEZONE``), so a host can show its
        messages' times the same way. Shown in the agent's locale and time zone
        when the host set up Flask-Babel; empty for a missing time.
        """
        moment = host_time(value, current_app.config["KRONCASES_HOST_TIMEZONE"]) if host else as_utc(value)
        if moment is None:
            return Markup("")
        short, full = i18n.format_moment(moment)
        return Markup('<time class="{}" datetime="{}" title="{}">{}</time>').format(
            css, moment.isoformat(), full, short
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
        zone = current_app.config["KRONCASES_HOST_TIMEZONE"]
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
        service = self._state.service
        key = service.conversation_key(conversation)
        known = self._cache().setdefault("labels", {})
        if key not in known:
            known.update(service.labels_for([conversation]))
        return known.get(key, [])  # type: ignore[no-any-return]

    def badges(self, conversation: Any) -> Markup:
        """A list row's badges: its current state (``support-case`` or ``support-case-resolved``), and ``overdue``."""
        key = _plain(self._state.service.conversation_key(conversation))
        return self._partial("badges", labels=self.labels(conversation), conversation_key=key)

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
