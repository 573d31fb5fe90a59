"""Two calls side by side: where their conversations part, and what they cost and took, response by response.

The conversation of a call is compared turn by turn (turn 0 is what came before the first user turn): what the
user said (or why there is no transcript), which tools were called with which arguments, what the assistant
answered (with where a barge-in cut it), and which summaries were applied. Texts are compared with runs of
whitespace collapsed and with every ``ignore`` pattern (a regular expression) masked, so a volatile value
(the time of day a tool returns) need not count as a difference.

Beside it: per response (paired by order) the tokens and cost by the ledger's rules, per turn the latency of
each stage, and the totals. ``conversation_differs`` is the verdict CI uses; ``timing_differs`` counts a
latency stage that moved by more than ``tolerance_ms`` or a token count that changed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

import attrs

from pipeline.projections import latency as latency_model
from pipeline.projections import timeline as timeline_model
from pipeline.projections.ledger import LEDGER_TAGS, Ledger, LedgerFold
from pipeline.projections.recording import Recording

__all__ = ["LEDGER_TAGS", "Diff", "Side", "TurnDifference", "TurnView", "compare", "render", "turn_views"]


@attrs.frozen(kw_only=True)
class TurnView:
    """What one turn of the conversation said, as compared."""

    number: int
    user: str | None = None
    tools: tuple[str, ...] = ()
    answers: tuple[str, ...] = ()
    summaries: tuple[str, ...] = ()

    def fields(self) -> dict[str, Any]:
        return {"user": self.user, "tools": list(self.tools), "answers": list(self.answers), "summaries": list(self.summaries)}


@attrs.frozen(kw_only=True)
class Side:
    """One call as the diff sees it."""

    recording: Recording
    turns: tuple[TurnView, ...]
    ledger: Ledger
    latency: latency_model.Latency

    @classmethod
    def of(cls, recording: Recording, ignore: Sequence[str] = ()) -> Side:
        """The call's turns, ledger and latency, in one pass over its journal."""
        timeline, waterfall = timeline_model.TimelineFold(), latency_model.LatencyFold()
        ledger = LedgerFold(Ledger.from_config(recording.config))
        recording.run(timeline, waterfall, ledger)
        patterns = [re.compile(p) for p in ignore]
        return cls(recording=recording, turns=tuple(turn_views(timeline.result(recording.duration_ns), patterns)),
                   ledger=ledger.ledger, latency=waterfall.result())  # fmt: skip


def _norm(text: str, patterns: Sequence[re.Pattern[str]]) -> str:
    text = " ".join(text.split())
    for pattern in patterns:
        text = pattern.sub("…", text)
    return text


def turn_views(timeline: timeline_model.Timeline, patterns: Sequence[re.Pattern[str]] = ()) -> list[TurnView]:
    by_turn: dict[int, dict[str, Any]] = {n: {"user": None, "tools": [], "answers": [], "summaries": []} for n in range(timeline.turns + 1)}
    for e in timeline.entries:
        slot = by_turn[e.turn]
        if e.kind == "user":
            slot["user"] = _norm(e.text, patterns)
        elif e.kind == "assistant":
            slot["answers"].append(_norm(e.text, patterns))
        elif e.kind == "tool":
            slot["tools"].append(_norm(f"{e.data['name']} {e.data['arguments']}", patterns))
        elif e.kind == "summary" and e.data.get("outcome") == "applied":
            replaced = len(e.data.get("replaced_item_ids", []))
            slot["summaries"].append(_norm(f"{e.data['summary_id']} replaced {replaced} items: {e.data.get('summary', '')}", patterns))
    return [
        TurnView(number=n, user=s["user"], tools=tuple(s["tools"]), answers=tuple(s["answers"]), summaries=tuple(s["summaries"]))
        for n, s in sorted(by_turn.items())
    ]


@attrs.frozen(kw_only=True)
class TurnDifference:
    number: int
    field: str  # user | tools | answers | summaries | missing
    a: Any
    b: Any

    def describe(self) -> str:
        what = {"user": "the user said", "tools": "tool calls", "answers": "the assistant answered",
                "summaries": "summaries applied", "missing": "the turn exists in one call only"}[self.field]  # fmt: skip
        return f"turn {self.number}: {what}\n  A: {_show(self.a)}\n  B: {_show(self.b)}"


def _show(value: Any) -> str:
    if value is None:
        return "(nothing)"
    if isinstance(value, list | tuple):
        return " | ".join(str(v) for v in value) if value else "(none)"
    return str(value)


@attrs.frozen(kw_only=True)
class Diff:
    a: Side
    b: Side
    differences: tuple[TurnDifference, ...]
    timing: tuple[dict[str, Any], ...]
    responses: tuple[dict[str, Any], ...]
    tolerance_ms: float

    @property
    def conversation_differs(self) -> bool:
        return bool(self.differences)

    @property
    def first(self) -> TurnDifference | None:
        return self.differences[0] if self.differences else None

    @property
    def timing_differs(self) -> bool:
        moved = any(abs(row["delta_ms"]) > self.tolerance_ms for row in self.timing if row["delta_ms"] is not None)
        tokens = any(row["delta_tokens"] != 0 for row in self.responses)
        return moved or tokens or len(self.a.ledger.responses) != len(self.b.ledger.responses)

    def totals(self) -> dict[str, Any]:
        def side(s: Side) -> dict[str, Any]:
            rt = s.ledger.realtime
            return {
                "user_turns": len(s.turns) - 1,
                "responses": rt.count,
                "input_tokens": rt.tokens.input,
                "output_tokens": rt.tokens.output,
                "total_tokens": rt.tokens.total,
                "cost_usd": s.ledger.total_usd,
                "session_s": round(s.recording.duration_ns / 1e9, 3),
                "first_played_p50_ms": s.latency.stats()["first_played"]["p50"],
            }

        return {"a": side(self.a), "b": side(self.b)}

    def as_dict(self) -> dict[str, Any]:
        return {
            "conversation_differs": self.conversation_differs,
            "timing_differs": self.timing_differs,
            "first_difference": attrs.asdict(self.first) if self.first else None,
            "differences": [attrs.asdict(d) for d in self.differences],
            "responses": list(self.responses),
            "latency": list(self.timing),
            "totals": self.totals(),
        }


