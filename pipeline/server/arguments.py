"""A tool call's arguments, read from the user's words according to the tool's JSON schema. Pure functions.

Each property of the tool's ``parameters`` schema is classified by its type, name and description, and filled
from the words only when they say it:

- an ``enum`` gets the value the words name ("in fahrenheit" -> ``"fahrenheit"``);
- an ``integer`` / ``number`` gets a number said in words or digits ("fifty dollars" -> 50), preferring the
  one next to a word of the parameter's name or description ("for four people" fills ``people``);
- a boolean gets yes/no words ("on", "off", "don't", ...);
- a string named or described as a place (location, city, country, where, ...) gets the place after "in",
  "for", "at", "to", "near" or "from" ("New York"); a time zone gets the place's IANA zone when it is a
  well-known city ("Tokyo" -> "Asia/Tokyo"), or "UTC"/"GMT" when said;
- a string named or described as a time gets the time phrase, numbers as digits ("in 5 minutes", "at 6",
  "tomorrow at 7 am");
- a message / note / text gets what follows "remind me to", "reminder to", "note that", ..., less the time;
- a query / search / topic gets the request less its leading verb; an id / code gets a token with digits;
  a recipient / contact / person gets who follows "to", "for", "call", ... ("to my brother");
- anything else is left out.

Nothing is invented: a required property the words do not fill is reported as missing (the brain asks for it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

import attrs

from pipeline.server.words import SMALL, numbers, words

_PLACE_WORDS: Final = frozenset("location city place where region country destination address town area state".split())
_ZONE_WORDS: Final = frozenset("timezone tz zone".split())
_TIME_WORDS: Final = frozenset("time when date at delay due schedule datetime deadline".split())
_MESSAGE_WORDS: Final = frozenset("message text note title task content reminder subject body what".split())
_QUERY_WORDS: Final = frozenset("query search q term terms keywords topic question prompt".split())
_ID_WORDS: Final = frozenset("id identifier code reference ref number".split())
_PERSON_WORDS: Final = frozenset("recipient contact person who payee attendee name to".split())
_NOT_PLACE: Final = frozenset(
    "the a an my your our this that today tomorrow tonight now right please and or in at on for with by about "
    "morning afternoon evening night minutes minute hours hour seconds second days day weeks week noon midnight "
    "degrees celsius fahrenheit it me us him her them general like".split()
)
_UNITS: Final = {"second": "seconds", "minute": "minutes", "hour": "hours", "day": "days", "week": "weeks"}
_DAY_WORDS: Final = ("today", "tomorrow", "tonight")
_PARTS: Final = {"morning": "am", "afternoon": "pm", "evening": "pm", "night": "pm"}
# IANA zones of some well-known cities, for time-zone parameters ("what time is it in Tokyo").
ZONES: Final[Mapping[str, str]] = {
    "london": "Europe/London", "paris": "Europe/Paris", "berlin": "Europe/Berlin", "madrid": "Europe/Madrid",
    "rome": "Europe/Rome", "amsterdam": "Europe/Amsterdam", "moscow": "Europe/Moscow", "dublin": "Europe/Dublin",
    "new york": "America/New_York", "boston": "America/New_York", "washington": "America/New_York",
    "chicago": "America/Chicago", "denver": "America/Denver", "los angeles": "America/Los_Angeles",
    "san francisco": "America/Los_Angeles", "seattle": "America/Los_Angeles", "toronto": "America/Toronto",
    "mexico city": "America/Mexico_City", "sao paulo": "America/Sao_Paulo", "tokyo": "Asia/Tokyo",
    "beijing": "Asia/Shanghai", "shanghai": "Asia/Shanghai", "hong kong": "Asia/Hong_Kong",
    "singapore": "Asia/Singapore", "mumbai": "Asia/Kolkata", "delhi": "Asia/Kolkata", "dubai": "Asia/Dubai",
    "sydney": "Australia/Sydney", "melbourne": "Australia/Melbourne", "auckland": "Pacific/Auckland",
    "cairo": "Africa/Cairo", "johannesburg": "Africa/Johannesburg", "seoul": "Asia/Seoul",
}  # fmt: skip


@attrs.frozen
class Filled:
    """Arguments read from the words, and the required properties they did not fill (in schema order)."""

    arguments: dict[str, Any]
    missing: tuple[str, ...] = ()


def name_words(name: str) -> list[str]:
    """``"get_current_time"`` / ``"partySize"`` -> its lowercase words."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    return [w for w in re.split(r"[^A-Za-z0-9]+", spaced.lower()) if w]


