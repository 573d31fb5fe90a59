"""Session configuration: every knob of `rtpipe run`, its default, and the flat map cores receive.

Cores never see this class: they receive ``config.for_cores()`` (the same map written, redacted, into the
journal header), so that replay rebuilds each core from the journal alone. Keys are stable; add, never
rename.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs

DEFAULT_INSTRUCTIONS = (
    "You are a friendly, concise voice assistant. Answer in short spoken sentences. "
    "Use the tools when the user asks for the weather, the time, or a reminder."
)


@attrs.frozen(kw_only=True)
class RunConfig:
    # connection
    server: str = "auto"  # auto | local | URL (ws:// or wss:// or http(s):// base)
    model: str = "gpt-realtime"
    api_key: str | None = attrs.field(default=None, repr=False)
    # session
    voice: str = "shimmer"
    instructions: str = DEFAULT_INSTRUCTIONS
    output_modalities: tuple[str, ...] = ("audio",)
    transcription_model: str = "gpt-4o-transcribe"
    transcription_language: str = "en"
    vad_threshold: float = 0.5
    vad_prefix_padding_ms: int = 300
    vad_silence_duration_ms: int = 500
    # audio
    sample_rate: int = 24000
    chunk_ms: int = 40
    input: str = "script"  # script | mic | PATH.wav
    script: tuple[str, ...] = ()
    output: str | None = None  # PATH.wav | speaker | none
    fast: bool = False
    # transcripts (the cookbook's retrieve loop, bounded)
    transcript_timeout_ms: int = 3000
    transcript_retries: int = 5
    transcript_backoff_ms: int = 400
    transcript_retrieve_wait_ms: int = 2000
    # tools (issue 5): user tools as "module:attribute" specs, on top of the three built-in ones
    tool_specs: tuple[str, ...] = ()
    builtin_tools: bool = True
    tool_timeout_s: float = 10.0
    # summariser (issue 5)
    summary_enabled: bool = True
    summary_trigger: int = 2000
    keep_last_turns: int = 2
    summary_model: str = "gpt-4o-mini"
    summary_language: str = "French"
    summary_style: str = "paragraph"
    summary_timeout_s: float = 30.0
    # cost ledger: a TOML file overriding the price table (USD per 1M tokens)
    prices: str | None = None
    # tracing (Maxim with MAXIM_API_KEY + MAXIM_LOG_REPO_ID, else a JSONL file next to the journal)
    maxim_session_name: str = "rtpipe session"
    maxim_session_tags: str = ""
    maxim_session_id: str | None = None
    trace_flush_timeout_s: float = 5.0
    # journal / output
    journal: Path | None = None
    journal_fsync: str = "interval:1.0"
    overwrite: bool = False  # an explicit --journal / --output file that exists is replaced, not an error
    quiet: bool = False

    def for_cores(self) -> dict[str, Any]:
        """The flat, secret-free map handed to cores and written to the journal header."""
        data = attrs.asdict(self, recurse=True)
        data.pop("api_key", None)
        data["output_modalities"] = list(self.output_modalities)
        data["script"] = list(self.script)
        data["tool_specs"] = list(self.tool_specs)
        data["journal"] = str(self.journal) if self.journal else None
        return data

    def session_object(self, tools: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """The GA ``session.update`` session (realtime-protocol.md §3): nested, with ``type``."""
        session: dict[str, Any] = {
            "type": "realtime",
            "model": self.model,
            "instructions": self.instructions,
            "output_modalities": list(self.output_modalities),
            "audio": {
                "input": {
                    "format": {"type": "audio/pcm", "rate": self.sample_rate},
                    "transcription": {"model": self.transcription_model, "language": self.transcription_language},
                    "turn_detection": {
                        "type": "server_vad",
                        "threshold": self.vad_threshold,
                        "prefix_padding_ms": self.vad_prefix_padding_ms,
                        "silence_duration_ms": self.vad_silence_duration_ms,
                        "create_response": True,
                        "interrupt_response": True,
                    },
                },
                "output": {"format": {"type": "audio/pcm", "rate": self.sample_rate}, "voice": self.voice},
            },
            "tool_choice": "auto",
            "tools": tools or [],
        }
        return session
