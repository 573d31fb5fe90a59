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

Streaming: the track is written to the WAV file as the records are read (each side's sounds start in
non-decreasing order, so everything before the current event is final), so memory holds the audio of the
items still playing, not the call.
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
        left = np.zeros(count, dtype=np.int16)
        right = np.zeros(count, dtype=np.int16)
        self.sides[0].fill(left, self.written)
        self.sides[1].fill(right, self.written)
        if self.mono:
            frames = np.clip(left.astype(np.int32) + right, -32768, 32767).astype("<i2")
        else:
            frames = np.empty(count * 2, dtype="<i2")
            frames[0::2], frames[1::2] = left, right
        self.out.writeframesraw(frames.tobytes())
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


def render(recording: Recording, path: str | os.PathLike[str], *, mono: bool = False) -> Rendered:
    paced = not recording.fast
    return render_records(recording.records, path, mono=mono, session_ns=recording.duration_ns, paced=paced)


def render_records(
    records: Iterable[RawRecord] | list[RawRecord],
    path: str | os.PathLike[str],
    *,
    mono: bool = False,
    session_ns: int = 0,
    paced: bool = True,
) -> Rendered:
    """Write the call to ``path`` (PCM16 WAV at 24 kHz, stereo unless ``mono``) and say how it was laid out.

    ``paced``: the capture ran in real time, so chunk ``i`` was captured at ``start + i * chunk length`` and
    the user's side is laid out by index from the earliest such start (publishing jitter under load does not
    move the sound); otherwise (``--fast``) each chunk is placed where it was published.
    """
    records = records if isinstance(records, list) else list(records)
    # one pass first: the chunks that never reached the server, and (paced) when the capture started: a paced
    # capture is never early, so its start is the earliest (publish time - index x chunk length)
    unsent: set[int] = set()
    capture_start = 1 << 62
    for r in records:
        tag = r.tag
        if tag == "audio.chunk":
            p = r.payload
            start = r.t_ns - p["index"] * (len(p["pcm"]) // 2) * 1_000_000_000 // p.get("rate", RATE)
            if start < capture_start:
                capture_start = start
        elif tag == "bus.dropped" and r.payload.get("subscriber") == "uploader":
            unsent.add(r.payload["dropped_seq"])
    item_audio: dict[str, bytearray] = {}
    played_bytes: dict[str, int] = {}
    user_chunks = unsent_chunks = played_ms = 0
    with wave.open(os.fspath(path), "wb") as out:
        out.setnchannels(1 if mono else 2)
        out.setsampwidth(2)
        out.setframerate(RATE)
        renderer = _Renderer(out, mono)
        # a paced capture's consecutive chunks are one contiguous sound: placed as one run (up to RUN_CHUNKS)
        run: list[bytes] = []
        run_at_ns = run_t_ns = run_next = run_size = 0
        capture_open = True

        def place_run() -> None:
            if run:
                renderer.place(0, run_t_ns, np.frombuffer(b"".join(run), dtype="<i2"), run_at_ns)
                run.clear()

        for record in records:
            tag = record.tag
            if tag == "audio.chunk":
                if record.seq in unsent:
                    unsent_chunks += 1
                    continue
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
                    continue
                pcm = _pcm(data, p.get("rate", RATE))
                at_ns = capture_start + index * len(pcm) * 1_000_000_000 // RATE if paced else None
                renderer.place(0, record.t_ns, pcm, at_ns)
            elif tag == "rt.assistant.audio.delta":
                item_audio.setdefault(record.payload["item_id"], bytearray()).extend(record.payload["pcm"])
            elif tag == "playback.progress":
                item_id = record.payload["item_id"]
                audio = item_audio.get(item_id)
                if audio is None:
                    continue
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
            safe = renderer.now(record.t_ns)
            if paced and capture_open:  # the run not placed yet, else where the next chunk goes
                user_ns = run_at_ns if run else capture_start + run_next * (run_size // 2) * 1_000_000_000 // RATE
                safe = min(safe, renderer.now(user_ns))
            if safe - renderer.written >= FLUSH_SAMPLES:
                renderer.flush(safe)
            if record.t_ns > session_ns:
                session_ns = record.t_ns
        place_run()
        end = renderer.end_at(session_ns)
        renderer.flush(end)
    return Rendered(
        duration_s=end / RATE,
        session_s=session_ns / 1e9,
        stretch_s=max(0.0, end / RATE - session_ns / 1e9),
        user_chunks=user_chunks,
        unsent_chunks=unsent_chunks,
        played_ms=played_ms,
        breakpoints=tuple(renderer.breakpoints),
        channels=1 if mono else 2,
    )
