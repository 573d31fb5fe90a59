"""Both sides of a call as one stereo track on the session's timeline (a read model of the journal).

Left: the user's audio as captured and sent (every ``AudioChunk``, less those the bus dropped for the
uploader, which never reached the server), placed at the session time the chunk was published. Right: the
assistant's audio as actually played: for each ``PlaybackProgress`` the part of its item's audio (the
``AssistantAudioDelta`` PCM, in order) between the previous progress and this one, placed at the time of the
report (the playback shell writes a block and reports it in one step, as the block starts to sound). What a
barge-in cut was never reported played, so it is not heard; silence is silence.

In a real-time journal every sound fits where it happened and the track lasts as long as the session (the
user's chunks are laid out by their index, as a paced capture sent them, so a chunk published late under load
still sounds in its place). A journal whose clock ran ahead of its audio (``--fast`` without simulated time: 1.3 s of speech captured in
80 ms) cannot hold its sound at those times, so the timeline is *stretched*: when a sound would start more
than ``TOLERANCE_MS`` before the end of the previous sound on its side, everything from that moment on is
shifted later by the difference. Order is kept on both sides and nothing overlaps itself; the stretch is
reported, and ``position()`` maps a session time to its place in the track (the HTML report's player seeks
with it).

Streaming: two passes over the journal, each read as a stream: the first (``RenderPlan``) finds when the
capture started and which chunks never reached the server; the second (``RenderFold``) writes the track to the
WAV file as the records are read (each side's sounds start in non-decreasing order, so everything before the
current event is final), so memory holds the audio of the items still playing, not the call.
"""

from __future__ import annotations

import bisect
import os
import wave
from collections import deque
from collections.abc import Iterable
from typing import Any

import attrs
import numpy as np

from pipeline.journal import RawRecord
from pipeline.projections.recording import Recording

RATE = 24000
TOLERANCE_MS = 80  # scheduling jitter in a real-time journal: two capture chunks
FLUSH_SAMPLES = 10 * RATE  # write in ten-second batches
RUN_CHUNKS = 250  # consecutive capture chunks placed as one sound (10 s of 40 ms chunks)


@attrs.frozen(kw_only=True)
class Rendered:
    duration_s: float
    session_s: float
    stretch_s: float  # how much later the end of the track is than the end of the session
    user_chunks: int
    unsent_chunks: int  # captured, but dropped before the uploader: never heard by the server
    played_ms: int
    breakpoints: tuple[tuple[int, int], ...]  # (session t_ns, shift_ns from then on)
    channels: int

    def position(self, t_ns: int) -> float:
        """Seconds into the track of session time ``t_ns``."""
        index = bisect.bisect_right(self.breakpoints, (t_ns, 1 << 62)) - 1
        shift = self.breakpoints[index][1] if index >= 0 else 0
        return (t_ns + shift) / 1e9

    def as_dict(self) -> dict[str, Any]:
        data = attrs.asdict(self)
        data["breakpoints"] = [list(b) for b in self.breakpoints]
        return data


class _Side:
    def __init__(self) -> None:
        self.cursor = 0  # samples: where this side's last sound ends
        self.pending: deque[tuple[int, np.ndarray[Any, np.dtype[np.int16]]]] = deque()

    def fill(self, out: np.ndarray[Any, np.dtype[np.int16]], start: int) -> None:
        """Copy every pending sound overlapping ``[start, start + len(out))`` into ``out``; drop the finished."""
        end = start + len(out)
        for seg_start, pcm in self.pending:
            if seg_start >= end:
                break
            lo, hi = max(seg_start, start), min(seg_start + len(pcm), end)
            if hi > lo:
                out[lo - start : hi - start] = pcm[lo - seg_start : hi - seg_start]
        while self.pending and self.pending[0][0] + len(self.pending[0][1]) <= end:
            self.pending.popleft()


