"""The ``kroncases`` template global: macros a host calls from its own pages.

Each helper renders an overridable template under ``templates/kroncases/``.
Lookups are cached for the request, so a thread of many messages or a list page
of many conversations costs a constant number of queries.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, g, render_template
from markupsafe import Markup

from .enums import CaseType, Priority, Status


class TemplateHelpers:
    """Exposed to Jinja as ``kroncases``; stateless, so one serves every app."""

    CaseType = CaseType
    Priority = Priority
    Status = Status

    @property
    def _state(self) -> Any:
        return current_app.extensions["kroncases"]

    def _cache(self) -> dict[str, Any]:
        if "_kroncases_cache" not in g:
            g._kroncases_cache = {}
        return g._kroncases_cache  # type: ignore[no-any-return]

    def assets(self) -> Markup:
        """Styles, script and the CSRF token the script sends with every change."""
        return Markup(render_template("kroncases/_assets.html"))

    def cases(self, conversation: Any) -> list[Any]:
        service = self._state.service
        key = ("cases", service._conversation_key(conversation))
        cache = self._cache()
        if key not in cache:
            cache[key] = service.for_conversation(conversation)
        return cache[key]  # type: ignore[no-any-return]

    def panel(self, conversation: Any) -> Markup:
        """The Support Cases accordion for the conversation's sidebar."""
        state = self._state
        return Markup(
            render_template(
                "kroncases/_panel.html",
                conversation=conversation,
                cases=self.cases(conversation),
                display_name=state.extension.display_name,
            )
        )

    def message_indicator(self, message: Any) -> Markup:
        """The "logged under Case #ID" icon, or nothing for a message in no case."""
        state = self._state
        host = state.models.host
        conversation_key = host.conversation_key_of_message(message)
        cache = self._cache()
        key = ("message_cases", conversation_key)
        if key not in cache:
            cache[key] = {
                message_id: case
                for case in self.cases(conversation_key)
                for message_id in case.message_ids
            }
        case = cache[key].get(host.message.key_of(message))
        if case is None:
            return Markup("")
        return Markup(render_template("kroncases/_message_indicator.html", case=case, message=message))

    def preload_labels(self, conversations: Any) -> str:
        """Fetch the labels of a whole list page in one query; renders nothing."""
        labels = self._state.service.labels_for(conversations)
        self._cache().setdefault("labels", {}).update(labels)
        return ""

    def labels(self, conversation: Any) -> list[str]:
        service = self._state.service
        key = service._conversation_key(conversation)
        known = self._cache().setdefault("labels", {})
        if key not in known:
            known.update(service.labels_for([conversation]))
        return known.get(key, [])  # type: ignore[no-any-return]

    def badges(self, conversation: Any) -> Markup:
        """The ``support-case`` / ``support-case-resolved`` badges for a list row."""
        return Markup(render_template("kroncases/_badges.html", labels=self.labels(conversation)))

    def activity(self, conversation: Any) -> Markup:
        """The conversation's case activity as thread entries."""
        state = self._state
        return Markup(
            render_template(
                "kroncases/_activity.html",
                entries=state.service.activity_for(conversation),
                display_name=state.extension.display_name,
            )
        )
