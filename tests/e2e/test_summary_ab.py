"""A/B: the demo conversation with and without summaries, through the CLI, side by side in the cost ledger.

Both runs speak the demo's lines to the embedded server with ``--fast``; the barge-in line is spoken as a
plain line, because under ``--fast`` nothing is played in real time and how much of the story the server
generates before a barge-in depends on scheduling (in real time the demo story is generated before the
barge-in, so its counts repeat: see the README). Everything else is deterministic: the same audio, heard the
same way, answered the same way (but for the time of day); and the scripted user does not talk over a summary being applied (the
conductor holds the turn end), so the two runs differ only by what the summary did.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import pipeline.session  # noqa: F401  (imports every actor of a live run, so every event tag is known)
from actors.capture.script import DEMO_SCRIPT, parse_script_line
from events.protocol import ResponseDone
from events.summary import SummaryApplied, SummaryStarted
from pipeline.journal.reader import read_journal
from pipeline.projections.ledger import Ledger

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

LINES = [parse_script_line(line).text for line in DEMO_SCRIPT]  # "[barge 5000] okay stop" -> "okay stop"


def start(journal: Path, *flags: str) -> subprocess.Popen[str]:
    says = [arg for line in LINES for arg in ("--say", line)]
    command = [sys.executable, "-m", "pipeline", "run", "--fast", "--output", "none", "--journal", str(journal)]
    return subprocess.Popen([*command, *flags, *says], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen[str]) -> str:
    stdout, stderr = process.communicate(timeout=240)
    assert process.returncode == 0, stderr
    return stdout


def saved_line(stdout: str) -> int:
    match = re.search(r"^saved by summarisation: ([\d,]+) input tokens", stdout, re.MULTILINE)
    assert match, stdout
    return int(match.group(1).replace(",", ""))


def test_summary_trigger_1500_against_no_summary_shows_the_saving(tmp_path: Path) -> None:
    a_journal, b_journal = tmp_path / "summary.rtpj", tmp_path / "no-summary.rtpj"
    a = start(a_journal, "--summary-trigger", "1500")
    b = start(b_journal, "--summary-trigger", "1500", "--no-summary")
    a_out, b_out = finish(a), finish(b)

    a_envs, b_envs = read_journal(a_journal).envelopes(), read_journal(b_journal).envelopes()
    a_events, b_events = [e.event for e in a_envs], [e.event for e in b_envs]
    a_done = [e for e in a_events if isinstance(e, ResponseDone)]
    b_done = [e for e in b_events if isinstance(e, ResponseDone)]
    assert len(a_done) == len(b_done) == 11  # 8 lines, 3 of them with a tool call
    assert all(d.status == "completed" for d in a_done + b_done)

    # A summarised when the story took the window over 1500 (and again when the whole story, kept verbatim as
    # one of the last two turns, kept it over); B never did
    started = [e for e in a_events if isinstance(e, SummaryStarted)]
    applied = [e for e in a_events if isinstance(e, SummaryApplied)]
    assert [e.summary_id for e in started] == [e.summary_id for e in applied] == ["sum_001", "sum_002"]
    assert all(e.window >= 1500 for e in started) and applied[0].replaced_turns > 6
    assert not [e for e in b_events if isinstance(e, SummaryStarted | SummaryApplied)]
    assert "sum_001 at the root replaced" in a_out and "sum_001" not in b_out

    # the same conversation up to the first summary (to a few tokens: the time of day, spoken, is not always
    # the same length); from then on A re-bills less, every time
    at = next(i for i, d in enumerate(a_done) if d.response_id == started[0].response_id)
    assert a_done[at].total_tokens == started[0].window
    a_ledger, b_ledger = Ledger.fold(a_envs), Ledger.fold(b_envs)
    for before_a, before_b in zip(a_ledger.responses[: at + 1], b_ledger.responses[: at + 1], strict=True):
        assert abs(before_a.tokens.input - before_b.tokens.input) <= 10, (before_a, before_b)
        assert abs(before_a.tokens.output - before_b.tokens.output) <= 10, (before_a, before_b)
    a_inputs = [r.tokens.input for r in a_ledger.responses]
    b_inputs = [r.tokens.input for r in b_ledger.responses]
    assert all(x < y for x, y in zip(a_inputs[at + 1 :], b_inputs[at + 1 :], strict=True)), (a_inputs, b_inputs)

    # the ledger's estimate of the saving is what the side-by-side shows (within 10%: A's answer to "what did
    # we talk about" reads the summary back, so the two conversations differ a little after it)
    actual = b_ledger.realtime.tokens.input - a_ledger.realtime.tokens.input
    assert actual > 3000
    assert b_ledger.saved_input_tokens == 0 and saved_line(b_out) == 0
    assert saved_line(a_out) == a_ledger.saved_input_tokens
    assert abs(a_ledger.saved_input_tokens - actual) <= 0.1 * actual, (a_ledger.saved_input_tokens, actual)
    # its money is priced as the cache would have billed those tokens (0.40 per 1M), net of the cache misses
    assert a_ledger.saved_usd is not None and a_ledger.saved_usd <= a_ledger.saved_input_tokens * 0.40 / 1e6
