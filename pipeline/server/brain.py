"""The server's model stand-in: small, deterministic replies and tool calls chosen from the words heard.

`decide(turns, tools, tool_choice)` looks at the response's context (the conversation or the response's own
input) and answers, in this order:

1. when function call outputs follow the latest user message, they answer it: it speaks a sentence built
   from the last one's JSON, whoever made the items (its own calls, or a client re-seeding a conversation
   whose call already ran) and whatever came after them (an answer cut short): it does not call again;
2. tools: each declared function is scored against the user's last words: a word of its name counts 2, a word
   of its description 1 (after dropping filler words, number words and plural / -ing / -er endings, with a few
   synonyms such as rain, hot, forecast -> weather and date -> time), and once a word fits, each required
   parameter the words fill counts 1. The best tool with a score of at least 2 is called (ties go to the one
   declared first). Its arguments are read from the words by the tool's JSON schema
   (`pipeline.server.arguments`: places, enum values, numbers, times, messages); a required parameter the
   words do not give is asked for in a spoken question instead, and the answer to that question is read
   together with the request on the next turn. `tool_choice` "none" / "required" / a named function are
   honoured;
3. "tell me a story" gets a long canned story (about 2.5 minutes spoken, so the token window grows), "a short
   story" a short one (about 55 seconds: streamed in under 3 s at the default pacing, so a barge-in a few
   seconds into it cuts only what was played, never what was generated: the demo's token counts repeat);
4. "what did we talk about first" / "what did the conversation start with" answers with the first 16 words of
   the system summary at the root (or the first user words), "what language ..." names the summary's language;
5. a greeting or a thank-you / goodbye gets a greeting or a goodbye;
6. a question or request that no tool fits, while tools are on offer, gets "Sorry, I don't know how to help
   with that."; anything else is restated briefly ("You said: ...").
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any, Final

import attrs

from pipeline.server.arguments import fill_arguments, kind_of, name_words
from pipeline.server.summary import json_entries
from pipeline.server.words import SMALL

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
    call_id: str = ""  # of a function call or its output
    arguments: str = ""  # of a function call: its JSON text


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def _stem(word: str) -> str:
    """A crude stem, the same for the request and the tools: reminders/reminder/remind, forecasts/forecast."""
    for ending in ("ers", "ing", "er", "ed"):
        if word.endswith(ending) and len(word) - len(ending) >= 4:
            return word[: -len(ending)]
    return word[:-1] if len(word) > 5 and word.endswith("s") else word


# Words people use for what a tool's name says (each maps to a name word it stands for).
_SYNONYMS: Final = {
    **dict.fromkeys("rain raining rainy sunny snow snowing hot cold warm temperature forecast windy umbrella".split(), "weather"),
    **dict.fromkeys("clock o'clock date day".split(), "time"),
    "remember": "remind",
}


def _content(words: Sequence[str]) -> set[str]:
    return {_stem(w) for w in words if w not in _STOPWORDS and w not in SMALL and len(w) > 2}


def tool_score(tool: dict[str, Any], words: Sequence[str], heard: str) -> int:
    """How well the request fits the tool: 2 per word of its name said (or a synonym of one), 1 per word of
    its description, and, once some word fits, 1 per required parameter the words fill."""
    said = _content(words) | {_stem(_SYNONYMS[w]) for w in words if w in _SYNONYMS}
    name = _content(name_words(str(tool.get("name", ""))))
    described = _content(_words(str(tool.get("description", "")))) - name
    score = 2 * len(said & name) + len(said & described)
    if score:
        parameters = tool.get("parameters") if isinstance(tool.get("parameters"), dict) else {}
        required = set((parameters or {}).get("required") or ())
        score += len(required & set(fill_arguments(tool, heard).arguments))
    return score


def functions_of(tools: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The named function tools among `tools` (a tool without a "type" is a function)."""
    return [t for t in tools if t.get("type", "function") == "function" and t.get("name")]


