"""The offline summariser behind `POST /v1/chat/completions`: deterministic, extractive, and obedient.

It honours what the client's summary prompt asks (`actors/summariser/core.py`, `summary_prompt`):

* **language**: French when the instructions name it (French, français; the client's default), otherwise
  English. The heading and every connective word are in that language; the conversation's own words are
  quoted as they were said (an extractive summary translates nothing).
* **style**: `json` when the instructions mention JSON: one JSON object with exactly the keys the
  instructions name in quotes after the word "keys" (the client asks for "topics", "facts" and
  "open_requests"), each a list of short strings when the instructions say "list", else a string. What a
  key holds follows its name: topic-like keys the subjects the user raised (the user's words, shortened),
  request-like keys what the user asked that no answer followed, summary-like keys the paragraph, and
  every other key (facts...) the exchange turn by turn. `bullets` when they mention bullet points: every
  line starts with "- ", the first one the heading. Otherwise one paragraph (the historical output).

The content is the first sentence of each user and assistant turn, in order; tool lines and "(called the
tool ...)" lines are left out (the spoken answer says what mattered). A previous summary (a "system:"
line) is folded in first, whatever style it was written in, without its heading and bounded, so summaries
of summaries neither nest nor grow.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

import attrs

ROLE_LINE: Final = re.compile(r"^\s*\[?\s*(user|assistant|system|tool)\s*\]?\s*[:\-]?\s*(.*)$", re.IGNORECASE)
SUMMARY_WORDS: Final = re.compile(r"summari[sz]|summary|résum|resum", re.IGNORECASE)
MAX_SUMMARY_CHARS: Final = 900
MAX_JSON_CHARS: Final = 1400
_FRENCH: Final = re.compile(r"\b(french|français|francais)\b|\bin fr\b", re.IGNORECASE)
_JSON: Final = re.compile(r"\bjson\b", re.IGNORECASE)
_BULLETS: Final = re.compile(r"bullet|puces|starting with '- '|list of points", re.IGNORECASE)
_KEYS: Final = re.compile(r"\bkeys?\b([^.;]*)", re.IGNORECASE)
_QUOTED: Final = re.compile(r"[\"'`“”«»]\s*([A-Za-z_][\w\-]*)\s*[\"'`“”«»]")


@attrs.frozen(kw_only=True)
class Words:
    """The heading and connective words of one language."""

    head: str  # paragraph heading, kept as it always was (the console and the brain read it)
    roles: dict[str, str]  # paragraph labels
    said: dict[str, str]  # bullet / JSON connectives
    asked: str
    earlier: str
    nothing: str


ENGLISH: Final = Words(
    head="Summary of the conversation so far.",
    roles={"user": "the user", "assistant": "the assistant"},
    said={"user": "The user said:", "assistant": "The assistant answered:"},
    asked="The user asked:",
    earlier="Earlier:",
    nothing="Nothing to summarise.",
)
FRENCH: Final = Words(
    head="Résumé de la conversation.",
    roles={"user": "l'utilisateur", "assistant": "l'assistant"},
    said={"user": "L'utilisateur a dit :", "assistant": "L'assistant a répondu :"},
    asked="L'utilisateur a demandé :",
    earlier="Auparavant :",
    nothing="Rien à résumer.",
)
_NOTHING: Final = (ENGLISH.nothing, FRENCH.nothing)
_HEADS: Final = (FRENCH.head, ENGLISH.head, FRENCH.head.rstrip(".") + " :", ENGLISH.head.rstrip(".") + ":")


@attrs.frozen(kw_only=True)
class Request:
    """What the instructions ask for."""

    words: Words
    style: str  # "paragraph" | "bullets" | "json"
    keys: tuple[str, ...] = ()
    lists: bool = True


def text_of(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def shorten(text: str, limit: int) -> str:
    """At most ``limit`` characters, cut at a word, with an ellipsis when cut."""
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + "…"


def first_sentence(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    match = re.match(r"(.+?[.!?])(\s|$)", text)
    return shorten(match.group(1) if match else text, limit)


def _instruction_text(messages: list[dict[str, Any]]) -> str:
    """The instructions: lines of the messages that ask for a summary, minus the conversation's own lines."""
    lines = []
    for message in messages:
        text = text_of(message)
        if SUMMARY_WORDS.search(text):
            lines += [line for line in text.splitlines() if not ROLE_LINE.match(line)]
    return "\n".join(lines)


def read_request(messages: list[dict[str, Any]]) -> Request:
    instructions = _instruction_text(messages)
    words = FRENCH if _FRENCH.search(instructions) else ENGLISH
    if _JSON.search(instructions):
        keys: list[str] = []
        for segment in _KEYS.findall(instructions):
            keys += [k for k in _QUOTED.findall(segment) if k not in keys]
        lists = bool(re.search(r"\blists?\b|\barrays?\b", instructions, re.IGNORECASE))
        return Request(words=words, style="json", keys=tuple(keys) or ("summary",), lists=lists)
    if _BULLETS.search(instructions):
        return Request(words=words, style="bullets")
    return Request(words=words, style="paragraph")