def compare(a: Side, b: Side, *, tolerance_ms: float = 50.0) -> Diff:
    differences = []
    for number in range(max(len(a.turns), len(b.turns))):
        ta = a.turns[number] if number < len(a.turns) else None
        tb = b.turns[number] if number < len(b.turns) else None
        if ta is None or tb is None:
            differences.append(TurnDifference(number=number, field="missing", a=ta.fields() if ta else None, b=tb.fields() if tb else None))
            continue
        for field in ("user", "tools", "answers", "summaries"):
            va, vb = getattr(ta, field), getattr(tb, field)
            if va != vb:
                differences.append(TurnDifference(number=number, field=field, a=va, b=vb))
    return Diff(a=a, b=b, differences=tuple(differences), timing=tuple(_timing(a, b)),
                responses=tuple(_responses(a, b)), tolerance_ms=tolerance_ms)  # fmt: skip


def _timing(a: Side, b: Side) -> Iterable[dict[str, Any]]:
    for ta, tb in zip(a.latency.turns, b.latency.turns, strict=False):
        for stage in latency_model.STAGES:
            va, vb = ta.ms(stage), tb.ms(stage)
            yield {"turn": ta.number, "stage": stage, "a_ms": va, "b_ms": vb,
                   "delta_ms": None if va is None or vb is None else round(vb - va, 1)}  # fmt: skip


def _responses(a: Side, b: Side) -> Iterable[dict[str, Any]]:
    ra, rb = a.ledger.responses, b.ledger.responses
    for index in range(max(len(ra), len(rb))):
        x = ra[index] if index < len(ra) else None
        y = rb[index] if index < len(rb) else None
        tokens_a = x.tokens.total if x else 0
        tokens_b = y.tokens.total if y else 0
        cost_a = x.cost_usd if x else 0.0
        cost_b = y.cost_usd if y else 0.0
        yield {
            "index": index + 1,
            "a": {"response_id": x.response_id, "status": x.status, "total_tokens": tokens_a, "cost_usd": cost_a} if x else None,
            "b": {"response_id": y.response_id, "status": y.status, "total_tokens": tokens_b, "cost_usd": cost_b} if y else None,
            "delta_tokens": tokens_b - tokens_a,
            "delta_usd": None if cost_a is None or cost_b is None else cost_b - cost_a,
        }


def render(diff: Diff, *, limit: int = 5) -> str:
    lines = []
    for name, side in (("A", diff.a), ("B", diff.b)):
        rec = side.recording
        lines.append(f"{name}  {rec.path}  ({len(side.turns) - 1} user turns, {rec.duration_ns / 1e9:.1f} s, {rec.end.reason.value})")
    first = diff.first
    if first is None:
        lines.append("conversation: the same, turn by turn")
    else:
        lines.append(f"conversation: differs, first at turn {first.number} ({len(diff.differences)} difference(s))")
        for d in diff.differences[:limit]:
            lines.append(d.describe())
        if len(diff.differences) > limit:
            lines.append(f"… and {len(diff.differences) - limit} more (--json lists them all)")
    lines.append("responses (tokens, cost):")
    for row in diff.responses:
        a, b = row["a"], row["b"]
        left = f"{a['response_id']} {a['status']:<9} {a['total_tokens']:>7,}" if a else "(none)"
        right = f"{b['response_id']} {b['status']:<9} {b['total_tokens']:>7,}" if b else "(none)"
        usd = "" if row["delta_usd"] is None else f"  {row['delta_usd']:+.4f} USD"
        lines.append(f"  #{row['index']:<3} A {left}   B {right}   Δ {row['delta_tokens']:+,}{usd}")
    lines.append(f"latency, first audio played (ms from speech end; moved more than {diff.tolerance_ms:g} ms marked *):")
    for row in diff.timing:
        if row["stage"] != "first_played":
            continue
        mark = "*" if row["delta_ms"] is not None and abs(row["delta_ms"]) > diff.tolerance_ms else " "
        delta = "-" if row["delta_ms"] is None else f"{row['delta_ms']:+,.0f}"
        lines.append(f" {mark} turn {row['turn']:<3} A {_ms(row['a_ms']):>8}  B {_ms(row['b_ms']):>8}  Δ {delta}")
    totals = diff.totals()
    for key in ("user_turns", "responses", "input_tokens", "output_tokens", "total_tokens", "cost_usd", "session_s", "first_played_p50_ms"):
        va, vb = totals["a"][key], totals["b"][key]
        if isinstance(va, float) and isinstance(vb, float):
            text = f"A {va:,.4f}  B {vb:,.4f}  Δ {vb - va:+,.4f}"
        elif isinstance(va, int) and isinstance(vb, int):
            text = f"A {va:,}  B {vb:,}  Δ {vb - va:+,}"
        else:
            text = f"A {va}  B {vb}"
        lines.append(f"total {key:<20} {text}")
    return "\n".join(lines)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"