def pick_tool(functions: Sequence[dict[str, Any]], heard: str) -> tuple[int, dict[str, Any]] | None:
    """(score, tool) of the function that best fits the words `heard` (the first declared on a tie), or None if
    there are none."""
    words = _words(heard)
    scored = [(tool_score(t, words, heard), -i, t) for i, t in enumerate(functions)]
    if not scored:
        return None
    score, _, tool = max(scored, key=lambda s: (s[0], s[1]))
    return score, tool


def tool_arguments(tool: dict[str, Any], text: str) -> dict[str, Any]:
    """Arguments for `tool` from the user's words, by its JSON schema (`pipeline.server.arguments`)."""
    return fill_arguments(tool, text).arguments


def _purpose(tool: dict[str, Any]) -> str:
    """What the tool does, as a phrase after "To": its description's first sentence, or its name's words."""
    description = str(tool.get("description") or "").strip().split(". ")[0].rstrip(".")
    if description:
        return description[0].lower() + description[1:]
    return " ".join(name_words(str(tool.get("name", ""))))


def _ask_phrase(name: str, schema: dict[str, Any]) -> str:
    kind = kind_of(name, schema if isinstance(schema, dict) else {})
    label = " ".join(name_words(name))
    if kind == "place":
        return "which place"
    if kind == "zone":
        return "which city or time zone"
    if kind == "time":
        return "when"
    if kind == "message":
        return "what it should say"
    if kind == "person":
        return "who"
    if kind == "enum":
        values = [str(v) for v in schema["enum"]]
        return f"which {label}: " + (", ".join(values[:-1]) + " or " + values[-1] if len(values) > 1 else values[0])
    if kind == "number":
        return f"the {label}"
    return f"the {label}"


def question(tool: dict[str, Any], missing: Sequence[str]) -> str:
    """The spoken question asking for the required parameters the words did not give."""
    properties = (tool.get("parameters") or {}).get("properties") or {}
    phrases = [_ask_phrase(name, properties.get(name) or {}) for name in missing]
    joined = phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + " and " + phrases[-1]
    return f"To {_purpose(tool)}, please tell me {joined}."


def _call_or_ask(tool: dict[str, Any], request: str, answer: str | None = None) -> Decision:
    filled = fill_arguments(tool, request, answer)
    if filled.missing:
        return Say(question(tool, filled.missing))
    return CallTool(name=str(tool["name"]), arguments=filled.arguments)


def _pending_question(turns: Sequence[Turn], functions: Sequence[dict[str, Any]]) -> tuple[dict[str, Any], str] | None:
    """(tool, request) if the assistant's last words asked for a missing argument of the user's request before."""
    messages = [t for t in turns if t.kind == "message" and t.role in ("user", "assistant")]
    if len(messages) < 3 or messages[-1].role != "user" or messages[-2].role != "assistant" or messages[-3].role != "user":
        return None
    asked, request = messages[-2].text.strip(), messages[-3].text.strip()
    if not asked.startswith("To ") or ", please tell me " not in asked:
        return None
    for tool in functions:
        filled = fill_arguments(tool, request)
        if filled.missing and question(tool, filled.missing) == asked:
            return tool, request
    return None


_QUESTION_STARTS: Final = frozenset(
    "what what's whats when where who whom whose why how which is are am was were can could will would do does "
    "did should shall may might".split()
)
_REQUEST_STARTS: Final = frozenset(
    "set book send turn play call order find check cancel add open close start show get give make buy translate "
    "remind wake read search look create schedule pay transfer switch put text email note write delete remove "
    "change update".split()
)


def _is_request(heard: str, words: Sequence[str]) -> bool:
    if heard.rstrip().endswith("?") or "please" in words:
        return True
    first = next((w for w in words if w not in ("ok", "okay", "so", "and", "hey", "um", "well")), "")
    return first in _QUESTION_STARTS or first in _REQUEST_STARTS or " ".join(words[:3]) in ("i want to", "i would like", "i need to")


