"""``rtpipe run --resume J``: the seed of a new session, read from an earlier call's journal.

``load_resume(path) -> ResumeSeed`` reads the journal with the streaming reader (a finished, interrupted,
torn, corrupt or still-growing journal alike: whatever could be read counts), folds its ``Conversation``
(pipeline/projections/conversation.py), finds the recorded audio of every user turn whose transcript is
missing, and builds the seed with ``pipeline.projections.seed.build_seed``. ``ResumeSeed.items`` go into the
cores config as ``seed`` and ``ResumeSeed.parent`` as ``parent`` (``journal``, ``session_id``, ``ended``).

Where a user turn's audio comes from
------------------------------------
The server reports each user turn's place in the audio it was sent: ``speech_started.audio_start_ms`` (the
prefix padding already included) and ``speech_stopped.audio_end_ms``, counted from the first sample sent on
that connection. The committed item holds exactly that span, so the same span is cut from the journal's
captured ``AudioChunk`` records, replaying what the uploader did with each chunk (``_AudioLine``) by
feeding the uploader's own ``AudioGate`` (actors/uploader/gate.py) what the uploader was fed:

* nothing is sent before the first ``session.ready``;
* a chunk the bus dropped for the uploader (``bus.dropped``) never reached it;
* from ``connection.lost`` (reconnecting) or a recycle's ``connection.reconnect_requested`` until
  ``connection.reseeded``, chunks are held, at most ``reconnect_buffer_ms`` of them (the oldest dropped), and
  sent first on the new connection, whose positions start again at 0; a loss while the user was speaking
  puts the audio the old server had not committed at the head of the held audio (the new server hears the
  cut turn from its start); a failed recycle attempt sends the held audio to the old connection, after what
  it already had.

A user turn the journal itself seeded as audio (a reconnect or an earlier ``--resume``) has no speech events
of its own there: its audio is the one in that ``conversation.item.create`` (or in the header's ``seed``).

Two passes over the journal (a ``Recording``, pipeline/projections/recording.py: the second reads the same
bytes as the first, even if a writer is appending), so memory holds the conversation's text and the audio of
the turns that need it, not the call's audio.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import attrs

from actors.uploader.gate import GATE_EVENTS, AudioGate
from events.audio import AudioChunk
from events.base import Event, EventError
from events.connection import ConversationReseeded
from pipeline.projections.conversation import PROJECTION_EVENTS, Conversation
from pipeline.projections.seed import SeedPlan, build_seed

BYTES_PER_MS = 48  # 24 kHz PCM16 mono, what the uploader sends and the server counts in
DEFAULT_BUFFER_MS = 5000

_READY = "session.ready"
_ENDING = "session.ending"
_CHUNK = "audio.chunk"
_DROPPED = "bus.dropped"
_STARTED = "rt.speech.started"
_STOPPED = "rt.speech.stopped"
_COMMAND = "client.command"
_GATE_TAGS = frozenset(cls.TAG for cls in GATE_EVENTS)  # what the uploader's gate follows besides the chunks


class ResumeError(ValueError):
    """The journal cannot seed a session (not a journal, no conversation): one line for the CLI."""


@attrs.frozen(kw_only=True)
class ResumeSeed:
    """What ``--resume`` starts from: the seed ``plan`` and the ``parent`` it came from."""

    plan: SeedPlan
    parent: dict[str, Any]
    journal: Path
    notices: tuple[str, ...] = ()  # what the reader could not read (torn tail, corrupt spans), one line each

    @property
    def items(self) -> list[dict[str, Any]]:
        """The items, JSON-ready (the cores config key ``seed``)."""
        return [_copy(item) for item in self.plan.items]

    @property
    def summary_id(self) -> str | None:
        return self.plan.summary_id

    @property
    def audio_items(self) -> tuple[str, ...]:
        return self.plan.audio_items

    def describe(self) -> str:
        """``resuming from J (ended: end of script): 7 items (summary sum_001, 1 as audio)``."""
        ended = self.parent["ended"] or "did not end cleanly"
        return f"resuming from {self.journal} (ended: {ended}): {self.plan.describe()}"


def _copy(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: [dict(part) for part in v] if k == "content" else v for k, v in item.items()}


class _AudioLine:
    """Where each captured chunk landed in the server's input audio: ``(connection, byte offset, pcm)``.

    The uploader's own ``AudioGate`` (actors/uploader/gate.py) decides, fed what the uploader was fed in
    ``seq`` order: the chunks that reached it (not the ones ``unsent``: the bus dropped them for it) and the
    gate's events (``GATE_EVENTS``). A chunk the gate sends now goes at the end of the current connection's
    audio; a release (``Released``) is the held chunks, in order: at ``ConversationReseeded`` they open the
    new connection (``connection`` counts them from 0, positions start again at 0), at a failed recycle
    attempt they go back to the old connection, after what it already had (the conductor's ``UserAudio``
    follows the same gate for the live re-seed)."""

    def __init__(self, buffer_ms: int, unsent: frozenset[int] = frozenset()) -> None:
        self.gate = AudioGate(hold_ms=buffer_ms)
        self.unsent = unsent
        self.connection = 0
        self.position = 0

    def follow(self, event: Event) -> list[tuple[int, int, bytes]]:
        """A gate event; the held chunks it releases, placed (``[]`` when it releases nothing)."""
        released = self.gate.handle(event)
        if released is None:
            return []
        if isinstance(event, ConversationReseeded):  # the first audio of a new connection
            self.connection += 1
            self.position = 0
        return [self._place(pcm) for pcm in released.chunks]

    def chunk(self, seq: int, chunk: AudioChunk) -> tuple[int, int, bytes] | None:
        """Captured chunk ``seq``: placed when it was sent at once, None when held or never sent."""
        if seq in self.unsent or not self.gate.chunk(chunk):
            return None
        return self._place(chunk.pcm)

    def _place(self, pcm: bytes) -> tuple[int, int, bytes]:
        placed = (self.connection, self.position, pcm)
        self.position += len(pcm)
        return placed


@attrs.define
class _Span:
    connection: int
    start_ms: int
    end_ms: int | None = None


class _Survey:
    """The first pass: the conversation, each user turn's span of audio, what the journal seeded as audio,
    which chunks never reached the uploader, the server session and how the call ended."""

    def __init__(self, buffer_ms: int) -> None:
        self.conversation = Conversation()
        self.line = _AudioLine(buffer_ms)
        self.spans: dict[str, _Span] = {}
        self.seeded_audio: dict[str, bytes] = {}
        self.unsent: set[int] = set()
        self.ended: str | None = None
        self.server_session: str | None = None
        self.projected = {cls.TAG for cls in PROJECTION_EVENTS}

    def feed(self, records: Iterable[Any]) -> None:
        """Every record but the chunks: the gate's state (so the connection each turn is on) does not depend
        on them, only which audio it holds does (the second pass, ``cut_audio``)."""
        line, spans, projected = self.line, self.spans, self.projected
        for record in records:
            tag = record.tag
            if tag == _CHUNK:
                continue
            p = record.payload
            if tag == _STARTED:
                spans[p["item_id"]] = _Span(line.connection, int(p["audio_start_ms"]))
            elif tag == _STOPPED:
                span = spans.get(p["item_id"])
                if span is not None and span.connection == line.connection:
                    span.end_ms = int(p["audio_end_ms"])
            elif tag == _DROPPED:
                if p.get("subscriber") == "uploader":
                    self.unsent.add(int(p["dropped_seq"]))
            elif tag == _ENDING:
                self.ended = self.ended or str(p.get("reason") or "") or None
            elif tag == _READY:
                self.server_session = self.server_session or p.get("session_id")
            gated = tag in _GATE_TAGS
            if not gated and tag not in projected:
                continue
            try:
                env = record.envelope()
            except EventError:
                continue
            if gated:
                line.follow(env.event)
            if tag in projected:
                self.conversation.apply(env)
                if tag == _COMMAND:
                    self._seeded(p)

    def _seeded(self, payload: Mapping[str, Any]) -> None:
        body = payload.get("body")
        if payload.get("type") == "conversation.item.create" and isinstance(body, Mapping):
            remember_audio(body.get("item"), self.seeded_audio)


def remember_audio(item: Any, into: dict[str, bytes]) -> None:
    """A user item created from recorded audio (a seed): keep its PCM by id."""
    if not isinstance(item, Mapping) or item.get("role") != "user" or not isinstance(item.get("id"), str):
        return
    for part in item.get("content") or ():
        if isinstance(part, Mapping) and part.get("type") == "input_audio" and isinstance(part.get("audio"), str):
            try:
                into[item["id"]] = base64.b64decode(part["audio"], validate=True)
            except (binascii.Error, ValueError):
                return
            return


def cut_audio(
    records: Iterable[Any], spans: Mapping[str, _Span], *, buffer_ms: int, unsent: frozenset[int]
) -> dict[str, bytes]:
    """The second pass: each span's audio, as the server was sent it (silence where a chunk is missing)."""
    wanted: dict[int, list[tuple[str, int, int]]] = {}
    out: dict[str, bytearray] = {}
    for item_id, span in spans.items():
        if span.end_ms is None or span.end_ms <= span.start_ms:
            continue
        start, end = span.start_ms * BYTES_PER_MS, span.end_ms * BYTES_PER_MS
        wanted.setdefault(span.connection, []).append((item_id, start, end))
        out[item_id] = bytearray(end - start)
    if not wanted:
        return {}
    line = _AudioLine(buffer_ms, unsent)

    def copy(placed: tuple[int, int, bytes] | None) -> None:
        if placed is None:
            return
        connection, offset, pcm = placed
        for item_id, start, end in wanted.get(connection, ()):
            lo, hi = max(start, offset), min(end, offset + len(pcm))
            if hi > lo:
                out[item_id][lo - start : hi - start] = pcm[lo - offset : hi - offset]

    for record in records:
        tag = record.tag
        if tag == _CHUNK:
            p = record.payload
            try:
                chunk = AudioChunk(index=p["index"], pcm=p["pcm"], rate=p.get("rate", 24000))
            except (KeyError, TypeError, ValueError):
                continue  # a record this version cannot read as a chunk: nothing to place
            copy(line.chunk(record.seq, chunk))
        elif tag in _GATE_TAGS:
            try:
                event = record.envelope().event
            except EventError:
                continue
            for placed in line.follow(event):
                copy(placed)
    return {item_id: bytes(pcm) for item_id, pcm in out.items()}


