"""Judging a scenario: what its journal shows (``Observed``, built from the read models) against what the
scenario expects (``judge``: pure, no I/O).

Semantics (the README's scenario section says the same):

* text (``transcript_contains``, ``reply_contains``, tool arguments that are text, ``result_contains``) is
  compared case-insensitively, ignoring punctuation and runs of spaces: ``"okay stop"`` matches
  ``"Okay, stop."``; ``*_contains`` is a substring of at least one user transcript / assistant reply (each
  item of a list must be found);
* ``tool``: each expected call is matched, in the order written, by a later call of the session with that name
  whose arguments include the expected ones (a subset; numbers equal, text as above); ``tool = []`` expects no
  tool call at all;
* ``turns``: the number of user turns (user items); ``untranscribed_turns``: how many of them have no words
  (transcript unavailable, or empty);
* ``interrupted``: whether a barge-in cut an assistant reply;
* ``summary``: whether a summary was applied to the conversation;
* ``max_window_tokens``: the largest token window a ``response.done`` reported;
* ``max_first_audio_ms``: for every user turn that got audio, the time from the end of the user's speech to
  its first audio played (the latency read model's ``first_played``).

A session that failed (connection, server error, an actor) fails its scenario whatever it expects.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

from pipeline.config import show
from pipeline.scenarios.format import Expectations, ToolExpectation

if TYPE_CHECKING:
    from pipeline.projections.recording import Recording

_NOT_WORD = re.compile(r"[^\w']+")


def normalise(text: str) -> str:
    """Lower case, punctuation and runs of spaces as one space: what text expectations compare."""
    return " ".join(_NOT_WORD.sub(" ", text.lower()).split())


@attrs.frozen(kw_only=True)
class ToolCall:
    name: str
    arguments: Mapping[str, Any] | None  # None when the arguments were not a JSON object
    raw_arguments: str
    output: str | None

    def describe(self) -> str:
        return f"{self.name} {self.raw_arguments}"


@attrs.frozen(kw_only=True)
class Observed:
    """What a scenario can expect of a recorded call."""

    failure: str | None = None
    transcripts: tuple[str | None, ...] = ()  # per user turn: its words, None when unavailable
    replies: tuple[str, ...] = ()  # assistant replies' text
    tool_calls: tuple[ToolCall, ...] = ()
    interruptions: tuple[int, ...] = ()  # where each cut reply was cut (ms played)
    summaries_applied: tuple[str, ...] = ()
    windows: tuple[tuple[str, int], ...] = ()  # (response id, total tokens) per response.done
    first_audio_ms: tuple[tuple[int, float], ...] = ()  # (turn number, ms) for turns that got audio

    @classmethod
    def from_recording(cls, recording: Recording) -> Observed:
        from pipeline.projections import latency, timeline

        line_fold, waterfall_fold = timeline.TimelineFold(), latency.LatencyFold()
        recording.run(line_fold, waterfall_fold)  # one pass over the journal for both read models
        line, waterfall = line_fold.result(recording.duration_ns), waterfall_fold.result()
        failure = next((e.text for e in line.entries if e.kind == "error" and e.text.startswith(("session failed", "actor "))), None)
        transcripts: list[str | None] = []
        replies: list[str] = []
        calls: list[ToolCall] = []
        cuts: list[int] = []
        for entry in line.entries:
            d = entry.data
            if entry.kind == "user":
                words = d.get("transcript")
                transcripts.append(words if d.get("status") in ("resolved", "late") else None)
            elif entry.kind == "assistant":
                replies.append(d.get("transcript") or "")
                if d.get("cut_ms") is not None:
                    cuts.append(int(d["cut_ms"]))
            elif entry.kind == "tool":
                calls.append(ToolCall(name=d["name"], arguments=_arguments(d["arguments"]), raw_arguments=d["arguments"], output=d["output"]))
        summaries = tuple(e.data["summary_id"] for e in line.entries if e.kind == "summary" and e.data.get("outcome") == "applied")
        windows = tuple((str(e.data["response_id"]), int(e.data["total_tokens"])) for e in line.entries
                        if e.kind == "window" and isinstance(e.data.get("total_tokens"), int))  # fmt: skip
        first_audio = tuple((t.number, ms) for t in waterfall.turns if (ms := t.ms("first_played")) is not None)
        return cls(failure=failure, transcripts=tuple(transcripts), replies=tuple(replies), tool_calls=tuple(calls),
                   interruptions=tuple(cuts), summaries_applied=summaries, windows=windows, first_audio_ms=first_audio)  # fmt: skip


def _arguments(raw: str) -> Mapping[str, Any] | None:
    try:
        value = json.loads(raw)
    except (TypeError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def judge(expect: Expectations, seen: Observed) -> list[str]:
    """Every expectation that does not hold, each one line saying what was expected and what was seen
    instead, in the order the README lists them; ``[]`` when the scenario passes."""
    failures: list[str] = []
    if seen.failure:
        failures.append(f"the session failed: {seen.failure}")
    if expect.turns is not None and len(seen.transcripts) != expect.turns:
        failures.append(f"turns = {expect.turns}: saw {len(seen.transcripts)} user turn(s)")
    heard = [t for t in seen.transcripts if t]
    for wanted in expect.transcript_contains:
        if not any(normalise(wanted) in normalise(t) for t in heard):
            failures.append(f"transcript_contains {show(wanted)}: no user transcript contains it; heard {_list(heard)}")
    if expect.untranscribed_turns is not None:
        missing = sum(1 for t in seen.transcripts if not t)
        if missing != expect.untranscribed_turns:
            failures.append(f"untranscribed_turns = {expect.untranscribed_turns}: saw {missing} of {len(seen.transcripts)} turn(s) without words")
    failures += _tools(expect.tools, seen.tool_calls)
    for wanted in expect.reply_contains:
        if not any(normalise(wanted) in normalise(r) for r in seen.replies):
            failures.append(f"reply_contains {show(wanted)}: no assistant reply contains it; replies {_list(seen.replies)}")
    if expect.interrupted is not None and bool(seen.interruptions) != expect.interrupted:
        if expect.interrupted:
            failures.append("interrupted = true: no assistant reply was cut by a barge-in")
        else:
            failures.append(f"interrupted = false: {len(seen.interruptions)} reply(ies) cut, the first at {seen.interruptions[0]:,} ms")
    if expect.summary is not None and bool(seen.summaries_applied) != expect.summary:
        peak = max((t for _, t in seen.windows), default=0)
        if expect.summary:
            failures.append(f"summary = true: no summary applied (token window peaked at {peak:,})")
        else:
            failures.append(f"summary = false: {len(seen.summaries_applied)} summary(ies) applied ({', '.join(seen.summaries_applied)})")
    if expect.max_window_tokens is not None and seen.windows:
        response, peak = max(seen.windows, key=lambda w: w[1])
        if peak > expect.max_window_tokens:
            failures.append(f"max_window_tokens = {expect.max_window_tokens}: the window reached {peak:,} tokens after {response}")
    if expect.max_first_audio_ms is not None:
        slow = [(turn, ms) for turn, ms in seen.first_audio_ms if ms > expect.max_first_audio_ms]
        if slow:
            turn, ms = max(slow, key=lambda s: s[1])
            failures.append(f"max_first_audio_ms = {show(expect.max_first_audio_ms)}: turn #{turn} first audio after {ms:,.0f} ms"
                            + (f" ({len(slow)} turns over)" if len(slow) > 1 else ""))  # fmt: skip
    return failures


def _tools(expected: tuple[ToolExpectation, ...] | None, calls: tuple[ToolCall, ...]) -> list[str]:
    if expected is None:
        return []
    seen = _list([c.describe() for c in calls], clip=80, quote=False) if calls else "no tool call"
    if not expected:
        return [] if not calls else [f"tool = []: expected no tool call; saw {seen}"]
    start = 0
    for want in expected:
        match = next((i for i in range(start, len(calls)) if _matches(want, calls[i])), None)
        if match is None:
            later = " after the previous expected call" if start else ""
            return [f"tool {want.describe()}: no such call{later}; saw {seen}"]
        start = match + 1
    return []


def _matches(want: ToolExpectation, call: ToolCall) -> bool:
    if call.name != want.name:
        return False
    args = call.arguments or {}
    if want.args and call.arguments is None:
        return False
    for key, value in want.args.items():
        if key not in args or not _same(value, args[key]):
            return False
    if want.result_contains is not None:
        return call.output is not None and normalise(want.result_contains) in normalise(call.output)
    return True


def _same(expected: Any, actual: Any) -> bool:
    if isinstance(expected, str) and isinstance(actual, str):
        return normalise(expected) == normalise(actual)
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected is actual
    if isinstance(expected, int | float) and isinstance(actual, int | float):
        return float(expected) == float(actual)
    if isinstance(expected, dict) and isinstance(actual, dict):
        return all(k in actual and _same(v, actual[k]) for k, v in expected.items())
    if isinstance(expected, list) and isinstance(actual, list):
        return len(expected) == len(actual) and all(_same(e, a) for e, a in zip(expected, actual, strict=True))
    return bool(expected == actual)


def _list(texts: list[str] | tuple[str, ...], clip: int = 60, most: int = 4, quote: bool = True) -> str:
    if not texts:
        return "nothing"
    shown = [show(_clip(t, clip)) if quote else _clip(t, clip) for t in texts[:most]]
    more = f" and {len(texts) - most} more" if len(texts) > most else ""
    return ", ".join(shown) + more


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