def conversation_lines(messages: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(role, text) turns: role-labelled lines inside the prompt if any, else the non-instruction messages."""
    turns: list[tuple[str, str]] = []
    for message in messages:
        for line in text_of(message).splitlines():
            match = ROLE_LINE.match(line)
            if match and match.group(2).strip():
                turns.append((match.group(1).lower(), match.group(2).strip()))
    if turns:
        return turns
    return [
        (str(m.get("role", "user")), text_of(m))
        for m in messages
        if text_of(m).strip() and not SUMMARY_WORDS.search(text_of(m))
    ]


def _strip_heads(text: str) -> str:
    text = text.strip()
    changed = True
    while changed:
        changed = False
        for head in _HEADS:
            for candidate in (head, "- " + head):
                if text.startswith(candidate):
                    text, changed = text[len(candidate) :].strip(), True
    return text


def json_entries(data: dict[str, Any]) -> list[Any]:
    """The values of a JSON summary in order, a list value as its entries."""
    return [entry for value in data.values() for entry in (value if isinstance(value, list) else [value])]


def previous_pieces(text: str) -> tuple[list[str], dict[str, Any] | None]:
    """A previous summary as plain pieces (its bullets, JSON values or body), and its JSON object if it was one."""
    text = text.strip()
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if isinstance(data, dict):
            pieces: list[str] = []
            for entry in json_entries(data):
                if isinstance(entry, str) and entry.strip() and entry not in pieces:
                    pieces.append(entry.strip())
            return pieces, data
    body = _strip_heads(text)
    if text.startswith("- "):  # bullets (one line each, or collapsed onto one line by the client)
        pieces = [p.strip() for p in re.split(r"(?:^|\s)- ", body)]
    else:
        pieces = [body]
    return [p for p in pieces if p and p not in _NOTHING], None


def summarise(messages: list[dict[str, Any]]) -> str:
    """The summary the instructions in `messages` ask for, of the conversation they carry."""
    request = read_request(messages)
    previous: list[str] = []
    previous_json: dict[str, Any] | None = None
    turns: list[tuple[str, str]] = []
    for role, text in conversation_lines(messages):
        if role == "tool" or (role == "assistant" and text.startswith("(called the tool")):
            continue
        if role == "system":  # an earlier summary, folded in first
            pieces, data = previous_pieces(text)
            previous += pieces
            previous_json = data if data is not None else previous_json
            continue
        sentence = first_sentence(text)
        if sentence:
            turns.append((role, sentence))
    if request.style == "json":
        return _json_summary(request, previous, previous_json, turns)
    if request.style == "bullets":
        return _bullet_summary(request.words, previous, turns)
    return _paragraph_summary(request.words, previous, turns)


def _paragraph_summary(words: Words, previous: list[str], turns: list[tuple[str, str]]) -> str:
    pieces = [shorten(" ".join(previous), MAX_SUMMARY_CHARS // 2)] if previous else []
    pieces += [f"{words.roles.get(role, role)}: {sentence}" for role, sentence in turns]
    if not pieces:
        return f"{words.head} {words.nothing}"
    return shorten(f"{words.head} " + " ".join(pieces), MAX_SUMMARY_CHARS)


def _bullet_summary(words: Words, previous: list[str], turns: list[tuple[str, str]]) -> str:
    kept: list[str] = []
    budget = MAX_SUMMARY_CHARS // 2
    for piece in reversed(previous):  # the newest earlier points first, within half the budget
        piece = shorten(piece, 160)
        if len(piece) + 3 > budget:
            break
        kept.insert(0, piece)
        budget -= len(piece) + 3
    lines = [words.head, *kept, *(f"{words.said.get(role, role + ':')} {sentence}" for role, sentence in turns)]
    if len(lines) == 1:
        lines.append(words.nothing)
    while sum(len(line) + 3 for line in lines) > MAX_SUMMARY_CHARS and len(lines) > 2:
        del lines[-1]
    return "\n".join(f"- {line}" for line in lines)


def _key_kind(key: str) -> str:
    name = key.lower()
    if re.search(r"topic|subject|theme|sujet", name):
        return "topics"
    if re.search(r"request|question|ask|todo|pending|open|demande", name):
        return "requests"
    if re.search(r"summary|résumé|resume|text|paragraph|overview", name):
        return "summary"
    return "record"


def _json_summary(
    request: Request, previous: list[str], previous_json: dict[str, Any] | None, turns: list[tuple[str, str]]
) -> str:
    words = request.words
    answered_up_to = max((i for i, (role, _) in enumerate(turns) if role == "assistant"), default=-1)
    fresh = {
        "topics": [shorten(s.rstrip(".!?"), 60) for r, s in turns if r == "user"],
        "requests": [f"{words.asked} {s}" for i, (r, s) in enumerate(turns) if r == "user" and i > answered_up_to],
        "record": [f"{words.said.get(r, r + ':')} {s}" for r, s in turns],
    }
    result: dict[str, Any] = {}
    for key in request.keys:
        kind = _key_kind(key)
        if kind == "summary":
            result[key] = _paragraph_summary(words, previous, turns)
            continue
        earlier: list[str] = []
        if kind == "requests":
            pass  # what was open then is what the turns summarised now answered (or asked again)
        elif previous_json is not None and key in previous_json:
            old = previous_json[key]
            earlier = [str(e) for e in (old if isinstance(old, list) else [old]) if str(e).strip()]
        elif kind == "record" and previous and not (previous_json and set(previous_json) & set(request.keys)):
            earlier = [f"{words.earlier} {shorten(' '.join(previous), 300)}"]  # a summary of another shape
        entries = [shorten(e, 160) for e in [*earlier[-6:], *fresh[kind]]]
        result[key] = entries if request.lists else " ".join(entries)
    text = json.dumps(result, ensure_ascii=False)
    while len(text) > MAX_JSON_CHARS and any(isinstance(v, list) and len(v) > 1 for v in result.values()):
        longest = max((k for k, v in result.items() if isinstance(v, list)), key=lambda k: len(result[k]))
        del result[longest][0]  # the oldest entry of the longest list goes first
        text = json.dumps(result, ensure_ascii=False)
    return text