def load_resume(path: str | os.PathLike[str]) -> ResumeSeed:
    """Read ``path`` and build the seed of a session that continues it (``ResumeError``, one line, when it
    cannot: not a journal, unreadable, or no conversation in it)."""
    from pipeline.journal import EndReason, JournalError
    from pipeline.projections.recording import Recording

    journal = Path(path)
    try:
        recording = Recording.load(journal)  # both passes read the journal as it is now
    except JournalError as exc:
        raise ResumeError(f"cannot resume from {exc}") from None
    config = recording.config
    buffer_ms = _int(config.get("reconnect_buffer_ms"), DEFAULT_BUFFER_MS)
    survey = _Survey(buffer_ms)
    for batch in recording.batches():
        survey.feed(batch)
    end = recording.end
    notices = [f"journal: {end.describe()}"] if end.reason is not EndReason.CLOSED else []
    notices += [f"journal: skipped {span.describe()}" for span in recording.corrupt]
    conversation = survey.conversation
    if len(conversation) == 0:
        raise ResumeError(f"cannot resume from {journal}: it holds no conversation ({recording.record_count} records read)")
    for item in config.get("seed") or ():
        remember_audio(item, survey.seeded_audio)
    missing = {
        t.item_id
        for t in conversation.turns
        if t.role == "user" and t.kind == "message" and (t.text is None or t.status == "unavailable")
    }
    audio = {i: pcm for i, pcm in survey.seeded_audio.items() if i in missing}
    spans = {i: s for i, s in survey.spans.items() if i in missing and i not in audio}
    if spans:
        audio.update(cut_audio(recording.records, spans, buffer_ms=buffer_ms, unsent=frozenset(survey.unsent)))
    plan = build_seed(conversation, audio=audio)
    if not plan.items:
        why = "; ".join(f"{s.item_id}: {s.reason}" for s in plan.skipped[:3])
        raise ResumeError(f"cannot resume from {journal}: none of its {len(conversation)} items can be seeded ({why})")
    session_id = recording.header.session_id if recording.header is not None else survey.server_session
    parent = {"journal": str(journal), "session_id": session_id, "ended": survey.ended}
    return ResumeSeed(plan=plan, parent=parent, journal=journal, notices=tuple(notices))


def _int(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else default