def kind_of(name: str, schema: Mapping[str, Any]) -> str:
    """How a property is filled: enum, number, boolean, zone, place, time, message, query, id, person, other."""
    if schema.get("enum"):
        return "enum"
    kind = schema.get("type")
    if kind in ("integer", "number"):
        return "number"
    if kind == "boolean":
        return "boolean"
    if kind not in (None, "string"):
        return "other"
    own = set(name_words(name))
    described = set(words(str(schema.get("description", ""))))
    if own & _ZONE_WORDS or "timezone" in described or "time zone" in str(schema.get("description", "")).lower():
        return "zone"
    for kind_name, vocabulary in (("place", _PLACE_WORDS), ("time", _TIME_WORDS), ("message", _MESSAGE_WORDS),
                                  ("query", _QUERY_WORDS), ("id", _ID_WORDS), ("person", _PERSON_WORDS)):  # fmt: skip
        if own & vocabulary:
            return kind_name
    if described & {"location", "city", "place", "country", "where"}:
        return "place"
    if described & {"when", "time"}:
        return "time"
    return "other"


# --- places ----------------------------------------------------------------------------------------------

_TOKENS = re.compile(r"[A-Za-z][A-Za-z'.]*|\d[\d:.]*|[^\sA-Za-z\d]")


def place(text: str, exclude: Sequence[str] = ()) -> str | None:
    """The place named after in/for/at/to/near/from ("what is the weather like in New York" -> "New York")."""
    tokens = _TOKENS.findall(text.replace("-", " "))
    skip = _NOT_PLACE | {e.lower() for e in exclude}
    for i, token in enumerate(tokens[:-1]):
        if token.lower() not in ("in", "for", "at", "to", "near", "from"):
            continue
        found: list[str] = []
        for word in tokens[i + 1 :]:
            bare = word.strip(".'")
            if not bare.isalpha() or bare.lower() in skip or bare.lower() in SMALL:
                break
            found.append(bare)
        if found:
            return " ".join(w if w[:1].isupper() and not w.isupper() else w.capitalize() for w in found)
    return None


def zone(text: str) -> str | None:
    lowered = " ".join(words(text))
    for label in ("utc", "gmt"):
        if re.search(rf"\b{label}\b", lowered):
            return label.upper()
    where = place(text)
    if where is None:
        return None
    return ZONES.get(where.lower(), where)


# --- times -----------------------------------------------------------------------------------------------


@attrs.frozen
class TimePhrase:
    text: str  # normalised: "in 5 minutes", "at 6", "tomorrow at 7 am"
    spans: tuple[tuple[int, int], ...]  # token ranges of ``words(text)`` it was read from


def _number_at(tokens: Sequence[str], start: int) -> tuple[str, int] | None:
    """(digits, end) of a number or clock time starting at ``start``."""
    if start < len(tokens) and re.fullmatch(r"\d+(?::\d\d)?", tokens[start]):
        return tokens[start].removesuffix(":00"), start + 1
    found = next((n for n in numbers(tokens[start:]) if n.start == 0), None)
    if found is None or not found.integral:
        return None
    return str(int(found.value)), start + found.end


