"""The default summarizer: extractive, deterministic, no model and no network.

It keeps the sentences an agent needs to open a case without reading the
thread, as labelled lines: the customer's problem; the details (error texts,
order, invoice, account and ticket numbers, amounts, versions, dates); what was
already tried; what the customer asked for or the support side's next step.
The title is a short topic phrase that keeps the key identifier. Case type and
priority are suggested from keywords. Greetings, filler and quoted replies are
dropped. Rules are plain regular expressions with English, German, Spanish
and French keywords; text in other languages still gets a summary from its
first customer sentences and its numbers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from ..enums import TITLE_MAX_LENGTH, CaseType, Priority
from ..hooks import SummaryInput
from .base import (
    EMPTY_SUMMARY,
    EMPTY_TITLE,
    Suggestion,
    clip_title,
    plain_text,
)

#: Roles counted as the support side; every other role is the customer's.
SUPPORT_ROLES = frozenset(("agent", "staff", "support", "admin", "operator", "bot", "system"))

NOTHING_SAID = "Only greetings or acknowledgements; no problem was described."

_LINE_LIMIT = 180
_MAX_TRIED = 2
_MAX_ERRORS = 4
_MAX_DETAILS = 12
_CLASSIFY_SENTENCES = 60


class _Words:
    """A case-insensitive keyword pattern, matched on lowercased text.

    Python's ``re.I`` makes long keyword alternations several times slower;
    the patterns are written in lower case and run case-sensitively on
    ``text.lower()``. When lowercasing changes the length (a dotted capital
    I), positions would shift, so the ``re.I`` form reads the text instead.
    """

    def __init__(self, pattern: str) -> None:
        self.lower = re.compile(pattern)
        self.fold = re.compile(pattern, re.I)

    def search(self, text: str) -> re.Match[str] | None:
        lowered = text.lower()
        return self.lower.search(lowered) if len(lowered) == len(text) else self.fold.search(text)

    def search_lowered(self, text: str, lowered: str) -> re.Match[str] | None:
        """:meth:`search` with ``text.lower()`` already made (a caller testing several patterns)."""
        return self.lower.search(lowered) if len(lowered) == len(text) else self.fold.search(text)

    def finditer(self, text: str, lowered: str | None = None) -> Iterable[re.Match[str]]:
        """Matches whose positions hold in ``text``; slice ``text`` with them for its own case."""
        lowered = text.lower() if lowered is None else lowered
        return self.lower.finditer(lowered) if len(lowered) == len(text) else self.fold.finditer(text)

    def fullmatch(self, text: str) -> re.Match[str] | None:
        return self.fold.fullmatch(text)

    def spans(self, text: str, lowered: str | None = None) -> Iterable[str]:
        """The matched parts of ``text``, in its own letter case."""
        lowered = text.lower() if lowered is None else lowered
        if len(lowered) != len(text):
            yield from (m.group(0) for m in self.fold.finditer(text))
            return
        yield from (text[m.start() : m.end()] for m in self.lower.finditer(lowered))

    def findall(self, text: str) -> list[Any]:
        lowered = text.lower()
        return self.lower.findall(lowered) if len(lowered) == len(text) else self.fold.findall(text)


_EMOJI = re.compile(
    "[\U0001f000-\U0001faff\U00002600-\U000027bf\U00002b00-\U00002bff\U00002300-\U000023ff"
    "\U0000fe0f\U0000200d\U000020e3\U0001f1e6-\U0001f1ff]+"
)
# Split after ., ! or ? when the next sentence starts with a capital letter or
# an opening mark, so "e.g. this", "€12.50" and "v2.1" stay in one piece.
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+(?=[\"'“¿¡(A-ZÄÖÜÀ-ÝŒ])")
_GREET = (
    r"(?:hi|hello|hey|dear|hiya|good (?:morning|afternoon|evening)|hallo|servus|moin"
    r"|guten (?:morgen|tag|abend)|liebe[rs]?|sehr geehrte[rs]?|hola|buen[oa]s (?:d[ií]as|tardes|noches)"
    r"|buenas|estimad[oa]s?|bonjour|bonsoir|salut|ciao)"
)
# "Hi Anna, my card…" loses "Hi Anna, "; names count only when capitalised and
# followed by punctuation, so "Hi my order…" loses just "Hi ".
_GREETING = re.compile(
    rf"^{_GREET}(?:(?-i:(?:\s+[A-ZÄÖÜÀ-Ý][\w'-]*){{1,3}})|\s+(?:team|there|all|support|everyone|folks"
    rf"|guys|sir or madam|damen und herren))?\s*[,!.:;–-]+\s*|^{_GREET}\s+",
    re.I,
)
_SIGNOFF = re.compile(
    r"^(?:(?:best|kind|warm|many|with)\s+)?(?:regards|wishes|thanks|thank you|cheers|sincerely"
    r"|mit freundlichen grüßen|freundliche grüße|viele grüße|liebe grüße|beste grüße|grüße|lg|mfg"
    r"|saludos(?: cordiales)?|un saludo|atentamente|cordialement|bien à vous)\b[\s,!.]*"
    r"(?-i:(?:[A-ZÄÖÜÀ-Ý][\w'.-]*\s*){0,3})$|^sent from my \w+",
    re.I,
)
_FILLER_WORDS = frozenset(
    """
    hi hello hey dear there team all everyone folks good morning afternoon evening thanks thank
    thx ty you so very much many a lot again in advance ok okay k kk sure great perfect awesome
    cool fine alright right yes yeah yep no nope problem worries any update updates news still
    waiting please help appreciate appreciated it that this sounds got noted understood will do
    cheers regards best kind warm sincerely sir madam or bye goodbye have nice day weekend talk
    soon later hope helps wonderful welcome you're youre i'm glad lovely brilliant excellent just
    checking following up follow me know let hallo danke vielen dank schön schöne grüße gruß mfg
    viele beste liebe tschüss alles klar gut super prima bitte ja nein hola gracias muchas saludos
    vale perfecto genial sí si bueno buenas buenos días dias un saludo merci beaucoup bonjour salut
    oui d'accord cordialement
    """.split()
)
_BOILERPLATE = _Words(
    r"thanks? (?:you )?(?:so much |very much |a lot )?for (?:reaching out|contacting|getting in touch"
    r"|your (?:patience|message|email|reply|quick reply|understanding|time)|waiting|writing|the update"
    r"|the info(?:rmation)?|letting us know|getting back)"
    r"|sorry (?:to hear|for (?:the|any) (?:inconvenience|delay|trouble|wait|confusion))"
    r"|apologi[sz]e for (?:the|any) (?:inconvenience|delay|trouble|wait|confusion)"
    r"|let me (?:check|look|see|find out|ask)|one moment|bear with me|happy to help|glad to help"
    r"|(?:i|we)(?:'ll| will) (?:look into|check|get back|keep you posted|update you)"
    r"|hope (?:this|that) helps|(?:is there )?anything else|have a (?:great|nice|good|lovely)"
    r"|(?:any|an) update|is there any news|just following up|following up on|checking in"
    r"|how can i help|how may i help|my name is \w+ (?:and|from)"
    r"|danke für (?:ihre|deine) (?:geduld|nachricht)|gracias por (?:su|tu) (?:paciencia|mensaje)"
    r"|merci pour votre (?:patience|message)",
)
_PROBLEM = _Words(
    r"can'?t|cannot|can not|couldn'?t|unable|not able|won'?t|doesn'?t|does not|didn'?t|did not"
    r"|isn'?t|aren'?t|wasn'?t|hasn'?t|haven'?t|\bnot\b|stopped|broken|fail\w*|errors?\b|issue"
    r"|problem|wrong|missing|never|locked|blocked|declined|rejected|denied|charged|double|twice"
    r"|overcharged|refund|crash\w*|bug|stuck|delay\w*|late\b|lost|incorrect|expired|timed? ?out"
    r"|outage|down\b|urgent|no longer|anymore|any more|nicht mehr|ya no\b|ne \w+ plus\b"
    r"|\bnicht\b|\bkein\w*|fehler|gesperrt|falsch|fehlt|doppelt|abgebucht"
    r"|\bno (?:puedo|funciona|me|he|ha|lleg|aparece)|problema|bloquead[oa]|cobrad[oa]|cobro"
    r"|dos veces|incorrect[oa]|reembolso|todav[ií]a no"
    r"|ne fonctionne pas|ne marche pas|impossible|erreur|problème|bloqué|pas reçu|remboursement"
    r"|\bne\b[^.]{0,30}\bpas\b|\bn'[^.]{0,30}\bpas\b|\baucune?\b|\brien reçu|hängt|steckt|verspätet"
    r"|nicht angekommen|ning[uú]na?\b|nadie|fallan?\b",
)
_TRIED = _Words(
    r"\btr(?:ied|ying)\b|\bre-?(?:start|boot|install)ed\b|incognito|private (?:window|mode)"
    r"|clear(?:ed|ing) (?:the |my |all )?(?:cache|cookies|history|browser)"
    r"|(?:another|different|other|second) (?:browser|device|card|phone|computer|network|laptop)"
    r"|logged (?:out|back in)|signed (?:out|back in)|followed (?:the|your)|as (?:you )?suggested"
    r"|\b(?:i|i've|i have|we|we've|we have|already) (?:also |already )?(?:reset|changed|updated"
    r"|checked|re-?entered|disabled|enabled|deleted|removed|contacted|reinstalled|uninstalled)\b"
    r"|versucht|probiert|neu gestartet|neu installiert|zurückgesetzt|gelöscht"
    r"|intent[ée]|he intentado|prob[ée]\b|reinici[ée]|reinstal[ée]|borr[ée]|ya he"
    r"|essayé|redémarré|réinstallé",
)
# Stack frames add nothing a case needs; the exception line below them does.
_FRAME = re.compile(r"^(?:File \".*\", line \d+|at [\w$.<>/]+\(.*\)|\^+|~+|\.\.\. \d+ more)")
# The header a mail client puts above the message it quotes: the rest of the message is old text.
_QUOTE_HEADER = re.compile(
    r"^(?:On .{6,100} wrote:$|Am .{6,100} schrieb|El .{6,100} escribió|Le .{6,100} a écrit ?:"
    r"|-{2,} ?(?:Original Message|Ursprüngliche Nachricht|Mensaje original|Message d'origine) ?-{2,}"
    r"|(?:From|Von|De) ?: .{3,120}$)",
    re.I,
)
_EXCEPTION_LINE = re.compile(
    r"^(?:[\w.]*(?:Error|Exception|Fault|Failure|Panic)\b(?::.*)?|Traceback \(most recent call last\):?"
    r"|(?:Caused by|panic|FATAL|ERROR|Uncaught \w+):? .*)$"
)
_EXCEPTION_NAME = re.compile(r"^(?:[\w]+\.)*(\w*(?:Error|Exception))\b")
_EXCEPTION_IN_TEXT = re.compile(r"\b(?:[a-z_]\w*\.)*[A-Z]\w*(?:Error|Exception)\b")
_ERROR_CODE = re.compile(
    r"\b(?:[A-Z][A-Z0-9]*_[A-Z0-9_]*[A-Z0-9]|E(?:CONNREFUSED|CONNRESET|TIMEDOUT|HOSTUNREACH"
    r"|NOTFOUND|ADDRINUSE|ACCES|PERM|PIPE)|0x[0-9A-Fa-f]{6,})\b"
)


def _may_hold_code(text: str) -> bool:
    """False when :data:`_ERROR_CODE` cannot match: it needs an ``_``, ``0x`` or an ``E`` code."""
    return "_" in text or "0x" in text or "E" in text


_HTTP_REASON = (
    r"(?:Bad Request|Unauthorized|Payment Required|Forbidden|Not Found|Method Not Allowed|Not Acceptable"
    r"|Request Time-?out|Conflict|Gone|Precondition Failed|Payload Too Large|Request Entity Too Large"
    r"|Unprocessable (?:Entity|Content)|Locked|Too Many Requests|Internal Server Error|Bad Gateway"
    r"|Service Unavailable|Gateway Time-?out)"
)
_HTTP_STATUS = re.compile(
    r"\b(?:HTTP(?:/\d(?:\.\d)?)?|status(?: code)?|error(?: code)?|response(?: code)?"
    rf"|Fehler(?:code)?|c[oó]digo(?: de error)?)\s*[:#]?\s*[1-5]\d\d\b(?:\s+{_HTTP_REASON})?"
    rf"|\b[45]\d\d\s+{_HTTP_REASON}",
    re.I,
)
_QUOTED = re.compile(r"\"([^\"\n]{4,160})\"|“([^”\n]{4,160})”|„([^“”\n]{4,160})[“”]|«\s?([^»\n]{4,160})\s?»")
_ERROR_HINT = _Words(
    r"error|fail|says?|said|shows?|message|displays?|get(?:ting)?|declined|denied|invalid|exception"
    r"|fehler|meldung|zeigt|mensaje|dice|aparece|erreur|affiche",
)
_AMOUNT = _Words(
    r"(?:(?:us|ca|au|nz|hk)?[$€£¥₹]|\b(?:eur|usd|gbp|chf)\s?)\d+(?:[,.']\d{3})*(?:[.,]\d{1,2})?\b"
    r"|\b\d+(?:[,.']\d{3})*(?:[.,]\d{1,2})?\s?(?:[€$£]|(?:eur|usd|gbp|chf|dollars?|euros?)\b)",
)
_REFERENCE_WORDS = (
    r"order|invoice|account|acct|ticket|case|transaction|payment|tracking|shipment|parcel"
    r"|package|booking|reservation|subscription|customer|contract|refund|reference|ref|licen[cs]e"
    r"|request|trace|petici[oó]n|solicitud|seguimiento|suivi|requête|referencia|référence|anfrage"
    r"|bestellung|bestellnummer|auftrag|rechnung|rechnungsnummer|kundennummer|konto|sendung"
    r"|sendungsnummer|pedido|factura|cuenta|env[ií]o|commande|facture|compte"
)
_REFERENCE = _Words(
    r"\b[a-z]{2,6}-\d[a-z0-9-]{2,}\b"
    r"|#\d{3,}\b"
    rf"|\b(?:{_REFERENCE_WORDS})\b"
    r"(?:\s+(?:no\.?|nr\.?|number|num\.?|id|n[º°o]\.?|#|code|número|nummer|numéro)){0,2}"
    r"(?:\s+(?:is|was|ist|es|est|de))?\s*[:#]?\s*(#?[a-z0-9][\w-]{3,})",
)
# Cheap tests that tell when a fact pattern cannot match, so most sentences skip the slow ones.
_REFERENCE_HINT = _Words(rf"[a-z]-\d|#\d|{_REFERENCE_WORDS}")
_AMOUNT_HINT = _Words(r"[$€£¥₹]|eur|usd|gbp|chf|dollar")
_NUMBER_HINT = re.compile(r"\d[-./]\d|\b[vV]\d")
# Ids without a keyword in front: ``req_5c0e9a11``, tracking numbers such as ``1Z999AA10123456784``.
_BARE_ID = re.compile(r"\b(?:[a-z]{2,8}_(?=[a-z]*\d)[A-Za-z0-9]{6,}|(?=[A-Z]*\d)(?=\d*[A-Z]?)[A-Z0-9]{10,})\b")
# Names that identify a workspace or user without a digit: "workspace acme-sales", "username mpatel".
_NAMED_ID = _Words(
    r"\b(?:workspace|tenant|org(?:anization)?|subdomain|username|user name|espace|espacio|arbeitsbereich"
    r"|benutzername|usuario|identifiant)(?:\s+(?:is|est|es|ist|id|name))?\s*[:=]?\s+"
    r"([a-z0-9]+(?:[-_.][a-z0-9]+)+)\b",
)
_STATUS_CODE = re.compile(r"\b[1-5]\d\d\b")
_CLAUSE_BREAK = re.compile(
    r"[,;:]\s|\s[–—-]\s|\s(?:with|because|since|although|but|and then|after|when|while|weil|aber"
    r"|obwohl|wenn|porque|pero|aunque|cuando|mais|parce que|quand)\s",
    re.I,
)
# Words a cut title must not end on ("…for every customer with").
_DANGLING = re.compile(
    r"(?:\s+(?:a|an|the|and|or|of|to|for|with|in|on|at|by|from|my|our|your|is|are|was|were|that"
    r"|which|instead|und|oder|mit|der|die|das|ein|eine|y|o|con|de|el|la|los|las|un|una|me|se|te|nos|le|lo"
    r"|et|ou|avec|les|mich|sich|mir|uns))+$",
    re.I,
)
# Brackets and quotes a cut must not leave open: each opener with the marks
# that close it. German „…“ closes with the mark English opens with.
_CLOSERS = {"(": ")", "[": "]", "«": "»", "„": "“”", "“": "”", '"': '"'}
_CLOSING = frozenset("".join(_CLOSERS.values()))
_QUOTE_MARKS = ('"', "“", "„", "«")
_DIGIT = re.compile(r"\d")
# A named id joins its parts: "acme-sales", "carmen.ruiz", "tienda_luna".
_ID_JOIN = re.compile(r"[a-z0-9][-_.][a-z0-9]")
_ELLIPSIS = "…"
_LINK_VERB = re.compile(r"\s+(?:is|was|ist|es|est)\b", re.I)
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
_WORD = re.compile(r"[\w']+")
_LEADING_FILLER = re.compile(
    r"^(?:(?:so|well|also|ok(?:ay)?|um+|basically|unfortunately|sadly|hmm+|please help(?: me)?"
    r"|help|urgent|leider|bitte|por favor|lamentablemente|malheureusement)\b[\s,:!.-]*)+",
    re.I,
)


_MONTHS = (
    r"jan(?:uary|uar|vier)?|feb(?:ruary|ruar)?|février|mar(?:ch|s)?|märz|apr(?:il)?|avril|may|mai"
    r"|june?|juni|juin|july?|juli|juillet|aug(?:ust)?|août|sept?(?:ember|embre)?|oct(?:ober)?|okt(?:ober)?"
    r"|octobre|nov(?:ember|embre)?|dec(?:ember)?|dez(?:ember)?|décembre|enero|febrero|marzo|abril|mayo"
    r"|junio|julio|agosto|septiembre|octubre|noviembre|diciembre"
)
_DATE = _Words(
    rf"\b(?:\d{{4}}-\d{{2}}-\d{{2}}|\d{{1,2}}[./]\d{{1,2}}[./]\d{{2,4}}"
    rf"|\d{{1,2}}\.?(?:\s+de)?\s+(?:{_MONTHS})\b\.?(?:\s+(?:de\s+)?\d{{4}})?"
    rf"|(?:{_MONTHS})\.?\s+\d{{1,2}}(?:st|nd|rd|th)?\b(?:,?\s+\d{{4}})?)",
)
_VERSION = _Words(
    r"\b(?:v|version|versión|release|build|ios|android|windows|macos|chrome|firefox|safari)"
    r"\s?\d+(?:\.\d+)+[a-z]?\b|\bv\d+\b|(?<![\d.])\d+\.\d+\.\d{1,3}(?!\.?\d)",
)
# A customer's request: "Please refund…", "Can you…", "Bitte…", "¿Pueden…?", "Pourriez-vous…".
_ASK = _Words(
    r"^(?:please|pls|kindly|can you|could you|would you|can someone|i need|we need|i want|we want"
    r"|i would like|i'd like|we would like|we'd like|how (?:can|do) (?:i|we))\b"
    r"|\bplease (?:refund|cancel|send|fix|reset|unlock|check|tell|advise|confirm|update|change|remove"
    r"|delete|add|ship|resend|let|restore|reactivate|correct|credit|investigate|escalate|re-?issue)\b"
    r"|\b(?:bitte|können sie|könnten sie|könnt ihr|ich möchte|ich brauche|wir brauchen|wir möchten"
    r"|por favor|pueden|podrían|podría|necesito|necesitamos|quiero|quisiera|pouvez-vous|pourriez-vous"
    r"|merci de|je voudrais|nous voudrions|j'aimerais|je souhaite|s'il vous pla[iî]t)\b",
)
_FIRST_PERSON = re.compile(
    r"^(?:(?:i|we)(?:'m|'ve|'d)?\b|ich\b|wir\b|yo\b|nosotros\b|je\b|j'|nous\b)"
    r"(?:\s*(?:just|also|still|now|recently|again|really|already|have been|has been|had been|was|were"
    r"|am|are|got|wurde|wurden|bin|sind|habe|haben|ai été|ai|suis|avons été|sommes|he sido|fui)\b)*\s*"
    r"|^(?:my|our|me|us|mein(?:e[nmrs]?)?|unser(?:e[nmrs]?)?|mi|mis|me|nos|nuestr[oa]s?|mon|ma|mes|notre"
    r"|nos|moi)\s+",
    re.I,
)
#: Titles at most this long read as a topic; ``TITLE_MAX_LENGTH`` is the hard limit.
TITLE_PREFERRED_LENGTH = 60
# "I got a new phone and now my codes are rejected": the part after "and now" is the issue.
_CONSEQUENCE = re.compile(
    r"^.{6,100}?\s(?:and|but|und|y|pero|et|mais)\s+(?:now|since then|jetzt|nun|seitdem|ahora|desde entonces"
    r"|maintenant|depuis)\b[\s,]*",
    re.I,
)
_ASIDE = re.compile(r"\s*\([^()]*\)")
# Weaker breaks for a title with no clause break in reach: "… on January 12 and were charged …".
_AND_BREAK = re.compile(r"\s(?:and|but|und|aber|y|pero|et|mais)\s", re.I)
_TITLE_FILLER = re.compile(r"^(?:please|pls|kindly|bitte|por favor|svp)\b[\s,:!.-]*", re.I)

# Keywords for the suggested type and priority; a word in the problem counts twice.
_TYPE_WORDS = {
    CaseType.BILLING: _Words(
        r"invoice|billing|billed|charged?\b|charges|refund|payment|paid\b|\bpay\b|credit card|\bcard\b"
        r"|subscription|renewal|receipt|\bvat\b|price|overcharg|debit|\bplan\b"
        r"|rechnung|abgebucht|belast|zahlung|bezahlt|erstatt|gutschrift|abo\b|abonnement|lastschrift"
        r"|factura|cobr|reembolso|\bpago|tarjeta|suscripci|cargo|facture|rembours|prélev|paiement|payé"
        r"|carte bancaire|débit",
    ),
    CaseType.ACCESS: _Words(
        r"log ?in\b|logg(?:ed|ing) (?:in|out)|sign(?:ed|ing)? ?in\b|password|passwort|kennwort|\bsso\b|saml"
        r"|okta|azure ad|entra|2fa|two-factor|mfa|one-time code|locked out|account (?:is |was |has been )?"
        r"(?:locked|blocked|disabled|suspended)|reset link|permission|access denied|unauthori[sz]ed"
        r"|anmeld|einlogg|gesperrt|zugang|zugriff|iniciar sesi[oó]n|contraseña|acceso|bloquead"
        r"|se connecter|connexion|mot de passe|identifiant|bloqué",
    ),
    CaseType.TECHNICAL: _Words(
        r"error|exception|crash|timeout|timed out|time-out|\bbug\b|fails?\b|failed|failing|broken"
        r"|\bapi\b|\bsync|upload|export|import|\b5\d\d\b|traceback|stack ?trace|not working|stopped working"
        r"|slow|freez|fehler|stürzt|absturz|funktioniert nicht|hängt|falla|fallo|no funciona|se cierra"
        r"|erreur|plant|ne fonctionne pas|ne marche pas|bogue",
    ),
    CaseType.GENERAL: _Words(
        r"shipping|shipment|shipped|deliver|parcel|package|tracking|courier|carrier|arrived|dhl|ups\b"
        r"|fedex|versand|lieferung|geliefert|paket|sendung|envío|envio|paquete|entrega|llegado|seguimiento"
        r"|livraison|livré|colis|expédi|suivi",
    ),
}
# Priority: many affected or an outage counts 2, a deadline or an urgent word 1; 3 is urgent, 1 high.
_WIDE_WORDS = _Words(
    r"outage|\bis down\b|\bare down\b|(?:site|app|service|server|system|platform|api|shop) (?:is |went )?down\b"
    r"|production (?:is )?(?:down|stopped)|everyone|everybody|every (?:user|customer|one|driver|agent)"
    r"|all (?:of )?(?:our |my |the )?(?:users|customers|drivers|staff|employees|agents|stores|clients|teams)"
    r"|whole (?:team|company)|nobody can|no one can|losing (?:sales|money|orders|customers)"
    r"|\b\d[\d,.]{1,}\s+(?:users|customers|clients|drivers|employees|utilisateurs|usuarios|clientes|nutzer"
    r"|benutzer|kunden|mitarbeiter)|aucun(?:e)? (?:de |d')?(?:nos |des )?\w+ ne peu|ning[uú]n (?:cliente|usuario)"
    r"|alle (?:unsere[n]? )?(?:nutzer|kunden|mitarbeiter)|niemand kann|ausfall|komplett down"
    r"|todos (?:los |nuestros )?(?:usuarios|clientes|empleados)|nadie puede|caída"
    r"|tous (?:les |nos )?(?:utilisateurs|clients|employés)|personne ne peut|panne",
)
_DEADLINE_WORDS = _Words(
    r"deadline|\bis due\b|due (?:today|tomorrow)|by tomorrow|before tomorrow"
    r"|end of (?:the )?(?:day|month|quarter)|by (?:monday|tuesday"
    r"|wednesday|thursday|friday)|frist|bis morgen|monatsabschluss|plazo|para mañana|antes de mañana"
    r"|date limite|avant demain|échéance",
)
_URGENT_WORDS = _Words(r"urgent|asap|emergency|critical|dringend|sofort|unbedingt|urgente|cuanto antes|au plus vite")
# An explicit "access denied" names an access case even when other words are about invoices.
_ACCESS_DENIED = _Words(
    r"access denied|permission|forbidden|\b403\b|zugriff verweigert|berechtigung|acceso denegado"
    r"|sin permiso|accès refusé|autorisation",
)


@dataclass(eq=False)
class _Sentence:
    """One sentence of the thread; what the rules find in it is worked out when first asked.

    A 500-message thread has thousands of sentences, but the problem is
    looked for only among the first customer ones and "Tried" stops at two:
    the rules run only where an answer is needed.
    """

    index: int
    message: int
    customer: bool
    text: str

    @cached_property
    def problem(self) -> bool:
        return bool(_PROBLEM.search(self.text))

    @cached_property
    def tried(self) -> bool:
        return self.customer and bool(_TRIED.search(self.text))

    @cached_property
    def asks(self) -> bool:
        return self.customer and bool(_ASK.search(self.text))

    @cached_property
    def errors(self) -> tuple[str, ...]:
        return tuple(_errors_in(self.text))

    @cached_property
    def facts(self) -> tuple[str, ...]:
        return tuple(_facts_in(self.text))


class OfflineSummarizer:
    """Extractive title, summary, type and priority, the same for the same messages every time."""

    source = "offline"

    def suggest(self, messages: Sequence[SummaryInput]) -> Suggestion:
        """Summarize ``messages``; odd text (empty, HTML, emoji, any language) never raises."""
        sentences = list(_sentences(messages))
        if not sentences:
            had_text = any(_normalize(m.text) for m in messages)
            return Suggestion(EMPTY_TITLE, NOTHING_SAID if had_text else EMPTY_SUMMARY, self.source)
        case_type, priority = _classify(sentences)
        problem = _problem(sentences)
        summary = "\n".join(_summary_lines(sentences, problem))
        length = sum(len(m.text or "") for m in messages)
        if len(summary) >= length:
            # Labels would make a very short thread longer; its own sentences
            # are the summary, whole, one a line. They never need more room
            # than the messages plus one break between two messages, so no
            # word is lost; the cut below is only a guard.
            summary = "\n".join(_capitalize(s.text) for s in sentences)
            summary = _cut(summary, length + len(messages) - 1)
        return Suggestion(_title(problem, sentences), summary, self.source, case_type, priority)


def _normalize(text: str) -> str:
    """Plain text without emoji; emoji go after markup, as entities can encode them."""
    text = plain_text(text or "")
    if text.isascii() or not _EMOJI.search(text):
        return text
    return plain_text(_EMOJI.sub(" ", text))


def _sentences(messages: Sequence[SummaryInput]) -> Iterable[_Sentence]:
    """Yield the sentences worth reading, in thread order, filler removed."""
    index = 0
    for number, message in enumerate(messages):
        customer = (message.author_role or "").strip().lower() not in SUPPORT_ROLES
        for text in _message_sentences(_normalize(message.text)):
            yield _Sentence(index=index, message=number, customer=customer, text=text)
            index += 1


def _message_sentences(text: str) -> Iterable[str]:
    """Split one message into sentences, skipping quoted replies, stack frames and filler."""
    after_frame = False
    for number, line in enumerate(text.split("\n")):
        if line.startswith(">"):
            continue
        if number and _QUOTE_HEADER.match(line):
            return
        if _FRAME.match(line):
            after_frame = True
            continue
        if after_frame and not _EXCEPTION_LINE.match(line):
            # Python prints the source line under each frame.
            after_frame = False
            continue
        after_frame = False
        parts = [line] if _EXCEPTION_LINE.match(line) else _SENTENCE_END.split(line)
        for part in parts:
            sentence = _GREETING.sub("", part, count=1).strip(" ,;:-")
            if sentence and not _is_filler(sentence):
                yield sentence


def _is_filler(text: str) -> bool:
    """True for greetings, sign-offs, "any update?" and agent boilerplate without facts."""
    # An amount has a digit: the digit test covers it.
    if _DIGIT.search(text) or (_may_hold_code(text) and _ERROR_CODE.search(text)):
        return False
    words = _WORD.findall(text.lower())
    if (
        (len(words) <= 1 and len(text) <= 30)
        or all(word in _FILLER_WORDS for word in words)
        or _SIGNOFF.match(text)
    ):
        return True
    return len(words) <= 14 and bool(_BOILERPLATE.search(text)) and not _PROBLEM.search(text)


def _errors_in(text: str) -> Iterable[str]:
    if _EXCEPTION_LINE.match(text):
        if not text.startswith("Traceback"):
            yield _cut(text, 120)
        return
    # Cheap tests first: most sentences hold no code, number, exception or quote at all.
    if _may_hold_code(text):
        yield from (m.group(0) for m in _ERROR_CODE.finditer(text))
    digits = bool(_DIGIT.search(text))
    if digits:
        yield from (m.group(0) for m in _HTTP_STATUS.finditer(text))
    if "Error" in text or "Exception" in text:
        yield from (m.group(0) for m in _EXCEPTION_IN_TEXT.finditer(text))
    if not any(mark in text for mark in _QUOTE_MARKS):
        return
    hint = _ERROR_HINT.search(text)
    for match in _QUOTED.finditer(text):
        quoted = next(group for group in match.groups() if group).strip()
        # A quoted message after "says", "error"… is the error; quoted button
        # labels and JSON keys before it are not.
        if " " in quoted and (
            (hint and match.start() >= hint.end()) or _ERROR_HINT.search(quoted) or _PROBLEM.search(quoted)
        ):
            yield f'"{quoted}"'


def _facts_in(text: str) -> Iterable[str]:
    """Facts have an ``@``, a named id or a digit: a sentence with none is read by no other rule."""
    if "@" in text:
        yield from (m.group(0) for m in _EMAIL.finditer(text))
    named = bool(_ID_JOIN.search(text))
    digits = bool(_DIGIT.search(text))
    if not (named or digits):
        return
    lowered = text.lower()
    if named:
        yield from (text[m.start(1) : m.end(1)] for m in _NAMED_ID.finditer(text, lowered))
    if not digits:
        return
    yield from (m.group(0) for m in _BARE_ID.finditer(text))
    if _REFERENCE_HINT.search_lowered(text, lowered):
        for match in _REFERENCE.finditer(text, lowered):
            found = text[match.start() : match.end()]
            if _DIGIT.search(text[match.start(1) : match.end(1)] if match.start(1) >= 0 else found):
                yield _LINK_VERB.sub("", found.strip(), count=1)
    if _AMOUNT_HINT.search_lowered(text, lowered):
        yield from (text[m.start() : m.end()].strip() for m in _AMOUNT.finditer(text, lowered))
    if _NUMBER_HINT.search(text):
        yield from _VERSION.spans(text, lowered)
    # Testing for a month name first costs as much as looking for the dates.
    yield from (date.rstrip(".") for date in _DATE.spans(text, lowered))


def _problem(sentences: list[_Sentence]) -> list[_Sentence]:
    """Pick the one or two sentences that best state the customer's problem.

    Early customer sentences with problem words win; without any, the first
    customer sentence stands in, so text in any language still yields one.
    """
    pool = ([s for s in sentences if s.customer] or sentences)[:40]
    # The first message usually states the problem; later ones add to it.
    rank = {message: i for i, message in enumerate(dict.fromkeys(s.message for s in pool))}

    def score(position: int, s: _Sentence) -> tuple[int, int]:
        # Wording of what is wrong beats a quoted error: the error gets a line
        # of its own, while the wording names the issue in the title.
        points = 3 if s.problem else 2 if s.errors else 0
        points += max(0, 2 - rank[s.message]) - 3 * s.tried
        points -= 2 * (len(s.text) < 15) + (len(s.text) > 300) + (s.text.endswith("?") and not s.problem)
        return points, -position

    points, best = max((score(i, s), s) for i, s in enumerate(pool))
    if points[0] <= 0:
        best = pool[0]
    chosen = [best]
    following = next((s for s in pool if s.index == best.index + 1), None)
    if (
        following is not None
        and following.message == best.message
        and (following.problem or following.errors or following.facts)
        and not following.tried
        and len(best.text) + len(following.text) < _LINE_LIMIT
    ):
        chosen.append(following)
    return chosen


def _summary_lines(sentences: list[_Sentence], problem: list[_Sentence]) -> list[str]:
    """Problem, details, tried, and asked or next step, each line only when the messages hold it."""
    lines = [_line("Problem", [s.text for s in problem])]
    said = {s.text for s in problem}

    tried = _first(_MAX_TRIED, (s.text for s in sentences if s.customer and s.text not in said and s.tried))
    said.update(tried)
    asked = _first(1, (s.text for s in sentences if s.customer and s.text not in said and s.asks))
    said.update(asked)
    next_step = _next_step(sentences, problem, said)

    later = [
        _line(label, items)
        for label, items in (("Tried", tried), ("Asked", asked), ("Next step", next_step))
        if items
    ]
    # A fact a line already shows verbatim is not repeated; one cut off a long line is.
    written = "\n".join([lines[0], *later])
    errors = _unique(e for s in sentences for e in s.errors if e not in written)
    errors = [e for e in errors if not any(e != other and e in other for other in errors)]
    facts = [f for f in _unique(f for s in sentences for f in s.facts) if _core(f) not in written]
    facts = [f for f in facts if not any(f != other and f in other for other in [*errors, *facts])]
    details = [*errors[:_MAX_ERRORS], *facts[:_MAX_DETAILS]]
    if details:
        lines.append(_line("Details", details, "; ", limit=400))
    return lines + later


def _next_step(sentences: list[_Sentence], problem: list[_Sentence], said: set[str]) -> list[str]:
    """The support side's latest word after the problem: what it did or asks the customer to do."""
    after = [s for s in sentences if not s.customer and s.message > problem[0].message]
    if not after:
        return []
    last = [s for s in after if s.message == after[-1].message and s.text not in said]
    if not last:
        return []
    # A closing question ("could you try again?") comes with the statement before it.
    if last[-1].text.endswith("?") and len(last) > 1:
        return [last[-2].text, last[-1].text]
    return [last[-1].text]


