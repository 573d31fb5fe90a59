"""The re-seed plan: the conversation projection turned into ``conversation.item.create`` items.

A new connection (reconnect, recycle) or a new session (``rtpipe run --resume J``) starts with an empty
server-side conversation. ``build_seed`` turns a folded ``Conversation`` (pipeline/projections/conversation.py)
into the GA items that bring it back, in this order:

1. the latest summary (a ``sum_NNN`` system message) as the system message at the root; an older summary
   still present (its delete was refused) is left out: the latest one already folds it in;
2. the kept turns, in conversation order, each with its original id:

   * a user turn with a transcript (late ones included) or typed text: ``input_text``;
   * a user turn without one (pending, unavailable): its recorded audio as ``input_audio`` (base64 PCM16,
     24 kHz mono) when the caller has it in ``audio[item_id]``, otherwise left out (``skipped``, with why);
     a user turn whose transcript is empty (the recogniser heard no words) is left out too: there is
     nothing to say again;
   * an assistant turn: ``output_text`` with the text it has (an interrupted one keeps what was said so
     far); one with no text at all is left out;
   * a tool call: a native ``function_call`` item (``call_id``, ``name``, ``arguments``); its output a
     ``function_call_output`` item. An output whose call is not in the plan is left out (the server would
     hold an answer to a question it never saw); a call without an output is kept (the tools actor may
     still deliver it);
   * any other system message stays where it was.

Size: the plan holds what the conversation holds; nothing is cut per item. The conversation is kept small
by the summariser (everything but the last ``keep_last_turns`` turns becomes one summary once the token
window passes the trigger), and the server's own window (``truncation``) applies to a seeded conversation
as to any other. Recorded audio is the expensive part (10 tokens per second on the server, ~64 KB base64
per second on the wire); it is only used for turns whose transcript is missing.

Pure: no I/O, no clock. The items are plain JSON-ready dicts (valid ``ConversationItemCreateEvent`` items).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import attrs

from pipeline.projections.conversation import Conversation, Turn

SUMMARY_ID = re.compile(r"^sum_(\d+)$")

_NO_AUDIO: Mapping[str, bytes] = MappingProxyType({})


@attrs.frozen(kw_only=True)
class Skipped:
    """An item of the conversation the seed leaves out, and why (one short phrase)."""

    item_id: str
    reason: str


@attrs.frozen(kw_only=True)
class SeedPlan:
    """What to create on the new connection. ``items`` are JSON-ready ``conversation.item.create`` items in
    order (create the first at ``"root"``, each next one after the previous id); ``ids`` their ids;
    ``summary_id`` the root summary among them (None without one); ``audio_items`` the user turns sent as
    recorded audio; ``skipped`` what was left out and why."""

    items: tuple[dict[str, Any], ...] = ()
    summary_id: str | None = None
    audio_items: tuple[str, ...] = ()
    skipped: tuple[Skipped, ...] = ()

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(str(item["id"]) for item in self.items)

    def __len__(self) -> int:
        return len(self.items)

    def describe(self) -> str:
        """One line: ``7 items (summary sum_002, 1 as audio), 1 left out``."""
        extras = []
        if self.summary_id is not None:
            extras.append(f"summary {self.summary_id}")
        if self.audio_items:
            extras.append(f"{len(self.audio_items)} as audio")
        line = f"{len(self.items)} item{'s' if len(self.items) != 1 else ''}"
        if extras:
            line += f" ({', '.join(extras)})"
        if self.skipped:
            line += f", {len(self.skipped)} left out"
        return line


def summary_number(item_id: str) -> int | None:
    """``sum_012`` -> 12; None for any other id."""
    match = SUMMARY_ID.match(item_id)
    return int(match.group(1)) if match else None


def _message(item_id: str, role: str, part: str, text: str) -> dict[str, Any]:
    return {"id": item_id, "type": "message", "role": role, "content": [{"type": part, "text": text}]}


def build_seed(conversation: Conversation, *, audio: Mapping[str, bytes] = _NO_AUDIO) -> SeedPlan:
    turns = conversation.turns
    summaries = [t for t in turns if t.kind == "message" and t.role == "system" and summary_number(t.item_id) is not None]
    latest = max(summaries, key=lambda t: summary_number(t.item_id) or 0) if summaries else None
    items: list[dict[str, Any]] = []
    audio_items: list[str] = []
    skipped: list[Skipped] = []
    summary_id: str | None = None
    if latest is not None and latest.text:
        items.append(_message(latest.item_id, "system", "input_text", latest.text))
        summary_id = latest.item_id
    elif latest is not None:
        skipped.append(Skipped(item_id=latest.item_id, reason="summary without text"))
    calls_seeded: set[str] = set()
    for turn in turns:
        if latest is not None and turn.item_id == latest.item_id:
            continue
        item, why = _item(turn, audio, calls_seeded, latest)
        if item is None:
            skipped.append(Skipped(item_id=turn.item_id, reason=why))
            continue
        items.append(item)
        if item["type"] == "function_call":
            calls_seeded.add(str(item["call_id"]))
        elif item["type"] == "message" and item["content"][0]["type"] == "input_audio":
            audio_items.append(turn.item_id)
    return SeedPlan(items=tuple(items), summary_id=summary_id, audio_items=tuple(audio_items), skipped=tuple(skipped))


def _item(
    turn: Turn, audio: Mapping[str, bytes], calls_seeded: set[str], latest: Turn | None
) -> tuple[dict[str, Any] | None, str]:
    if turn.kind == "function_call":
        if turn.call_id is None or turn.name is None or turn.arguments is None:
            return None, "function call without its arguments (interrupted while streaming)"
        return {"id": turn.item_id, "type": "function_call", "call_id": turn.call_id, "name": turn.name, "arguments": turn.arguments}, ""
    if turn.kind == "function_call_output":
        if turn.call_id is None or turn.call_id not in calls_seeded:
            return None, "tool output whose call is not in the seed"
        return {"id": turn.item_id, "type": "function_call_output", "call_id": turn.call_id, "output": turn.text or ""}, ""
    if turn.role == "user":
        return _user(turn, audio)
    if turn.role == "assistant":
        if not turn.text:
            return None, "assistant item without text"
        return _message(turn.item_id, "assistant", "output_text", turn.text), ""
    if turn.role == "system":
        if summary_number(turn.item_id) is not None and latest is not None:
            return None, f"older summary (superseded by {latest.item_id})"
        if not turn.text:
            return None, "system message without text"
        return _message(turn.item_id, "system", "input_text", turn.text), ""
    return None, f"unknown role {turn.role!r}"


def _user(turn: Turn, audio: Mapping[str, bytes]) -> tuple[dict[str, Any] | None, str]:
    if turn.text is not None and turn.status != "unavailable":
        if not turn.text.strip():
            return None, "empty transcript (no words heard)"
        return _message(turn.item_id, "user", "input_text", turn.text), ""
    pcm = audio.get(turn.item_id)
    if pcm:
        encoded = base64.b64encode(pcm).decode("ascii")
        return {"id": turn.item_id, "type": "message", "role": "user", "content": [{"type": "input_audio", "audio": encoded}]}, ""
    missing = "transcript unavailable" if turn.status == "unavailable" else "transcript pending"
    return None, f"{missing} and no recorded audio"
