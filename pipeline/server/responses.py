"""One response's life: plan, open, stream, finish (§6.3 and §6.4 orderings), item by item.

Theory of operation. A `Response` is created `WAITING_INPUT`: `response.created` has been sent and the
brain waits until every user audio item of its context has been heard (ASR). The core then asks the brain
for the response's *steps* (`reasoning.plan`): one for the seed models (a message or a function call); a
reasoning model may add a spoken preamble before its calls, several calls, or a preamble message before a
long answer. Steps run in order. A function call is emitted completely at once (output_item.added →
conversation.item.added → arguments delta/done → output_item.done → conversation.item.done). A message is
opened (output_item.added → conversation.item.added → content_part.added) and becomes the `current`
`MessageStream`: `SYNTHESIZING` (audio; the shell runs TTS) then `STREAMING` (the shell calls `advance`,
one chunk each: the transcript words the audio chunk speaks, then the audio delta). When its chunks are
exhausted the next step starts. A finished message is closed (output_audio.done → output_audio_transcript.done
→ content_part.done → output_item.done → conversation.item.done) either at once ("sequential") or, by
default, together with every other open message just before `response.done` ("at-end": gpt-realtime-2 was
seen sending a second item's audio before the first item's .done events, which came batched near
response.done; pipecat's realtime service notes it). Cancellation at any point closes what is open, each
message with what was actually sent, then `response.done` with usage and `rate_limits.updated`.

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

from pipeline.server.audio_format import BYTES_PER_SECOND, bytes_ms, encode_output, pcm_ms
from pipeline.server.brain import CallTool, Decision
from pipeline.server.conversation import StoredItem, heard_prefix
from pipeline.server.usage import Cost, Segment, assistant_audio_tokens, text_tokens
from pipeline.server.words import word_groups

EventFactory = Callable[..., dict[str, Any]]


class ResponseState(enum.Enum):
    WAITING_INPUT = "waiting_input"
    SYNTHESIZING = "synthesizing"
    STREAMING = "streaming"
    DONE = "done"


@attrs.define(kw_only=True)
class MessageStream:
    """One assistant message of a response: its planned text, its chunks, and what has been sent of them."""

    item: StoredItem
    text: str
    audio: bool
    chunks: list[tuple[bytes, str]] = attrs.Factory(list)
    loaded: bool = False
    cursor: int = 0
    sent_text: str = ""
    sent_pcm: bytearray = attrs.Factory(bytearray)
    incomplete: bool = False  # cut by max_output_tokens
    closed: bool = False
    truncated_ms: int | None = None  # a client truncate while it was still open

    @property
    def exhausted(self) -> bool:
        return self.loaded and self.cursor >= len(self.chunks)

    @property
    def audio_chunks(self) -> int:
        return sum(1 for pcm, _ in self.chunks if pcm)

    def load_audio(self, pcm: bytes, chunk_ms: int, budget: int | None) -> int:
        """Cut the synthesised audio into chunks, each with the transcript words it speaks; the tokens planned."""
        total_ms = pcm_ms(pcm)
        cost = text_tokens(self.text) + assistant_audio_tokens(total_ms)
        if budget is not None and cost > budget:
            keep_ms = total_ms * max(0, budget) // cost
            pcm = pcm[: keep_ms * BYTES_PER_SECOND // 1000 // 2 * 2]
            self.text = heard_prefix(self.text, keep_ms, total_ms)
            self.incomplete = True
            total_ms = pcm_ms(pcm)
            cost = text_tokens(self.text) + assistant_audio_tokens(total_ms)
        step = max(2, chunk_ms * BYTES_PER_SECOND // 1000 // 2 * 2)
        self.chunks = []
        shown = ""
        for start in range(0, len(pcm), step):
            end = min(len(pcm), start + step)
            upto = heard_prefix(self.text, bytes_ms(end), total_ms) if end < len(pcm) else self.text
            piece = upto[len(shown) :] if upto.startswith(shown) else ""
            shown += piece
            self.chunks.append((pcm[start:end], piece))
        if not self.chunks:
            self.chunks.append((b"", self.text))
        self.item.planned_transcript = self.text
        self.loaded = True
        return cost

    def load_text(self, budget: int | None) -> int:
        if budget is not None and text_tokens(self.text) > budget:
            self.text = self.text[: max(0, budget) * 4].rsplit(" ", 1)[0]
            self.incomplete = True
        self.chunks = [(b"", piece) for piece in word_groups(self.text, 4)]
        self.loaded = True
        return text_tokens(self.text)


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
    reasoning: bool = False  # a reasoning model's response (usage reports reasoning_tokens)
    effort: str | None = None  # reasoning.effort asked for (None: the model's default)
    parallel_tool_calls: bool = True
    input_segments: list[Segment] = attrs.Factory(list)
    state: ResponseState = ResponseState.WAITING_INPUT
    output: list[StoredItem] = attrs.Factory(list)
    steps: list[Decision] = attrs.Factory(list)  # planned, not yet started
    messages: list[MessageStream] = attrs.Factory(list)
    current: MessageStream | None = None  # the message being synthesised or streamed
    incomplete: bool = False  # max_output_tokens reached
    planned_tokens: int = 0
    output_cost: Cost = attrs.Factory(Cost)

    @property
    def audio(self) -> bool:
        return self.modalities == ["audio"]

    @property
    def active(self) -> bool:
        return self.state is not ResponseState.DONE

    @property
    def budget(self) -> int | None:
        """Output tokens still allowed by max_output_tokens (None: no limit)."""
        if not isinstance(self.max_output_tokens, int):
            return None
        return self.max_output_tokens - self.planned_tokens

    def open_messages(self) -> list[MessageStream]:
        return [m for m in self.messages if not m.closed]

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
        cost = text_tokens(decision.name + arguments)
        self.output_cost += Cost(text=cost)
        self.planned_tokens += cost
        return events

    def open_message(self, item: StoredItem, event: EventFactory, previous_item_id: str | None, text: str) -> list[dict[str, Any]]:
        stream = MessageStream(item=item, text=text, audio=self.audio)
        self.messages.append(stream)
        self.current = stream
        events = self.open_item(item, event, previous_item_id)
        part: dict[str, Any] = {"type": "audio", "transcript": ""} if self.audio else {"type": "text", "text": ""}
        events.append(event("response.content_part.added", **self._ids(item), content_index=0, part=part))
        kind = "output_audio" if self.audio else "output_text"
        item.data["content"] = [{"type": kind, "transcript": ""} if self.audio else {"type": kind, "text": ""}]
        return events

    def load_audio(self, pcm: bytes, chunk_ms: int) -> None:
        assert self.current is not None
        self.planned_tokens += self.current.load_audio(pcm, chunk_ms, self.budget)
        self.incomplete = self.incomplete or self.current.incomplete

    def load_text(self) -> None:
        assert self.current is not None
        self.planned_tokens += self.current.load_text(self.budget)
        self.incomplete = self.incomplete or self.current.incomplete

    def advance(self, event: EventFactory, obfuscation: Callable[[], str]) -> list[dict[str, Any]]:
        """Emit the current message's next chunk; the caller moves on when it is `exhausted`."""
        stream = self.current
        assert stream is not None
        pcm, piece = stream.chunks[stream.cursor]
        stream.cursor += 1
        ids = {**self._ids(stream.item), "content_index": 0}
        events = []
        if self.audio:
            if piece:
                events.append(event("response.output_audio_transcript.delta", **ids, delta=piece, obfuscation=obfuscation()))
            if pcm:
                wire = encode_output(pcm, str(self.output_format.get("type", "audio/pcm")))
                events.append(
                    event("response.output_audio.delta", **ids, delta=base64.b64encode(wire).decode(), obfuscation=obfuscation())
                )
            stream.sent_pcm += pcm
        elif piece:
            events.append(event("response.output_text.delta", **ids, delta=piece, obfuscation=obfuscation()))
        stream.sent_text += piece
        return events

    def close_message(self, stream: MessageStream, event: EventFactory, previous_item_id: str | None) -> list[dict[str, Any]]:
        """The .done events of an open message, with what was actually sent."""
        item = stream.item
        completed = stream.exhausted
        ids = {**self._ids(item), "content_index": 0}
        text = stream.sent_text if completed else stream.sent_text.rstrip()
        item.data["status"] = "completed" if completed and not stream.incomplete else "incomplete"
        events = []
        if stream.audio:
            item.pcm = bytes(stream.sent_pcm)
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
        stream.closed = True
        if self.current is stream:
            self.current = None
        return events


def brain_turns(items: Sequence[StoredItem]) -> list[Any]:
    from pipeline.server.brain import Turn

    turns = []
    for item in items:
        data = item.data
        turns.append(Turn(kind=data["type"], role=str(data.get("role", "")), text=item.text(), name=str(data.get("name", "")),
                          call_id=str(data.get("call_id", "")), arguments=str(data.get("arguments", ""))))  # fmt: skip
    return turns
