"""The sans-IO core driven synchronously: effects are performed inline (fake speech), outputs compared by value."""

from __future__ import annotations

import base64
import json
from typing import Any

from pipeline.server.connection import CoreConfig, RealtimeCore
from pipeline.server.effects import Close, Output, Recognize, Send, Stream, Synthesize
from pipeline.server.ids import IdGenerator
from pipeline.server.session import DEFAULT_INSTRUCTIONS
from tests.server.support import EventChecker, FakeSpeech, tone


class Harness:
    """Runs a core with effects performed immediately; every sent event is validated."""

    def __init__(self, seed: int = 1, **config: Any) -> None:
        self.core = RealtimeCore(CoreConfig(**config), IdGenerator(seed))
        self.speech = FakeSpeech()
        self.checker = EventChecker()
        self.events: list[dict[str, Any]] = []
        self.closed: Close | None = None
        self._run(self.core.open())

    def _run(self, outputs: list[Output]) -> None:
        for output in outputs:
            if isinstance(output, Send):
                self.checker.server_event(output.event)
                self.events.append(output.event)
            elif isinstance(output, Recognize):
                self._run(self.core.recognized(output.item_id, self.speech.transcribe(output.pcm)))
                if output.transcript_delay_s is not None:
                    self._run(self.core.transcription_due(output.item_id))
            elif isinstance(output, Synthesize):
                self._run(self.core.synthesized(output.response_id, self.speech.synthesize(output.text, voice=output.voice, speed=output.speed)))
            elif isinstance(output, Stream):
                finished = False
                while not finished:
                    more, finished = self.core.advance(output.response_id)
                    self._run(more)
            elif isinstance(output, Close):
                self.closed = output

    def send(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        start = len(self.events)
        self._run(self.core.receive(json.dumps(event)))
        assert not self.checker.violations, self.checker.violations
        return self.events[start:]


def tokens(text: str) -> int:
    return -(-len(text) // 4)


def say(harness: Harness, text: str, item_id: str) -> dict[str, Any]:
    harness.send({"type": "conversation.item.create", "item": {"id": item_id, "type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}})
    events = harness.send({"type": "response.create", "response": {"output_modalities": ["text"]}})
    done = next(e for e in events if e["type"] == "response.done")
    return done["response"]  # type: ignore[no-any-return]


def test_usage_grows_per_turn_and_drops_after_summary_and_deletes() -> None:
    harness = Harness()
    instructions = tokens(DEFAULT_INSTRUCTIONS)
    history: list[int] = []  # token cost of each item in the conversation, in order
    totals = []
    for index, text in enumerate([
        "the sky over the harbour was green today and the fishing boats stayed in port all afternoon",
        "my cat is called Felix and he sleeps on the warm windowsill of the kitchen every single morning",
        "I live near the sea in a small grey house with a red door and a garden full of tall sunflowers",
    ]):
        response = say(harness, text, f"u{index}")
        reply = response["output"][0]["content"][0]["text"]
        history.append(tokens(text))
        usage = response["usage"]
        assert usage["input_tokens"] == instructions + sum(history)  # the whole conversation, re-billed
        assert usage["output_tokens"] == tokens(reply)
        assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
        cached = usage["input_token_details"]["cached_tokens"]
        assert cached % 64 == 0 and cached <= usage["input_tokens"]
        history.append(tokens(reply))
        totals.append(usage["total_tokens"])
    assert totals == sorted(totals) and len(set(totals)) == 3
    summary = "Summary: the sky, Felix the cat, the sea."
    harness.send({"type": "conversation.item.create", "previous_item_id": "root",
                  "item": {"id": "sum_001", "type": "message", "role": "system", "content": [{"type": "input_text", "text": summary}]}})  # fmt: skip
    for item_id in harness.core.conversation.ids()[1:5]:  # the first two turns (user + assistant each)
        assert harness.send({"type": "conversation.item.delete", "item_id": item_id})[0]["type"] == "conversation.item.deleted"
    response = say(harness, "what did we talk about first", "u9")
    kept = history[4:]
    usage = response["usage"]
    assert usage["input_tokens"] == instructions + tokens(summary) + sum(kept) + tokens("what did we talk about first")
    assert usage["total_tokens"] < totals[-1]
    # The root edit busted the cache after the instructions.
    assert usage["input_token_details"]["cached_tokens"] == instructions // 64 * 64
    assert "Felix" in response["output"][0]["content"][0]["text"]


def test_audio_accounting_user_10_per_second_assistant_20_per_second() -> None:
    harness = Harness()
    two_seconds = base64.b64encode(tone(2000)).decode()
    harness.speech.heard = ["the sky is green today"]
    harness.send({"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": [{"type": "input_audio", "audio": two_seconds}]}})
    events = harness.send({"type": "response.create"})
    response = next(e for e in events if e["type"] == "response.done")["response"]
    transcript = response["output"][0]["content"][0]["transcript"]
    assert transcript == "You said: the sky is green today."
    audio_ms = 20 * len(transcript)  # FakeSpeech: 20 ms per character
    usage = response["usage"]
    assert usage["input_token_details"]["audio_tokens"] == 20
    assert usage["output_token_details"] == {"text_tokens": tokens(transcript), "audio_tokens": (audio_ms + 25) // 50}
    events = harness.send({"type": "response.create", "response": {"output_modalities": ["text"]}})
    usage = next(e for e in events if e["type"] == "response.done")["response"]["usage"]
    assert usage["input_token_details"]["audio_tokens"] == 20 + (audio_ms + 25) // 50  # the assistant audio, re-billed


def test_same_seed_same_events() -> None:
    def run() -> list[dict[str, Any]]:
        harness = Harness(seed=42)
        say(harness, "tell me a story", "u1")
        return [{k: v for k, v in e.items() if k != "session"} for e in harness.events]

    first, second = run(), run()
    assert first == second
    assert all(e["event_id"].startswith("event_") and len(e["event_id"]) == 27 for e in first)


def test_injected_error_after_n_responses_and_expiry() -> None:
    harness = Harness(error_after_responses=2, max_session_s=120)
    say(harness, "one", "u1")
    assert not any(e["type"] == "error" for e in harness.events)
    say(harness, "two", "u2")
    assert harness.events[-1]["type"] == "error" and harness.events[-1]["error"]["type"] == "server_error"
    harness._run(harness.core.expire())
    assert harness.events[-1]["error"]["code"] == "session_expired"
    assert harness.events[-1]["error"]["message"] == "Your session hit the maximum duration of 2 minutes."
    assert harness.closed == Close(1001, "session expired")
    assert harness.send({"type": "input_audio_buffer.clear"}) == []


def test_out_of_band_response_with_item_reference_leaves_conversation_alone() -> None:
    harness = Harness()
    harness.send({"type": "conversation.item.create", "item": {"id": "u1", "type": "message", "role": "user", "content": [{"type": "input_text", "text": "the sky is green"}]}})
    events = harness.send({"type": "response.create", "response": {"conversation": "none", "output_modalities": ["text"], "input": [{"type": "item_reference", "id": "u1"}]}})
    assert "conversation.item.added" not in [e["type"] for e in events]
    done = next(e for e in events if e["type"] == "response.done")["response"]
    assert done["conversation_id"] is None and done["output"][0]["content"][0]["text"] == "You said: the sky is green."
    assert harness.core.conversation.ids() == ["u1"]


def test_max_output_tokens_gives_incomplete() -> None:
    harness = Harness()
    harness.send({"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "tell me a story"}]}})
    events = harness.send({"type": "response.create", "response": {"output_modalities": ["text"], "max_output_tokens": 20}})
    done = next(e for e in events if e["type"] == "response.done")["response"]
    assert done["status"] == "incomplete" and done["status_details"] == {"type": "incomplete", "reason": "max_output_tokens"}
    assert done["usage"]["output_tokens"] <= 20
