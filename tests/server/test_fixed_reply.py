"""`rtpipe serve --fixed-reply TEXT` (benchmarks): no recogniser; every turn is heard as TEXT at once."""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
from pathlib import Path

import trio

from pipeline.server.cli import add_parser, config_from_args
from pipeline.server.speech import FixedSpeech

RTPIPE = str(Path(sys.executable).with_name("rtpipe"))


def test_flag_reaches_the_config() -> None:
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    assert config_from_args(parser.parse_args(["serve", "--fixed-reply", "hello there"])).fixed_reply == "hello there"
    assert config_from_args(parser.parse_args(["serve"])).fixed_reply is None


def test_every_utterance_is_heard_as_the_text_and_silence_as_nothing() -> None:
    speech = FixedSpeech(" hello there ")
    assert speech.transcribe(b"\x01\x00" * 2400) == "hello there"
    assert speech.transcribe(b"\x00\x00" * 10) == "hello there"  # any committed audio is a turn
    assert speech.transcribe(b"") == ""
    audio = speech.synthesize("Hello!", voice="shimmer", speed=1.0)
    assert len(audio) > 4800 and len(audio) % 2 == 0  # real TTS: more than 0.1 s of PCM16


async def test_serves_without_starting_a_recogniser() -> None:
    with trio.fail_after(20):
        process = await trio.lowlevel.open_process(
            [RTPIPE, "serve", "--port", "0", "--fixed-reply", "hello"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        assert process.stdout is not None
        line = b""
        while not line.endswith(b"\n"):
            line += await process.stdout.receive_some(1024)
        assert b"(realtime: ws://127.0.0.1:" in line
        process.send_signal(signal.SIGTERM)
        assert await process.wait() == 0
