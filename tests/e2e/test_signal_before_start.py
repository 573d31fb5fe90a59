"""A signal that arrives before the session runs (here: while connecting to a server that never answers the
WebSocket handshake) still ends `run_live` cleanly: it returns, the journal says why and is closed, the WAV
is finalised. In process: run_live's own signal handling, with the signal sent to this process."""

from __future__ import annotations

import os
import signal
import wave
from functools import partial
from pathlib import Path

import trio

from pipeline.config import RunConfig
from pipeline.journal import EndReason, read_journal
from pipeline.session import run_live


async def test_a_signal_while_connecting_ends_the_run_cleanly(tmp_path: Path) -> None:
    async def silent(stream: trio.SocketStream) -> None:
        await trio.sleep_forever()  # accepts TCP, never answers the handshake

    journal, wav = tmp_path / "j.rtpj", tmp_path / "a.wav"
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            listeners = await nursery.start(partial(trio.serve_tcp, silent, 0, host="127.0.0.1"))
            port = listeners[0].socket.getsockname()[1]
            config = RunConfig(
                server=f"ws://127.0.0.1:{port}/v1/realtime", fast=True, quiet=True, journal=journal, output=str(wav)
            )

            async def terminate_soon() -> None:
                await trio.sleep(1.0)  # connect waits up to 10 s for the handshake
                os.kill(os.getpid(), signal.SIGTERM)

            nursery.start_soon(terminate_soon)
            started = trio.current_time()
            result = await run_live(config)
            assert trio.current_time() - started < 5
            nursery.cancel_scope.cancel()
    assert result.exit_signal == signal.SIGTERM
    assert result.outcome.ending_reason == "terminated" and result.failure is None
    recorded = read_journal(journal)
    assert recorded.end.reason is EndReason.CLOSED
    assert [r.payload["reason"] for r in recorded.records if r.tag == "session.ending"] == ["terminated"]
    with wave.open(str(wav), "rb") as audio:
        assert audio.getnframes() == 0
