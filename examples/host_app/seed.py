"""Demo data: three agents and a dozen support conversations over two teams.

The conversations are the kind a helpdesk really gets (a double charge, a
lockout, a stack trace, a German customer, a one-liner ...), so selecting
messages and turning them into cases can be tried on something believable.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from .models import Conversation, Message, User, utcnow

PASSWORD = "demo"

#: name, email, team, is_admin
USERS = [
    ("Ada Admin", "admin@example.com", "ops", True),
    ("Alex Morgan", "alex@example.com", "support", False),
    ("Bea Schulz", "bea@example.com", "billing", False),
]

AGENT = {"support": "Alex Morgan", "billing": "Bea Schulz"}

STACK_TRACE = """\
HTTP/1.1 500 Internal Server Error
x-request-id: 7f3c9a2e-41d8-4b6e-9c1a-0d2f5e8b7a61

Traceback (most recent call last):
  File "/srv/app/api/v2/orders.py", line 118, in create_order
    order = OrderService(session).create(payload, idempotency_key=key)
  File "/srv/app/services/orders.py", line 64, in create
    line.tax = self.tax_rates[line.region].apply(line.net)
KeyError: 'GB-NIR'"""

#: subject, customer name, customer email, team, status, hours ago it started,
#: and its messages as (role, minutes after the start, body).
CONVERSATIONS: list[tuple[str, str, str, str, str, int, list[tuple[str, int, str]]]] = [
    (
        "Charged twice for invoice INV-2024-0317",
        "Marcus Lindqvist", "marcus@lindqvist-design.se", "billing", "open", 5,
        [
            ("customer", 0, "Hi, my card was charged twice for invoice INV-2024-0317: two charges of $249.00 "
                            "on March 3, both from KRONGAGE*SUBSCR. Can you refund one of them?"),
            ("agent", 12, "Hi Marcus, sorry about that. I can see invoice INV-2024-0317 for $249.00 marked paid "
                          "once on our side. Could you send the last four digits of the card and the "
                          "transaction IDs from your bank statement?"),
            ("customer", 30, "Card ending 4242. Transaction IDs ch_3OqL2x and ch_3OqL9k, both $249.00, "
                             "about forty seconds apart."),
            ("agent", 41, "Thanks. The second charge (ch_3OqL9k) came from a retry after a gateway timeout "
                          "and was never matched to an invoice. I've asked our payments team to refund it."),
            ("customer", 55, "OK. How long will that take? I have to close my books on Friday."),
            ("agent", 63, "Refunds to Visa usually show within 5-10 business days. I'll send you a credit "
                          "note, CN-2024-0042, today so your books balance before Friday."),
            ("customer", 70, "The credit note says $294.00, not $249.00. Typo?"),
            ("agent", 78, "You're right, that's our typo. Corrected credit note CN-2024-0042-R for $249.00 "
                          "is on its way. Apologies for the extra back and forth."),
        ],
    ),
    (
        "Locked out after too many login attempts",
        "Priya Raman", "priya.raman@northwind.io", "support", "open", 3,
        [
            ("customer", 0, "I can't log in. After a few tries it now says \"Your account is temporarily "
                            "locked. Try again later.\" I have a client demo in an hour."),
            ("agent", 4, "Hi Priya, the lock lifts by itself after 30 minutes, but I can clear it now. "
                         "Can you confirm the email on the account and your workspace name?"),
            ("customer", 7, "priya.raman@northwind.io, workspace northwind-ops."),
            ("agent", 10, "Thanks, unlocked. I can see 6 failed attempts from 81.2.69.160 between 09:12 and "
                          "09:15. Was that you? If not, please reset your password right away."),
            ("customer", 14, "That was me, I had caps lock on. I'm in now, thank you!"),
        ],
    ),
    (
        "API returns 500 on POST /v2/orders",
        "Tomás Herrera", "tomas@fernbrook.dev", "support", "open", 26,
        [
            ("customer", 0, "Since this morning every POST /v2/orders with a shipping address in Northern "
                            "Ireland fails with a 500. Other regions work. Full response below:\n\n"
                            + STACK_TRACE),
            ("agent", 18, "Thanks Tomás, the request id makes this easy to find. It's a missing tax rate "
                          "for the region code GB-NIR, added in yesterday's release. I've passed it to "
                          "engineering."),
            ("customer", 25, "Is there a workaround? We have about 40 orders queued."),
            ("agent", 31, "For now you can send region \"GB\" for those addresses; the tax is the same. "
                          "Please keep the idempotency keys so nothing gets created twice when you retry."),
            ("customer", 45, "Retried 12 of them with region GB, they went through. Will hold the rest "
                             "until you confirm the fix."),
            ("agent", 190, "The fix is deployed (release 2024.03.12-2). GB-NIR works again; you can send "
                           "the remaining orders as they are."),
            ("customer", 210, "Confirmed, all 28 remaining orders created. Thanks for the quick turnaround."),
        ],
    ),
    (
        "Shipping delay on order #A-58213",
        "Hannah Brooks", "hannah.brooks@gmail.com", "billing", "pending", 50,
        [
            ("customer", 0, "Hi, I ordered two card readers on March 1 (order #A-58213) with express "
                            "shipping. Tracking hasn't updated since March 4 in Memphis, TN."),
            ("agent", 35, "Hi Hannah, I checked with the carrier: the parcel (tracking 1Z 999 AA1 01 2345 "
                          "6784) was held because of a damaged label. They re-labelled it this morning."),
            ("customer", 50, "I paid $24.90 for express and it's now slower than standard would have been."),
            ("agent", 58, "That's fair. I've refunded the $24.90 express fee to your original payment "
                          "method. The new delivery estimate is Monday, March 11."),
            ("customer", 64, "Thanks. Please let me know if it slips again."),
        ],
    ),
    (
        "Problem beim CSV-Export: Umlaute kaputt",
        "Lukas Schneider", "lukas.schneider@beispiel-gmbh.de", "support", "open", 30,
        [
            ("customer", 0, "Hallo, seit dem letzten Update sind im CSV-Export alle Umlaute kaputt. Aus "
                            "\"Müller\" wird \"MÃ¼ller\". Excel zeigt das so an, vorher ging es."),
            ("agent", 20, "Hallo Herr Schneider, danke für die Meldung. Der Export ist UTF-8, aber seit "
                          "dem Update fehlt die BOM am Dateianfang, deshalb rät Excel die Kodierung falsch."),
            ("customer", 26, "Gibt es eine Lösung? Unsere Buchhaltung braucht die Datei jeden Montag."),
            ("agent", 33, "Bis zum Fix: in Excel über Daten → Aus Text/CSV importieren und \"65001: "
                          "Unicode (UTF-8)\" wählen. Der Fix ist für Donnerstag geplant."),
            ("customer", 40, "Das klappt, vielen Dank! Bitte melden Sie sich, wenn der Fix live ist."),
        ],
    ),
    (
        "Change account email?",
        "Sam Okoye", "sam.okoye@hey.com", "support", "resolved", 72,
        [
            ("customer", 0, "can i change the email on my account"),
            ("agent", 9, "Hi Sam, yes: Settings → Profile → Email. We'll send a confirmation link to the "
                         "new address; the change applies once you click it."),
            ("customer", 15, "done, thx"),
        ],
    ),
    (
        "Password reset email never arrives",
        "Grace Okafor", "grace@okafor-legal.com", "support", "pending", 20,
        [
            ("customer", 0, "I requested a password reset three times in the last hour and got nothing. "
                            "Not in spam either."),
            ("agent", 6, "Hi Grace, our logs show the emails were sent but your mail server rejected them: "
                         "\"550 5.7.1 Message rejected by policy\". Your domain seems to filter external "
                         "senders."),
            ("customer", 18, "Our IT says they need the sending domain and IPs to allowlist you."),
            ("agent", 22, "Please ask them to allow mail from notifications.krongage.com (SPF include: "
                          "_spf.krongage.com). Meanwhile I've sent a one-time reset link to your backup "
                          "email ending in @gmail.com."),
            ("customer", 40, "Got the backup link, I'm in. IT will add the allowlist tomorrow."),
        ],
    ),
    (
        "Refund request for annual plan",
        "Oliver Chen", "oliver.chen@tidewater.co", "billing", "open", 8,
        [
            ("customer", 0, "We upgraded to the annual Business plan by mistake on Monday ($1,188.00, "
                            "invoice INV-2024-0402). We wanted monthly. Can we get a refund?"),
            ("agent", 15, "Hi Oliver, annual plans can be refunded in full within 14 days, so you're well "
                          "within the window. Do you want to switch to monthly Business ($119/month) or "
                          "cancel entirely?"),
            ("customer", 22, "Switch to monthly, please. Same seats (8)."),
            ("agent", 30, "Done: refund of $1,188.00 issued to the card ending 1881, and the monthly plan "
                          "starts today. The first monthly invoice is INV-2024-0411 for $119.00."),
            ("customer", 34, "Wait, shouldn't 8 seats be more than $119?"),
            ("agent", 47, "Good catch: Business is $119 for up to 10 seats, so 8 seats cost the same. You "
                          "won't be charged more until you add an 11th seat."),
        ],
    ),
    (
        "SSO with Okta: SAML assertion rejected",
        "Mei Lin", "mei.lin@brightline.health", "support", "open", 4,
        [
            ("customer", 0, "We're rolling out SSO via Okta. Every login ends on your page with "
                            "\"SAML response rejected: audience mismatch\"."),
            ("agent", 10, "Hi Mei, that usually means the Audience URI in Okta doesn't match our SP "
                          "entity ID. Yours should be https://app.krongage.com/saml/brightline-health."),
            ("customer", 25, "We had https://app.krongage.com/saml/brightline. Fixed it, now it says "
                             "\"signature validation failed\"."),
            ("agent", 31, "Progress! The certificate we have on file expired on Feb 28. Please download "
                          "the current signing certificate from Okta (SAML 2.0 → Sign On → View SAML "
                          "setup instructions) and upload it under Settings → Security → SSO."),
            ("customer", 44, "Uploaded. Test user works. Can we enforce SSO for everyone but keep one "
                             "break-glass admin with a password?"),
            ("agent", 50, "Yes: turn on \"Require SSO\" and add the admin under \"Exempt accounts\". "
                          "We recommend a hardware key for that account."),
        ],
    ),
    (
        "Webhook deliveries timing out",
        "Daniel Novak", "dnovak@parcelpilot.eu", "support", "open", 12,
        [
            ("customer", 0, "Our webhook endpoint https://hooks.parcelpilot.eu/krongage shows lots of "
                            "failed deliveries since yesterday, all \"timeout after 15s\"."),
            ("agent", 14, "Hi Daniel, our logs agree: your endpoint accepts the connection but answers "
                          "after 15 seconds. We stop waiting at 15 s and retry later with backoff."),
            ("customer", 30, "We do some processing before responding. Can you raise the timeout?"),
            ("agent", 36, "We can't, but the usual fix is to answer 200 right away and process the event "
                          "in a background job. Use the webhook-id header to drop duplicates, since "
                          "retries reuse the same id."),
            ("customer", 120, "Moved processing to a queue. Response time is now ~80 ms."),
            ("agent", 125, "I see deliveries succeeding again. The 37 failed events from yesterday can be "
                           "redelivered from Settings → Integrations → Delivery log."),
        ],
    ),
    (
        "VAT ID missing on invoices",
        "Sophie Martin", "compta@atelier-martin.fr", "billing", "resolved", 96,
        [
            ("customer", 0, "Bonjour, our invoices don't show our VAT ID FR40303265045, so our accountant "
                            "can't reclaim the VAT. Can you add it and reissue February?"),
            ("agent", 25, "Hi Sophie, I've added FR40303265045 to your billing profile. Future invoices "
                          "will show it and apply the reverse charge."),
            ("agent", 28, "February's invoice has been reissued as INV-2024-0233-R with the VAT ID."),
            ("customer", 60, "Parfait, merci !"),
        ],
    ),
    (
        "Prorated amount when upgrading to Business",
        "Ravi Patel", "ravi@patelandco.in", "billing", "pending", 28,
        [
            ("customer", 0, "If we upgrade from Team ($49/month) to Business ($119/month) today, what do "
                            "we pay? We're on day 12 of a 30-day cycle."),
            ("agent", 20, "Hi Ravi, you'd pay the difference for the 18 days left: ($119 - $49) × 18/30 "
                          "= $42.00 today, then $119 from the next cycle."),
            ("customer", 31, "And if we downgrade again next month?"),
            ("agent", 40, "Downgrades take effect at the end of the cycle, no credit or charge."),
        ],
    ),
]


def seed(db: Any) -> bool:
    """Create the tables, then fill an empty database. Returns whether it added anything.

    Safe to call on every start: a database that already has users or
    conversations is left as it is.
    """
    db.create_all()
    added = False
    if db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 0:
        for name, email, team, is_admin in USERS:
            user = User(name=name, email=email, team=team, is_admin=is_admin)
            user.set_password(PASSWORD)
            db.session.add(user)
        added = True
    if db.session.scalar(sa.select(sa.func.count()).select_from(Conversation)) == 0:
        now = utcnow().replace(second=0, microsecond=0)
        for subject, customer, email, team, status, hours_ago, messages in CONVERSATIONS:
            start: datetime = now - timedelta(hours=hours_ago)
            conversation = Conversation(
                subject=subject, customer_name=customer, customer_email=email,
                team=team, status=status, created_at=start,
            )
            conversation.messages = [
                Message(
                    author_role=role,
                    author_name=customer if role == "customer" else AGENT[team],
                    body=body,
                    created_at=start + timedelta(minutes=minutes),
                )
                for role, minutes, body in messages
            ]
            db.session.add(conversation)
        added = True
    if added:
        db.session.commit()
    return added