def _line(label: str, items: Sequence[str], separator: str = " ", limit: int = _LINE_LIMIT) -> str:
    """``label: items``, joined by ``separator`` in at most ``limit`` characters.

    Items stay whole: a later sentence, error or fact that does not fit is
    left out; only the first, when too long on its own, is cut by :func:`_cut`,
    and then ends the line, so a "…" is always its last character.
    """
    text = items[0]
    if len(text) > limit:
        return f"{label}: {_capitalize(_cut(text, limit))}"
    for item in items[1:]:
        if len(text) + len(separator) + len(item) <= limit:
            text = f"{text}{separator}{item}"
    return f"{label}: {_capitalize(text)}"


def _cut(text: str, limit: int) -> str:
    """``text`` whole if it fits in ``limit``; otherwise cut at a word boundary and marked "…".

    Every word that fits stays, however short, and no bracket or quote is
    left open: the cut goes before an unclosed one, or, when that would leave
    too little, drops just the unclosed mark.
    """
    if len(text) <= limit:
        return text
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    room = limit - len(_ELLIPSIS)
    head = text[: room + 1]
    cut = head.rsplit(" ", 1)[0] if " " in head else head[:room]
    cut = _close(cut, room // 3).rstrip(" ,;:-–—/")
    return f"{cut or _close(text[:room], room)}{_ELLIPSIS}"


def _capitalize(text: str) -> str:
    """Capitalize a plain first word ("ich kann…"), never a code, email or module path."""
    first = text.split(" ", 1)[0]
    return text[0].upper() + text[1:] if first.isalpha() and first.islower() else text


def _core(fact: str) -> str:
    """The part of a fact that must appear verbatim: "order no. 4821" -> "4821"."""
    match = _REFERENCE.fullmatch(fact)
    return match.group(1).lstrip("#") if match and match.group(1) else fact


def _first(count: int, items: Iterable[str]) -> list[str]:
    """The first ``count`` different items, reading no further than needed."""
    found: list[str] = []
    for item in items:
        if item and item not in found:
            found.append(item)
            if len(found) == count:
                break
    return found


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(item for item in items if item))


