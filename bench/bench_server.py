"""The embedded server's cost per session: CPU microseconds per second of audio in and out.

One scripted session runs through the server's sans-IO core with the real offline speech stack:

* in: three spoken user turns (synthesised beforehand, not timed) streamed as 40 ms base64 appends, i.e.
  JSON parsing and validation, base64, the energy VAD and the commit, then Whisper (faster-whisper) on each turn;
* out: the responses those turns produce (a short answer, a function call and its spoken result, and the
  long story), i.e. espeak-ng, chunking, base64 and the JSON of every delta event.

CPU time is `cpu_s()` (all threads of the process) plus the CPU of this process's children: the
server decodes speech in an isolated ASR child process, whose time must count as the server's cost.
"""

from __future__ import annotations

import base64
import json
import os
import time
from pathlib import Path
from typing import Any

from bench.common import Result
from pipeline.server.audio_format import BYTES_PER_SECOND
from pipeline.server.connection import CoreConfig, RealtimeCore
from pipeline.server.effects import Output, Recognize, Send, Stream, Synthesize
from pipeline.server.ids import IdGenerator
from pipeline.server.speech import OfflineSpeech

TURNS = ("hello how are you today", "what is the weather in Paris", "can you tell me a story about a lighthouse")
TOOLS = [{"type": "function", "name": "get_weather", "description": "Get the current weather for a location",
          "parameters": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}}]  # fmt: skip



_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_s() -> float:
    """CPU seconds of this process and its live children (the isolated ASR worker)."""
    total = time.process_time()
    children: list[str] = []
    for listing in Path("/proc/self/task").glob("*/children"):
        children += listing.read_text().split()
    for pid in children:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / _TICKS  # utime + stime
    return total

class _Meter:
    def __init__(self) -> None:
        self.speech = OfflineSpeech()
        self.in_cpu = 0.0
        self.out_cpu = 0.0
        self.out_bytes = 0
        self.calls: list[dict[str, Any]] = []

    def run(self, core: RealtimeCore, outputs: list[Output]) -> None:
        for output in outputs:
            if isinstance(output, Send):
                started = cpu_s()
                json.dumps(output.event)
                self.out_cpu += cpu_s() - started
                if output.event["type"] == "response.output_item.done" and output.event["item"]["type"] == "function_call":
                    self.calls.append(output.event["item"])
            elif isinstance(output, Recognize):
                started = cpu_s()
                text = self.speech.transcribe(output.pcm)
                self.in_cpu += cpu_s() - started
                self.run(core, core.recognized(output.item_id, text))
            elif isinstance(output, Synthesize):
                started = cpu_s()
                pcm = self.speech.synthesize(output.text, voice=output.voice, speed=output.speed)
                self.out_cpu += cpu_s() - started
                self.out_bytes += len(pcm)
                self.run(core, core.synthesized(output.response_id, pcm))
            elif isinstance(output, Stream):
                finished = False
                while not finished:
                    started = cpu_s()
                    more, finished = core.advance(output.response_id)
                    self.out_cpu += cpu_s() - started
                    self.run(core, more)


def run() -> list[Result]:
    from pipeline.audio.tts import synthesize

    meter = _Meter()
    meter.speech.transcribe(b"\0\0" * 2400)  # load the decoder outside the measurement
    core = RealtimeCore(CoreConfig(), IdGenerator(1))
    meter.run(core, core.open())
    update = {"type": "session.update", "session": {"type": "realtime", "tools": TOOLS,
              "audio": {"input": {"turn_detection": {"type": "server_vad", "silence_duration_ms": 500}}}}}  # fmt: skip
    meter.run(core, core.receive(json.dumps(update)))
    in_bytes = 0
    for text in TURNS:
        audio = b"\0\0" * 4800 + synthesize(text, voice="en-us") + b"\0\0" * 24000
        in_bytes += len(audio)
        frames = [json.dumps({"type": "input_audio_buffer.append", "audio": base64.b64encode(audio[i : i + 1920]).decode()})
                  for i in range(0, len(audio), 1920)]  # fmt: skip
        for frame in frames:
            started = cpu_s()
            outputs = core.receive(frame)
            meter.in_cpu += cpu_s() - started
            meter.run(core, outputs)
        for call in meter.calls:
            result = json.dumps({"location": "Paris", "temperature": "18°C", "condition": "sunny"})
            item = {"type": "function_call_output", "call_id": call["call_id"], "output": result}
            meter.run(core, core.receive(json.dumps({"type": "conversation.item.create", "item": item})))
            meter.run(core, core.receive(json.dumps({"type": "response.create"})))
        meter.calls.clear()
    in_seconds = in_bytes / BYTES_PER_SECOND
    out_seconds = max(meter.out_bytes / BYTES_PER_SECOND, 1e-9)
    return [
        Result("audio in: CPU per second (VAD + ASR)", meter.in_cpu / in_seconds * 1e6, "µs/s", target=250_000),
        Result("audio out: CPU per second (TTS + framing)", meter.out_cpu / out_seconds * 1e6, "µs/s", target=50_000),
        Result("audio in per session", in_seconds, "s"),
        Result("audio out per session", out_seconds, "s"),
    ]


if __name__ == "__main__":
    for row in run():
        print(f"{row.name}: {row.value_text()} (target {row.target_text()})")
