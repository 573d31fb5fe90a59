"""Per-turn latency: the waterfall from the end of the user's speech to the answer being heard.

A pure fold over raw records (no event classes are built: the hot records, audio deltas and playback progress,
are read straight from their payloads). For each user turn (a user item added to the conversation, numbered
from 1 as in the timeline), measured from the server's ``speech_stopped`` for that item (or, without one,
from its commit, or from when it was added: typed text):

* ``committed``: ``input_audio_buffer.committed`` for the item;
* ``created``: the first ``response.created`` after the item was added (a response belongs to the latest
  user item added before it was created, so a tool call's follow-up response is in the same turn);
* ``first_delta``: the first assistant audio delta of the turn's responses;
* ``first_played``: the first playback progress with audio actually played for one of their items;
* ``done``: the ``response.done`` of the response that carried that first audio (else the turn's last).

Beside it, the seeds' pattern, which played audio only at ``response.done``: their time to first audio is
``done``; ``ratio`` is theirs over ours (``done / first_played``). ``p50``/``p95`` over the call use the
nearest-rank method (the value at rank ``ceil(p/100 * n)`` of the sorted values).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import attrs

from pipeline.journal import RawRecord
from pipeline.projections.recording import NS_PER_MS, Recording

STAGES = ("committed", "created", "first_delta", "first_played", "done")
STAGE_LABELS = {
    "committed": "committed",
    "created": "response.created",
    "first_delta": "first audio received",
    "first_played": "first audio played",
    "done": "response.done",
}


@attrs.define
class TurnLatency:
    number: int
    item_id: str
    added_ns: int
    speech_stopped_ns: int | None = None
    committed_ns: int | None = None
    created_ns: int | None = None
    first_delta_ns: int | None = None
    first_played_ns: int | None = None
    done_ns: int | None = None
    responses: list[str] = attrs.Factory(list)
    audio_response: str | None = None

    @property
    def origin_ns(self) -> int:
        if self.speech_stopped_ns is not None:
            return self.speech_stopped_ns
        return self.committed_ns if self.committed_ns is not None else self.added_ns

    @property
    def origin(self) -> str:
        if self.speech_stopped_ns is not None:
            return "speech_stopped"
        return "committed" if self.committed_ns is not None else "item_added"

    def ms(self, stage: str) -> float | None:
        """Milliseconds from the origin to ``stage``, or None when the turn never got there."""
        value = getattr(self, f"{stage}_ns")
        return None if value is None else (value - self.origin_ns) / NS_PER_MS

    @property
    def seed_first_audio_ms(self) -> float | None:
        return self.ms("done")

    @property
    def ratio(self) -> float | None:
        ours, seed = self.ms("first_played"), self.seed_first_audio_ms
        if ours is None or seed is None or ours <= 0:
            return None
        return seed / ours

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"turn": self.number, "item_id": self.item_id, "origin": self.origin,
                                "origin_t_s": round(self.origin_ns / 1e9, 3)}  # fmt: skip
        for stage in STAGES:
            value = self.ms(stage)
            data[f"{stage}_ms"] = None if value is None else round(value, 1)
        seed = self.seed_first_audio_ms
        data["seed_first_audio_ms"] = None if seed is None else round(seed, 1)
        data["ratio"] = None if self.ratio is None else round(self.ratio, 2)
        data["responses"] = list(self.responses)
        return data


@attrs.frozen(kw_only=True)
class WindowPoint:
    t_ns: int
    response_id: str
    total_tokens: int
    status: str


@attrs.frozen(kw_only=True)
class Latency:
    turns: tuple[TurnLatency, ...]
    windows: tuple[WindowPoint, ...]

    def values(self, stage: str) -> list[float]:
        return [v for v in (t.ms(stage) for t in self.turns) if v is not None]

    def stats(self) -> dict[str, dict[str, float | None]]:
        table: dict[str, dict[str, float | None]] = {}
        for stage in (*STAGES, "seed_first_audio", "ratio"):
            if stage == "seed_first_audio":
                values = [v for v in (t.seed_first_audio_ms for t in self.turns) if v is not None]
            elif stage == "ratio":
                values = [v for v in (t.ratio for t in self.turns) if v is not None]
            else:
                values = self.values(stage)
            table[stage] = {"n": len(values), "p50": percentile(values, 50), "p95": percentile(values, 95)}
        return table

    def as_dict(self) -> dict[str, Any]:
        return {
            "turns": [t.as_dict() for t in self.turns],
            "stats": self.stats(),
            "windows": [attrs.asdict(w) for w in self.windows],
        }


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest rank: the smallest value with at least ``p`` percent of the values at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


TAGS = frozenset({"rt.assistant.audio.delta", "playback.progress", "rt.speech.stopped", "rt.audio.committed", "rt.item.added",
                  "rt.response.created", "rt.response.done"})  # fmt: skip


class LatencyFold:
    """The waterfall as a ``Fold`` (fed in a pass that may feed other read models too); ``result()`` after it."""

    def __init__(self) -> None:
        self.turns: list[TurnLatency] = []
        self.by_item: dict[str, TurnLatency] = {}  # user item -> its turn
        self.stopped: dict[str, int] = {}
        self.committed: dict[str, int] = {}
        self.turn_of_response: dict[str, TurnLatency] = {}
        self.turn_of_audio_item: dict[str, TurnLatency] = {}
        self.done_of_response: dict[str, int] = {}
        self.windows: list[WindowPoint] = []
        self.current: TurnLatency | None = None

    @staticmethod
    def wants(tag: str) -> bool:
        return tag in TAGS

    def feed(self, record: RawRecord) -> None:
        tag = record.tag
        if tag == "rt.assistant.audio.delta":  # the most frequent first
            turn = self.turn_of_response.get(record.payload["response_id"])
            if turn is not None:
                item_id = record.payload["item_id"]
                if item_id not in self.turn_of_audio_item:
                    self.turn_of_audio_item[item_id] = turn
                if turn.first_delta_ns is None and record.payload["pcm"]:
                    turn.first_delta_ns = record.t_ns
                    turn.audio_response = record.payload["response_id"]
        elif tag == "playback.progress":
            turn = self.turn_of_audio_item.get(record.payload["item_id"])
            if turn is not None and turn.first_played_ns is None and record.payload["played_ms"] > 0:
                turn.first_played_ns = record.t_ns
        elif tag == "rt.speech.stopped":
            self.stopped.setdefault(record.payload["item_id"], record.t_ns)
            turn = self.by_item.get(record.payload["item_id"])
            if turn is not None and turn.speech_stopped_ns is None:
                turn.speech_stopped_ns = record.t_ns
        elif tag == "rt.audio.committed":
            self.committed.setdefault(record.payload["item_id"], record.t_ns)
            turn = self.by_item.get(record.payload["item_id"])
            if turn is not None and turn.committed_ns is None:
                turn.committed_ns = record.t_ns
        elif tag == "rt.item.added":
            p = record.payload
            if p.get("item_type") == "message" and p.get("role") == "user" and p["item_id"] not in self.by_item:
                item_id = p["item_id"]
                self.current = TurnLatency(number=len(self.turns) + 1, item_id=item_id, added_ns=record.t_ns,
                                           speech_stopped_ns=self.stopped.get(item_id), committed_ns=self.committed.get(item_id))  # fmt: skip
                self.turns.append(self.current)
                self.by_item[item_id] = self.current
        elif tag == "rt.response.created":
            if self.current is not None:
                response_id = record.payload["response_id"]
                self.turn_of_response.setdefault(response_id, self.current)
                self.current.responses.append(response_id)
                if self.current.created_ns is None:
                    self.current.created_ns = record.t_ns
        elif tag == "rt.response.done":
            p = record.payload
            self.done_of_response.setdefault(p["response_id"], record.t_ns)
            total = p.get("usage", {}).get("total_tokens")
            if isinstance(total, int):
                self.windows.append(WindowPoint(t_ns=record.t_ns, response_id=p["response_id"], total_tokens=total, status=p["status"]))

    def result(self) -> Latency:
        for turn in self.turns:
            if turn.audio_response is not None:
                turn.done_ns = self.done_of_response.get(turn.audio_response)
            else:
                dones = [self.done_of_response[r] for r in turn.responses if r in self.done_of_response]
                turn.done_ns = max(dones) if dones else None
        return Latency(turns=tuple(self.turns), windows=tuple(self.windows))


def fold(recording: Recording) -> Latency:
    """The waterfall of a recording (one pass)."""
    waterfall = LatencyFold()
    recording.run(waterfall)
    return waterfall.result()


def render(latency: Latency) -> str:
    """The waterfall as a table (ms from the end of the user's speech), then p50/p95 and the seeds' pattern."""
    head = ["turn", *[STAGE_LABELS[s] for s in STAGES], "seeds' first audio", "ratio"]
    rows = [head]
    for t in latency.turns:
        cells = [f"#{t.number}"] + [_ms(t.ms(s)) for s in STAGES] + [_ms(t.seed_first_audio_ms), _ratio(t.ratio)]
        rows.append(cells)
    stats = latency.stats()
    for p in ("p50", "p95"):
        cells = [p] + [_ms(stats[s][p]) for s in STAGES] + [_ms(stats["seed_first_audio"][p]), _ratio(stats["ratio"][p])]
        rows.append(cells)
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(r)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.insert(len(latency.turns) + 2, "  ".join("-" * w for w in widths))
    origin = "ms from the end of the user's speech (server speech_stopped)"
    p50_ours, p50_seed = stats["first_played"]["p50"], stats["seed_first_audio"]["p50"]
    lines.append(origin)
    if p50_ours is not None and p50_seed is not None:
        lines.append(
            f"first audio heard: p50 {_ms(p50_ours)} ms streaming, {_ms(p50_seed)} ms if played only at response.done "
            f"(the seeds' pattern): {_ratio(stats['ratio']['p50'])} slower at the median"
        )
    return "\n".join(lines)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}x"
