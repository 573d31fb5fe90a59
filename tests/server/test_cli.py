"""`rtpipe serve` as a program: help, usage errors, and a clean stop on SIGTERM."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import trio

RTPIPE = str(Path(sys.executable).with_name("rtpipe"))
FLAGS = ["--host", "--port", "--allow-remote", "--max-session-s", "--transcript-delay-ms", "--transcript-fault",
         "--drop-socket-after", "--drop-socket-on", "--refuse-connections-after", "--error-after-responses", "--seed",
         "--audio-chunk-ms", "--pacing-ms", "--model", "--item-done-order"]  # fmt: skip


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([RTPIPE, "serve", *args], capture_output=True, text=True, timeout=30)


def test_help_documents_every_flag() -> None:
    result = run("--help")
    assert result.returncode == 0
    for flag in FLAGS:
        assert flag in result.stdout
    for moment in ("tool-call", "audio", "response"):  # every drop moment is named and explained
        assert f"{moment}:" in " ".join(result.stdout.split())


def test_usage_errors_are_one_line_exit_2() -> None:
    for args in (["--bogus"], ["--port", "nope"], ["--transcript-fault", "sometimes"], ["--host", "0.0.0.0"],
                 ["--drop-socket-on", "midnight"], ["--refuse-connections-after", "-1"]):  # fmt: skip
        result = run(*args)
        assert result.returncode == 2, args
        assert result.stderr.strip().splitlines()[-1].startswith(("rtpipe", "usage")), result.stderr
        assert "Traceback" not in result.stderr


async def test_serves_then_stops_cleanly_on_sigterm() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with trio.fail_after(20):
        process = await trio.lowlevel.open_process([RTPIPE, "serve", "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert process.stdout is not None
        line = b""
        while not line.endswith(b"\n"):
            line += await process.stdout.receive_some(1024)
        assert line.decode().strip() == f"rtpipe serve: listening on http://127.0.0.1:{port}/v1 (realtime: ws://127.0.0.1:{port}/v1/realtime)"
        busy = await trio.run_process([RTPIPE, "serve", "--port", str(port)], capture_stderr=True, check=False)
        assert busy.returncode == 2 and b"already in use" in busy.stderr
        process.send_signal(signal.SIGTERM)
        assert await process.wait() == 0
