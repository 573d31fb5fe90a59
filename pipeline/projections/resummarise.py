"""The summariser re-run on a recorded call with other settings: where its summaries would fire, what they
would say, and what they would save, beside what was recorded. The journal is never changed.

How the recorded call is replayed
---------------------------------
* The recorded summariser is taken out: every record it published (verdicts, requests, its LLM edges, its
  ``conversation.item.create``/``delete`` commands and timers), the server's answers to those commands (the
  ``sum_NNN`` items it added, the items it deleted, errors naming its commands) and their ``client.sent``.
  What remains is the call as the user and the model had it (which, after a recorded summary, the model
  answered from that summary: the replay cannot change what was said).
* A fresh ``SummariserCore`` with the new settings is fed what it consumes, in ``seq`` order. Its timers
  fire on the recorded clock (at the request's time plus its delay, before the first later record). Each
  ``SummaryRequested`` goes to the summary model (``generate``: the caller's chat completions call); the
  answer is fed back as the edge. The server's part is played by the replay: a ``sum_NNN`` create is
  acknowledged at once (``ItemAdded`` at the root) and so is each delete (``ItemDeleted``).
* Token windows: every ``response.done`` is fed with the window it would have had under the new settings:
  the recorded ``total_tokens``, plus what the recorded summaries saved by then (the ledger's
  ``saved_input_tokens``), minus what the new summaries would have saved by then.
* What a summary saves, by the ledger's rule: every response after it re-bills ``reduction`` fewer input
  tokens. A replayed summary has no later response to measure it by, so its reduction is *estimated*: the
  tokens of the items it replaces less the tokens of its text, with the Realtime accounting (user audio 10
  tokens/s from the server's VAD bounds, assistant audio 20 tokens/s of what the item kept, text and tool
  items ~4 characters a token). The same estimate is shown for the recorded summaries beside their measured
  reduction, so the estimate's error is visible.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import attrs

from actors.summariser.core import NAME as SUMMARISER
from actors.summariser.core import SummariserCore
from events.base import Event, thaw
from events.commands import ClientCommand
from events.envelope import Envelope
from events.protocol import ItemAdded, ItemDeleted, ResponseDone
from events.runtime import TimerCancelled, TimerFired, TimerRequested
from events.summary import (
    SummaryAbandoned,
    SummaryApplied,
    SummaryFailed,
    SummaryGenerated,
    SummaryRequested,
    SummarySkipped,
    SummaryStarted,
)
from pipeline.projections.conversation import PROJECTION_EVENTS
from pipeline.projections.ledger import DEFAULT_PRICES, LEDGER_EVENTS, Ledger, Tokens, price_table
from pipeline.projections.recording import Recording

SETTINGS = ("summary_style", "summary_language", "summary_model", "summary_trigger", "keep_last_turns")
LEDGER_TAGS = frozenset(cls.TAG for cls in LEDGER_EVENTS)
CONSUMED = frozenset({*PROJECTION_EVENTS, TimerFired, SummaryGenerated, SummaryFailed})
Generate = Callable[[SummaryRequested], Awaitable[SummaryGenerated | SummaryFailed]]


@attrs.frozen(kw_only=True)
class Summary:
    summary_id: str
    response_id: str  # the response.done whose window started it
    t_s: float
    window: int
    text: str
    replaced_item_ids: tuple[str, ...]
    reduction: int | None  # measured (recorded, when a response followed) or None
    estimate: int
    model: str
    usage: Mapping[str, Any]
    outcome: str  # applied | abandoned: reason


@attrs.frozen(kw_only=True)
class Verdict:
    response_id: str
    t_s: float
    recorded_window: int | None
    window: int | None  # fed to the new core
    recorded: str  # started sum_001 / skipped: reason / -
    new: str


@attrs.frozen(kw_only=True)
class Result:
    settings: dict[str, Any]
    recorded: tuple[Summary, ...]
    new: tuple[Summary, ...]
    verdicts: tuple[Verdict, ...]
    recorded_saved: int
    new_saved: int
    new_summary_cost_usd: float | None
    envelopes: tuple[Envelope, ...]  # the re-summarised call, for --journal

    def as_dict(self) -> dict[str, Any]:
        return {
            "settings": self.settings,
            "recorded": [attrs.asdict(s) for s in self.recorded],
            "new": [attrs.asdict(s) for s in self.new],
            "verdicts": [attrs.asdict(v) for v in self.verdicts],
            "saved_input_tokens": {"recorded": self.recorded_saved, "new_estimate": self.new_saved},
            "new_summary_cost_usd": self.new_summary_cost_usd,
        }


def _tokens_of_text(text: str | None) -> int:
    return (len(text or "") + 3) // 4


class _ItemTokens:
    """The estimated tokens each item adds to the re-billed window (see the module docstring)."""

    def __init__(self) -> None:
        self.tokens: dict[str, int] = {}
        self._speech: dict[str, int] = {}
        self._audio_bytes: dict[str, int] = {}

    def apply(self, record: Any) -> None:
        tag, p = record.tag, record.payload
        if tag == "rt.speech.started":
            self._speech[p["item_id"]] = p["audio_start_ms"]
        elif tag == "rt.speech.stopped" and p["item_id"] in self._speech:
            self.tokens[p["item_id"]] = max(0, p["audio_end_ms"] - self._speech[p["item_id"]]) // 100
        elif tag == "rt.assistant.audio.delta":
            item_id = p["item_id"]
            self._audio_bytes[item_id] = self._audio_bytes.get(item_id, 0) + len(p["pcm"])
            self.tokens[item_id] = self._audio_bytes[item_id] // 48 // 50
        elif tag == "rt.item.truncated":
            self.tokens[p["item_id"]] = min(self.tokens.get(p["item_id"], 0), p["audio_end_ms"] // 50)
        elif tag == "rt.function_call":
            self.tokens[p["item_id"]] = _tokens_of_text(p["name"]) + _tokens_of_text(p["arguments"])
        elif tag == "rt.item.added" and p.get("item_id") not in self.tokens:
            if p.get("item_type") == "message" and p.get("role") == "user" and p.get("text"):
                self.tokens[p["item_id"]] = _tokens_of_text(p["text"])
        elif tag == "client.command" and p["type"] == "conversation.item.create":
            item = p["body"].get("item", {})
            if item.get("type") == "function_call_output":
                self.tokens[f"output:{item.get('call_id')}"] = _tokens_of_text(str(item.get("output", "")))

    def estimate(self, replaced: tuple[str, ...], summary_text: str, outputs: Mapping[str, str], known: Mapping[str, int]) -> int:
        total = 0
        for item_id in replaced:
            if item_id in known:  # a previous summary: its text
                total += known[item_id]
            elif item_id in outputs:
                total += self.tokens.get(f"output:{outputs[item_id]}", 0)
            else:
                total += self.tokens.get(item_id, 0)
        return max(0, total - _tokens_of_text(summary_text))


def _recorded_summarisation(recording: Recording) -> tuple[set[int], dict[str, dict[str, Any]]]:
    """The seqs of every record that belongs to the recorded summarisation, and its summaries' facts."""
    drop: set[int] = set()
    commands: set[str] = set()
    deleted: set[str] = set()
    summary_ids: set[str] = set()
    facts: dict[str, dict[str, Any]] = {}
    for r in recording.records:
        if r.source == SUMMARISER:
            drop.add(r.seq)
            p = r.payload
            if r.tag == "client.command":
                commands.add(p["event_id"])
                if p["type"] == "conversation.item.delete":
                    deleted.add(p["body"]["item_id"])
                item = p["body"].get("item") or {}
                if isinstance(item.get("id"), str):
                    summary_ids.add(item["id"])
            elif r.tag.startswith("summary.") and "summary_id" in p:
                fact = facts.setdefault(p["summary_id"], {"t_s": r.t_ns / 1e9})
                fact.setdefault("tags", []).append(r.tag)
                fact.update({k: thaw(v) for k, v in p.items() if k != "messages"})
    for r in recording.records:
        p = r.payload
        if (
            (r.tag == "client.sent" and p["event_id"] in commands)
            or (r.tag == "timer.fired" and str(p["key"]).startswith(f"{SUMMARISER}:"))
            or (r.tag in ("rt.item.added", "rt.item.done") and p["item_id"] in summary_ids)
            or (r.tag == "rt.item.deleted" and p["item_id"] in deleted)
            or (r.tag == "rt.error" and p.get("client_event_id") in commands)
        ):
            drop.add(r.seq)
    return drop, facts


