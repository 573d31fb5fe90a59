"""The cost ledger: a pure fold over envelopes (like the conversation projection) of what a session billed.

What it folds:

* ``ResponseDone.usage`` (the realtime model): per response and cumulative input and output tokens, split
  into text and audio, with the cached part of the input (a subset of it, never an addition);
* ``InputTranscriptCompleted.usage`` (the transcription model): tokens, or seconds for duration billing;
* ``SummaryGenerated.usage`` (the summary model, named by the ``SummaryRequested`` before it);
* ``SessionCreated``/``SessionUpdated``: which realtime and transcription models the session uses;
* ``SummaryApplied``: when a summary took effect, for the tokens it saved;
* ``AssistantAudioDelta`` (only the length of its PCM, never the bytes) and ``ItemTruncated``: how much of a
  response's speech was received and how much of it stayed in the conversation after a barge-in.

Prices are USD per 1M tokens (``per_minute`` for duration-billed transcription), looked up by model name:
exact, else without a dated snapshot suffix (``gpt-realtime-2025-08-28`` uses ``gpt-realtime``, never
``gpt-realtime-2``), else the longest known prefix followed by a non-version suffix (``gpt-realtime-2.1-x``
uses ``gpt-realtime-2.1``; ``gpt-realtime-2.5`` has no price rather than gpt-realtime's). The defaults
(``prices.py``, each with the page it was read from and when) are meant to be edited: pass a mapping, or
``load_prices(path)`` of a TOML file with one table per model, each overriding only the keys it names. A bill
the model's table cannot price (tokens where only a per-minute price is known, or the reverse) is ``n/a``,
never $0.

Tokens saved by summarisation. Every response re-bills the whole conversation as input. When a summary is
applied, let ``before`` be what the next response would re-bill at least without it: the ``input_tokens`` of
the last response before it plus the part of that response's output that stays in the conversation (its
carried output), and ``after`` the ``input_tokens`` of the first response after it. A response's output is
carried whole unless its speech was cut by a barge-in: the server then truncates the assistant item to what
was played (``ItemTruncated.audio_end_ms``, its acknowledgement of ``conversation.item.truncate``) and the
next response re-bills only that part. The carried output is then ``output_tokens`` times the played
fraction: over the response's audio items (those with ``AssistantAudioDelta``s, 24 kHz PCM16: 48 bytes a
millisecond), the sum of ``min(audio_end_ms, ms received)`` for a truncated item and of the ms received for
an untruncated one, over the sum of the ms received (so within [0, 1]), rounded down. A response without
audio (text, tool calls) carries all its output. A truncation arrives before the next response but may come
before or after the truncated response's ``ResponseDone`` (a cancelled response), and after the summary, so
``before`` is computed when the first response after the summary is done, with the truncations seen by then.
The summary's reduction is ``max(0, before - after)``. Every response from then on re-bills that many fewer
input tokens than it would have without summarisation, so its saving is the sum of the reductions of all
summaries applied before it. The token estimate is conservative: what entered the conversation between the two responses
(the user's next turn) is counted against the saving, and a response that was created before the summary
took effect, whose input already holds the whole window, yields no reduction (up to the rounding of the
played fraction, which only approximates what the server kept). The summary model's own cost is shown
beside it.

The money saved is not those tokens at the full input price. Without summarisation the history a response
re-bills is an unchanged prefix of its input, which the server's prompt cache bills at the cached price; and
a summary inserted at the root changes that prefix, so the first response after it re-bills at full price
what would have been cached. So a response saves ``saved_tokens x cached price`` (the cached text and audio
prices weighted by its input's text/audio mix), and the first response after a summary also loses the cache
miss: ``missed x (uncached price - cached price)``. ``missed`` is what it billed uncached beyond what it
would have without summarisation (its input plus the saved tokens, less the previous response's input plus
that response's own saving: all of which the cache would have held). Of those, the summary's own text (its
completion tokens) is priced as text, the rest (older turns kept verbatim) at the response's uncached mix. That assumes
the whole previous input cached, so the estimate errs low. It can be negative: in a short conversation a
summary costs more in cache misses than it saves; it pays off as the conversation goes on.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from os import PathLike
from typing import Any

import attrs

from events.base import Event, EventError
from events.envelope import Envelope
from events.protocol import (
    AssistantAudioDelta,
    InputTranscriptCompleted,
    ItemTruncated,
    ResponseDone,
    SessionCreated,
    SessionUpdated,
)
from events.summary import SummaryApplied, SummaryGenerated, SummaryRequested
from pipeline.journal import RawRecord
from pipeline.models import (
    DEFAULT_REALTIME_MODEL,
    DEFAULT_SUMMARY_MODEL,
    DEFAULT_TRANSCRIPTION_MODEL,
    undated,
)
from pipeline.projections.prices import DEFAULT_PRICES, PRICE_KEYS, PRICE_SOURCES

__all__ = [
    "DEFAULT_PRICES",
    "LEDGER_EVENTS",
    "LEDGER_TAGS",
    "PRICE_KEYS",
    "PRICE_SOURCES",
    "Ledger",
    "LedgerFold",
    "Line",
    "ResponseCost",
    "Tokens",
    "load_prices",
    "merge_prices",
    "price_table",
]

LEDGER_EVENTS: frozenset[type[Event]] = frozenset(
    {ResponseDone, InputTranscriptCompleted, SummaryRequested, SummaryGenerated, SummaryApplied, SessionCreated, SessionUpdated,
     AssistantAudioDelta, ItemTruncated}
)  # fmt: skip
LEDGER_TAGS = frozenset(cls.TAG for cls in LEDGER_EVENTS)
PCM_BYTES_PER_MS = 48  # assistant speech: 24 kHz mono PCM16
Prices = Mapping[str, Mapping[str, float]]


def merge_prices(base: Prices, override: Prices | None) -> dict[str, dict[str, float]]:
    """``base`` with ``override``'s models and keys on top; unknown keys and negative prices are refused."""
    merged = {model: dict(table) for model, table in base.items()}
    for model, table in (override or {}).items():
        for key, value in table.items():
            if key not in PRICE_KEYS:
                raise ValueError(f"price table {model!r}: unknown key {key!r} (known: {', '.join(sorted(PRICE_KEYS))})")
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ValueError(f"price table {model!r}: {key} must be a non-negative number, not {value!r}")
            merged.setdefault(model, {})[key] = float(value)
    return merged


