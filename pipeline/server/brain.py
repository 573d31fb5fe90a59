"""The server's model stand-in: small, deterministic replies and tool calls chosen from the words heard.

`decide(context)` looks at the response's context (the conversation or the response's own input):

1. after a `function_call_output` it speaks a sentence built from that output's JSON;
2. if the user's words ask for one of the tools (by a word of its name or its description, e.g. weather,
   time, remind) it calls it with arguments filled from the words and valid against the tool's schema
   (required fields best effort); `tool_choice` "none" / "required" / a named function are honoured;
3. "tell me a story" gets a long canned story (about 2.5 minutes spoken, so the token window grows), "a short
   story" a short one (about 55 seconds: streamed in under 3 s at the default pacing, so a barge-in a few
   seconds into it cuts only what was played, never what was generated: the demo's token counts repeat);
4. "what did we talk about first" / "what did the conversation start with" answers with the first 16 words of
   the system summary at the root (or the first user words), "what language ..." names the summary's language;
5. a greeting or a thank-you gets a greeting or a goodbye; otherwise it restates briefly what it heard.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any, Final

import attrs

STORY: Final = (
    "Once upon a time, in a small harbour town at the edge of a cold grey sea, there lived a lighthouse "
    "keeper named Elsa. Every evening she climbed the one hundred and twelve steps of the tower, polished "
    "the great brass lamp, and watched the fishing boats come home through the fog. The town depended on "
    "her light, and she had never once let it go dark. One winter night a storm rolled in from the north. "
    "The wind howled through the shutters, the rain came sideways, and the waves broke over the harbour "
    "wall. Just as the last boat was due, the power failed and the lamp flickered out. Elsa did not panic. "
    "She remembered the old oil lantern her grandfather had kept in the cellar, and the mirror he had "
    "used before the town ever had electricity. She ran down the steps, found the lantern wrapped in an "
    "old sail, filled it with oil, and carried it back up the tower while the wind tried to tear the door "
    "from its hinges. At the top she set the lantern in front of the great lens and struck a match. The "
    "first match blew out. So did the second. With the third she shielded the flame with her coat, and "
    "the wick caught. The lens gathered the small yellow flame and threw it far across the water, weaker "
    "than the electric lamp but steady and bright enough to see. Out in the dark, a young fisherman named "
    "Tomas had been steering in circles, unable to find the harbour mouth. When he saw the light he "
    "turned his boat toward it, rode the swell between the rocks, and came safely into the harbour. The "
    "next morning the whole town gathered at the foot of the lighthouse. They brought bread, soup and a "
    "new box of matches, and the children asked Elsa how she had known what to do. She smiled and told "
    "them that a light is not really about the lamp. It is about someone choosing to keep watch, night "
    "after night, so that others can find their way home. Years later, when Elsa grew too old to climb "
    "the steps, it was Tomas who took her place, and every evening he polished the brass lamp and kept "
    "the old oil lantern ready, just in case. And on stormy nights, people in the town still say, you "
    "can see two lights in the tower, the bright electric beam and beside it a small steady yellow "
    "flame, keeping watch together. The end."
)

SHORT_STORY: Final = (
    "Once upon a time, a lighthouse keeper named Elsa lived at the edge of a cold grey sea. Every evening she "
    "climbed the hundred steps of the tower and polished the great brass lamp. One stormy night the power "
    "failed and the lamp went dark, just as the last fishing boat was coming home. Elsa did not panic. She "
    "remembered her grandfather's old oil lantern, found it in the cellar, and carried it up the tower while "
    "the wind tried to tear the door from its hinges. The first match blew out, and so did the second. With "
    "the third she shielded the flame with her coat, and the wick caught. The lens gathered the small yellow "
    "light and threw it far across the water. Out in the dark, a young fisherman named Tomas saw it, turned "
    "his boat toward it, and came safely into the harbour. The next morning the whole town brought her bread "
    "and soup, and Elsa told the children that a light is not really about the lamp: it is about someone "
    "choosing to keep watch, so that others can find their way home. The end."
)

ABOUT_START_WORDS: Final = 16  # of the root summary, read back when asked what came first

_STOPWORDS: Final = frozenset(
    "a an the of for to in on at by with and or is are be get set current me my your it its this that "
    "what whats how please can could would you i we do does give tell show from as about".split()
)
_FRENCH: Final = frozenset("le la les des et est une un du que qui pour dans sur pas au aux avec résumé".split())


@attrs.frozen
class Say:
    text: str


@attrs.frozen
class CallTool:
    name: str
    arguments: dict[str, Any]


Decision = Say | CallTool


@attrs.frozen(kw_only=True)
class Turn:
    """One item of the context as the brain sees it."""

    kind: str  # "message" | "function_call" | "function_call_output"
    role: str = ""
    text: str = ""
    name: str = ""


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def _stem(word: str) -> str:
    return word[:5]


def _tool_score(tool: dict[str, Any], words: Sequence[str]) -> int:
    stems = {_stem(w) for w in words if w not in _STOPWORDS and len(w) > 2}
    name_words = [w for w in re.split(r"[_\W]+", str(tool.get("name", "")).lower()) if w]
    score = 3 * sum(1 for w in name_words if w not in _STOPWORDS and _stem(w) in stems)
    description = [w for w in _words(str(tool.get("description", ""))) if w not in _STOPWORDS and len(w) > 3]
    score += sum(1 for w in set(description) if _stem(w) in stems)
    return score


def _place(text: str) -> str | None:
    match = re.search(r"\b(?:in|for|at)\s+([A-Za-z][A-Za-z .'-]*)", text)
    if not match:
        return None
    words = []
    for word in match.group(1).split():
        if word.lower() in _STOPWORDS or word.lower() in ("right", "now", "today", "tomorrow", "minutes"):
            break
        words.append(word.strip(".,'"))
    return " ".join(w.capitalize() for w in words) or None


def _when(text: str) -> str | None:
    match = re.search(
        r"\b(in \w+ (?:seconds?|minutes?|hours?|days?)|at \d[\w: ]*|tomorrow(?: at [\w: ]+)?|tonight)", text.lower()
    )
    return match.group(1).strip() if match else None


def _reminder_message(text: str) -> str:
    match = re.search(r"\bremind(?:er)?(?: me)?(?: to| about| that)?\s+(.*)", text, re.IGNORECASE)
    message = match.group(1) if match else text
    when = _when(message)
    if when:
        message = message.lower().replace(when, "")
    return message.strip(" .?!") or text.strip(" .?!")


def _fill(name: str, schema: dict[str, Any], text: str, required: bool) -> Any:
    kind = schema.get("type")
    lowered = text.lower()
    if schema.get("enum"):
        for value in schema["enum"]:
            if str(value).lower() in lowered:
                return value
        return schema["enum"][0] if required else None
    if kind in ("integer", "number"):
        match = re.search(r"-?\d+(?:\.\d+)?", text)
        if match:
            return int(float(match.group())) if kind == "integer" else float(match.group())
        return (schema.get("minimum", 1) if kind == "integer" else float(schema.get("minimum", 1))) if required else None
    if kind == "boolean":
        return (not any(w in lowered.split() for w in ("no", "not", "off", "false"))) if required else None
    if kind == "array":
        return [] if required else None
    if kind == "object":
        return {} if required else None
    key = name.lower()
    if any(k in key for k in ("location", "city", "place", "where", "region", "country")):
        place = _place(text)
        return place or ("unknown" if required else None)
    if any(k in key for k in ("timezone", "zone", "tz")):
        place = _place(text)
        return place or ("UTC" if required else None)
    if any(k in key for k in ("time", "when", "date", "at", "delay")):
        return _when(text) or ("in 5 minutes" if required else None)
    if any(k in key for k in ("message", "text", "note", "title", "what", "task", "content", "reminder")):
        return _reminder_message(text)
    return text.strip() if required else None


def tool_arguments(tool: dict[str, Any], text: str) -> dict[str, Any]:
    """Arguments for `tool` from the user's words, valid against its JSON schema where possible."""
    parameters = tool.get("parameters") if isinstance(tool.get("parameters"), dict) else {}
    assert isinstance(parameters, dict)
    properties = parameters.get("properties") or {}
    required = set(parameters.get("required") or [])
    arguments: dict[str, Any] = {}
    for name, schema in properties.items():
        value = _fill(name, schema if isinstance(schema, dict) else {}, text, name in required)
        if value is not None:
            arguments[name] = value
    return arguments


