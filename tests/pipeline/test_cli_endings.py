"""How a command ends at the CLI: Ctrl-C, a reader that closes our stdout, a session a signal ended.

Ctrl-C that escapes a command (bare, or wrapped in trio's exception group) exits 130 with no traceback; a
closed stdout (``rtpipe ... | head``) exits 141 (128 + SIGPIPE) with nothing on stderr; ``rtpipe run`` exits
128 + the signal that ended its session, after the ledger and the summary line.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import trio

from pipeline.cli import main

ROOT = Path(__file__).resolve().parents[2]


def with_handler(body: str) -> list[str]:
    """``rtpipe run`` in a child process whose handler is ``body`` (the real entry point and CLI around it)."""
    script = (
        "import sys, trio\n"
        "import pipeline.commands.run_cmd as run_cmd\n"
        "from pipeline.cli import entry\n"
        "def handle(args):\n"
        + textwrap.indent(textwrap.dedent(body).strip("\n"), "    ")
        + "\n    return 0\n"
        "run_cmd.handle = handle\n"
        "sys.argv = ['rtpipe', 'run']\n"
        "entry()\n"
    )
    return [sys.executable, "-c", script]


def as_from_a_terminal() -> None:
    """The child starts with Ctrl-C as a shell gives it: SIGINT at its default action and not blocked. A child
    inherits both from its parent, and this test process may have neither by the time it runs (it failed
    once in a full suite run with the child never seeing the SIGINT)."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_inside_a_trio_nursery_exits_130_without_a_traceback() -> None:
    child = subprocess.Popen(
        with_handler(
            """
            import signal
            async def session():
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(trio.sleep_forever)
                    print("ready", signal.getsignal(signal.SIGINT) is not signal.SIG_IGN, flush=True)
                    await trio.sleep_forever()
            trio.run(session)
            """
        ),
        preexec_fn=as_from_a_terminal,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdout.readline() == "ready True\n"  # Ctrl-C is handled
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=30)
    finally:
        child.kill()
    assert child.returncode == 130, err
    assert err == "" and out == ""


def test_a_closed_stdout_is_a_quiet_exit() -> None:
    child = subprocess.Popen(
        with_handler(
            """
            for n in range(1_000_000):
                print(f"line {n}")
            """
        ),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdout.readline() == "line 0\n"
        child.stdout.close()  # what `| head -1` does once it has its line
        assert child.stderr is not None
        err = child.stderr.read()
        child.wait(timeout=30)
    finally:
        child.kill()
    assert err == ""
    assert child.returncode == 141


def test_a_broken_pipe_that_is_not_stdout_is_not_hidden() -> None:
    out = subprocess.run(
        with_handler("raise BrokenPipeError(32, 'Broken pipe')"), cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 1 and "BrokenPipeError" in out.stderr


# -- in-process: what main() does with each ending ------------------------------------------------------------


def run_main(monkeypatch: pytest.MonkeyPatch, handler: Any) -> int:
    import pipeline.commands.run_cmd as run_cmd

    monkeypatch.setattr(run_cmd, "handle", handler)
    return main(["run"])


def test_main_maps_interrupts_bare_or_grouped_to_130(monkeypatch: pytest.MonkeyPatch) -> None:
    def bare(args: Any) -> int:
        raise KeyboardInterrupt

    def grouped(args: Any) -> int:
        raise BaseExceptionGroup("nursery", [BaseExceptionGroup("inner", [KeyboardInterrupt()])])

    assert run_main(monkeypatch, bare) == 130
    assert run_main(monkeypatch, grouped) == 130


def test_main_lets_a_real_error_beside_an_interrupt_through(monkeypatch: pytest.MonkeyPatch) -> None:
    def mixed(args: Any) -> int:
        raise BaseExceptionGroup("nursery", [KeyboardInterrupt(), ValueError("a bug")])

    with pytest.raises(BaseExceptionGroup) as caught:
        run_main(monkeypatch, mixed)
    assert caught.group_contains(ValueError)


def fake_result(exit_signal: int | None, failure: str | None = None) -> Any:
    from pipeline.projections.conversation import Conversation

    return SimpleNamespace(
        outcome=SimpleNamespace(ending_reason="interrupted" if exit_signal else None),
        journal=Path("journals/x.rtpj"),
        audio=None,
        conversation=Conversation(),
        failure=failure,
        recorded=None,
        exit_signal=exit_signal,
    )


@pytest.mark.parametrize(
    ("exit_signal", "failure", "code"),
    [
        (signal.SIGINT, None, 130),
        (signal.SIGTERM, None, 143),
        (signal.SIGHUP, None, 129),
        (None, None, 0),
        (None, "server closed the connection", 1),
        (signal.SIGTERM, "server closed the connection", 143),
    ],
)
def test_run_exits_128_plus_the_signal_that_ended_the_session_after_its_summary(
    exit_signal: int | None,
    failure: str | None,
    code: int,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(trio, "run", lambda *args, **kwargs: fake_result(exit_signal, failure))
    assert main(["run", "--fast"]) == code
    out, err = capsys.readouterr()
    assert "journal: journals/x.rtpj" in out.splitlines()[-1]  # the summary line is printed first
    assert ("Traceback" not in err) and (bool(failure) == ("server closed" in err))