def load_prices(path: str | PathLike[str]) -> dict[str, dict[str, float]]:
    """The default prices overridden by a TOML file: one table per model (``["gpt-realtime"]``), optionally
    under a top-level ``[prices]`` table. Raises ``ValueError`` (one line) for a malformed file."""
    try:
        with open(path, "rb") as file:
            data = tomllib.load(file)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: not valid TOML ({exc})") from None
    tables = data.get("prices", data)
    if not isinstance(tables, dict) or not all(isinstance(t, dict) for t in tables.values()):
        raise ValueError(f"{path}: expected one table of prices per model")
    return merge_prices(DEFAULT_PRICES, tables)


_TOKEN_KEYS = PRICE_KEYS - {"per_minute"}


def price_table(prices: Prices, model: str) -> Mapping[str, float] | None:
    """The prices of ``model``: exact, else its undated name, else the longest known name it extends with a
    suffix that is not a version (``-mini``, ``-preview``; not ``-2`` or ``.5``); None when unknown."""
    for name in (model, undated(model)):
        if name in prices:
            return prices[name]
    known = [
        name for name in prices
        if model.startswith(name + "-") and not model[len(name) + 1 : len(name) + 2].isdigit()
    ]  # fmt: skip
    return prices[max(known, key=len)] if known else None


def _int(mapping: Any, key: str) -> int:
    value = mapping.get(key) if isinstance(mapping, Mapping) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


