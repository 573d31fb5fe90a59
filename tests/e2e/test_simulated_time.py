"""Simulated time (issue 13): `--fast` against the in-process embedded server is the real-time call, only
faster. The demo runs twice in one process (each session its own `trio.run`, in a thread): on a `SimClock`
and in real time; the two journals must tell the same conversation.

Same user transcripts, same tool calls with the same arguments, the same responses with the same statuses,
the summary after the same response, the barge-in cutting the story at the same played position (within one
40 ms chunk), token counts within a few (get_current_time speaks the time of day), no audio lost in either.
The fast journal replays (every actor reproduces its record) and `rtpipe inspect` / `rtpipe latency` read it.
"""

from __future__ import annotations

import functools
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import trio

from events.playback import PlaybackInterrupted
from events.protocol import FunctionCallRequested, ResponseDone
from events.runtime import InboxDropped
from events.summary import SummaryApplied
from events.transcripts import TranscriptResolved
from pipeline.clock import SimClock
from pipeline.config import RunConfig
from pipeline.journal import load_envelopes, read_journal
from pipeline.registry import replayable_actors
from pipeline.session import SessionResult, run_live, session_clock

RTPIPE = [sys.executable, "-m", "pipeline"]


def conversation(path: Path) -> dict[str, Any]:
    """What both runs must agree on, read from a journal."""
    replayable_actors()  # registers every actor's event tags
    _, envelopes = load_envelopes(path)
    facts: dict[str, Any] = {"transcripts": [], "tools": [], "statuses": [], "tokens": [], "summaries": [], "cuts": []}
    responses = 0
    for env in envelopes:
        event = env.event
        if isinstance(event, TranscriptResolved):
            facts["transcripts"].append(event.text)
        elif isinstance(event, FunctionCallRequested):
            facts["tools"].append((event.name, event.arguments))
        elif isinstance(event, ResponseDone):
            responses += 1
            facts["statuses"].append(event.status)
            facts["tokens"].append(event.total_tokens)
        elif isinstance(event, SummaryApplied):
            facts["summaries"].append((event.summary_id, responses))
        elif isinstance(event, PlaybackInterrupted):
            facts["cuts"].append(event.played_ms)
        elif isinstance(event, InboxDropped):
            raise AssertionError(f"{path.name}: {event.dropped_tag} dropped for {event.subscriber}")
    facts["session_s"] = envelopes[-1].t_ns / 1e9
    return facts


@pytest.mark.slow
def test_fast_demo_is_the_real_time_demo(tmp_path: Path) -> None:
    results: dict[str, tuple[SessionResult, float, SimClock | None]] = {}
    errors: list[BaseException] = []

    def session(name: str, fast: bool) -> None:
        config = RunConfig(
            server="local", input="script", fast=fast, quiet=True,
            journal=tmp_path / f"{name}.rtpj", output=str(tmp_path / f"{name}.wav"),
        )  # fmt: skip
        clock = session_clock(config)
        assert (clock is not None) == fast
        try:
            started = time.perf_counter()
            result = trio.run(functools.partial(run_live, config, handle_signals=False), clock=clock)
            results[name] = (result, time.perf_counter() - started, clock if isinstance(clock, SimClock) else None)
        except BaseException as error:  # reported by the test thread
            errors.append(error)

    # the recogniser's worker is shared by the sessions of a process: loaded once, before either starts, so
    # the real-time run's first turn does not wait for the model (on a busy machine that can take seconds)
    from pipeline.audio.asr import get_transcriber

    get_transcriber(isolate=True)
    for args in (("fast", True), ("real", False)):  # one after the other: the real-time run alone on the CPU
        thread = threading.Thread(target=session, args=args)
        thread.start()
        thread.join(timeout=400)
    assert not errors, errors
    (real, real_wall, _), (fast, fast_wall, clock) = results["real"], results["fast"]
    assert real.failure is None and fast.failure is None, (real.failure, fast.failure)
    assert real.outcome.ending_reason == fast.outcome.ending_reason == "end of input"

    a, b = conversation(real.journal), conversation(fast.journal)
    assert len(a["transcripts"]) == 8 and a["transcripts"] == b["transcripts"]
    assert [name for name, _ in a["tools"]] == ["get_weather", "get_current_time", "set_reminder"]
    assert a["tools"] == b["tools"]
    assert a["statuses"] == b["statuses"] and len(a["statuses"]) == 11
    assert a["summaries"] == b["summaries"] and [s for s, _ in b["summaries"]] == ["sum_001"]
    assert max(a["tokens"]) > 2000 and max(b["tokens"]) > 2000  # the window the summary was made for
    assert all(abs(x - y) <= 8 for x, y in zip(a["tokens"], b["tokens"], strict=True)), (a["tokens"], b["tokens"])
    assert len(a["cuts"]) == len(b["cuts"]) == 1 and abs(a["cuts"][0] - b["cuts"][0]) <= 40, (a["cuts"], b["cuts"])

    # the fast run took session time (the conversation's length) in a fraction of the wall time
    assert clock is not None and clock.jumps > 1000
    assert b["session_s"] > 40 and fast_wall < real_wall / 2, (b["session_s"], fast_wall, real_wall)

    assert read_journal(fast.journal).header.config["clock"] == "simulated"  # type: ignore[union-attr]
    assert read_journal(real.journal).header.config["clock"] == "real time"  # type: ignore[union-attr]
    verify = subprocess.run([*RTPIPE, "replay", "--verify", str(fast.journal)], capture_output=True, text=True, timeout=120)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    for command in ("inspect", "latency"):
        shown = subprocess.run([*RTPIPE, command, str(fast.journal)], capture_output=True, text=True, timeout=120)
        assert shown.returncode == 0 and "Traceback" not in shown.stderr, shown.stderr
