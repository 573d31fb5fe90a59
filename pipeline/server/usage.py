"""Token accounting with the real service's rules (§6.3, §8 of the protocol notes).

* Text: 4 characters per token, rounded up (`text_tokens`).
* User audio: 10 tokens per second; assistant audio: 20 tokens per second (rounded to the nearest token).
* Every response bills as input, again: the instructions, the tools (their compact JSON), and every item of
  its context (the whole conversation by default). An item costs what it is made of: text parts by their
  text; user audio by its duration at 10/s; assistant audio by its duration at 20/s plus its transcript's
  text tokens; a function call by `name + arguments`; a function output by `output`.
* Output: the response's text (transcript or text) tokens, plus its audio at 20/s.
* Reasoning (reasoning models only): `output_token_details.reasoning_tokens`, a subset of the output text
  tokens (counted in `text_tokens` and `output_tokens`, never added again); see `reasoning.py` for the evidence.
  Reasoning is not re-billed as input by later responses (it is not a conversation item).
* Cached tokens (a subset of input, never added to it): the longest prefix of segments (instructions,
  tools, then items in order) unchanged since the previous response's input, rounded down to whole
  64-token blocks. Any edit near the start (a root insert, a delete) busts the cache from there on.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import attrs

from pipeline.server.conversation import StoredItem

CACHE_BLOCK = 64


def text_tokens(text: str) -> int:
    return (len(text) + 3) // 4


def user_audio_tokens(ms: int) -> int:
    return (ms + 50) // 100


def assistant_audio_tokens(ms: int) -> int:
    return (ms + 25) // 50


@attrs.frozen
class Cost:
    text: int = 0
    audio: int = 0
    reasoning: int = 0  # of `text`: output text tokens spent reasoning

    def __add__(self, other: Cost) -> Cost:
        return Cost(text=self.text + other.text, audio=self.audio + other.audio, reasoning=self.reasoning + other.reasoning)

    @property
    def total(self) -> int:
        return self.text + self.audio


def item_cost(item: StoredItem) -> Cost:
    data = item.data
    if data["type"] == "function_call":
        return Cost(text=text_tokens(str(data.get("name", "")) + str(data.get("arguments", ""))))
    if data["type"] == "function_call_output":
        return Cost(text=text_tokens(str(data.get("output", ""))))
    cost = Cost()
    for part in data.get("content", []):
        kind = part.get("type")
        if kind in ("input_text", "output_text", "text"):
            cost += Cost(text=text_tokens(part.get("text") or ""))
        elif kind == "input_audio":
            if item.pcm:
                cost += Cost(audio=user_audio_tokens(item.audio_ms))
            else:  # an audio item created from a transcript only
                cost += Cost(text=text_tokens(part.get("transcript") or ""))
        elif kind == "output_audio":
            cost += Cost(
                text=text_tokens(part.get("transcript") or ""), audio=assistant_audio_tokens(item.audio_ms)
            )
    return cost


def tools_text(tools: Sequence[Any]) -> str:
    return json.dumps(list(tools), separators=(",", ":"), sort_keys=True) if tools else ""


@attrs.frozen
class Segment:
    """One billed piece of a response's input, with a key that changes when its content changes."""

    key: str
    cost: Cost


def input_segments(instructions: str, tools: Sequence[Any], items: Sequence[StoredItem]) -> list[Segment]:
    segments = [
        Segment(key="instructions:" + instructions, cost=Cost(text=text_tokens(instructions))),
        Segment(key="tools:" + tools_text(tools), cost=Cost(text=text_tokens(tools_text(tools)))),
    ]
    for item in items:
        cost = item_cost(item)
        segments.append(Segment(key=f"item:{item.id}:{cost.text}:{cost.audio}", cost=cost))
    return segments


def cached_cost(previous: Sequence[Segment], current: Sequence[Segment]) -> Cost:
    prefix = Cost()
    for before, now in zip(previous, current, strict=False):
        if before.key != now.key:
            break
        prefix += now.cost
    total = prefix.total // CACHE_BLOCK * CACHE_BLOCK
    text = min(prefix.text, total)
    return Cost(text=text, audio=total - text)


def usage_json(input_cost: Cost, cached: Cost, output: Cost, *, reasoning: bool = False) -> dict[str, Any]:
    """`response.done`'s usage; a reasoning model's adds `output_token_details.reasoning_tokens`."""
    usage: dict[str, Any] = {
        "total_tokens": input_cost.total + output.total,
        "input_tokens": input_cost.total,
        "output_tokens": output.total,
        "input_token_details": {
            "text_tokens": input_cost.text,
            "audio_tokens": input_cost.audio,
            "image_tokens": 0,
            "cached_tokens": cached.total,
            "cached_tokens_details": {"text_tokens": cached.text, "audio_tokens": cached.audio, "image_tokens": 0},
        },
        "output_token_details": {"text_tokens": output.text, "audio_tokens": output.audio},
    }
    if reasoning:
        usage["output_token_details"]["reasoning_tokens"] = output.reasoning
    return usage


def empty_usage() -> dict[str, Any]:
    """The usage of a response cancelled before it produced anything: zeros."""
    return usage_json(Cost(), Cost(), Cost())