@attrs.frozen(kw_only=True)
class Tokens:
    """Token counts of one bill. ``*_cached`` are subsets of the matching input counts."""

    input_text: int = 0
    input_audio: int = 0
    cached_text: int = 0
    cached_audio: int = 0
    output_text: int = 0
    output_audio: int = 0

    @property
    def input(self) -> int:
        return self.input_text + self.input_audio

    @property
    def cached(self) -> int:
        return self.cached_text + self.cached_audio

    @property
    def output(self) -> int:
        return self.output_text + self.output_audio

    @property
    def total(self) -> int:
        return self.input + self.output

    def __add__(self, other: Tokens) -> Tokens:
        return Tokens(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in attrs.fields(Tokens)})

    @classmethod
    def from_realtime(cls, usage: Mapping[str, Any]) -> Tokens:
        """``response.done`` usage; without details, input and output count as text."""
        details, out_details = usage.get("input_token_details"), usage.get("output_token_details")
        cached = _int(details, "cached_tokens")
        cached_details = details.get("cached_tokens_details") if isinstance(details, Mapping) else None
        cached_audio = _int(cached_details, "audio_tokens")
        if isinstance(details, Mapping) and ("text_tokens" in details or "audio_tokens" in details):
            input_text, input_audio = _int(details, "text_tokens"), _int(details, "audio_tokens")
        else:
            input_text, input_audio = _int(usage, "input_tokens"), 0
        if isinstance(out_details, Mapping):
            output_text, output_audio = _int(out_details, "text_tokens"), _int(out_details, "audio_tokens")
        else:
            output_text, output_audio = _int(usage, "output_tokens"), 0
        return cls(
            input_text=input_text,
            input_audio=input_audio,
            cached_text=max(0, cached - cached_audio),
            cached_audio=cached_audio,
            output_text=output_text,
            output_audio=output_audio,
        )

    @classmethod
    def from_chat(cls, usage: Mapping[str, Any]) -> Tokens:
        """Chat completions usage (``prompt_tokens``, ``completion_tokens``)."""
        return cls(
            input_text=_int(usage, "prompt_tokens"),
            cached_text=_int(usage.get("prompt_tokens_details"), "cached_tokens"),
            output_text=_int(usage, "completion_tokens"),
        )

    def cost(self, table: Mapping[str, float] | None) -> float | None:
        """USD, or None when the model has no price."""
        if table is None:
            return None
        text_in, audio_in = table.get("text_input", 0.0), table.get("audio_input", 0.0)
        usd = (
            (self.input_text - self.cached_text) * text_in
            + self.cached_text * table.get("text_cached_input", text_in)
            + (self.input_audio - self.cached_audio) * audio_in
            + self.cached_audio * table.get("audio_cached_input", audio_in)
            + self.output_text * table.get("text_output", 0.0)
            + self.output_audio * table.get("audio_output", 0.0)
        )
        return usd / 1_000_000


@attrs.frozen(kw_only=True)
class ResponseCost:
    response_id: str
    status: str
    tokens: Tokens
    cost_usd: float | None
    saved_input_tokens: int = 0  # what it would have re-billed more without summarisation
    saved_usd: float | None = 0.0


@attrs.frozen(kw_only=True)
class Line:
    """One row of the summary table: a model's bills, summed."""

    count: int = 0
    tokens: Tokens = Tokens()
    seconds: float = 0.0  # duration-billed transcription
    cost_usd: float | None = 0.0

    def add(self, tokens: Tokens, cost: float | None, seconds: float = 0.0) -> Line:
        total = None if cost is None or self.cost_usd is None else self.cost_usd + cost
        return Line(count=self.count + 1, tokens=self.tokens + tokens, seconds=self.seconds + seconds, cost_usd=total)