def _title(problem: list[_Sentence], sentences: list[_Sentence]) -> str:
    """Name the issue as a short topic phrase, with the main error code or reference if it fits.

    The problem sentence loses its leading filler and its first-person opening
    ("I was charged twice…" -> "Charged twice…"), then is cut at a clause break
    to about ``TITLE_PREFERRED_LENGTH`` characters, never inside a word.
    """
    text = _topic(problem[0].text) or problem[0].text
    tag, found = _title_tag(problem, sentences)
    if not tag or len(tag) > 30 or found.lower() in text.lower():
        title = _topic_cut(text, TITLE_PREFERRED_LENGTH, TITLE_MAX_LENGTH)
        if not found or found.lower() in title.lower() or len(tag) > 30:
            return title
    extra = len(tag) + 3
    return f"{_topic_cut(text, max(TITLE_PREFERRED_LENGTH - extra, 30), TITLE_MAX_LENGTH - extra)} ({tag})"


def _topic_cut(text: str, preferred: int, limit: int) -> str:
    """``text`` cut at a clause break within ``preferred``; else whole within ``limit``; else shortened."""
    if len(text) <= preferred:
        return text
    # Asides in brackets go first: a cut must not land inside "(two shelves, €1,280.00)".
    text = _ASIDE.sub("", text) if "(" in text else text
    if len(text) <= preferred:
        return text
    for breaker in (_CLAUSE_BREAK, _AND_BREAK):
        breaks = [m.start() for m in breaker.finditer(text[: preferred + 1] + " ") if m.start() >= 15]
        if breaks:
            cut = _DANGLING.sub("", _close(text[: breaks[-1]], 0).rstrip(" ,;:-–—"))
            if len(cut) >= 15:
                return cut
    return text if len(text) <= limit else _shorten(text, limit)


