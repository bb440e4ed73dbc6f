"""Demo data: three agents and a dozen support conversations over two teams, and their cases.

The conversations are the kind a helpdesk really gets (a double charge, a
lockout, a stack trace, a German customer, a one-liner ...), so selecting
messages and turning them into cases can be tried on something believable.

On a fresh database the demo also gets cases (``DEMO_CASES``): some in every
status, owned by different agents, two overdue, some with notes, and a month of
resolved history in older conversations, so the reports page shows something.
They are made through the extension's public API, like an agent would, and then
moved back in time (see :func:`_backdate`).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app

from .models import Conversation, Message, User, utcnow

PASSWORD = "demo"

#: name, email, team, is_admin
USERS = [
    ("Ada Admin", "admin@example.com", "ops", True),
    ("Alex Morgan", "alex@example.com", "support", False),
    ("Bea Schulz", "bea@example.com", "billing", False),
    ("Jonas Weber", "jonas@example.com", "support", False),
]
#: Who works in another language and zone than English and UTC (each can change it in the sidebar).
PREFERENCES = {"jonas@example.com": ("de", "Europe/Berlin")}

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


#: Older conversations, each with one case resolved at the time given, spread over the last four
#: weeks so the reports page has a month of history: subject, customer, email, team, days ago,
#: case title, type, priority, minutes from the first message to resolution, the agent who owns it
#: (None: nobody), summary, and the three messages (customer, agent, customer).
HISTORY: list[tuple[str, str, str, str, int, str, str, str, int, str | None, str, tuple[str, str, str]]] = [
    ("Invoice PDF download shows a blank page", "Elena Rossi", "elena@rossi-studio.it", "billing", 2,
     "Blank invoice PDF in Safari", "technical", "medium", 95, "Bea Schulz",
     "Safari's viewer failed on the embedded font; the PDF was regenerated without it.",
     ("The March invoice opens as a blank page in Safari. Chrome shows it fine.",
      "Thanks Elena: Safari's built-in viewer trips over a font we embed. I've regenerated the PDF "
      "without it; the link on your billing page works in Safari now.",
      "Works now, thank you!")),
    ("Two-factor codes not accepted", "Jonas Berg", "jonas.berg@fjordtech.no", "support", 3,
     "Authenticator codes rejected: phone clock off", "access", "high", 50, "Alex Morgan",
     "The phone's clock was four minutes off; automatic time fixed the codes.",
     ("Every code from my authenticator app is rejected. I can't get in.",
      "Hi Jonas, codes are only valid for 30 seconds, so a phone clock that drifts breaks them. Could "
      "you turn on automatic date and time and try again?",
      "The clock was four minutes off. Fixed, I'm in.")),
    ("Can we pay by bank transfer?", "Fatima Zahra", "f.zahra@atlasmedia.ma", "billing", 4,
     "Pay annual invoices by bank transfer", "billing", "low", 300, None,
     "Bank transfer enabled for annual invoices; IBAN details sent.",
     ("Our finance team can't use cards. Can we pay the annual plan by bank transfer?",
      "Yes, for annual plans. I've switched your account to invoice payment; the next invoice shows "
      "our IBAN and a reference to quote.",
      "Perfect, that's what we needed.")),
    ("Import from Zendesk stops halfway", "Noah Williams", "noah@brightpath.org", "support", 6,
     "Zendesk import stops on a ticket with 2,000 comments", "technical", "high", 420, "Alex Morgan",
     "One ticket had 2,000 comments and hit the batch limit; re-run with smaller batches.",
     ("The Zendesk import stops at ticket 41,220 every time, no error shown.",
      "That ticket has over 2,000 comments, past our batch limit. I've re-run the import with smaller "
      "batches from that point; it finished a few minutes ago.",
      "All 58,000 tickets are there now. Thanks!")),
    ("Add a second admin to our workspace", "Chloé Dubois", "chloe@maisonlune.fr", "support", 7,
     "Make a second workspace admin", "access", "low", 35, None,
     "Explained Settings → Members → Role; customer promoted a colleague.",
     ("How do I make my colleague an admin too?",
      "Settings → Members, then change her role to Admin. Only admins see that menu.",
      "Done, thanks.")),
    ("Sales tax charged to a tax-exempt nonprofit", "Grace Mensah", "accounts@hopewell.org", "billing", 9,
     "Remove sales tax for a tax-exempt nonprofit", "billing", "medium", 1500, "Bea Schulz",
     "Exemption certificate checked; tax removed and the last two invoices credited.",
     ("We're a 501(c)(3) and were charged sales tax. Our exemption certificate is attached.",
      "Thanks Grace, the certificate checks out. I've marked the account exempt and credited the tax "
      "on your last two invoices.",
      "Received the credit notes, thank you.")),
    ("Mobile app crashes when attaching photos", "Kenji Watanabe", "kenji@hoshi.jp", "support", 11,
     "iOS app crashes on photo attachments (HEIC)", "technical", "urgent", 180, "Alex Morgan",
     "HEIC photos crashed the iOS app; fixed in 4.12.1.",
     ("The iPhone app crashes every time I attach a photo to a reply.",
      "We found it: HEIC photos from the newest iPhones crash version 4.12.0. Version 4.12.1 with the "
      "fix is in the App Store now.",
      "Updated, photos attach fine.")),
    ("Wrong company name on receipts", "Isabel Torres", "isabel@torresyasociados.es", "billing", 13,
     "Company name on receipts", "billing", "low", 60, None,
     "Billing name updated; past receipts regenerated.",
     ("Our receipts still show our old company name.",
      "I've updated the billing name to Torres y Asociados S.L. and regenerated your past receipts.",
      "Great, thanks.")),
    ("Webhook signature does not verify", "Liam O'Brien", "liam@shipfast.ie", "support", 15,
     "Webhook signatures fail: body parsed before verifying", "technical", "medium", 240, "Alex Morgan",
     "The receiver verified a re-serialized body; verifying the raw bytes fixed it.",
     ("Every webhook fails our signature check. We use the secret from the settings page.",
      "Your framework parses the JSON before you verify, so the bytes differ. Verify the raw request "
      "body instead; our docs have an example for Express.",
      "That was it, all green now.")),
    ("Downgrade to the Team plan", "Amara Okafor", "amara@lagosloft.ng", "billing", 17,
     "Downgrade from Business to Team", "billing", "medium", 45, "Bea Schulz",
     "Downgrade scheduled for the end of the billing cycle.",
     ("We'd like to move from Business back to Team.",
      "Done: the downgrade takes effect at the end of this cycle, on the 28th. No charge until then.",
      "Thanks for the quick help.")),
    ("Locked out after changing phone", "Mateo Silva", "mateo@silvafarms.br", "support", 19,
     "Lost two-factor device after a phone change", "access", "urgent", 75, "Alex Morgan",
     "Identity checked with recovery codes; two-factor reset.",
     ("New phone, and my two-factor app didn't move over. I'm locked out.",
      "I've checked your identity with the recovery details on file and reset two-factor. Set it up "
      "again on the new phone at your next sign-in.",
      "I'm back in, thank you.")),
    ("Card declined on renewal", "Hannah Keller", "h.keller@kellerbau.de", "billing", 21,
     "Renewal card declined: 3-D Secure", "billing", "high", 200, "Bea Schulz",
     "The bank wanted 3-D Secure; customer confirmed and the renewal went through.",
     ("Our renewal failed, the card was declined. It has plenty of funds.",
      "The bank asked for 3-D Secure and the renewal can't answer that by itself. I've sent you a "
      "payment link that asks for it.",
      "Paid through the link, renewal done.")),
    ("Search returns no results for accented names", "Zoé Lambert", "zoe@lambert-avocats.fr", "support", 24,
     "Search misses accented names", "technical", "medium", 2900, "Alex Morgan",
     "Search now folds accents; reindex finished overnight.",
     ("Searching for Hélène finds nothing, searching Helene finds her.",
      "Our search compared accents exactly. The fix folds them and your workspace was reindexed "
      "overnight: both spellings find her now.",
      "Confirmed, thanks!")),
    ("Export all our data before we leave", "Peter Novak", "peter@novakdesign.cz", "support", 26,
     "Full data export before cancelling", "general", "low", 1300, None,
     "Full export (JSON and attachments) prepared and shared.",
     ("We're moving to another tool. How do we get all our data out?",
      "I've started a full export: all conversations as JSON plus attachments. You'll get a download "
      "link by email; it stays valid for seven days.",
      "Got it, everything is there.")),
    ("Refund for a duplicate seat", "Ana Costa", "ana@costaeventos.pt", "billing", 27,
     "Refund a seat added twice", "billing", "medium", 110, "Bea Schulz",
     "Duplicate seat removed and refunded pro rata.",
     ("We added the same colleague twice and are paying for two seats.",
      "I've removed the duplicate seat and refunded it for the rest of the month.",
      "Thank you!")),
    ("Emails to customers land in spam", "Oscar Lindgren", "oscar@nordicbrew.se", "support", 28,
     "Replies land in spam: DKIM not set up", "technical", "high", 600, "Alex Morgan",
     "DKIM records were missing on the customer's domain; added, mail is delivered.",
     ("Customers tell us our replies end up in their spam folder.",
      "Your domain has no DKIM record for us yet. Add the two CNAME records shown under Settings → "
      "Email; once they're live, replies are signed.",
      "Records added, replies arrive in the inbox now.")),
]

#: Cases of the first conversations: subject, indexes of its messages, title, type, priority,
#: summary, then what happens to it, in order, as (minutes after the conversation's first message,
#: step, argument). Steps: create (by the team's agent), assign (to an agent by name), note,
#: pending, escalate (with a reason), resolve, reopen.
CASES: list[tuple[str, list[int], str, str, str, str, list[tuple[int, str, str | None]]]] = [
    ("Charged twice for invoice INV-2024-0317", [0, 2], "Card charged twice for INV-2024-0317", "billing", "urgent",
     "A gateway retry charged $249.00 twice (ch_3OqL9k); refund and corrected credit note promised.",
     [(31, "create", None), (32, "assign", "Bea Schulz"),
      (80, "note", "Refund of ch_3OqL9k requested from payments (PAY-3321). Corrected credit note "
                   "CN-2024-0042-R sent; check the refund shows before Friday.")]),
    ("Locked out after too many login attempts", [0], "Account locked after failed logins", "access", "high",
     "Six failed attempts locked the account; unlocked by the agent.",
     [(4, "create", None), (15, "resolve", None)]),
    ("API returns 500 on POST /v2/orders", [0, 1], "Orders to Northern Ireland fail with a 500 (GB-NIR)",
     "technical", "urgent",
     "A missing tax rate for GB-NIR broke order creation; fixed in release 2024.03.12-2.",
     [(18, "create", None), (25, "escalate", "40 orders blocked until engineering adds the GB-NIR tax rate."),
      (26, "assign", "Ada Admin"), (212, "resolve", None)]),
    ("Shipping delay on order #A-58213", [0], "Express parcel held after a damaged label", "general", "medium",
     "The carrier re-labelled the parcel; express fee refunded, delivery expected Monday.",
     [(35, "create", None), (36, "assign", "Bea Schulz"), (58, "pending", None)]),
    ("Problem beim CSV-Export: Umlaute kaputt", [0, 1], "CSV export breaks umlauts (BOM missing)", "technical", "high",
     "Since the last update the CSV export lacks a BOM, so Excel shows UTF-8 umlauts wrongly.",
     [(20, "create", None), (21, "assign", "Alex Morgan"),
      (34, "note", "Workaround sent (import as UTF-8 in Excel). The fix ships Thursday: tell "
                   "Mr Schneider when it is live.")]),
    ("Change account email?", [0], "How to change the account email", "general", "low",
     "Customer asked how to change the account email; pointed to Settings → Profile.",
     [(9, "create", None), (16, "resolve", None)]),
    ("Password reset email never arrives", [0, 1], "Reset emails rejected by the customer's mail server",
     "access", "high",
     "The customer's mail server rejects our mail by policy; waiting for their IT to allowlist us.",
     [(6, "create", None), (7, "assign", "Alex Morgan"), (23, "pending", None)]),
    ("Refund request for annual plan", [0], "Refund the annual plan, move to monthly", "billing", "medium",
     "Annual Business plan bought by mistake: refunded and switched to monthly.",
     [(15, "create", None), (31, "resolve", None)]),
    ("SSO with Okta: SAML assertion rejected", [0, 2], "SSO: audience mismatch, then an expired certificate",
     "technical", "high",
     "Okta's audience URI was wrong and our copy of the signing certificate had expired.",
     [(10, "create", None)]),
    ("Webhook deliveries timing out", [0], "Webhook endpoint answers after 15 s", "technical", "medium",
     "The customer's endpoint processed events before answering; moved to a queue.",
     [(14, "create", None), (15, "assign", "Alex Morgan"), (126, "resolve", None), (600, "reopen", None),
      (601, "note", "Reopened: the customer asks whether yesterday's 37 failed events were redelivered.")]),
    ("VAT ID missing on invoices", [0], "Add the VAT ID and reissue February's invoice", "billing", "low",
     "VAT ID FR40303265045 added; February reissued as INV-2024-0233-R.",
     [(25, "create", None), (29, "resolve", None)]),
    ("Prorated amount when upgrading to Business", [0], "Prorated price of an upgrade to Business", "billing", "low",
     "Customer asked what an upgrade mid-cycle costs; $42.00 today, then $119 a month.",
     [(20, "create", None)]),
]


def _add_preference_columns(db: Any) -> None:
    """A demo database from before languages came lacks two user columns: add them."""
    present = {c["name"] for c in sa.inspect(db.engine).get_columns(User.__tablename__)}
    for column in (User.__table__.c.locale, User.__table__.c.timezone):
        if column.name not in present:
            default = column.server_default.arg
            with db.engine.begin() as conn:
                conn.execute(sa.text(
                    f"ALTER TABLE {User.__tablename__} ADD COLUMN {column.name} "
                    f"VARCHAR({column.type.length}) NOT NULL DEFAULT '{default}'"
                ))


def seed(db: Any, with_cases: bool | None = None) -> bool:
    """Create the tables, then fill an empty database. Returns whether it added anything.

    Safe to call on every start: a database that already has users or
    conversations is left as it is. Cases are added with the conversations,
    on a fresh database only, when ``with_cases`` (default: :func:`wants_cases`).
    """
    db.create_all()
    _add_preference_columns(db)
    added = False
    if db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 0:
        for name, email, team, is_admin in USERS:
            locale, zone = PREFERENCES.get(email, ("en", "UTC"))
            user = User(name=name, email=email, team=team, is_admin=is_admin, locale=locale, timezone=zone)
            user.set_password(PASSWORD)
            db.session.add(user)
        added = True
    fresh = db.session.scalar(sa.select(sa.func.count()).select_from(Conversation)) == 0
    cases_too = fresh and (wants_cases() if with_cases is None else with_cases)
    if fresh:
        now = utcnow().replace(second=0, microsecond=0)
        conversations = list(CONVERSATIONS)
        if cases_too:
            conversations += [_history_conversation(item) for item in HISTORY]
        for subject, customer, email, team, status, hours_ago, messages in conversations:
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
    if cases_too:
        seed_cases(db)
    return added


def wants_cases() -> bool:
    """Whether a fresh demo database gets example cases.

    ``DEMO_CASES`` in the app's config or the environment decides; without it,
    yes, except under ``TESTING``: the tests that drive the agent UI start from
    a helpdesk without cases (their first case is Case #1).
    """
    config = current_app.config
    if "DEMO_CASES" in config:
        return bool(config["DEMO_CASES"])
    if "DEMO_CASES" in os.environ:
        return os.environ["DEMO_CASES"].strip().lower() not in {"", "0", "false", "no", "off"}
    return not config.get("TESTING", False)


def _history_start_hours(days_ago: int) -> int:
    """Hours back to a history conversation's first message: ``days_ago`` days, and a few hours to vary the hour."""
    return days_ago * 24 + (days_ago * 5) % 9


def _history_conversation(item: tuple[Any, ...]) -> tuple[str, str, str, str, str, int, list[tuple[str, int, str]]]:
    subject, customer, email, team, days_ago, _title, _type, _priority, resolve_after, _owner, _summary, bodies = item
    opening, answer, thanks = bodies
    messages = [("customer", 0, opening), ("agent", resolve_after - 5, answer),
                ("customer", resolve_after + 10, thanks)]
    return subject, customer, email, team, "resolved", _history_start_hours(days_ago), messages


def seed_cases(db: Any) -> None:
    """Make the demo's cases through the extension's API, then move each step back to its time.

    The service stamps every change with the current time, so a case made now
    could be neither overdue nor a month old. After each step a plain UPDATE
    (:func:`_backdate`) moves what that step wrote (the case's times, its
    clock start and due time, its activity entries, labels and notes) to the
    time the script gives it. The two urgent/high cases whose due time lies in
    the past are therefore overdue on the demo's first start.
    """
    from . import cases as kron  # the KronCases object create_app registered

    users = {user.name: user for user in db.session.scalars(sa.select(User))}
    by_subject = {c.subject: c for c in db.session.scalars(sa.select(Conversation))}
    plans: list[tuple[str, list[int], str, str, str, str, list[tuple[int, str, str | None]]]] = list(CASES)
    for (subject, _customer, _email, _team, _days, title, case_type, priority, resolve_after, owner, summary,
         _bodies) in HISTORY:
        steps: list[tuple[int, str, str | None]] = [(3, "create", None)]
        if owner:
            steps.append((4, "assign", owner))
        steps.append((resolve_after, "resolve", None))
        plans.append((subject, [0], title, case_type, priority, summary, steps))

    for subject, picked, title, case_type, priority, summary, steps in plans:
        conversation = by_subject[subject]
        start = _as_utc(conversation.messages[0].created_at)
        agent = users[AGENT[conversation.team]]
        case: Any = None
        for minutes, step, argument in steps:
            if step == "create":
                case = kron.create_case(
                    conversation, [conversation.messages[i] for i in picked], title=title,
                    case_type=case_type, priority=priority, summary=summary, by=agent,
                )
            elif step == "assign":
                kron.assign(case, users[str(argument)], by=agent)
            elif step == "note":
                kron.add_note(case, str(argument), by=agent)
            elif step == "escalate":
                kron.escalate(case, by=agent, reason=str(argument))
            elif step == "reopen":
                kron.reopen(case, by=agent)
            else:  # pending, resolve
                kron.set_status(case, "resolved" if step == "resolve" else step, by=agent)
            _backdate(db, kron, case, start + timedelta(minutes=minutes))
    db.session.commit()


def _backdate(db: Any, kron: Any, case: Any, when: datetime) -> None:
    """Move what the last service call wrote to ``when``, with plain UPDATEs; recompute the due time.

    Every time the call wrote equals the case's new ``updated_at`` (one clock
    reading per change), which tells its writes apart from earlier ones.
    """
    m = kron.models
    db.session.refresh(case)
    stamp = case.updated_at
    moved = {
        name: when
        for name in ("created_at", "updated_at", "resolved_at", "escalated_at", "clock_started_at", "pending_since")
        if getattr(case, name) is not None and _as_utc(getattr(case, name)) == _as_utc(stamp)
    }
    if case.due_at is not None:
        started = moved.get("clock_started_at") or _as_utc(case.clock_started_at)
        due_after = current_app.config["KRONCASES_DUE_AFTER"][case.priority]
        moved["due_at"] = started + timedelta(seconds=due_after + (case.paused_seconds or 0))
    db.session.execute(sa.update(m.Case).where(m.Case.id == case.id).values(**moved))
    for model in (m.CaseActivity, m.ConversationLabel, m.CaseNote):
        db.session.execute(
            sa.update(model).where(model.case_id == case.id, model.created_at == stamp).values(created_at=when)
        )
    db.session.refresh(case)  # committed with the next step


def _as_utc(value: datetime) -> datetime:
    """SQLite gives times back without their zone; ours are UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)
