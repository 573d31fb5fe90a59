"""One response's life: plan, open, stream, finish (§6.3 and §6.4 orderings).

Theory of operation. A `Response` is created `WAITING_INPUT`: `response.created` has been sent and the
brain waits until every user audio item of its context has been heard (ASR). `plan` then either emits a
function call completely (output_item.added → conversation.item.added → arguments delta/done →
output_item.done → conversation.item.done) and finishes, or opens an assistant message (output_item.added →
conversation.item.added → content_part.added) and moves to `SYNTHESIZING` (audio; the shell runs TTS) or
directly to `STREAMING` (text). Each `advance` emits one chunk: the transcript words that the audio chunk
speaks, then the audio delta. After the last chunk, or on cancellation at any point, `finish` closes
whatever is open (output_audio.done → output_audio_transcript.done → content_part.done →
output_item.done → conversation.item.done), then `response.done` with usage and `rate_limits.updated`.

`conversation.item.done` follows `response.output_item.done`: it mirrors the opening, where
`conversation.item.added` follows `response.output_item.added`, and it is the order the agents SDKs
tolerate either way (they act on `output_item.done`).
"""

from __future__ import annotations

import base64
import enum
import json
from collections.abc import Callable, Sequence
from typing import Any

import attrs

from pipeline.server.audio_format import BYTES_PER_SECOND, encode_output, pcm_ms
from pipeline.server.brain import CallTool, Decision
from pipeline.server.conversation import StoredItem, heard_prefix
from pipeline.server.usage import Cost, Segment, assistant_audio_tokens, text_tokens

EventFactory = Callable[..., dict[str, Any]]


class ResponseState(enum.Enum):
    WAITING_INPUT = "waiting_input"
    SYNTHESIZING = "synthesizing"
    STREAMING = "streaming"
    DONE = "done"


