"""The call as a timeline a person reads: a pure fold of a recording into entries in conversation order.

Each entry has a session time, a kind, the user turn it belongs to, and a short text; ``data`` holds the
details (what ``--json`` prints). Kinds:

* ``user``: a user item, anchored where the server added it (its commit), with the transcript, or why there
  is none (``TranscriptUnavailable`` and its reason, or still pending when the journal ends); a transcript
  that arrived after the turn was given up on (``transcript.late``) is shown and marked late. Turns are
  numbered from 1 in the order user items were added; what comes before the first is turn 0.
* ``assistant``: an assistant message, anchored where it was added, with its text and, when a barge-in cut
  it, where (``PlaybackInterrupted.played_ms``, else the server's ``ItemTruncated.audio_end_ms``).
* ``tool``: a function call with its arguments, anchored at ``response.function_call_arguments.done``, and
  its outcome (``ToolResult``/``ToolRejected``, else the ``function_call_output`` we sent) and duration.
* ``summary``: a summary's outcome (applied, abandoned, skipped) with its text, what it replaced, and the
  token window before (``SummaryApplied.window_before``) and after (the next ``response.done`` that reports
  one: a response cancelled before it began reports 0).
* ``window``: the token window after each ``response.done``, with its status.
* ``session``, ``error``, ``drop``, ``connection``: lifecycle, failures, losses (consecutive drops of one
  subscriber are one entry), connection changes (also tags this rtpipe does not know that name one).

Entries are ordered by session time, then ``seq``. Because the server adds the user's item before the
response's items, this is conversation order even though a transcript often resolves after the reply
started: the text is filled into the entry anchored at the item, as in the seed's printout.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from events.base import thaw
from events.envelope import Envelope
from pipeline.journal import RawRecord
from pipeline.projections.recording import NS_PER_MS, Recording

KINDS = ("session", "user", "assistant", "tool", "summary", "window", "error", "drop", "connection")

# the tags the timeline builds into events (everything else is skipped, or shown raw when unknown)
TAGS = frozenset(
    {
        "session.started", "session.ready", "session.ending", "session.failed", "capture.ended",
        "rt.item.added", "rt.item.done", "rt.item.truncated", "transcript.resolved", "transcript.unavailable", "transcript.late",
        "rt.assistant.text.delta", "rt.assistant.text.done", "rt.function_call", "tool.result", "tool.rejected",
        "client.command", "client.send_failed", "rt.response.done", "playback.interrupted",
        "summary.started", "summary.skipped", "summary.generated", "summary.failed", "summary.applied",
        "summary.abandoned", "rt.error", "rt.protocol_violation", "actor.failed", "bus.dropped",
        "capture.dropped", "rt.connection.closed",
    }
)  # fmt: skip
_CONNECTION_WORDS = ("connection", "reconnect", "resume", "reseed")


@attrs.define
class Entry:
    """One line of the timeline (mutable while folding: a transcript fills the user entry later)."""

    t_ns: int
    seq: int
    kind: str
    turn: int
    text: str
    item_id: str | None = None
    data: dict[str, Any] = attrs.Factory(dict)

    @property
    def t_s(self) -> float:
        return self.t_ns / 1e9

    def as_dict(self) -> dict[str, Any]:
        return {"t_s": round(self.t_s, 3), "seq": self.seq, "kind": self.kind, "turn": self.turn,
                "item_id": self.item_id, "text": self.text, **self.data}  # fmt: skip


@attrs.frozen(kw_only=True)
class Timeline:
    entries: tuple[Entry, ...]
    turns: int  # user turns
    duration_ns: int

    def of_kind(self, kind: str) -> list[Entry]:
        return [e for e in self.entries if e.kind == kind]

    def user_turns(self) -> list[Entry]:
        return self.of_kind("user")

    def select(self, *, start_ns: int | None = None, end_ns: int | None = None, turn: int | None = None) -> list[Entry]:
        return [
            e
            for e in self.entries
            if (start_ns is None or e.t_ns >= start_ns) and (end_ns is None or e.t_ns <= end_ns) and (turn is None or e.turn == turn)
        ]


class _Fold:
    def __init__(self) -> None:
        self.entries: list[Entry] = []
        self.turn = 0
        self.items: dict[str, Entry] = {}  # user and assistant entries by item id
        self.early: dict[str, list[Any]] = {}  # facts about items not yet added
        self.tools: dict[str, Entry] = {}  # by call id
        self.summaries: dict[str, Entry] = {}
        self.summary_text: dict[str, str] = {}
        self.awaiting_window: list[Entry] = []  # applied summaries waiting for the next response.done
        self.labels: dict[str, str] = {}  # item id -> "user #3", "assistant", "tool call get_weather"...
        self.last_drop: Entry | None = None

    def add(self, env: Envelope | RawRecord, kind: str, text: str, item_id: str | None = None, **data: Any) -> Entry:
        entry = Entry(t_ns=env.t_ns, seq=env.seq, kind=kind, turn=self.turn, text=text, item_id=item_id, data=data)
        self.entries.append(entry)
        if kind != "drop":
            self.last_drop = None
        return entry

    # -- items ----------------------------------------------------------------------------------------------

    def item_added(self, env: Envelope) -> None:
        ev: Any = env.event
        if ev.item_id in self.items:
            return
        if ev.item_type == "message" and ev.role == "user":
            self.turn += 1
            typed = ev.text if ev.text else None
            entry = self.add(env, "user", "", ev.item_id, number=self.turn, transcript=typed,
                             status="resolved" if typed else "pending", reason=None)  # fmt: skip
            self.labels[ev.item_id] = f"user #{self.turn}"
        elif ev.item_type == "message" and ev.role == "assistant":
            entry = self.add(env, "assistant", "", ev.item_id, transcript=ev.text, status="streaming", cut_ms=None)
            self.labels[ev.item_id] = "assistant"
        elif ev.item_type == "message" and ev.role == "system":
            self.labels[ev.item_id] = f"summary {ev.item_id}" if ev.item_id.startswith("sum_") else "system"
            if not ev.item_id.startswith("sum_"):
                self.add(env, "session", f"system message: {_clip(ev.text or '')}", ev.item_id)
            return
        else:
            if ev.item_type == "function_call":
                self.labels[ev.item_id] = f"tool call {ev.name or ''}".strip()
            elif ev.item_type == "function_call_output":
                self.labels[ev.item_id] = "tool output"
            return
        self.items[ev.item_id] = entry
        for fact in self.early.pop(ev.item_id, ()):
            self.item_fact(fact)
        self.render(entry)

    def item_fact(self, env: Envelope) -> None:
        ev: Any = env.event
        item_id = ev.item_id
        entry = self.items.get(item_id)
        if entry is None:
            self.early.setdefault(item_id, []).append(env)
            return
        tag, d = ev.TAG, entry.data
        if tag == "transcript.resolved":
            d.update(transcript=ev.text, status="resolved", via=ev.via, resolved_t_s=round(env.t_ns / 1e9, 3))
        elif tag == "transcript.unavailable":
            d.update(status="unavailable", reason=f"{ev.reason}: {ev.detail}" if ev.detail else ev.reason)
        elif tag == "transcript.late":  # the words came after the turn was given up on: shown, marked late
            d.update(transcript=ev.text, status="late", late_t_s=round(env.t_ns / 1e9, 3))
        elif tag == "rt.assistant.text.delta":
            d["transcript"] = (d.get("transcript") or "") + ev.delta
        elif tag in ("rt.assistant.text.done", "rt.item.done"):
            if ev.text is not None:
                d["transcript"] = ev.text
            if tag == "rt.item.done" and ev.status == "incomplete":
                d["status"] = "incomplete"
            elif d.get("status") == "streaming":
                d["status"] = "completed"
        elif tag == "rt.item.truncated":
            if d.get("cut_ms") is None:
                d["cut_ms"] = ev.audio_end_ms
            d["status"] = "interrupted"
        elif tag == "playback.interrupted":
            d.update(cut_ms=ev.played_ms, status="interrupted")
        self.render(entry)

    @staticmethod
    def render(entry: Entry) -> None:
        d = entry.data
        text = " ".join((d.get("transcript") or "").split())
        if entry.kind == "user":
            if d["status"] == "unavailable":
                text = f"(no transcript: {d['reason']})"
            elif d["status"] == "late":
                text = f"{text or '(empty transcript)'} [transcript late, after: {d.get('reason') or 'giving up'}]"
            elif d["status"] == "pending":
                text = "(no transcript: still pending when the journal ends)"
            elif not text:
                text = "(empty transcript)"
        else:
            text = text or "(no text)"
            if d.get("cut_ms") is not None:
                text += f" [cut at {d['cut_ms']:,} ms]"
            elif d.get("status") == "incomplete":
                text += " [incomplete]"
        entry.text = text

    # -- tools ----------------------------------------------------------------------------------------------

    def function_call(self, env: Envelope) -> None:
        ev: Any = env.event
        if ev.call_id in self.tools:
            return
        self.labels[ev.item_id] = f"tool call {ev.name}"
        entry = self.add(env, "tool", "", ev.item_id, name=ev.name, arguments=ev.arguments, call_id=ev.call_id,
                         response_id=ev.response_id, output=None, ok=None, error_kind=None, duration_ms=None)  # fmt: skip
        self.tools[ev.call_id] = entry
        self.render_tool(entry)

    def tool_outcome(self, env: Envelope, call_id: str, output: str, ok: bool | None, error_kind: str | None, duration_ms: int | None) -> None:
        entry = self.tools.get(call_id)
        if entry is None or (entry.data["output"] is not None and env.event.TAG == "client.command"):
            return
        if duration_ms is None:
            duration_ms = (env.t_ns - entry.t_ns) // NS_PER_MS
        entry.data.update(output=output, ok=ok, error_kind=error_kind, duration_ms=duration_ms)
        self.render_tool(entry)

    @staticmethod
    def render_tool(entry: Entry) -> None:
        d = entry.data
        text = f"{d['name']} {d['arguments']}"
        if d["output"] is None:
            text += " → (no result)"
        else:
            outcome = "ok" if d["ok"] else (d["error_kind"] or "error")
            text += f" → {_clip(d['output'], 160)} ({outcome}, {d['duration_ms']:,} ms)"
        entry.text = text

    def command(self, env: Envelope) -> None:
        ev: Any = env.event
        item = ev.body.get("item")
        if ev.type == "conversation.item.create" and isinstance(item, Mapping) and item.get("type") == "function_call_output":
            output = str(item.get("output", ""))
            self.tool_outcome(env, str(item.get("call_id", "")), output, None, None, None)

    # -- summaries, windows ---------------------------------------------------------------------------------

    def summary(self, env: Envelope) -> None:
        ev: Any = env.event
        tag = ev.TAG
        if tag == "summary.generated":
            self.summary_text[ev.summary_id] = ev.text
        elif tag == "summary.skipped":
            self.add(env, "summary", f"skipped at {ev.window:,} tokens: {ev.reason}", None, outcome="skipped",
                     response_id=ev.response_id, window_before=ev.window, reason=ev.reason)  # fmt: skip
        elif tag == "summary.started":
            self.summaries[ev.summary_id] = Entry(t_ns=env.t_ns, seq=env.seq, kind="summary", turn=self.turn, text="",
                                                  data={"summary_id": ev.summary_id, "window_trigger": ev.window})  # fmt: skip
        elif tag == "summary.failed":
            self.summary_text.pop(ev.summary_id, None)
            self.summaries.setdefault(ev.summary_id, Entry(t_ns=env.t_ns, seq=env.seq, kind="summary", turn=self.turn, text="")).data["error"] = ev.error
        elif tag == "summary.abandoned":
            started = self.summaries.pop(ev.summary_id, None)
            data = {**(started.data if started else {}), "summary_id": ev.summary_id, "outcome": "abandoned", "reason": ev.reason}
            self.add(env, "summary", f"{ev.summary_id} abandoned: {ev.reason}", None, **data)
        elif tag == "summary.applied":
            self.summaries.pop(ev.summary_id, None)
            replaced = [self.labels.get(i, i) for i in ev.replaced_item_ids]
            text = self.summary_text.get(ev.summary_id, "")
            entry = self.add(env, "summary", "", ev.summary_id, summary_id=ev.summary_id, outcome="applied", summary=text,
                             replaced=replaced, replaced_item_ids=list(ev.replaced_item_ids), replaced_turns=ev.replaced_turns,
                             undeleted_item_ids=list(ev.undeleted_item_ids), window_before=ev.window_before, window_after=None)  # fmt: skip
            self.awaiting_window.append(entry)
            self.render_summary(entry)

    @staticmethod
    def render_summary(entry: Entry) -> None:
        d = entry.data
        before = f"{d['window_before']:,}" if d["window_before"] is not None else "?"
        after = f"{d['window_after']:,}" if d["window_after"] is not None else "? (no response after it)"
        replaced = ", ".join(d["replaced"]) or "nothing"
        entry.text = f"{d['summary_id']} replaced {replaced}; window {before} → {after} tokens: {' '.join(d['summary'].split())}"

    def response_done(self, env: Envelope) -> None:
        ev: Any = env.event
        total = ev.total_tokens
        reason = ev.status_details.get("reason")
        status = ev.status if not reason else f"{ev.status}: {reason}"
        text = f"{total:,} tokens after {ev.response_id} ({status})" if total is not None else f"{ev.response_id} ({status}), no usage"
        self.add(env, "window", text, None, response_id=ev.response_id, status=ev.status, reason=reason, total_tokens=total,
                 input_tokens=ev.usage.get("input_tokens"), output_tokens=ev.usage.get("output_tokens"))  # fmt: skip
        if total:  # a response cancelled before it began reports no window: the next one tells
            for entry in self.awaiting_window:
                entry.data["window_after"] = total
                self.render_summary(entry)
            self.awaiting_window.clear()

    # -- everything else ------------------------------------------------------------------------------------

    def notice(self, env: Envelope) -> None:
        ev: Any = env.event
        tag = ev.TAG
        if tag == "session.started":
            self.add(env, "session", f"started ({', '.join(ev.actors)})", actors=list(ev.actors))
        elif tag == "session.ready":
            self.add(env, "session", f"ready ({ev.session_id})", session_id=ev.session_id)
        elif tag == "session.ending":
            self.add(env, "session", f"ending: {ev.reason}", reason=ev.reason)
        elif tag == "capture.ended":
            self.add(env, "session", f"capture ended after {ev.chunks:,} chunks: {ev.reason}", chunks=ev.chunks, reason=ev.reason)
        elif tag == "session.failed":
            self.add(env, "error", f"session failed: {ev.reason}", reason=ev.reason)
        elif tag == "actor.failed":
            self.add(env, "error", f"actor {ev.actor} failed: {ev.error}", actor=ev.actor, error=ev.error)
        elif tag == "rt.error":
            self.add(env, "error", ev.one_line(), code=ev.code, error_type=ev.error_type, client_event_id=ev.client_event_id)
        elif tag == "rt.protocol_violation":
            self.add(env, "error", f"protocol violation: {ev.detail}", detail=ev.detail)
        elif tag == "client.send_failed":
            send = ev
            self.add(env, "error", f"could not send {send.type} {send.event_id}: {send.error}", error=send.error)
        elif tag == "rt.connection.closed":
            who = "by us" if ev.by_us else "by the server or the network"
            self.add(env, "connection", f"closed {who} (code {ev.code}{', ' + ev.reason if ev.reason else ''})",
                     code=ev.code, reason=ev.reason, by_us=ev.by_us)  # fmt: skip
        elif tag == "bus.dropped":
            self.drop(env, ev.subscriber, f"{ev.dropped_tag} dropped for {ev.subscriber} (inbox full)")
        elif tag == "capture.dropped":
            self.drop(env, "capture", f"capture lost {ev.count} chunk(s) from #{ev.first_index}", count=ev.count)

    def drop(self, env: Envelope, who: str, text: str, count: int = 1) -> None:
        last = self.last_drop
        if last is not None and last.data.get("who") == who:
            last.data["count"] += count
            last.data["until_t_s"] = round(env.t_ns / 1e9, 3)
            last.text = f"{last.data['count']:,} x {last.data['what']} (until {last.data['until_t_s']:.3f} s)"
            return
        entry = self.add(env, "drop", text, None, who=who, what=text, count=count)
        self.last_drop = entry

    def unknown(self, record: RawRecord) -> None:
        """A record the timeline has no rule for: shown raw when its tag names a connection change."""
        if record.tag != "rt.connection.closed" and any(word in record.tag for word in _CONNECTION_WORDS):
            payload = {k: v for k, v in thaw(dict(record.payload)).items() if not isinstance(v, bytes | bytearray)}
            self.add(record, "connection", f"{record.tag} {_clip(str(payload), 160)}", None, tag=record.tag, payload=payload)


_ITEM_FACTS = frozenset(
    {"transcript.resolved", "transcript.unavailable", "transcript.late", "rt.assistant.text.delta", "rt.assistant.text.done", "rt.item.done",
     "rt.item.truncated", "playback.interrupted"}
)  # fmt: skip


class TimelineFold:
    """The timeline as a ``Fold`` (fed in a pass that may feed other read models too); ``result()`` after it."""

    def __init__(self) -> None:
        self._fold = _Fold()
        self.duration_ns = 0

    @staticmethod
    def wants(tag: str) -> bool:
        # the tags it has rules for; any other is shown raw when it names a connection change (reconnects,
        # resumes), known or not
        return tag in TAGS or any(word in tag for word in _CONNECTION_WORDS)

    def feed(self, record: RawRecord) -> None:
        f, tag = self._fold, record.tag
        if tag not in TAGS:
            f.unknown(record)
            return
        try:
            env = record.envelope()
        except ValueError:  # EventError: a record of a newer or broken version; the timeline goes on
            return
        ev: Any = env.event
        if tag == "rt.item.added":
            f.item_added(env)
        elif tag in _ITEM_FACTS:
            f.item_fact(env)
        elif tag == "rt.function_call":
            f.function_call(env)
        elif tag == "tool.result":
            f.tool_outcome(env, ev.call_id, ev.output, ev.ok, ev.error_kind, ev.duration_ms)
        elif tag == "tool.rejected":
            f.tool_outcome(env, ev.call_id, ev.output, False, ev.error_kind, 0)
        elif tag == "client.command":
            f.command(env)
        elif tag.startswith("summary."):
            f.summary(env)
        elif tag == "rt.response.done":
            f.response_done(env)
        else:
            f.notice(env)
        if record.t_ns > self.duration_ns:
            self.duration_ns = record.t_ns

    def result(self, duration_ns: int = 0) -> Timeline:
        """The timeline; ``duration_ns``: the recording's (the last record's time), if longer."""
        f = self._fold
        for started in f.summaries.values():  # attempts the journal never saw end
            started.data.update(outcome="unfinished", summary=f.summary_text.get(started.data.get("summary_id", ""), ""))
            started.text = f"{started.data.get('summary_id')} started and never finished"
            f.entries.append(started)
        f.summaries.clear()
        entries = sorted(f.entries, key=lambda e: (e.t_ns, e.seq))
        return Timeline(entries=tuple(entries), turns=f.turn, duration_ns=max(duration_ns, self.duration_ns))


def fold(recording: Recording) -> Timeline:
    """The timeline of a recording (one pass)."""
    timeline = TimelineFold()
    recording.run(timeline)
    return timeline.result(recording.duration_ns)


def _clip(text: str, limit: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