async def resummarise(recording: Recording, overrides: Mapping[str, Any], generate: Generate) -> Result:
    config = {**recording.config, **{k: v for k, v in overrides.items() if v is not None}, "summary_enabled": True}
    core = SummariserCore.from_config(config)
    drop, recorded_facts = _recorded_summarisation(recording)
    ledger = Ledger.fold_config(recording.envelopes(LEDGER_TAGS), recording.config)
    recorded_saved = {r.response_id: r.saved_input_tokens for r in ledger.responses}
    reductions = iter(ledger.reductions)

    items = _ItemTokens()
    outputs: dict[str, str] = {}  # function_call_output item id -> call id
    summary_tokens: dict[str, int] = {}  # summary id -> tokens of its text (folded into later summaries)
    timers: list[tuple[int, int, str, int]] = []  # (due t_ns, order, key, requested seq)
    live_timers: dict[str, int] = {}  # key -> order of its live request
    out: list[Envelope] = []
    seq_map: dict[int, int] = {}  # recorded seq -> seq in the re-summarised call
    orders = itertools.count()
    seq = 0
    new: list[Summary] = []
    verdicts: list[Verdict] = []
    new_saved_total = 0  # tokens the new summaries take out of the window by now (sum of reductions)
    new_saved_billed = 0  # the ledger's saving: every response re-bills the reductions applied before it
    pending: dict[str, dict[str, Any]] = {}
    recorded_verdicts: dict[str, str] = {}
    for facts in recorded_facts.values():
        if "response_id" in facts:
            recorded_verdicts[facts["response_id"]] = f"started {facts['summary_id']}"
    for r in recording.records:
        if r.tag == "summary.skipped" and r.source == SUMMARISER:
            recorded_verdicts[r.payload["response_id"]] = f"skipped: {r.payload['reason']}"
    usage_total = Tokens()
    cost: float | None = 0.0

    def emit(event: Event, t_ns: int, source: str, cause: int | None) -> Envelope:
        nonlocal seq
        env = Envelope(seq=seq, t_ns=t_ns, source=source, cause=cause, event=event)
        seq += 1
        out.append(env)
        return env

    async def feed(env: Envelope) -> None:
        """Give the core one envelope, and play the outside world's part for whatever it asks."""
        nonlocal new_saved_total, usage_total, cost
        queue = [env]
        while queue:
            current = queue.pop(0)
            if type(current.event) not in CONSUMED:
                continue
            for event in core.handle(current):
                produced = emit(event, current.t_ns, SUMMARISER, current.seq)
                if isinstance(event, TimerRequested):
                    order = next(orders)
                    live_timers[event.key] = order
                    heapq.heappush(timers, (current.t_ns + event.delay_ms * 1_000_000, order, event.key, produced.seq))
                elif isinstance(event, TimerCancelled):
                    live_timers.pop(event.key, None)
                elif isinstance(event, SummaryStarted):
                    pending[event.summary_id] = {"response_id": event.response_id, "window": event.window, "t_s": current.t_ns / 1e9}
                elif isinstance(event, SummaryRequested):
                    answer = await generate(event)
                    pending.setdefault(event.summary_id, {}).update(replaced=event.item_ids_to_replace, model=event.model)
                    if isinstance(answer, SummaryGenerated):
                        pending[event.summary_id].update(text=answer.text, usage=thaw(answer.usage))
                        tokens = Tokens.from_chat(answer.usage)
                        usage_total += tokens
                        price = tokens.cost(price_table(DEFAULT_PRICES, event.model))
                        cost = None if price is None or cost is None else cost + price
                    queue.append(emit(answer, current.t_ns, SUMMARISER, produced.seq))
                elif isinstance(event, ClientCommand) and event.type == "conversation.item.create":
                    item = event.body["item"]
                    queue.append(emit(ItemAdded(item_id=item["id"], item_type="message", role="system", status="completed",
                                                text=item["content"][0]["text"]), current.t_ns, "resummarise", produced.seq))  # fmt: skip
                elif isinstance(event, ClientCommand) and event.type == "conversation.item.delete":
                    queue.append(emit(ItemDeleted(item_id=event.body["item_id"]), current.t_ns, "resummarise", produced.seq))
                elif isinstance(event, SummaryApplied | SummaryAbandoned):
                    settle(event, current.t_ns)

    def settle(event: SummaryApplied | SummaryAbandoned, t_ns: int) -> None:
        nonlocal new_saved_total
        facts = pending.pop(event.summary_id, {})
        text = str(facts.get("text", ""))
        replaced = tuple(getattr(event, "replaced_item_ids", ()))
        estimate = items.estimate(replaced, text, outputs, summary_tokens) if isinstance(event, SummaryApplied) else 0
        if isinstance(event, SummaryApplied):
            summary_tokens[event.summary_id] = _tokens_of_text(text)
            new_saved_total += estimate
        new.append(Summary(
            summary_id=event.summary_id, response_id=str(facts.get("response_id", "")), t_s=float(facts.get("t_s", t_ns / 1e9)),
            window=int(facts.get("window", 0)), text=text, replaced_item_ids=replaced, reduction=None, estimate=estimate,
            model=str(facts.get("model", config.get("summary_model", ""))), usage=facts.get("usage", {}),
            outcome=f"abandoned: {event.reason}" if isinstance(event, SummaryAbandoned) else "applied",
        ))  # fmt: skip

    for record in recording.records:
        while timers and timers[0][0] <= record.t_ns:
            due, order, key, requested = heapq.heappop(timers)
            if live_timers.get(key) == order:
                del live_timers[key]
                await feed(emit(TimerFired(key=key, requested_seq=requested), due, "clock", requested))
        if record.seq in drop:
            continue
        items.apply(record)
        if record.tag == "rt.item.added" and record.payload.get("item_type") == "function_call_output":
            outputs[record.payload["item_id"]] = str(record.payload.get("call_id"))
        try:
            env = record.envelope()
        except ValueError:
            continue
        if isinstance(env.event, ResponseDone):
            ev = env.event
            recorded = ev.total_tokens
            window = None if recorded is None else recorded + recorded_saved.get(ev.response_id, 0) - new_saved_total
            if window is not None:
                new_saved_billed += new_saved_total
                usage = {**thaw(ev.usage), "total_tokens": window}
                if isinstance(usage.get("input_tokens"), int):
                    usage["input_tokens"] = max(0, usage["input_tokens"] + window - recorded)  # type: ignore[operator]
                env = attrs.evolve(env, event=attrs.evolve(ev, usage=usage))
            env = emit(env.event, env.t_ns, env.source, seq_map.get(record.cause or -1))
            seq_map[record.seq] = env.seq
            mark = len(out)
            await feed(env)
            verdict = "-"
            for produced in out[mark:]:
                if produced.cause == env.seq and isinstance(produced.event, SummaryStarted):
                    verdict = f"started {produced.event.summary_id}"
                elif produced.cause == env.seq and isinstance(produced.event, SummarySkipped):
                    verdict = f"skipped: {produced.event.reason}"
            if verdict != "-" or ev.response_id in recorded_verdicts:
                verdicts.append(Verdict(response_id=ev.response_id, t_s=env.t_ns / 1e9, recorded_window=recorded, window=window,
                                        recorded=recorded_verdicts.get(ev.response_id, "-"), new=verdict))  # fmt: skip
            continue
        env = emit(env.event, env.t_ns, env.source, seq_map.get(record.cause or -1))
        seq_map[record.seq] = env.seq
        await feed(env)

    recorded_items = _ItemTokens()
    recorded_outputs: dict[str, str] = {}
    for record in recording.records:
        recorded_items.apply(record)
        if record.tag == "rt.item.added" and record.payload.get("item_type") == "function_call_output":
            recorded_outputs[record.payload["item_id"]] = str(record.payload.get("call_id"))
    recorded_list: list[Summary] = []
    known: dict[str, int] = {}
    for summary_id, facts in sorted(recorded_facts.items()):
        applied = "summary.applied" in facts.get("tags", [])
        text = str(facts.get("text", ""))
        replaced = tuple(facts.get("replaced_item_ids", ()))
        estimate = recorded_items.estimate(replaced, text, recorded_outputs, known) if applied else 0
        known[summary_id] = _tokens_of_text(text)
        recorded_list.append(Summary(
            summary_id=summary_id, response_id=str(facts.get("response_id", "")), t_s=float(facts["t_s"]),
            window=int(facts.get("window", 0)), text=text, replaced_item_ids=replaced,
            reduction=next(reductions, None) if applied else None, estimate=estimate, model=str(facts.get("model", "")),
            usage=facts.get("usage", {}), outcome="applied" if applied else f"abandoned: {facts.get('reason', '')}",
        ))  # fmt: skip
    settings = {k: config.get(k) for k in SETTINGS}
    return Result(settings=settings, recorded=tuple(recorded_list), new=tuple(new), verdicts=tuple(verdicts),
                  recorded_saved=ledger.saved_input_tokens, new_saved=new_saved_billed, new_summary_cost_usd=cost,
                  envelopes=tuple(out))  # fmt: skip