class _Renderer:
    def __init__(self, out: wave.Wave_write, mono: bool) -> None:
        self.out = out
        self.mono = mono
        self.sides = (_Side(), _Side())
        self.shift_ns = 0
        self.breakpoints: list[tuple[int, int]] = []
        self.written = 0  # samples written
        self.tolerance = TOLERANCE_MS * RATE // 1000

    def place(self, side_index: int, t_ns: int, pcm: np.ndarray[Any, np.dtype[np.int16]], at_ns: int | None = None) -> None:
        """Place ``pcm`` on a side at session time ``at_ns`` (default ``t_ns``, when the record was published)."""
        side = self.sides[side_index]
        at = ((t_ns if at_ns is None else at_ns) + self.shift_ns) * RATE // 1_000_000_000
        if side.cursor - at > self.tolerance:  # the clock ran ahead of the audio: stretch from here on
            self.shift_ns += (side.cursor - at) * 1_000_000_000 // RATE
            self.breakpoints.append((t_ns, self.shift_ns))
            at = (t_ns + self.shift_ns) * RATE // 1_000_000_000
        start = max(at, side.cursor)
        side.pending.append((start, pcm))
        side.cursor = start + len(pcm)

    def now(self, t_ns: int) -> int:
        """The track position of session time ``t_ns`` (with the stretch so far)."""
        return (t_ns + self.shift_ns) * RATE // 1_000_000_000

    def flush(self, until: int) -> None:
        """Write the track up to sample ``until`` (nothing placed later can start before it)."""
        count = until - self.written
        if count <= 0:
            return
        if self.mono:
            left = np.zeros(count, dtype=np.int16)
            right = np.zeros(count, dtype=np.int16)
            self.sides[0].fill(left, self.written)
            self.sides[1].fill(right, self.written)
            frames = np.clip(left.astype(np.int32) + right, -32768, 32767).astype("<i2")
        else:  # each side straight into its channel of the interleaved frames
            frames = np.zeros(count * 2, dtype="<i2")
            self.sides[0].fill(frames[0::2], self.written)
            self.sides[1].fill(frames[1::2], self.written)
        self.out.writeframesraw(frames)  # written from the array's buffer, not copied into bytes first
        self.written = until

    def end_at(self, t_ns: int) -> int:
        at = (t_ns + self.shift_ns) * RATE // 1_000_000_000
        return max(at, self.sides[0].cursor, self.sides[1].cursor)


def _pcm(data: bytes, rate: int) -> np.ndarray[Any, np.dtype[np.int16]]:
    pcm = np.frombuffer(data, dtype="<i2")
    if rate != RATE and len(pcm):
        n = max(1, round(len(pcm) * RATE / rate))
        pcm = np.interp(np.linspace(0, len(pcm) - 1, n), np.arange(len(pcm)), pcm).astype(np.int16)
    return pcm


