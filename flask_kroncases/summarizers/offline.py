"""The default summarizer: extractive, deterministic, no model and no network.

It keeps the sentences an agent needs to open a case without reading the
thread: the customer's problem, the error text, what was already tried, the
latest state, and every order, invoice, account or ticket number and amount.
Greetings and filler are dropped. Rules are plain regular expressions with
English, German, Spanish and French keywords; text in other languages still
gets a summary from its first customer sentences and its numbers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..enums import TITLE_MAX_LENGTH
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
_BOILERPLATE = re.compile(
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
    re.I,
)
_PROBLEM = re.compile(
    r"can'?t|cannot|can not|couldn'?t|unable|not able|won'?t|doesn'?t|does not|didn'?t|did not"
    r"|isn'?t|aren'?t|wasn'?t|hasn'?t|haven'?t|\bnot\b|stopped|broken|fail\w*|errors?\b|issue"
    r"|problem|wrong|missing|never|locked|blocked|declined|rejected|denied|charged|double|twice"
    r"|overcharged|refund|crash\w*|bug|stuck|delay\w*|late\b|lost|incorrect|expired|timed? ?out"
    r"|outage|down\b|urgent"
    r"|\bnicht\b|\bkein\w*|fehler|gesperrt|falsch|fehlt|doppelt|abgebucht"
    r"|\bno (?:puedo|funciona|me|he|ha|lleg|aparece)|problema|bloquead[oa]|cobrad[oa]|cobro"
    r"|dos veces|incorrect[oa]|reembolso|todav[ií]a no"
    r"|ne fonctionne pas|ne marche pas|impossible|erreur|problème|bloqué|pas reçu|remboursement",
    re.I,
)
_TRIED = re.compile(
    r"\btr(?:ied|ying)\b|\bre-?(?:start|boot|install)ed\b|incognito|private (?:window|mode)"
    r"|clear(?:ed|ing) (?:the |my |all )?(?:cache|cookies|history|browser)"
    r"|(?:another|different|other|second) (?:browser|device|card|phone|computer|network|laptop)"
    r"|logged (?:out|back in)|signed (?:out|back in)|followed (?:the|your)|as (?:you )?suggested"
    r"|\b(?:i|i've|i have|we|we've|we have|already) (?:also |already )?(?:reset|changed|updated"
    r"|checked|re-?entered|disabled|enabled|deleted|removed|contacted|reinstalled|uninstalled)\b"
    r"|versucht|probiert|neu gestartet|neu installiert|zurückgesetzt|gelöscht"
    r"|intent[ée]|he intentado|prob[ée]\b|reinici[ée]|reinstal[ée]|borr[ée]|ya he"
    r"|essayé|redémarré|réinstallé",
    re.I,
)
# Stack frames add nothing a case needs; the exception line below them does.
_FRAME = re.compile(r"^(?:File \".*\", line \d+|at [\w$.<>/]+\(.*\)|\^+|~+|\.\.\. \d+ more)")
_QUOTED_REPLY = re.compile(r"^(?:>|On .{6,100} wrote:$|Am .{6,100} schrieb|El .{6,100} escribió)")
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
_ERROR_HINT = re.compile(
    r"error|fail|says?|said|shows?|message|displays?|get(?:ting)?|declined|denied|invalid|exception"
    r"|fehler|meldung|zeigt|mensaje|dice|aparece|erreur|affiche",
    re.I,
)
_AMOUNT = re.compile(
    r"(?:(?:US|CA|AU|NZ|HK)?[$€£¥₹]|\b(?:EUR|USD|GBP|CHF)\s?)\d+(?:[,.']\d{3})*(?:[.,]\d{1,2})?\b"
    r"|\b\d+(?:[,.']\d{3})*(?:[.,]\d{1,2})?\s?(?:[€$£]|(?:EUR|USD|GBP|CHF|dollars?|euros?)\b)",
    re.I,
)
_REFERENCE = re.compile(
    r"\b[A-Z]{2,6}-\d[A-Z0-9-]{2,}\b"
    r"|#\d{3,}\b"
    r"|\b(?:order|invoice|account|acct|ticket|case|transaction|payment|tracking|shipment|parcel"
    r"|package|booking|reservation|subscription|customer|contract|refund|reference|ref|licen[cs]e"
    r"|request|trace"
    r"|bestellung|bestellnummer|auftrag|rechnung|rechnungsnummer|kundennummer|konto|sendung"
    r"|sendungsnummer|pedido|factura|cuenta|env[ií]o|commande|facture|compte)"
    r"(?:\s+(?:no\.?|nr\.?|number|num\.?|id|n[º°o]\.?|#|code|número|nummer|numéro)){0,2}"
    r"(?:\s+(?:is|was|ist|es|est|de))?\s*[:#]?\s*(#?[A-Z0-9][\w-]{3,})",
    re.I,
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
    r"|which|und|oder|mit|der|die|das|ein|eine|y|o|con|de|el|la|los|las|un|una|et|ou|avec|le|les))+$",
    re.I,
)
# Brackets and quotes a cut must not leave open: each opener with the marks
# that close it. German „…“ closes with the mark English opens with.
_CLOSERS = {"(": ")", "[": "]", "«": "»", "„": "“”", "“": "”", '"': '"'}
_CLOSING = frozenset("".join(_CLOSERS.values()))
_ELLIPSIS = "…"
_LINK_VERB = re.compile(r"\s+(?:is|was|ist|es|est)\b", re.I)
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
_WORD = re.compile(r"[\w']+")
_LEADING_FILLER = re.compile(
    r"^(?:(?:so|well|also|ok(?:ay)?|um+|basically|unfortunately|sadly|hmm+|please help(?: me)?"
    r"|help|urgent|leider|bitte|por favor|lamentablemente|malheureusement)\b[\s,:!.-]*)+",
    re.I,
)


@dataclass(frozen=True)
class _Sentence:
    """One sentence of the thread with what the rules found in it."""

    index: int
    message: int
    customer: bool
    text: str
    problem: bool
    tried: bool
    errors: tuple[str, ...]
    facts: tuple[str, ...]


class OfflineSummarizer:
    """Extractive title and summary, the same for the same messages every time."""

    source = "offline"

    def suggest(self, messages: Sequence[SummaryInput]) -> Suggestion:
        """Summarize ``messages``; odd text (empty, HTML, emoji, any language) never raises."""
        sentences = list(_sentences(messages))
        if not sentences:
            had_text = any(_normalize(m.text) for m in messages)
            return Suggestion(EMPTY_TITLE, NOTHING_SAID if had_text else EMPTY_SUMMARY, self.source)
        problem = _problem(sentences)
        summary = "\n".join(_summary_lines(sentences, problem, len(messages)))
        length = sum(len(m.text or "") for m in messages)
        if len(summary) >= length:
            # Labels would make a very short thread longer; its own sentences
            # are the summary, whole, one a line. They never need more room
            # than the messages plus one break between two messages, so no
            # word is lost; the cut below is only a guard.
            summary = "\n".join(s.text for s in sentences)
            summary = _cut(summary, length + len(messages) - 1)
        return Suggestion(_title(problem, sentences), summary, self.source)


def _normalize(text: str) -> str:
    """Plain text without emoji; emoji go after markup, as entities can encode them."""
    text = plain_text(text or "")
    return plain_text(_EMOJI.sub(" ", text)) if _EMOJI.search(text) else text


def _sentences(messages: Sequence[SummaryInput]) -> Iterable[_Sentence]:
    """Yield the sentences worth reading, in thread order, filler removed."""
    index = 0
    for number, message in enumerate(messages):
        customer = (message.author_role or "").strip().lower() not in SUPPORT_ROLES
        for text in _message_sentences(_normalize(message.text)):
            yield _Sentence(
                index=index,
                message=number,
                customer=customer,
                text=text,
                problem=bool(_PROBLEM.search(text)),
                tried=customer and bool(_TRIED.search(text)),
                errors=tuple(_errors_in(text)),
                facts=tuple(_facts_in(text)),
            )
            index += 1


def _message_sentences(text: str) -> Iterable[str]:
    """Split one message into sentences, skipping quoted replies, stack frames and filler."""
    after_frame = False
    for line in text.split("\n"):
        if _QUOTED_REPLY.match(line):
            continue
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
    if any(c.isdigit() for c in text) or _ERROR_CODE.search(text) or _AMOUNT.search(text):
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
    yield from (m.group(0) for m in _ERROR_CODE.finditer(text))
    yield from (m.group(0) for m in _HTTP_STATUS.finditer(text))
    yield from (m.group(0) for m in _EXCEPTION_IN_TEXT.finditer(text))
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
    for match in _REFERENCE.finditer(text):
        if any(c.isdigit() for c in match.group(1) or match.group(0)):
            yield _LINK_VERB.sub("", match.group(0).strip(), count=1)
    yield from (m.group(0).strip() for m in _AMOUNT.finditer(text))
    yield from (m.group(0) for m in _EMAIL.finditer(text))


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


def _summary_lines(sentences: list[_Sentence], problem: list[_Sentence], count: int) -> list[str]:
    """Problem, error, tried, latest state and details, each line only when it adds something."""
    lines = [_line("Problem", [s.text for s in problem])]

    errors = _unique(e for s in sentences for e in s.errors if e not in lines[0])
    errors = [e for e in errors if not any(e != other and e in other for other in errors)]
    if errors:
        lines.append(_line("Error", errors[:_MAX_ERRORS], "; ", limit=400))

    said = {s.text for s in problem}
    tried = _unique(s.text for s in sentences if s.tried and s.text not in said)[:_MAX_TRIED]
    if tried:
        said.update(tried)
        lines.append(_line("Tried", tried))

    latest = sentences[-1]
    if count > 2 and latest.text not in said and latest.message != problem[0].message:
        lines.append(_line(f"Latest ({'customer' if latest.customer else 'agent'})", [latest.text]))

    written = "\n".join(lines)
    details = [f for f in _unique(f for s in sentences for f in s.facts) if _core(f) not in written]
    if details:
        lines.append(_line("Details", details[:_MAX_DETAILS], ", ", limit=400))
    return lines


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


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(item for item in items if item))


def _title(problem: list[_Sentence], sentences: list[_Sentence]) -> str:
    """Name the issue: the problem sentence, plus the main error code or reference if it fits."""
    text = _capitalize(_LEADING_FILLER.sub("", problem[0].text).rstrip(" .!,;:") or problem[0].text)
    title = _shorten(text, TITLE_MAX_LENGTH)
    tag, found = _title_tag(problem, sentences)
    if not tag or len(tag) > 30 or found.lower() in title.lower():
        return title
    return f"{_shorten(text, TITLE_MAX_LENGTH - len(tag) - 3)} ({tag})"


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
    references = [_core(f) for s in problem for f in s.facts if _REFERENCE.fullmatch(f)]
    return (references[0], references[0]) if references else ("", "")


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