def time_phrase(text: str) -> TimePhrase | None:
    """A relative or clock time in ``text`` ("in five minutes" -> "in 5 minutes"; "at six" -> "at 6")."""
    tokens = words(text)
    spans: list[tuple[int, int]] = []
    relative = clock = day = None
    for i, token in enumerate(tokens):
        if token == "in" and relative is None:
            amount = ("1", i + 2) if tokens[i + 1 : i + 2] in (["a"], ["an"]) else _number_at(tokens, i + 1)
            if amount and amount[1] < len(tokens):
                unit = tokens[amount[1]]
                unit = _UNITS.get(unit, unit)
                if unit in _UNITS.values():
                    relative = f"in {amount[0]} {unit.removesuffix('s') if amount[0] == '1' else unit}"
                    spans.append((i, amount[1] + 1))
        elif token == "at" and clock is None and i + 1 < len(tokens):
            if tokens[i + 1] in ("noon", "midnight"):
                clock = f"at {tokens[i + 1]}"
                spans.append((i, i + 2))
                continue
            amount = _number_at(tokens, i + 1)
            if amount is not None:
                end = amount[1]
                suffix = ""
                if end < len(tokens) and tokens[end] in ("am", "pm"):
                    suffix, end = f" {tokens[end]}", end + 1
                clock = f"at {amount[0]}{suffix}"
                spans.append((i, end))
        elif token in _DAY_WORDS and day is None:
            day = token
            end = i + 1
            if token != "tonight" and end < len(tokens) and tokens[end] in _PARTS:
                end += 1
            spans.append((i, end))
    if relative:
        return TimePhrase(relative, tuple(spans))
    if clock:
        part = next((_PARTS[t] for t in tokens if t in _PARTS), "")
        if part and not clock.endswith(("am", "pm", "noon", "midnight")):
            clock = f"{clock} {part}"
        return TimePhrase(f"{day} {clock}" if day else clock, tuple(spans))
    if day:
        return TimePhrase(day, tuple(spans))
    return None


# --- numbers, enums, booleans ----------------------------------------------------------------------------