def since_last_user(turns: Sequence[Turn]) -> list[Turn]:
    """The turns after the latest user message (every turn when there is none)."""
    for index in range(len(turns) - 1, -1, -1):
        if turns[index].kind == "message" and turns[index].role == "user":
            return list(turns[index + 1 :])
    return list(turns)


def answered(turns: Sequence[Turn]) -> bool:
    """Whether function call outputs follow the latest user message: then they answer it (no new call)."""
    return any(t.kind == "function_call_output" for t in since_last_user(turns))


def _speak_output(turns: Sequence[Turn]) -> str:
    """The last output after the latest user message, said with the name of its call."""
    since = since_last_user(turns)
    at = max(i for i, t in enumerate(since) if t.kind == "function_call_output")
    output = since[at]
    call = next((t for t in since if t.kind == "function_call" and t.call_id == output.call_id), None)
    if call is None:
        call = next((t for t in reversed(since[:at]) if t.kind == "function_call"), None)
    return speak_result(call.name if call else "", output.text)


def speak_result(name: str, output: str) -> str:
    """One sentence saying what the tool `name` returned (`output`, its JSON or plain text)."""
    try:
        data = json.loads(output)
    except ValueError:
        data = output
    tool = name or "the tool"
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


def _summary_prose(text: str) -> str:
    """A root summary as plain words, whatever style it was written in: a JSON object's values in order, bullet
    lines without their "- " markers, a paragraph as it is."""
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        parts = [str(entry) for entry in json_entries(data)]
        return " ".join(part.strip() for part in parts if part.strip())
    lines = (line.strip() for line in text.splitlines())
    return " ".join(line[2:].strip() if line.startswith("- ") else line for line in lines if line)


def _about_start(turns: Sequence[Turn]) -> str:
    if turns and turns[0].kind == "message" and turns[0].role == "system" and turns[0].text:
        words = _summary_prose(turns[0].text).split()
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
    prose = _summary_prose(root.text)
    words = _words(prose)
    french = sum(1 for w in words if w in _FRENCH)
    # the offline summariser's connectives ("l'utilisateur a dit :") mark French in every style, JSON included
    lowered = prose.lower()
    is_french = "résumé" in lowered or "utilisateur" in lowered or (bool(words) and french * 8 >= len(words))
    language = "French" if is_french else "English"
    return f"The summary was in {language}."


def decide(turns: Sequence[Turn], tools: Sequence[dict[str, Any]], tool_choice: Any) -> Decision:
    """What to answer for this context (see the module docstring)."""
    if answered(turns):
        return Say(_speak_output(turns))
    last_user = next((t for t in reversed(turns) if t.kind == "message" and t.role == "user"), None)
    heard = last_user.text.strip() if last_user else ""
    words = _words(heard)
    functions = functions_of(tools)
    offered = bool(functions) and tool_choice != "none"
    if offered:
        pending = _pending_question(turns, functions)
        if pending is not None:
            return _call_or_ask(pending[0], pending[1], answer=heard)
        forced = None
        if isinstance(tool_choice, dict) and tool_choice.get("type") == "function":
            forced = next((t for t in functions if t["name"] == tool_choice.get("name")), None)
        best = pick_tool(functions, heard)
        if forced is not None:
            return _call_or_ask(forced, heard)
        if best is not None and (best[0] >= 2 or tool_choice == "required"):
            return _call_or_ask(best[1], heard)
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
    if words[0] in ("thank", "thanks") or "that is all" in joined or "goodbye" in words or words[-1] == "bye":
        return Say("You are welcome. Goodbye!")
    if offered and _is_request(heard, words):
        return Say("Sorry, I don't know how to help with that.")
    return Say(f"You said: {heard.rstrip('.?!')}.")
