"""Cases Webhook settings: endpoints, their secrets, test events and redelivery.

What an admin does under Settings → Integrations. Sending is the delivery
service's job (:mod:`.delivery`); this module only writes endpoint rows and
hands deliveries to it. Every change to which endpoints take which events
tells the delivery service to forget the endpoints it keeps in memory, so the
next case change in this process sees it.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from ..enums import DEFAULT_WEBHOOK_EVENTS, TEST_EVENT, DeliveryStatus
from ..enums import WEBHOOK_EVENTS as EVENTS
from ..errors import CaseError
from ..i18n import gettext as _
from ..i18n import ngettext
from ..models import Models, storable, utcnow
from ..webhooks import generate_secret, redact_url, validate_url
from .base import Service
from .delivery import DeliveryService

log = logging.getLogger("flask_kroncases.webhooks")


class EndpointService(Service):
    """Endpoint settings for one app."""

    def __init__(self, db: Any, models: Models, delivery: DeliveryService) -> None:
        super().__init__(db, models)
        self.delivery_service = delivery

    # -- endpoints (Settings → Integrations) -------------------------------

    def endpoints(self) -> list[Any]:
        Endpoint = self.models.WebhookEndpoint
        return list(self.session.scalars(sa.select(Endpoint).order_by(Endpoint.id)))

    def endpoint(self, endpoint_id: Any) -> Any:
        """The endpoint with this id, as an int or straight from a URL; not_found for anything else.

        Text that is no key (``"-1"``, ``"²"``, ``"2147483648"``, NUL) is
        refused here, before the database could choke on it.
        """
        return self.find(self.models.WebhookEndpoint, endpoint_id, _("This webhook endpoint does not exist."))

    def _validate(
        self, url: Any, events: Any, description: Any, *, endpoint_id: int | None = None
    ) -> tuple[str, list[str], str]:
        errors: dict[str, list[str]] = {}
        clean_url = url.strip() if isinstance(url, str) else ""
        if not clean_url:
            errors["url"] = [_("Enter the endpoint URL.")]
        elif len(clean_url) > 2048:
            errors["url"] = [ngettext("Keep the URL to %(num)d character or fewer.",
                                      "Keep the URL to %(num)d characters or fewer.", 2048)]
        else:
            # Also refuses whitespace and control characters (CR, LF, NUL ...) inside the URL.
            problem = validate_url(clean_url, self.config["KRONCASES_WEBHOOK_ALLOW_PRIVATE"])
            if problem:
                errors["url"] = [problem]
            elif any(e.url == clean_url and e.id != endpoint_id for e in self.endpoints()):
                # Also what stops a reloaded "secret shown once" page from making a second endpoint.
                errors["url"] = [_("An endpoint with this URL exists already; rotate its secret instead.")]
        chosen = list(events) if isinstance(events, (list, tuple)) else []
        unknown = [e for e in chosen if e not in EVENTS]
        if unknown or not chosen:
            errors["events"] = [_("Choose one or more of %(events)s.", events=", ".join(EVENTS))]
        clean_description = description.strip() if isinstance(description, str) else ""
        if not storable(clean_description):
            errors["description"] = [_("The description holds characters that cannot be saved (NUL or broken text).")]
        elif len(clean_description) > 200:
            errors["description"] = [ngettext("Keep the description to %(num)d character or fewer.",
                                              "Keep the description to %(num)d characters or fewer.", 200)]
        if errors:
            raise CaseError(_("The webhook was not saved: %(problems)s",
                              problems=" ".join(m for ms in errors.values() for m in ms)), errors=errors)
        return clean_url, [e for e in EVENTS if e in chosen], clean_description

    def create_endpoint(
        self, url: Any, events: Any = DEFAULT_WEBHOOK_EVENTS, *, enabled: bool = True, description: Any = ""
    ) -> tuple[Any, str]:
        """Save a new endpoint; return it and its secret (the only time it is shown)."""
        clean_url, clean_events, clean_description = self._validate(url, events, description)
        secret = generate_secret()
        endpoint = self.models.WebhookEndpoint(
            url=clean_url, events=clean_events, enabled=bool(enabled), description=clean_description,
            secret=secret, created_at=utcnow(), updated_at=utcnow(),
        )
        self.session.add(endpoint)
        self.session.commit()
        self.delivery_service.forget_endpoints()
        log.info("webhook endpoint %s created for %s", endpoint.id, redact_url(clean_url))
        return endpoint, secret

    def update_endpoint(
        self, endpoint: Any, url: Any, events: Any, *, enabled: bool, description: Any = ""
    ) -> Any:
        endpoint = endpoint if isinstance(endpoint, self.models.WebhookEndpoint) else self.endpoint(endpoint)
        clean_url, clean_events, clean_description = self._validate(url, events, description, endpoint_id=endpoint.id)
        endpoint.url = clean_url
        endpoint.events = clean_events
        endpoint.description = clean_description
        if enabled and not endpoint.enabled:
            endpoint.disabled_reason = None
            endpoint.failing_since = None
        endpoint.enabled = bool(enabled)
        endpoint.updated_at = utcnow()
        self.session.commit()
        self.delivery_service.forget_endpoints()
        log.info("webhook endpoint %s saved: %s", endpoint.id, redact_url(clean_url))
        return endpoint

    def delete_endpoint(self, endpoint: Any) -> None:
        endpoint = endpoint if isinstance(endpoint, self.models.WebhookEndpoint) else self.endpoint(endpoint)
        self.session.delete(endpoint)
        self.session.commit()
        self.delivery_service.forget_endpoints()

    def rotate_secret(self, endpoint: Any) -> str:
        """Make a new secret; the old one keeps signing for ``KRONCASES_WEBHOOK_SECRET_OVERLAP``."""
        endpoint = endpoint if isinstance(endpoint, self.models.WebhookEndpoint) else self.endpoint(endpoint)
        overlap = float(self.config["KRONCASES_WEBHOOK_SECRET_OVERLAP"])
        now = utcnow()
        endpoint.previous_secret = endpoint.secret if overlap > 0 else None
        endpoint.previous_secret_expires_at = now + timedelta(seconds=overlap) if overlap > 0 else None
        endpoint.secret = generate_secret()
        endpoint.updated_at = now
        self.session.commit()
        log.info("webhook endpoint %s: secret rotated", endpoint.id)
        return endpoint.secret  # type: ignore[no-any-return]

    def deliveries(self, endpoint: Any = None, *, limit: int = 50) -> list[Any]:
        Delivery = self.models.WebhookDelivery
        query = sa.select(Delivery).order_by(Delivery.id.desc()).limit(limit)
        if endpoint is not None:
            if not isinstance(endpoint, self.models.WebhookEndpoint):
                endpoint = self.endpoint(endpoint)
            query = query.where(Delivery.endpoint_id == endpoint.id)
        return list(self.session.scalars(query))

    def delivery(self, delivery_id: Any) -> Any:
        """The delivery with this id, as an int or straight from a URL; not_found for anything else."""
        return self.find(self.models.WebhookDelivery, delivery_id, _("This delivery does not exist."))

    def send_test_event(self, endpoint: Any) -> Any:
        """Queue a ``ping`` to one endpoint, through the same path as real events."""
        endpoint = endpoint if isinstance(endpoint, self.models.WebhookEndpoint) else self.endpoint(endpoint)
        payload_data = {"message": "Test event from the Cases Webhook settings page.", "endpoint_id": endpoint.id}
        delivery = self.delivery_service.new_delivery(endpoint, TEST_EVENT, None, payload_data, utcnow())
        self.session.add(delivery)
        self.session.commit()
        self.delivery_service.dispatch([delivery])
        return delivery

    def redeliver(self, delivery: Any) -> Any:
        """Send a delivery again by hand: same event id, same bytes, a fresh attempt.

        A compare-and-set, like the claim: a delivery that a worker is sending
        right now is left alone, so a click never starts a second attempt in flight.
        """
        Delivery = self.models.WebhookDelivery
        delivery = delivery if isinstance(delivery, Delivery) else self.delivery(delivery)
        result = self.session.execute(
            sa.update(Delivery)
            .where(Delivery.id == delivery.id, Delivery.status != DeliveryStatus.SENDING)
            .values(status=DeliveryStatus.PENDING, next_attempt_at=None, claimed_at=None)
            .execution_options(synchronize_session=False)
        )
        self.session.commit()
        if result.rowcount != 1:
            raise CaseError(_("This delivery is being sent right now."), kind="conflict")
        self.session.refresh(delivery)
        self.delivery_service.dispatch([delivery])
        return delivery