def _speak_output(turns: Sequence[Turn]) -> str:
    output = turns[-1].text
    call = next((t for t in reversed(turns[:-1]) if t.kind == "function_call"), None)
    try:
        data = json.loads(output)
    except ValueError:
        data = output
    tool = call.name if call else "the tool"
    if not isinstance(data, dict):
        return f"The {tool.replace('_', ' ')} result is: {data}."
    if "error" in data:
        return f"Sorry, {tool.replace('_', ' ')} failed: {data['error']}."
    if "temperature" in data or "condition" in data:
        place = data.get("location", "there")
        parts = [str(data[k]) for k in ("condition", "temperature") if k in data]
        return f"The weather in {place} is " + " at ".join(parts) + "."
    if "time" in data and ("date" in data or "timezone" in data):
        zone = f" in {data['timezone']}" if data.get("timezone") else ""
        return f"It is {data['time']}{zone}" + (f" on {data['date']}." if data.get("date") else ".")
    if "message" in data:
        return f"Done. {data['message']}".rstrip(".") + "."
    pairs = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in data.items())
    return f"Here is what {tool.replace('_', ' ')} returned: {pairs}."


def _about_start(turns: Sequence[Turn]) -> str:
    if turns and turns[0].kind == "message" and turns[0].role == "system" and turns[0].text:
        words = turns[0].text.split()
        gist = " ".join(words[:ABOUT_START_WORDS]) + ("…" if len(words) > ABOUT_START_WORDS else "")
        return f"The conversation started with this: {gist}"
    first_user = next((t for t in turns if t.role == "user" and t.text), None)
    if first_user:
        return f"You first said: {first_user.text}"
    return "We have not talked about anything yet."