def _topic(text: str) -> str:
    """``text`` without leading filler, greeting words or a first-person opening, capitalized."""
    text = _LEADING_FILLER.sub("", text)
    consequence = _CONSEQUENCE.match(text)
    if consequence and len(text) - consequence.end() >= 15:
        text = text[consequence.end() :]
    for _ in range(3):
        shorter = _FIRST_PERSON.sub("", _TITLE_FILLER.sub("", text), count=1)
        if shorter == text:
            break
        text = shorter
    text = text.rstrip(" .!,;:")
    first = text.split(" ", 1)[0]
    if first[:1].islower() and first.replace("'", "").replace("’", "").isalpha():
        return first[0].upper() + text[1:]
    return text


def _title_tag(problem: list[_Sentence], sentences: list[_Sentence]) -> tuple[str, str]:
    """The error code, HTTP status, exception name or reference that best identifies the issue.

    Returns the tag and the text it was found as, to tell whether the title
    already holds it.
    """
    for s in sentences:
        for error in s.errors:
            if code := _ERROR_CODE.search(error):
                return code.group(0), code.group(0)
            if status := _HTTP_STATUS.search(error):
                found = status.group(0)
                number = _STATUS_CODE.search(found)
                return (f"HTTP {number.group(0)}" if number and len(found) > 12 else found), found
            if name := _EXCEPTION_NAME.match(error):
                return name.group(1), name.group(1)
    # A reference in the problem, else one the same message gives (an invoice or order number).
    first = problem[0].message
    nearby = [s for s in sentences if s.message == first and s.customer == problem[0].customer]
    for pool in (problem, nearby):
        references = [_core(f) for s in pool for f in s.facts if _REFERENCE.fullmatch(f)]
        if references:
            return references[0], references[0]
    return "", ""


