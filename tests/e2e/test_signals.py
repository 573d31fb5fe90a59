"""Endings (issue 9): SIGINT, SIGTERM and SIGHUP end `rtpipe run` at once but cleanly; a second Ctrl-C quits.

Each test starts `rtpipe run --fast` (the embedded server, in an empty working directory) in its own process
group, as a shell starts a foreground job, waits until the session is really running (a user item is in the
journal), and signals it the way the world does: Ctrl-C and a terminal hangup go to the whole process group
(the ASR child too), a `kill` to the process alone.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import wave
from collections.abc import Callable
from pathlib import Path

import pytest

from pipeline.journal import EndReason, Journal, read_journal
from pipeline.journal.format import JournalError

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
REASONS: dict[int, str] = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated", signal.SIGHUP: "hangup"}


class Run:
    def __init__(self, cwd: Path, *extra: str) -> None:
        self.cwd = cwd
        self.stdout_path, self.stderr_path = cwd / "stdout.txt", cwd / "stderr.txt"
        env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "MAXIM_API_KEY")}
        with open(self.stdout_path, "w") as out, open(self.stderr_path, "w") as err:
            self.proc = subprocess.Popen(
                [str(BIN / "rtpipe"), "run", "--fast", *extra],
                cwd=cwd, env={**env, "PYTHONUNBUFFERED": "1"}, stdout=out, stderr=err, start_new_session=True,
            )

    @property
    def journal_path(self) -> Path | None:
        found = sorted((self.cwd / "journals").glob("*.rtpj"))
        return found[0] if found else None

    def journal(self) -> Journal | None:
        path = self.journal_path
        if path is None:
            return None
        try:
            return read_journal(path)
        except (JournalError, OSError):
            return None  # the header is not out yet

    def wait_until(self, ready: Callable[[Journal], bool], timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"exited early ({self.proc.returncode}): {self.stderr_path.read_text()}"
            journal = self.journal()
            if journal is not None and ready(journal):
                return
            time.sleep(0.1)
        raise AssertionError("the session never got there")

    def wait_for_a_user_item(self) -> None:
        self.wait_until(lambda j: bool(user_items(j)))

    def signal_group(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):  # the whole group may be gone already
            os.killpg(self.proc.pid, signum)  # what a terminal does: the whole foreground job

    def finish(self, timeout: float = 60) -> tuple[int, str, str]:
        try:
            code = self.proc.wait(timeout=timeout)
            # every child of the run (the ASR worker) leaves with it; whatever it says on the way out counts
            deadline = time.monotonic() + 10
            while self.group_alive() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert not self.group_alive(), "a child process outlived rtpipe run"
        finally:
            self.signal_group(signal.SIGKILL)
        return code, self.stdout_path.read_text(), self.stderr_path.read_text()

    def group_alive(self) -> bool:
        try:
            os.killpg(self.proc.pid, 0)
        except ProcessLookupError:
            return False
        return True


def user_items(journal: Journal) -> list[str]:
    return [
        str(r.payload["item_id"])
        for r in journal.records
        if r.tag == "rt.item.added" and r.payload.get("role") == "user" and r.payload.get("item_type") == "message"
    ]


def without_outcome(journal: Journal) -> set[str]:
    outcomes = {str(r.payload["item_id"]) for r in journal.records if r.tag in ("transcript.resolved", "transcript.unavailable")}
    return set(user_items(journal)) - outcomes


def endings(journal: Journal) -> list[str]:
    return [str(r.payload["reason"]) for r in journal.records if r.tag == "session.ending"]


def check_clean_ending(run: Run, signum: int, code: int, out: str, err: str) -> Journal:
    reason = REASONS[signum]
    assert code == 128 + signum, (code, err[-2000:])
    assert "Traceback" not in out + err
    assert err == "", err  # nothing from rtpipe or from its children
    assert f"ended: {reason}" in out.splitlines()[-1]  # the ledger and the summary line are printed
    journal = run.journal()
    assert journal is not None
    assert journal.end.reason is EndReason.CLOSED
    assert endings(journal)[0] == reason
    assert without_outcome(journal) == set()  # every user item has its transcript outcome
    wav = run.journal_path.with_suffix(".wav") if run.journal_path else None
    assert wav is not None
    with wave.open(str(wav), "rb") as audio:  # finalised: the header counts what is there
        assert audio.getnframes() * 2 + 44 == wav.stat().st_size
    trace = Path(f"{run.journal_path}.trace.jsonl")
    lines = trace.read_text().splitlines()
    assert lines and all(json.loads(line) for line in lines)  # written out, no torn last line
    return journal


@pytest.mark.parametrize(
    ("signum", "to_group"),
    [(signal.SIGINT, True), (signal.SIGTERM, False), (signal.SIGHUP, True)],
    ids=["ctrl-c", "kill", "hangup"],
)
def test_a_signal_ends_the_session_cleanly(tmp_path: Path, signum: int, to_group: bool) -> None:
    run = Run(tmp_path)
    run.wait_for_a_user_item()
    if to_group:
        run.signal_group(signum)
    else:
        run.proc.send_signal(signum)
    started = time.monotonic()
    code, out, err = run.finish()
    assert time.monotonic() - started < 20  # at once, not after the rest of the demo
    check_clean_ending(run, signum, code, out, err)


def test_a_pending_transcript_gets_its_outcome_when_the_session_is_ended(tmp_path: Path) -> None:
    """A server whose transcripts never come: the user item waits for one when SIGTERM arrives, and the
    journal still gives it its outcome (unavailable, session ended)."""
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    server = subprocess.Popen(
        [str(BIN / "rtpipe"), "serve", "--port", "0", "--transcript-fault", "never"],
        env={**env, "PYTHONUNBUFFERED": "1"}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        assert server.stdout is not None
        url = None
        for _ in range(50):
            line = server.stdout.readline()
            if "ws://" in line:
                url = next(w for w in line.split() if w.startswith("ws://")).rstrip(")")
                break
        assert url is not None, "the server never said where it listens"
        run = Run(tmp_path, "--server", url, "--transcript-timeout-ms", "60000")
        run.wait_for_a_user_item()
        journal = run.journal()
        assert journal is not None and without_outcome(journal)  # really pending
        run.proc.send_signal(signal.SIGTERM)
        code, out, err = run.finish()
        final = check_clean_ending(run, signal.SIGTERM, code, out, err)
        unavailable = [r.payload for r in final.records if r.tag == "transcript.unavailable"]
        assert unavailable and {u["reason"] for u in unavailable} == {"session ended"}
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_a_second_ctrl_c_exits_at_once_and_leaves_a_readable_journal(tmp_path: Path) -> None:
    run = Run(tmp_path)
    run.wait_for_a_user_item()
    run.signal_group(signal.SIGINT)
    # keep pressing: the first press that arrives ends the session, the next one while it ends quits
    # (presses that arrive together count once, so one is not enough to be sure of a second; the ending can
    # take only tens of ms, so press every 2 ms to be sure one lands inside it)
    while run.proc.poll() is None:
        time.sleep(0.002)
        run.signal_group(signal.SIGINT)
    code, out, err = run.finish()
    assert code == 130
    assert "Traceback" not in out + err
    assert err == "rtpipe run: interrupted again, exiting at once\n"
    journal = run.journal()
    assert journal is not None  # readable: every record up to the second press
    assert endings(journal) == ["interrupted"]
    assert journal.end.reason is not EndReason.CLOSED