class Ledger:
    def __init__(
        self,
        prices: Prices | None = None,
        *,
        model: str = DEFAULT_REALTIME_MODEL,
        transcription_model: str = DEFAULT_TRANSCRIPTION_MODEL,
        summary_model: str = DEFAULT_SUMMARY_MODEL,
    ) -> None:
        self.prices = merge_prices(DEFAULT_PRICES, prices)
        self.model = model
        self.transcription_model = transcription_model
        self.summary_model = summary_model
        self.responses: list[ResponseCost] = []
        self.transcription = Line()
        self.summaries = Line()
        self._summary_models: dict[str, str] = {}
        self._pending_summaries = 0  # applied since the last response, their reduction not yet measured
        self._last: tuple[str, Tokens] | None = None  # the last response done: its id and usage
        self._last_without = 0  # its input as it would have been without summarisation
        self._summary_text: dict[str, int] = {}  # summary id -> tokens of its text
        self._pending_summary_text = 0  # tokens of the summaries applied since the last response
        # the speech of the responses not yet superseded (by a later response done), for the played fraction
        self._audio_items: dict[str, list[str]] = {}  # response id -> its items with audio, in order
        self._audio_bytes: dict[str, int] = {}  # item id -> PCM bytes received
        self._truncated: dict[str, int] = {}  # item id -> audio_end_ms the server truncated it to
        self.reductions: list[int] = []  # tokens each summary took out of the window

    @classmethod
    def from_config(cls, config: Mapping[str, Any], prices: Prices | None = None) -> Ledger:
        return cls(
            prices,
            model=str(config.get("model", DEFAULT_REALTIME_MODEL)),
            transcription_model=str(config.get("transcription_model", DEFAULT_TRANSCRIPTION_MODEL)),
            summary_model=str(config.get("summary_model", DEFAULT_SUMMARY_MODEL)),
        )

    @classmethod
    def fold_config(cls, envelopes: Iterable[Envelope], config: Mapping[str, Any], prices: Prices | None = None) -> Ledger:
        """The ledger of a journal's envelopes, its models taken from the journal's config."""
        ledger = cls.from_config(config, prices)
        for env in envelopes:
            ledger.apply(env)
        return ledger

    @classmethod
    def fold(cls, envelopes: Iterable[Envelope], prices: Prices | None = None, **models: str) -> Ledger:
        ledger = cls(prices, **models)
        for env in envelopes:
            ledger.apply(env)
        return ledger

    def apply(self, env: Envelope) -> None:
        ev = env.event
        if isinstance(ev, AssistantAudioDelta):  # by far the most frequent: first, and cheap
            received = self._audio_bytes.get(ev.item_id)
            if received is None:
                self._audio_items.setdefault(ev.response_id, []).append(ev.item_id)
                received = 0
            self._audio_bytes[ev.item_id] = received + len(ev.pcm)
        elif isinstance(ev, ResponseDone):
            self._on_response(ev)
        elif isinstance(ev, ItemTruncated):
            if ev.item_id in self._audio_bytes:  # an item of a response still tracked
                self._truncated[ev.item_id] = ev.audio_end_ms
        elif isinstance(ev, InputTranscriptCompleted):
            self._on_transcription(ev.usage)
        elif isinstance(ev, SummaryRequested):
            self._summary_models[ev.summary_id] = ev.model
        elif isinstance(ev, SummaryGenerated):
            tokens = Tokens.from_chat(ev.usage)
            self._summary_text[ev.summary_id] = tokens.output_text or (len(ev.text) + 3) // 4
            model = self._summary_models.get(ev.summary_id, self.summary_model)
            self.summaries = self.summaries.add(tokens, tokens.cost(price_table(self.prices, model)))
        elif isinstance(ev, SummaryApplied):
            if self._last is not None:  # measured against the next response, when it is done
                self._pending_summaries += 1
                self._pending_summary_text += self._summary_text.get(ev.summary_id, 0)
        elif isinstance(ev, SessionCreated | SessionUpdated):
            self._on_session(ev.session)

    def _on_session(self, session: Mapping[str, Any]) -> None:
        if isinstance(session.get("model"), str):
            self.model = session["model"]
        audio = session.get("audio")
        source = audio.get("input") if isinstance(audio, Mapping) else None
        transcription = source.get("transcription") if isinstance(source, Mapping) else None
        if isinstance(transcription, Mapping) and isinstance(transcription.get("model"), str):
            self.transcription_model = transcription["model"]

    def _on_response(self, ev: ResponseDone) -> None:
        tokens = Tokens.from_realtime(ev.usage)
        if self._pending_summaries and self._last is not None:
            before = self._last[1].input + self._carried_output(*self._last)
            self.reductions.extend([max(0, before - tokens.input)] * self._pending_summaries)
        measured = bool(self._pending_summaries)
        summary_text, self._pending_summary_text = self._pending_summary_text, 0
        self._pending_summaries = 0
        if self._last is not None and self._last[0] != ev.response_id:
            self._forget(self._last[0])  # superseded: only the last response's speech is ever measured
        previous_without = self._last_without
        self._last = (ev.response_id, tokens)
        table = price_table(self.prices, self.model)
        cost = tokens.cost(table)
        saved = sum(self.reductions)
        self._last_without = tokens.input + saved
        saved_usd = None if cost is None else 0.0
        if saved and table is not None and tokens.input:
            cached_price, uncached_price = _input_prices(tokens, table)
            saved_usd = saved * cached_price
            if measured:  # the root insert changed the prefix: this response missed the cache
                uncached_without = max(0, self._last_without - previous_without)
                missed = max(0, tokens.input - tokens.cached - uncached_without)
                as_text = min(missed, summary_text)
                text_extra = _per_token(Tokens(input_text=1), table) - _per_token(Tokens(input_text=1, cached_text=1), table)
                saved_usd -= as_text * max(0.0, text_extra) + (missed - as_text) * max(0.0, uncached_price - cached_price)
        self.responses.append(
            ResponseCost(
                response_id=ev.response_id, status=ev.status, tokens=tokens, cost_usd=cost,
                saved_input_tokens=saved, saved_usd=saved_usd,
            )
        )  # fmt: skip

    def _carried_output(self, response_id: str, tokens: Tokens) -> int:
        """The part of a response's output the conversation still holds: all of it, unless its speech was
        truncated, then scaled by the fraction of the received audio that was kept (played)."""
        received = kept = 0
        for item_id in self._audio_items.get(response_id, ()):
            item_bytes = self._audio_bytes[item_id]
            received += item_bytes
            end_ms = self._truncated.get(item_id)
            kept += item_bytes if end_ms is None else min(item_bytes, end_ms * PCM_BYTES_PER_MS)
        if not received:  # no speech (text, tool calls): all of it is carried
            return tokens.output
        return tokens.output * kept // received

    def _forget(self, response_id: str) -> None:
        for item_id in self._audio_items.pop(response_id, ()):
            del self._audio_bytes[item_id]
            self._truncated.pop(item_id, None)

    def _on_transcription(self, usage: Mapping[str, Any]) -> None:
        table = price_table(self.prices, self.transcription_model)
        if usage.get("type") == "duration":
            seconds = float(usage.get("seconds") or 0.0)
            cost = None if table is None or "per_minute" not in table else seconds / 60 * table["per_minute"]
            self.transcription = self.transcription.add(Tokens(), cost, seconds)
            return
        details = usage.get("input_token_details")
        if isinstance(details, Mapping):
            tokens = Tokens(input_text=_int(details, "text_tokens"), input_audio=_int(details, "audio_tokens"))
        else:
            tokens = Tokens(input_audio=_int(usage, "input_tokens"))
        tokens = attrs.evolve(tokens, output_text=_int(usage, "output_tokens"))
        if table is not None and tokens.total and not _TOKEN_KEYS & table.keys():
            table = None  # billed by the minute only (gpt-transcribe): these tokens have no price, not $0
        self.transcription = self.transcription.add(tokens, tokens.cost(table))

    # -- views ----------------------------------------------------------------------------------------------

    @property
    def realtime(self) -> Line:
        line = Line()
        for response in self.responses:
            line = line.add(response.tokens, response.cost_usd)
        return line

    @property
    def saved_input_tokens(self) -> int:
        return sum(r.saved_input_tokens for r in self.responses)

    @property
    def saved_usd(self) -> float | None:
        costs = [r.saved_usd for r in self.responses]
        return None if any(c is None for c in costs) else sum(c or 0.0 for c in costs)

    @property
    def total_usd(self) -> float | None:
        costs = [self.realtime.cost_usd, self.transcription.cost_usd, self.summaries.cost_usd]
        return None if any(c is None for c in costs) else sum(c or 0.0 for c in costs)

    def as_dict(self) -> dict[str, Any]:
        def line(row: Line, model: str) -> dict[str, Any]:
            return {"model": model, "count": row.count, "seconds": row.seconds, "cost_usd": row.cost_usd, **_tokens(row.tokens)}

        return {
            "responses": [
                {"response_id": r.response_id, "status": r.status, **_tokens(r.tokens), "cost_usd": r.cost_usd,
                 "saved_input_tokens": r.saved_input_tokens, "saved_usd": r.saved_usd}
                for r in self.responses
            ],
            "realtime": line(self.realtime, self.model),
            "transcription": line(self.transcription, self.transcription_model),
            "summaries": line(self.summaries, self.summary_model),
            "saved": {"reductions": list(self.reductions), "input_tokens": self.saved_input_tokens, "usd": self.saved_usd},
            "total_usd": self.total_usd,
            "prices": {m: dict(self.prices[m]) for m in sorted(self.prices)},
        }  # fmt: skip

    def render(self, *, per_response: bool = True) -> str:
        rows = [("", "count", "input", "cached", "output", "total", "cost")]
        if per_response:
            for r in self.responses:
                saved = f"  (saved {r.saved_input_tokens:,})" if r.saved_input_tokens else ""
                rows.append((f"  {r.response_id} {r.status}{saved}", "", *_cells(r.tokens, r.cost_usd)))
        for name, row in (
            (f"realtime {self.model}", self.realtime),
            (f"transcription {self.transcription_model}", self.transcription),
            (f"summaries {self.summary_model}", self.summaries),
        ):
            rows.append((name, str(row.count), *_cells(row.tokens, row.cost_usd)))
        rows.append(("total", "", "", "", "", "", _usd(self.total_usd)))
        widths = [max(len(row[i]) for row in rows) for i in range(7)]
        lines = [
            "  ".join(cell.ljust(widths[0]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(row)).rstrip()
            for row in rows
        ]
        saving = f"saved by summarisation: {self.saved_input_tokens:,} input tokens"
        saving += f" ({_usd(self.saved_usd)} net of cache misses)"
        if self.reductions:
            saving += f" from {len(self.reductions)} summar{'y' if len(self.reductions) == 1 else 'ies'}"
            saving += f" costing {_usd(self.summaries.cost_usd)}"
        return "\n".join([*lines, saving])


class LedgerFold:
    """A ledger fed raw journal records in a pass shared with other read models (``Recording.run``): only the
    records of the ledger's events are built; one that no longer decodes is skipped and counted."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.undecodable = 0

    @staticmethod
    def wants(tag: str) -> bool:
        return tag in LEDGER_TAGS

    def feed(self, record: RawRecord) -> None:
        try:
            env = record.envelope()
        except EventError:
            self.undecodable += 1
            return
        self.ledger.apply(env)


def _per_token(tokens: Tokens, table: Mapping[str, float]) -> float:
    """USD per input token of ``tokens`` as billed (``Tokens.cost`` holds the price rules)."""
    return (tokens.cost(table) or 0.0) / tokens.input if tokens.input else 0.0


def _input_prices(tokens: Tokens, table: Mapping[str, float]) -> tuple[float, float]:
    """USD per input token of ``tokens``: (cached, uncached), each weighted by its text/audio mix (the uncached
    part's own mix when it has one)."""
    text, audio = tokens.input_text, tokens.input_audio
    cached = _per_token(Tokens(input_text=text, input_audio=audio, cached_text=text, cached_audio=audio), table)
    uncached_text, uncached_audio = text - tokens.cached_text, audio - tokens.cached_audio
    if uncached_text + uncached_audio <= 0:
        uncached_text, uncached_audio = text, audio
    return cached, _per_token(Tokens(input_text=uncached_text, input_audio=uncached_audio), table)


def _tokens(tokens: Tokens) -> dict[str, int]:
    return {**attrs.asdict(tokens), "input": tokens.input, "cached": tokens.cached, "output": tokens.output, "total": tokens.total}


def _usd(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"-${-value:.4f}" if value < -0.00005 else f"${abs(value):.4f}"


def _cells(tokens: Tokens, cost: float | None) -> tuple[str, str, str, str, str]:
    return (f"{tokens.input:,}", f"{tokens.cached:,}", f"{tokens.output:,}", f"{tokens.total:,}", _usd(cost))
