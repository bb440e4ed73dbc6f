"""Settings → Integrations → Cases Webhook: admins only, through the host's ``admin_check``.

Ids in the URL are plain text segments: the endpoint service turns them into
keys or answers 404, so no id (too large, negative, "²", NUL) reaches the
database. No response is cached: some show a signing secret.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, current_app, flash, redirect, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from ..enums import WEBHOOK_EVENTS as EVENTS
from ..enums import DeliveryStatus
from ..errors import CaseError
from ..forms import ActionForm, ConfirmForm, WebhookEndpointForm
from ..i18n import gettext as _
from ..i18n import ngettext
from ..webhooks import mask_secret
from . import ERROR_STATUSES, error_page, http_error_message, limit_body, protect_csrf, render

settings = Blueprint("kroncases_settings", __name__)


def _webhooks() -> Any:
    return current_app.extensions["kroncases"].endpoints


@settings.before_request
def _admins_only() -> ResponseReturnValue | None:
    if not current_user.is_authenticated:
        return current_app.login_manager.unauthorized()  # type: ignore[attr-defined, no-any-return]
    if not current_app.extensions["kroncases"].hooks.is_admin(current_user):
        abort(403)
    limit_body()
    protect_csrf()
    return None


@settings.after_request
def _no_store(response: Response) -> Response:
    """Never cached by the browser or a proxy: a new or rotated secret is shown once."""
    response.headers["Cache-Control"] = "no-store"
    return response


@settings.errorhandler(CaseError)
def _not_found(exc: CaseError) -> ResponseReturnValue:
    return render("webhook_settings_error", error=exc), exc.http_status


@settings.errorhandler(CSRFError)
def _csrf_error(exc: CSRFError) -> ResponseReturnValue:
    return error_page(400, _("The form expired or lacks its security token (%(reason)s) Reload the page and try again.",
                             reason=exc.description))


def _http_error(exc: HTTPException) -> ResponseReturnValue:
    """A refusal (403 for a non-admin, 400 for a stale form, ...) as a page in the layout, with a way back."""
    return error_page(exc.code or 400, http_error_message(exc))


for _code in ERROR_STATUSES:
    settings.register_error_handler(_code, _http_error)


def _render(endpoint: Any = None, form: WebhookEndpointForm | None = None, *, secret: str | None = None,
            status: int = 200) -> ResponseReturnValue:
    service = _webhooks()
    endpoints = service.endpoints()
    if endpoint is None and form is None and len(endpoints) == 1:
        endpoint = endpoints[0]
    if form is None:
        form = WebhookEndpointForm(obj=endpoint) if endpoint is not None else WebhookEndpointForm()
    deliveries = service.deliveries(endpoint, limit=50) if endpoint is not None and endpoint.id else []
    return render(
        "webhook_settings",
        endpoints=endpoints,
        endpoint=endpoint,
        form=form,
        action_form=ActionForm(),
        deliveries=deliveries,
        new_secret=secret,
        masked_secret=mask_secret(endpoint.secret) if endpoint is not None and endpoint.id else None,
        events=EVENTS,
        delivery_status=DeliveryStatus,
    ), status


def _apply_errors(form: WebhookEndpointForm, exc: CaseError) -> None:
    for field, messages in exc.errors.items():
        target = getattr(form, field, None)
        if target is not None:
            target.errors = list(target.errors or []) + messages


@settings.get("/integrations/webhooks")
def index() -> ResponseReturnValue:
    return _render()


@settings.get("/integrations/webhooks/new")
def new() -> ResponseReturnValue:
    return _render(form=WebhookEndpointForm())


@settings.post("/integrations/webhooks")
def create() -> ResponseReturnValue:
    form = WebhookEndpointForm()
    if not form.validate_on_submit():
        return _render(form=form, status=400)
    try:
        endpoint, secret = _webhooks().create_endpoint(
            form.url.data, form.events.data, enabled=form.enabled.data, description=form.description.data
        )
    except CaseError as exc:
        _apply_errors(form, exc)
        return _render(form=form, status=400)
    # The secret is rendered in this response only: never stored in the session or shown again.
    return _render(endpoint, secret=secret, status=201)


@settings.get("/integrations/webhooks/<endpoint_id>")
def show(endpoint_id: str) -> ResponseReturnValue:
    return _render(_webhooks().endpoint(endpoint_id))


@settings.post("/integrations/webhooks/<endpoint_id>")
def update(endpoint_id: str) -> ResponseReturnValue:
    service = _webhooks()
    endpoint = service.endpoint(endpoint_id)
    form = WebhookEndpointForm()
    if not form.validate_on_submit():
        return _render(endpoint, form, status=400)
    try:
        service.update_endpoint(endpoint, form.url.data, form.events.data, enabled=form.enabled.data,
                                description=form.description.data)
    except CaseError as exc:
        _apply_errors(form, exc)
        return _render(endpoint, form, status=400)
    flash(_("Webhook saved."), "success")
    return redirect(url_for(".show", endpoint_id=endpoint.id))


def _action(endpoint_id: str) -> Any:
    if not ActionForm().validate_on_submit():
        abort(400, _("The form expired or its CSRF token is missing. Reload the page and try again."))
    return _webhooks().endpoint(endpoint_id)


def _overlap_words(seconds: float) -> str:
    """``KRONCASES_WEBHOOK_SECRET_OVERLAP`` as the confirmation says it: "24 hours", "3 days", "90 minutes"."""
    whole = int(seconds)
    if whole >= 2 * 86400 and whole % 86400 == 0:
        return ngettext("%(num)d day", "%(num)d days", whole // 86400)
    if whole >= 3600 and whole % 3600 == 0:
        return ngettext("%(num)d hour", "%(num)d hours", whole // 3600)
    if whole >= 60 and whole % 60 == 0:
        return ngettext("%(num)d minute", "%(num)d minutes", whole // 60)
    return ngettext("%(num)d second", "%(num)d seconds", whole)


def _confirmation(endpoint: Any, action: str) -> ResponseReturnValue:
    """The question a rotate or delete asks before it acts: Confirm (POST with ``confirm=yes``) or Cancel."""
    if action == "rotate":
        overlap = float(current_app.config["KRONCASES_WEBHOOK_SECRET_OVERLAP"])
        confirm = {
            "action": "rotate", "title": _("Rotate secret?"),
            "question": _("Rotate the secret of %(url)s?", url=endpoint.url),
            "detail": (_("The old secret keeps signing for %(span)s.", span=_overlap_words(overlap)) if overlap > 0
                       else _("The old secret stops signing at once.")),
            "url": url_for(".rotate", endpoint_id=endpoint.id),
        }
    else:
        confirm = {
            "action": "delete", "title": _("Delete endpoint?"),
            "question": _("Delete the endpoint %(url)s?", url=endpoint.url),
            "detail": _("Events stop going to it. This cannot be undone."),
            "url": url_for(".delete", endpoint_id=endpoint.id),
        }
    return render("webhook_settings", endpoint=endpoint, confirm=confirm, confirm_form=ConfirmForm(),
                  cancel_url=url_for(".show", endpoint_id=endpoint.id))


def _confirmed_action(endpoint_id: str) -> tuple[Any, bool]:
    """The endpoint (404 if none) and whether the POST said ``confirm=yes``."""
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400, _("The form expired or its CSRF token is missing. Reload the page and try again."))
    return _webhooks().endpoint(endpoint_id), form.confirmed


@settings.post("/integrations/webhooks/<endpoint_id>/rotate")
def rotate(endpoint_id: str) -> ResponseReturnValue:
    endpoint, confirmed = _confirmed_action(endpoint_id)
    if not confirmed:
        return _confirmation(endpoint, "rotate")
    secret = _webhooks().rotate_secret(endpoint)
    return _render(endpoint, secret=secret)


@settings.post("/integrations/webhooks/<endpoint_id>/test")
def send_test(endpoint_id: str) -> ResponseReturnValue:
    endpoint = _action(endpoint_id)
    delivery = _webhooks().send_test_event(endpoint)
    flash(_("Test event queued (delivery #%(id)s).", id=delivery.id), "success")
    return redirect(url_for(".show", endpoint_id=endpoint.id))


@settings.post("/integrations/webhooks/<endpoint_id>/delete")
def delete(endpoint_id: str) -> ResponseReturnValue:
    endpoint, confirmed = _confirmed_action(endpoint_id)
    if not confirmed:
        return _confirmation(endpoint, "delete")
    _webhooks().delete_endpoint(endpoint)
    flash(_("Webhook deleted."), "success")
    return redirect(url_for(".index"))


@settings.post("/integrations/webhooks/deliveries/<delivery_id>/redeliver")
def redeliver(delivery_id: str) -> ResponseReturnValue:
    if not ActionForm().validate_on_submit():
        abort(400, _("The form expired or its CSRF token is missing. Reload the page and try again."))
    service = _webhooks()
    delivery = service.redeliver(service.delivery(delivery_id))
    flash(_("Delivery #%(id)s queued again.", id=delivery.id), "success")
    return redirect(url_for(".show", endpoint_id=delivery.endpoint_id))