def _shorten(text: str, limit: int) -> str:
    """Cut a title at a clause break rather than mid-phrase, never inside quotes or brackets.

    No "…": the title goes into a form field with a length counter.
    """
    if len(text) <= limit:
        return text
    clipped = clip_title(text, limit)
    cut = clipped
    breaks = [m.start() for m in _CLAUSE_BREAK.finditer(cut + " ") if m.start() >= 25]
    if breaks:
        cut = cut[: breaks[-1]]
    cut = _DANGLING.sub("", _close(cut, 0).rstrip(" ,;:-–—"))
    return cut if len(cut) >= 15 else _close(clipped, limit).rstrip(" ,;:-–—") or clipped


def _close(text: str, keep: int) -> str:
    """``text`` with no bracket or quote left open.

    Cuts before the first unclosed mark while at least ``keep`` characters
    remain; otherwise drops the mark alone and keeps the words after it.
    """
    while (start := _unclosed(text)) >= 0:
        before = text[:start].rstrip()
        text = before if len(before) >= keep else text[:start] + text[start + 1 :]
    return text


def _unclosed(text: str) -> int:
    """Where the first bracket or quote that ``text`` opens and never closes is, or -1."""
    if not any(mark in text for mark in _CLOSERS):
        return -1
    open_at: list[int] = []
    for i, char in enumerate(text):
        if open_at and char in _CLOSERS[text[open_at[-1]]]:
            open_at.pop()
        elif char in _CLOSERS:
            open_at.append(i)
        elif open_at and char in _CLOSING:
            # A closer of an outer mark also closes the marks opened inside it.
            for depth in range(len(open_at) - 1, -1, -1):
                if char in _CLOSERS[text[open_at[depth]]]:
                    del open_at[depth:]
                    break
    return open_at[0] if open_at else -1