def _stem(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") else word


def number(text: str, name: str, schema: Mapping[str, Any]) -> float | int | None:
    tokens = words(text)
    found = numbers(tokens)
    if not found:
        return None
    hints = {_stem(w) for w in name_words(name) + words(str(schema.get("description", ""))) if len(w) > 2}
    timed = time_phrase(text)
    in_time = {i for start, end in (timed.spans if timed else ()) for i in range(start, end)}

    def near_hint(n: Any) -> bool:
        around = tokens[max(0, n.start - 1) : n.start] + tokens[n.end : n.end + 1]
        return any(_stem(w) in hints for w in around)

    chosen = next((n for n in found if near_hint(n)), None)
    if chosen is None:
        chosen = next((n for n in found if n.start not in in_time), None)
    if chosen is None:
        return None
    value = chosen.value
    for bound, ok in (("minimum", value >= schema.get("minimum", value)), ("maximum", value <= schema.get("maximum", value))):
        if bound in schema and not ok:
            return None
    return int(value) if schema.get("type") == "integer" or chosen.integral else value


# Other words for common enum values (an enum of currency codes is named in words).
_ALIASES: Final = {"usd": ("dollar", "$"), "eur": ("euro",), "gbp": ("pound",), "jpy": ("yen",), "celsius": ("centigrade",)}


def enum_value(text: str, values: Sequence[Any]) -> Any:
    """The enum value the words name (all of its words, or a common alias); the longest such value wins."""
    said = {_stem(w) for w in words(text)}
    best: Any = None
    best_length = 0
    for value in values:
        parts = [_stem(w) for w in name_words(str(value))]
        named = bool(parts) and all(p in said for p in parts)
        named = named or any(_stem(alias) in said for alias in _ALIASES.get(str(value).lower(), ()))
        if named and len(parts) > best_length:
            best, best_length = value, len(parts)
    return best


def boolean(text: str) -> bool | None:
    said = set(words(text))
    if said & {"no", "not", "off", "false", "disable", "don't", "never", "without"}:
        return False
    if said & {"yes", "on", "true", "enable", "please", "with"}:
        return True
    return None


# --- free text -------------------------------------------------------------------------------------------

_MESSAGE_LEAD = re.compile(
    r"\b(?:remind(?:er)?s?(?: me)?(?: to| about| that| of| for)?|note(?: that)?|saying|say|message(?: saying)?|"
    r"write(?: down)?|tell \w+ that)\s+(.+)",
    re.IGNORECASE,
)
_REQUEST_LEAD = re.compile(
    r"^(?:please |can you |could you |would you |i want to |i would like to |i'd like to )*"
    r"(?:find|search(?: for)?|look up|look for|show(?: me)?|get(?: me)?|tell me about|what is|who is)\s+(.+)",
    re.IGNORECASE,
)


def _without_time(text: str) -> str:
    timed = time_phrase(text)
    if timed is None:
        return text
    tokens = words(text)
    drop = {i for start, end in timed.spans for i in range(start, end)}
    return " ".join(t for i, t in enumerate(tokens) if i not in drop)


def message(text: str, *, bare: bool = False) -> str | None:
    """What a reminder or note should say; ``bare``: the whole text is the message (an answer to "what?")."""
    match = _MESSAGE_LEAD.search(text)
    if match is None and not bare:
        return None
    body = _without_time(match.group(1) if match else text)
    body = re.sub(r"^(?:to|that|about)\s+", "", body.strip(" .?!,"))
    return body or None


def query(text: str) -> str | None:
    match = _REQUEST_LEAD.search(text.strip())
    body = (match.group(1) if match else text).strip(" .?!,")
    return body or None


_PERSON = re.compile(r"\b(?:to|for|with|call|text|email|pay)\s+((?:my |our |the )?[A-Za-z]+(?: [A-Z][a-z]+)?)")


def person(text: str) -> str | None:
    """Who: "send fifty dollars to my brother" -> "my brother", "call John Smith" -> "John Smith"."""
    for match in _PERSON.finditer(text):
        found = match.group(1).strip()
        if found.split()[-1].lower() not in _NOT_PLACE and found.split()[-1].lower() not in SMALL:
            return found
    return None


def identifier(text: str) -> str | None:
    tokens = words(text)
    found: list[str] = _TOKENS.findall(text)
    digits = next((t for t in found if any(c.isdigit() for c in t) and ":" not in t), None)
    if digits is not None:
        return digits.strip(".")
    spelt = [str(SMALL[t]) for t in tokens if t in SMALL and SMALL[t] < 10]
    return "".join(spelt) if len(spelt) >= 3 else None


# --- the schema walk -------------------------------------------------------------------------------------


def fill(name: str, schema: Mapping[str, Any], text: str, *, answer: bool = False) -> Any:
    """The value of one property from ``text``, or None if the words do not give it."""
    kind = kind_of(name, schema)
    if kind == "enum":
        return enum_value(text, schema["enum"])
    if kind == "number":
        return number(text, name, schema)
    if kind == "boolean":
        return boolean(text)
    if kind == "place":
        found = place(text, exclude=[str(v) for v in schema.get("enum", ())])
        if found is None and answer:
            bare = [w.strip(".") for w in _TOKENS.findall(text) if w.strip(".").isalpha() and w.lower() not in _NOT_PLACE]
            found = " ".join(w.capitalize() if w.islower() else w for w in bare) or None
        return found
    if kind == "zone":
        return zone(text if not answer else f"in {text}")
    if kind == "time":
        timed = time_phrase(text)
        return timed.text if timed else None
    if kind == "message":
        return message(text, bare=answer)
    if kind == "query":
        return query(text)
    if kind == "id":
        return identifier(text)
    if kind == "person":
        return person(text) or (text.strip(" .?!,") or None if answer else None)
    return None


def fill_arguments(tool: Mapping[str, Any], text: str, answer: str | None = None) -> Filled:
    """Arguments for ``tool`` from the request ``text`` (and an ``answer`` to a question about what was missing)."""
    parameters = tool.get("parameters")
    parameters = parameters if isinstance(parameters, Mapping) else {}
    properties = parameters.get("properties")
    properties = properties if isinstance(properties, Mapping) else {}
    required = [r for r in parameters.get("required") or () if isinstance(r, str)]
    arguments: dict[str, Any] = {}
    for name, schema in properties.items():
        schema = schema if isinstance(schema, Mapping) else {}
        value = fill(name, schema, text)
        if value is None and answer:
            value = fill(name, schema, answer, answer=True)
        if value is None and name in required and "default" in schema:
            value = schema["default"]
        if value is not None:
            arguments[name] = value
    missing = tuple(name for name in required if name not in arguments)
    return Filled(arguments, missing)