class RenderPlan:
    """The first pass of a render (a ``Fold``, so it can share a pass with other read models): the chunks that
    never reached the server, and (paced) when the capture started: a paced capture is never early, so its
    start is the earliest (publish time - index x chunk length)."""

    TAGS = frozenset({"audio.chunk", "bus.dropped"})

    def __init__(self) -> None:
        self.unsent: set[int] = set()
        self.capture_start = 1 << 62

    def wants(self, tag: str) -> bool:
        return tag in self.TAGS

    def feed(self, record: RawRecord) -> None:
        p = record.payload
        if record.tag == "audio.chunk":
            start = record.t_ns - p["index"] * (len(p["pcm"]) // 2) * 1_000_000_000 // p.get("rate", RATE)
            if start < self.capture_start:
                self.capture_start = start
        elif p.get("subscriber") == "uploader":
            self.unsent.add(p["dropped_seq"])


class RenderFold:
    """The second pass of a render: writes the track to ``out`` as records are fed (every record: each moves
    the time up to which the track is final); ``finish(session_ns)`` writes the rest and says how it was laid
    out. It takes whole batches (``feed_batch``): a render touches every record of the call, and one loop with
    its state in local variables is much faster than a call per record."""

    def __init__(self, out: wave.Wave_write, plan: RenderPlan, *, mono: bool = False, paced: bool = True) -> None:
        self.renderer = _Renderer(out, mono)
        self.mono = mono
        self.paced = paced
        self.unsent = plan.unsent
        self.capture_start = plan.capture_start
        self.item_audio: dict[str, bytearray] = {}
        self.played_bytes: dict[str, int] = {}
        self.user_chunks = self.unsent_chunks = self.played_ms = 0
        self.session_ns = 0
        # a paced capture's consecutive chunks are one contiguous sound: placed as one run (up to RUN_CHUNKS)
        self.run: list[bytes] = []
        self.run_at_ns = self.run_t_ns = self.run_next = self.run_size = 0
        self.capture_open = True

    @staticmethod
    def wants(tag: str) -> bool:
        return True

    def place_run(self) -> None:
        if self.run:
            self.renderer.place(0, self.run_t_ns, np.frombuffer(b"".join(self.run), dtype="<i2"), self.run_at_ns)
            self.run.clear()

    def feed(self, record: RawRecord) -> None:
        self.feed_batch((record,))

    def feed_batch(self, records: Iterable[RawRecord]) -> None:
        renderer, run, unsent, item_audio, played_bytes = self.renderer, self.run, self.unsent, self.item_audio, self.played_bytes
        paced, capture_start, capture_open = self.paced, self.capture_start, self.capture_open
        run_at_ns, run_t_ns, run_next, run_size = self.run_at_ns, self.run_t_ns, self.run_next, self.run_size
        user_chunks, unsent_chunks, played_ms, session_ns = self.user_chunks, self.unsent_chunks, self.played_ms, self.session_ns

        def place_run() -> None:
            if run:
                renderer.place(0, run_t_ns, np.frombuffer(b"".join(run), dtype="<i2"), run_at_ns)
                run.clear()

        for record in records:
            tag = record.tag
            if tag == "audio.chunk":
                if record.seq in unsent:
                    unsent_chunks += 1
                else:
                    user_chunks += 1
                    p = record.payload
                    data, index = p["pcm"], p["index"]
                    if paced and p.get("rate", RATE) == RATE:
                        # chunk i was captured at start + i x chunk length: jitter in publishing is not sound
                        if run and (index != run_next or len(data) != run_size or len(run) >= RUN_CHUNKS):
                            place_run()
                        if not run:
                            run_at_ns = capture_start + index * (len(data) // 2) * 1_000_000_000 // RATE
                            run_t_ns, run_size = record.t_ns, len(data)
                        run.append(data)
                        run_next = index + 1
                    else:
                        pcm = _pcm(data, p.get("rate", RATE))
                        at_ns = capture_start + index * len(pcm) * 1_000_000_000 // RATE if paced else None
                        renderer.place(0, record.t_ns, pcm, at_ns)
            elif tag == "rt.assistant.audio.delta":
                item_audio.setdefault(record.payload["item_id"], bytearray()).extend(record.payload["pcm"])
            elif tag == "playback.progress":
                item_id = record.payload["item_id"]
                audio = item_audio.get(item_id)
                if audio is not None:
                    done = min(len(audio), record.payload["played_ms"] * RATE // 1000 * 2)
                    before = played_bytes.get(item_id, 0)
                    if done > before:
                        place_run()  # the user's audio up to here first: the track is written in time order
                        renderer.place(1, record.t_ns, np.frombuffer(bytes(audio[before:done]), dtype="<i2"))
                        played_bytes[item_id] = done
                        played_ms += (done - before) // 2 * 1000 // RATE
            elif tag == "playback.finished":
                item_audio.pop(record.payload["item_id"], None)
                played_bytes.pop(record.payload["item_id"], None)
            elif tag == "capture.ended":
                place_run()
                capture_open = False
            # what is final: nothing placed from now on starts before the current time, nor (paced) before the
            # next chunk's place, which a chunk published late puts before its publish time
            t_ns = record.t_ns
            if t_ns > session_ns:
                session_ns = t_ns
            safe = (t_ns + renderer.shift_ns) * RATE // 1_000_000_000  # renderer.now(t_ns)
            if safe - renderer.written < FLUSH_SAMPLES:
                continue  # the bound below only lowers it
            if paced and capture_open:  # the run not placed yet, else where the next chunk goes
                user_ns = run_at_ns if run else capture_start + run_next * (run_size // 2) * 1_000_000_000 // RATE
                safe = min(safe, renderer.now(user_ns))
            if safe - renderer.written >= FLUSH_SAMPLES:
                renderer.flush(safe)
        self.capture_open = capture_open
        self.run_at_ns, self.run_t_ns, self.run_next, self.run_size = run_at_ns, run_t_ns, run_next, run_size
        self.user_chunks, self.unsent_chunks, self.played_ms, self.session_ns = user_chunks, unsent_chunks, played_ms, session_ns

    def finish(self, session_ns: int = 0) -> Rendered:
        """Write the rest of the track (it lasts at least ``session_ns``) and say how it was laid out."""
        session_ns = max(session_ns, self.session_ns)
        self.place_run()
        end = self.renderer.end_at(session_ns)
        self.renderer.flush(end)
        return Rendered(
            duration_s=end / RATE,
            session_s=session_ns / 1e9,
            stretch_s=max(0.0, end / RATE - session_ns / 1e9),
            user_chunks=self.user_chunks,
            unsent_chunks=self.unsent_chunks,
            played_ms=self.played_ms,
            breakpoints=tuple(self.renderer.breakpoints),
            channels=1 if self.mono else 2,
        )


def _open_wav(path: str | os.PathLike[str], mono: bool) -> wave.Wave_write:
    out = wave.open(os.fspath(path), "wb")
    out.setnchannels(1 if mono else 2)
    out.setsampwidth(2)
    out.setframerate(RATE)
    return out


def render(recording: Recording, path: str | os.PathLike[str], *, mono: bool = False, plan: RenderPlan | None = None) -> Rendered:
    """Write the call to ``path`` (PCM16 WAV at 24 kHz, stereo unless ``mono``) in two passes over the journal
    (the first, ``plan``, may have been made already, alongside other read models), and say how it was laid out.

    A paced recording (not ``--fast``): the capture ran in real time, so chunk ``i`` was captured at ``start + i
    * chunk length`` and the user's side is laid out by index from the earliest such start (publishing jitter
    under load does not move the sound); otherwise each chunk is placed where it was published.
    """
    if plan is None:
        plan = RenderPlan()
        recording.run(plan)
    with _open_wav(path, mono) as out:
        track = RenderFold(out, plan, mono=mono, paced=not recording.fast)
        recording.run(track)
        return track.finish(recording.duration_ns)
