"""Router: parse throughput of a realistic server message mix, ours vs the openai SDK's generic parser.

The mix is what one spoken turn looks like on the wire (realtime-protocol.md §6.2/§6.3): the user's VAD,
commit, item and transcription events, then a 5 s assistant reply streamed as 100 ms audio deltas (4,800
samples, 12.8 KB of base64 each) interleaved with transcript deltas, and the closing done events, usage and
rate limits. Audio deltas are most of the messages and nearly all of the bytes.

Ours: ``ServerMessageParser.parse`` (json.loads, dispatch on ``type``, field checks, base64 → PCM, the typed
event). The SDK: ``TypeAdapter(RealtimeServerEvent).validate_json`` — validation only; its audio stays
base64, so for a like-for-like audio path the SDK figure would also need the decode. Both are reported per
class of message, because the ratio differs: on control events (small JSON) the SDK's union walk dominates,
on audio deltas our base64 decode does.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from typing import Any

from actors.router.parse import ServerMessageParser
from bench.common import Result

AUDIO_DELTAS_PER_TURN = 50  # 5 s of assistant speech in 100 ms deltas
TRANSCRIPT_DELTAS_PER_TURN = 20
PCM_100MS = bytes(range(256)) * 37 + bytes(128)  # 9,600 bytes = 4,800 samples
MIN_SECONDS = 1.0


def _ev(type_: str, **fields: Any) -> str:
    return json.dumps({"type": type_, "event_id": "event_CAbc1234567890", **fields})


def turn_messages() -> list[str]:
    r, a, u = "resp_CAbc1234567890", "item_CAasst123456789", "item_CAuser123456789"
    user_item = {"id": u, "object": "realtime.item", "type": "message", "status": "completed", "role": "user",
                 "content": [{"type": "input_audio", "transcript": None}]}
    asst_item = {"id": a, "object": "realtime.item", "type": "message", "status": "completed",
                 "role": "assistant", "content": [{"type": "output_audio", "transcript": "It is sunny."}]}
    usage = {"total_tokens": 320, "input_tokens": 132, "output_tokens": 188,
             "input_token_details": {"text_tokens": 59, "audio_tokens": 73, "image_tokens": 0, "cached_tokens": 64,
                                     "cached_tokens_details": {"text_tokens": 0, "audio_tokens": 64, "image_tokens": 0}},
             "output_token_details": {"text_tokens": 41, "audio_tokens": 147}}
    response = {"object": "realtime.response", "id": r, "status": "in_progress", "status_details": None,
                "output": [], "conversation_id": "conv_1", "output_modalities": ["audio"],
                "max_output_tokens": "inf", "usage": None, "metadata": None}
    part = {"response_id": r, "item_id": a, "output_index": 0, "content_index": 0}
    delta_b64 = base64.b64encode(PCM_100MS).decode()
    msgs = [
        _ev("input_audio_buffer.speech_started", audio_start_ms=1200, item_id=u),
        _ev("input_audio_buffer.speech_stopped", audio_end_ms=3400, item_id=u),
        _ev("input_audio_buffer.committed", item_id=u, previous_item_id=None),
        _ev("conversation.item.added", previous_item_id=None, item=user_item),
        _ev("conversation.item.done", previous_item_id=None, item=user_item),
        _ev("response.created", response=response),
        _ev("response.output_item.added", response_id=r, output_index=0,
            item={**asst_item, "status": "in_progress", "content": []}),
        _ev("conversation.item.added", previous_item_id=u, item={**asst_item, "status": "in_progress", "content": []}),
        _ev("response.content_part.added", **part, part={"type": "audio", "transcript": ""}),
    ]
    for i in range(AUDIO_DELTAS_PER_TURN):
        msgs.append(_ev("response.output_audio.delta", **part, delta=delta_b64))
        if i % (AUDIO_DELTAS_PER_TURN // TRANSCRIPT_DELTAS_PER_TURN) == 0:
            msgs.append(_ev("response.output_audio_transcript.delta", **part, delta="sunny ", obfuscation="aB3x"))
    msgs += [
        _ev("response.output_audio.done", **part),
        _ev("response.output_audio_transcript.done", **part, transcript="It is sunny."),
        _ev("response.content_part.done", **part, part={"type": "audio", "transcript": "It is sunny."}),
        _ev("conversation.item.done", previous_item_id=u, item=asst_item),
        _ev("response.output_item.done", response_id=r, output_index=0, item=asst_item),
        _ev("response.done", response={**response, "status": "completed", "output": [asst_item], "usage": usage}),
        _ev("rate_limits.updated", rate_limits=[{"name": "tokens", "limit": 40000, "remaining": 39680,
                                                 "reset_seconds": 2.265}]),
        _ev("conversation.item.input_audio_transcription.delta", item_id=u, content_index=0, delta="What's",
            obfuscation="x7Gq"),
        _ev("conversation.item.input_audio_transcription.completed", item_id=u, content_index=0,
            transcript="What's the weather?",
            usage={"type": "tokens", "input_tokens": 12, "output_tokens": 5, "total_tokens": 17}),
    ]
    return msgs


def messages_per_second(parse: Callable[[str], object], messages: list[str]) -> float:
    """Best of three timed passes, each repeating the list for at least MIN_SECONDS / 3."""
    for text in messages:  # warm up (and fail fast if anything does not parse)
        parse(text)
    best = 0.0
    for _ in range(3):
        count = 0
        started = time.perf_counter()
        while True:
            for text in messages:
                parse(text)
            count += len(messages)
            elapsed = time.perf_counter() - started
            if elapsed >= MIN_SECONDS / 3:
                break
        best = max(best, count / elapsed)
    return best


def run() -> list[Result]:
    from openai.types.realtime import RealtimeServerEvent
    from pydantic import TypeAdapter

    sdk = TypeAdapter(RealtimeServerEvent).validate_json
    ours = ServerMessageParser().parse
    mix = turn_messages()
    audio = [m for m in mix if '"response.output_audio.delta"' in m]
    control = [m for m in mix if m not in audio]

    results: list[Result] = []
    for label, messages in (("mix", mix), ("control events", control), ("audio deltas", audio)):
        ours_rate = messages_per_second(ours, messages)
        sdk_rate = messages_per_second(sdk, messages)
        if label == "mix":
            results.append(Result("parse throughput, mix (ours)", ours_rate, "msg/s"))
            results.append(Result("parse throughput, mix (SDK TypeAdapter)", sdk_rate, "msg/s"))
        results.append(Result(f"speed ratio ours/SDK, {label}", ours_rate / sdk_rate, "x",
                              20.0 if label == "control events" else None, "min"))
    return results


if __name__ == "__main__":
    print(f"mix: {len(turn_messages())} messages per turn")
    for result in run():
        print(f"{result.name}: {result.value_text()} (target {result.target_text()}, {result.ratio_text()})")