def _language(turns: Sequence[Turn]) -> str:
    root = turns[0] if turns and turns[0].role == "system" else None
    if root is None:
        return "We have been speaking English."
    words = _words(root.text)
    french = sum(1 for w in words if w in _FRENCH)
    is_french = "résumé" in root.text.lower() or (bool(words) and french * 8 >= len(words))
    language = "French" if is_french else "English"
    return f"The summary was in {language}."


def decide(turns: Sequence[Turn], tools: Sequence[dict[str, Any]], tool_choice: Any) -> Decision:
    """What to answer for this context (see the module docstring)."""
    if turns and turns[-1].kind == "function_call_output":
        return Say(_speak_output(turns))
    last_user = next((t for t in reversed(turns) if t.kind == "message" and t.role == "user"), None)
    heard = last_user.text.strip() if last_user else ""
    words = _words(heard)
    functions = [t for t in tools if t.get("type", "function") == "function" and t.get("name")]
    if tool_choice != "none" and functions:
        forced = None
        if isinstance(tool_choice, dict) and tool_choice.get("type") == "function":
            forced = next((t for t in functions if t["name"] == tool_choice.get("name")), None)
        scored = sorted(((_tool_score(t, words), i, t) for i, t in enumerate(functions)), key=lambda s: (-s[0], s[1]))
        best = forced or (scored[0][2] if scored[0][0] >= 3 or tool_choice == "required" else None)
        if best is not None:
            return CallTool(name=str(best["name"]), arguments=tool_arguments(best, heard))
    joined = " ".join(words)
    if "story" in words:
        return Say(SHORT_STORY if "short" in words else STORY)
    if re.search(r"\b(first|start|started|begin|began|beginning)\b", joined) and re.search(
        r"\b(talk|talked|conversation|discuss|discussed|said|say)\b", joined
    ):
        return Say(_about_start(turns))
    if "language" in words and ("summary" in words or "summarised" in words or "summarized" in words):
        return Say(_language(turns))
    if not words:
        return Say("Sorry, I did not catch that. Could you say it again?")
    if words[0] in ("hello", "hi", "hey") and len(words) <= 3:
        return Say("Hello! How can I help you today?")
    if words[0] in ("thank", "thanks") or "that is all" in joined:
        return Say("You are welcome. Goodbye!")
    return Say(f"You said: {heard.rstrip('.?!')}.")