@attrs.define(kw_only=True)
class Response:
    id: str
    in_conversation: bool
    conversation_id: str | None
    modalities: list[str]
    instructions: str
    tools: list[dict[str, Any]]
    tool_choice: Any
    voice: str
    speed: float
    output_format: dict[str, Any]
    max_output_tokens: int | str
    metadata: dict[str, Any] | None
    context: list[StoredItem]
    input_segments: list[Segment] = attrs.Factory(list)
    state: ResponseState = ResponseState.WAITING_INPUT
    output: list[StoredItem] = attrs.Factory(list)
    message: StoredItem | None = None
    text: str = ""
    chunks: list[tuple[bytes, str]] = attrs.Factory(list)
    cursor: int = 0
    sent_text: str = ""
    sent_pcm: bytearray = attrs.Factory(bytearray)
    incomplete: bool = False
    output_cost: Cost = attrs.Factory(Cost)

    @property
    def audio(self) -> bool:
        return self.modalities == ["audio"]

    @property
    def active(self) -> bool:
        return self.state is not ResponseState.DONE

    def shape(self, *, status: str, status_details: Any = None, usage: Any = None) -> dict[str, Any]:
        return {
            "object": "realtime.response",
            "id": self.id,
            "status": status,
            "status_details": status_details,
            "output": [item.public() for item in self.output],
            "conversation_id": self.conversation_id,
            "output_modalities": list(self.modalities),
            "max_output_tokens": self.max_output_tokens,
            "audio": {"output": {"format": dict(self.output_format), "voice": self.voice}},
            "usage": usage,
            "metadata": self.metadata,
        }

    def _ids(self, item: StoredItem) -> dict[str, Any]:
        return {"response_id": self.id, "item_id": item.id, "output_index": self.output.index(item)}

    def open_item(self, item: StoredItem, event: EventFactory, previous_item_id: str | None) -> list[dict[str, Any]]:
        self.output.append(item)
        events = [event("response.output_item.added", response_id=self.id, output_index=len(self.output) - 1, item=item.public())]
        if self.in_conversation:
            events.append(event("conversation.item.added", previous_item_id=previous_item_id, item=item.public()))
        return events

    def close_item(self, item: StoredItem, event: EventFactory, previous_item_id: str | None) -> list[dict[str, Any]]:
        events = [event("response.output_item.done", response_id=self.id, output_index=self.output.index(item), item=item.public())]
        if self.in_conversation:
            events.append(event("conversation.item.done", previous_item_id=previous_item_id, item=item.public()))
        return events

    def function_call(
        self, decision: CallTool, item: StoredItem, event: EventFactory, previous_item_id: str | None, obfuscation: Callable[[], str]
    ) -> list[dict[str, Any]]:
        arguments = json.dumps(decision.arguments)
        events = self.open_item(item, event, previous_item_id)
        call_id = item.data["call_id"]
        ids = self._ids(item)
        step = max(8, len(arguments) // 3)
        for start in range(0, len(arguments), step):
            events.append(
                event("response.function_call_arguments.delta", **ids, call_id=call_id,
                      delta=arguments[start : start + step], obfuscation=obfuscation())
            )  # fmt: skip
        item.data.update(arguments=arguments, status="completed")
        events.append(
            event("response.function_call_arguments.done", **ids, call_id=call_id, name=decision.name, arguments=arguments)
        )
        events += self.close_item(item, event, previous_item_id)
        self.output_cost += Cost(text=text_tokens(decision.name + arguments))
        return events

    def open_message(self, item: StoredItem, event: EventFactory, previous_item_id: str | None, text: str) -> list[dict[str, Any]]:
        self.message = item
        self.text = text
        events = self.open_item(item, event, previous_item_id)
        part: dict[str, Any] = {"type": "audio", "transcript": ""} if self.audio else {"type": "text", "text": ""}
        events.append(event("response.content_part.added", **self._ids(item), content_index=0, part=part))
        kind = "output_audio" if self.audio else "output_text"
        item.data["content"] = [{"type": kind, "transcript": ""} if self.audio else {"type": kind, "text": ""}]
        return events

    def load_audio(self, pcm: bytes, chunk_ms: int, max_tokens: int | None) -> None:
        """Cut the synthesised audio into chunks, each with the transcript words it speaks."""
        total_ms = pcm_ms(pcm)
        if max_tokens is not None:
            cost = text_tokens(self.text) + assistant_audio_tokens(total_ms)
            if cost > max_tokens:
                keep_ms = total_ms * max_tokens // cost
                pcm = pcm[: keep_ms * BYTES_PER_SECOND // 1000 // 2 * 2]
                self.text = heard_prefix(self.text, keep_ms, total_ms)
                self.incomplete = True
                total_ms = pcm_ms(pcm)
        step = max(2, chunk_ms * BYTES_PER_SECOND // 1000 // 2 * 2)
        self.chunks = []
        shown = ""
        for start in range(0, len(pcm), step):
            end = min(len(pcm), start + step)
            upto = heard_prefix(self.text, pcm_ms(pcm[:end]), total_ms) if end < len(pcm) else self.text
            piece = upto[len(shown) :] if upto.startswith(shown) else ""
            shown += piece
            self.chunks.append((pcm[start:end], piece))
        if not self.chunks:
            self.chunks.append((b"", self.text))
        assert self.message is not None
        self.message.planned_transcript = self.text

    def load_text(self, max_tokens: int | None) -> None:
        if max_tokens is not None and text_tokens(self.text) > max_tokens:
            self.text = self.text[: max_tokens * 4].rsplit(" ", 1)[0]
            self.incomplete = True
        words = self.text.split(" ")
        self.chunks = [(b"", " ".join(words[i : i + 4]) + (" " if i + 4 < len(words) else "")) for i in range(0, len(words), 4)]

    def advance(self, event: EventFactory, obfuscation: Callable[[], str]) -> list[dict[str, Any]]:
        """Emit the next chunk; the caller finishes the response when `exhausted`."""
        assert self.message is not None
        pcm, piece = self.chunks[self.cursor]
        self.cursor += 1
        ids = {**self._ids(self.message), "content_index": 0}
        events = []
        if self.audio:
            if piece:
                events.append(event("response.output_audio_transcript.delta", **ids, delta=piece, obfuscation=obfuscation()))
            if pcm:
                wire = encode_output(pcm, str(self.output_format.get("type", "audio/pcm")))
                events.append(
                    event("response.output_audio.delta", **ids, delta=base64.b64encode(wire).decode(), obfuscation=obfuscation())
                )
            self.sent_pcm += pcm
        elif piece:
            events.append(event("response.output_text.delta", **ids, delta=piece, obfuscation=obfuscation()))
        self.sent_text += piece
        return events

    @property
    def exhausted(self) -> bool:
        return self.cursor >= len(self.chunks)

    def close_message(self, event: EventFactory, previous_item_id: str | None, *, completed: bool) -> list[dict[str, Any]]:
        """The .done events of the open message, with what was actually sent."""
        item = self.message
        assert item is not None
        ids = {**self._ids(item), "content_index": 0}
        text = self.sent_text.rstrip() if not completed else self.sent_text
        item.data["status"] = "completed" if completed and not self.incomplete else "incomplete"
        events = []
        if self.audio:
            item.pcm = bytes(self.sent_pcm)
            item.data["content"] = [{"type": "output_audio", "transcript": text}]
            events.append(event("response.output_audio.done", **ids))
            events.append(event("response.output_audio_transcript.done", **ids, transcript=text))
            part: dict[str, Any] = {"type": "audio", "transcript": text}
            self.output_cost += Cost(text=text_tokens(text), audio=assistant_audio_tokens(pcm_ms(item.pcm)))
        else:
            item.data["content"] = [{"type": "output_text", "text": text}]
            events.append(event("response.output_text.done", **ids, text=text))
            part = {"type": "text", "text": text}
            self.output_cost += Cost(text=text_tokens(text))
        if not completed:
            item.planned_transcript = text
        events.append(event("response.content_part.done", **ids, part=part))
        events += self.close_item(item, event, previous_item_id)
        self.message = None
        return events


def brain_turns(items: Sequence[StoredItem]) -> list[Any]:
    from pipeline.server.brain import Turn

    turns = []
    for item in items:
        data = item.data
        turns.append(Turn(kind=data["type"], role=str(data.get("role", "")), text=item.text(), name=str(data.get("name", ""))))
    return turns


def decision_text(decision: Decision) -> str:
    return "" if isinstance(decision, CallTool) else decision.text