def _classify(sentences: list[_Sentence]) -> tuple[str, str]:
    """The suggested case type and priority, from keywords in what the customer wrote.

    Each type's words are counted, those in the first customer message twice;
    the most counted type wins, General without any. Shipping words count for
    General, so a parcel that "failed" delivery is not a technical case.
    """
    # What the customer says first names the case; a long thread's later turns add little.
    pool = ([s for s in sentences if s.customer] or sentences)[:_CLASSIFY_SENTENCES]
    first = pool[0].message
    text = "\n".join(s.text for s in pool)
    opening = "\n".join(s.text for s in pool if s.message == first)
    scores = {
        case_type: len(words.findall(text)) + len(words.findall(opening))
        for case_type, words in _TYPE_WORDS.items()
    }
    scores[CaseType.ACCESS] += 3 * len(_ACCESS_DENIED.findall(text))
    case_type = max(scores, key=lambda t: (scores[t], -list(_TYPE_WORDS).index(t)))
    if scores[case_type] == 0:
        case_type = CaseType.GENERAL
    weight = 2 * bool(_WIDE_WORDS.search(text)) + bool(_DEADLINE_WORDS.search(text))
    weight += bool(_URGENT_WORDS.search(text))
    priority = Priority.URGENT if weight >= 3 else Priority.HIGH if weight >= 1 else Priority.MEDIUM
    return case_type.value, priority.value
