"""Session configuration: every knob of `rtpipe run`, its default, what it may be, and the flat map cores
receive.

A ``RunConfig`` that exists is valid: every field is checked at construction (type, range, choice), whoever
builds it (the CLI, a config file, a test, a bench), and a bad value raises ``ConfigError`` naming the field,
the value and what is allowed. ``FLAGS`` maps each field to the ``rtpipe run`` flag that sets it, so the CLI
can word the error as the user wrote it. Checks that need the outside world (does ``--input`` exist) belong to
the CLI, not here.

Cores never see this class: they receive ``config.for_cores()`` (the same map written, redacted, into the
journal header), so that replay rebuilds each core from the journal alone. Keys are stable; add, never
rename.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import attrs

from pipeline.models import (
    DEFAULT_REALTIME_MODEL,
    DEFAULT_SUMMARY_MODEL,
    DEFAULT_TRANSCRIPTION_MODEL,
    REASONING_REALTIME,
    is_reasoning_realtime,
)

DEFAULT_INSTRUCTIONS = (
    "You are a friendly, concise voice assistant. Answer in short spoken sentences. "
    "Use the tools when the user asks for the weather, the time, or a reminder."
)

SUMMARY_STYLES = ("paragraph", "bullets", "json")
OUTPUT_CHOICES = ("wav", "speaker", "none")
SERVER_CHOICES = ("auto", "local")
SERVER_SCHEMES = ("ws", "wss", "http", "https")
INPUT_CHOICES = ("script", "mic")
SAMPLE_RATES = (24000,)  # the GA Realtime API's audio/pcm is 24 kHz only (realtime-protocol.md)
MODALITIES = (("audio",), ("text",))  # one of them, never both (the API rejects the pair)
REASONING_EFFORTS = ("minimal", "low", "medium", "high", "xhigh")  # the SDK's RealtimeReasoningEffort
TRUNCATION_CHOICES = ("auto", "disabled")  # or retention_ratio:R

# field -> the `rtpipe run` flag that sets it; None: a config-file key only
FLAGS: dict[str, str | None] = {
    "script": "--say",
    "tool_specs": "--tools",
    "builtin_tools": "--no-builtin-tools",
    "summary_enabled": "--no-summary",
    "reconnect": "--no-reconnect",
    "output_modalities": None,
    "sample_rate": None,
    "api_key": None,  # the environment's OPENAI_API_KEY, never a flag or a file
}


def flag_of(field: str) -> str | None:
    """The flag that sets ``field`` (``--tool-timeout-s`` for ``tool_timeout_s``), or None for a key only
    a config file can set."""
    return FLAGS[field] if field in FLAGS else "--" + field.replace("_", "-")


class ConfigError(ValueError):
    """A field given a value it cannot take. ``problem`` is what follows the value in the one line the user
    sees: ``must be <allowed>``, unless the value is fine alone and wrong beside another field."""

    def __init__(self, field: str, value: object, allowed: str, *, problem: str | None = None) -> None:
        self.problem = problem or f"must be {allowed}"
        super().__init__(f"{field} = {show(value)}: {self.problem}")
        self.field = field
        self.value = value
        self.allowed = allowed


def show(value: object) -> str:
    """A value as a user wrote it: ``0`` not ``0.0``, TOML's ``true``, strings quoted."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(show(v) for v in value) + "]"
    if isinstance(value, Path):
        return show(str(value))
    return repr(value)


Check = Callable[[Any, "attrs.Attribute[Any]", Any], None]


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _whole(lo: int, hi: int, unit: str = "") -> Check:
    allowed = f"a whole number from {lo} to {hi}{unit}"

    def check(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if not _is_int(value) or not lo <= value <= hi:
            raise ConfigError(attribute.name, value, allowed)

    return check


def _number(lo: float, hi: float, *, above: bool = False, unit: str = "") -> Check:
    """A finite number in [lo, hi], or in (lo, hi] with ``above``."""
    allowed = f"a number greater than {lo:g} and at most {hi:g}{unit}" if above else f"a number from {lo:g} to {hi:g}{unit}"

    def check(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if not isinstance(value, float) or math.isnan(value) or not (lo < value if above else lo <= value) or value > hi:
            raise ConfigError(attribute.name, value, allowed)

    return check


def _to_float(value: float) -> float:
    """A whole number where a float is meant (``tool_timeout_s = 10`` in TOML) is that float; anything else
    is left for the validator to refuse."""
    return float(value) if _is_int(value) else value


def _flag(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, bool):
        raise ConfigError(attribute.name, value, "true or false (a TOML boolean, not a string)")


def _text(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(attribute.name, value, "non-empty text")


def _any_text(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, str):
        raise ConfigError(attribute.name, value, "text")


def _optional(check: Check) -> Check:
    def optional(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is not None:
            check(instance, attribute, value)

    return optional


def _choice(*choices: str) -> Check:
    allowed = "one of " + ", ".join(choices)

    def check(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value not in choices or not isinstance(value, str):
            raise ConfigError(attribute.name, value, allowed)

    return check


def _lines(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, tuple):
        raise ConfigError(attribute.name, value, "a list of lines (non-empty strings)")
    for line in value:
        if not isinstance(line, str) or not line.strip():
            raise ConfigError(attribute.name, line, "non-empty text (each line)")


def _tool_specs(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    allowed = "a list of module:attribute strings (e.g. mytools:weather)"
    if not isinstance(value, tuple):
        raise ConfigError(attribute.name, value, allowed)
    for spec in value:
        module, sep, name = spec.rpartition(":") if isinstance(spec, str) else ("", "", "")
        if not (sep and module.strip() and name.strip()):
            raise ConfigError(attribute.name, spec, allowed)


def _modalities(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value not in MODALITIES or not isinstance(value, tuple):
        raise ConfigError(attribute.name, value, '["audio"] or ["text"]')


def _server(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    allowed = "auto, local, or a ws://, wss://, http:// or https:// URL with a host"
    if not isinstance(value, str):
        raise ConfigError(attribute.name, value, allowed)
    choice = value.strip()
    if choice in SERVER_CHOICES:
        return
    try:
        parts = urlsplit(choice)
        ok = parts.scheme.lower() in SERVER_SCHEMES and bool(parts.hostname)
    except ValueError:  # a malformed port or IPv6 literal
        ok = False
    if not ok:
        raise ConfigError(attribute.name, value, allowed)


def _input(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(attribute.name, value, "script, mic, or the path of a WAV file")


def _output(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is None or value in OUTPUT_CHOICES:
        return
    if not isinstance(value, str) or not value.lower().endswith(".wav") or not value[:-4].strip(" ./"):
        raise ConfigError(attribute.name, value, "wav, speaker, none, or a path ending in .wav")


def _journal(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and (not isinstance(value, Path) or value.name in ("", ".", "..")):
        raise ConfigError(attribute.name, value, "the path of a journal file")


def _fsync(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    allowed = "interval, interval:SECONDS (a number greater than 0), always or close"
    if not isinstance(value, str):
        raise ConfigError(attribute.name, value, allowed)
    from pipeline.journal.writer import FsyncMode, FsyncPolicy  # the journal, only when a config is built

    try:
        policy = FsyncPolicy.from_text(value)
    except ValueError:
        raise ConfigError(attribute.name, value, allowed) from None
    if policy.mode is FsyncMode.INTERVAL and not (math.isfinite(policy.interval_s) and policy.interval_s > 0):
        raise ConfigError(attribute.name, value, allowed)


def _tags(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    allowed = "empty or key=value pairs separated by commas (k=v,k2=v2)"
    if not isinstance(value, str):
        raise ConfigError(attribute.name, value, allowed)
    for part in filter(str.strip, value.split(",")):
        key, sep, _ = part.partition("=")
        if not sep or not key.strip():
            raise ConfigError(attribute.name, value, allowed)


def retention_ratio(value: str) -> float | None:
    """R of ``retention_ratio:R`` when R is a number in (0, 1], else None (also for any other text)."""
    kind, sep, ratio = value.partition(":")
    if kind.strip() != "retention_ratio" or not sep:
        return None
    try:
        number = float(ratio)
    except ValueError:
        return None
    return number if math.isfinite(number) and 0 < number <= 1 else None


def _truncation(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    allowed = "auto, disabled, or retention_ratio:R with R a number greater than 0 and at most 1"
    if not isinstance(value, str) or (value not in TRUNCATION_CHOICES and retention_ratio(value) is None):
        raise ConfigError(attribute.name, value, allowed)


def _rate(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not _is_int(value) or value not in SAMPLE_RATES:
        raise ConfigError(attribute.name, value, " or ".join(map(str, SAMPLE_RATES)) + " (the Realtime API's PCM rate)")


_MS = " ms"
_S = " seconds"


@attrs.frozen(kw_only=True)
class RunConfig:
    # connection
    server: str = attrs.field(default="auto", validator=_server)  # auto | local | URL (ws(s):// or http(s):// base)
    model: str = attrs.field(default=DEFAULT_REALTIME_MODEL, validator=_text)  # pipeline/models.py: why this one
    api_key: str | None = attrs.field(default=None, repr=False, validator=_optional(_any_text))
    # a call outlives its connection (issue 12): reconnect with bounded exponential backoff, re-seed from the
    # conversation, renew the session before the server's maximum duration, or resume an earlier call
    reconnect: bool = attrs.field(default=True, validator=_flag)  # --no-reconnect
    reconnect_attempts: int = attrs.field(default=5, validator=_whole(1, 100))
    reconnect_backoff_ms: int = attrs.field(default=250, validator=_whole(0, 60_000, _MS))  # first delay; doubles
    reconnect_backoff_max_ms: int = attrs.field(default=8000, validator=_whole(0, 600_000, _MS))
    reconnect_buffer_ms: int = attrs.field(default=5000, validator=_whole(0, 60_000, _MS))  # user audio held meanwhile
    max_session_minutes: float = attrs.field(
        default=55.0, converter=_to_float, validator=_number(0, 60, above=True, unit=" minutes")
    )
    resume: Path | None = attrs.field(default=None, validator=_journal)  # seed from an earlier call's journal
    # session
    # reasoning realtime models only (pipeline.models.is_reasoning_realtime); None: not sent, the server decides
    reasoning_effort: str | None = attrs.field(default=None, validator=_optional(_choice(*REASONING_EFFORTS)))
    parallel_tool_calls: bool | None = attrs.field(default=None, validator=_optional(_flag))
    # the server's context trimming when the conversation outgrows the model's window (the summariser, far
    # below that window, normally keeps it from ever acting): auto | disabled | retention_ratio:R
    truncation: str = attrs.field(default="auto", validator=_truncation)
    voice: str = attrs.field(default="shimmer", validator=_text)
    instructions: str = attrs.field(default=DEFAULT_INSTRUCTIONS, validator=_any_text)
    output_modalities: tuple[str, ...] = attrs.field(default=("audio",), validator=_modalities)
    transcription_model: str = attrs.field(default=DEFAULT_TRANSCRIPTION_MODEL, validator=_text)
    transcription_language: str = attrs.field(default="en", validator=_text)
    vad_threshold: float = attrs.field(default=0.5, converter=_to_float, validator=_number(0.0, 1.0))
    vad_prefix_padding_ms: int = attrs.field(default=300, validator=_whole(0, 10_000, _MS))
    vad_silence_duration_ms: int = attrs.field(default=500, validator=_whole(0, 10_000, _MS))
    # audio
    sample_rate: int = attrs.field(default=24000, validator=_rate)
    chunk_ms: int = attrs.field(default=40, validator=_whole(10, 1000, _MS))
    input: str = attrs.field(default="script", validator=_input)  # script | mic | PATH.wav
    script: tuple[str, ...] = attrs.field(default=(), validator=_lines)
    output: str | None = attrs.field(default=None, validator=_output)  # wav (None) | PATH.wav | speaker | none
    fast: bool = attrs.field(default=False, validator=_flag)
    # transcripts (the cookbook's retrieve loop, bounded)
    transcript_timeout_ms: int = attrs.field(default=3000, validator=_whole(1, 600_000, _MS))
    transcript_retries: int = attrs.field(default=5, validator=_whole(1, 100))
    transcript_backoff_ms: int = attrs.field(default=400, validator=_whole(0, 600_000, _MS))
    transcript_retrieve_wait_ms: int = attrs.field(default=2000, validator=_whole(1, 600_000, _MS))
    # tools (issue 5): user tools as "module:attribute" specs, on top of the three built-in ones
    tool_specs: tuple[str, ...] = attrs.field(default=(), validator=_tool_specs)
    builtin_tools: bool = attrs.field(default=True, validator=_flag)
    tool_timeout_s: float = attrs.field(default=10.0, converter=_to_float, validator=_number(0, 3600, above=True, unit=_S))
    # summariser (issue 5)
    summary_enabled: bool = attrs.field(default=True, validator=_flag)
    summary_trigger: int = attrs.field(default=2000, validator=_whole(1, 1_000_000, " tokens"))
    keep_last_turns: int = attrs.field(default=2, validator=_whole(0, 1000))
    summary_model: str = attrs.field(default=DEFAULT_SUMMARY_MODEL, validator=_text)  # a chat-completions model
    summary_language: str = attrs.field(default="French", validator=_text)
    summary_style: str = attrs.field(default="paragraph", validator=_choice(*SUMMARY_STYLES))
    summary_timeout_s: float = attrs.field(default=30.0, converter=_to_float, validator=_number(0, 3600, above=True, unit=_S))
    # cost ledger: a TOML file overriding the price table (USD per 1M tokens)
    prices: str | None = attrs.field(default=None, validator=_optional(_text))
    # tracing (Maxim with MAXIM_API_KEY + MAXIM_LOG_REPO_ID, else a JSONL file next to the journal)
    maxim_session_name: str = attrs.field(default="rtpipe session", validator=_text)
    maxim_session_tags: str = attrs.field(default="", validator=_tags)
    maxim_session_id: str | None = attrs.field(default=None, validator=_optional(_text))
    trace_flush_timeout_s: float = attrs.field(
        default=5.0, converter=_to_float, validator=_number(0, 3600, above=True, unit=_S)
    )
    # journal / output
    journal: Path | None = attrs.field(default=None, validator=_journal)
    journal_fsync: str = attrs.field(default="interval:1.0", validator=_fsync)
    overwrite: bool = attrs.field(default=False, validator=_flag)  # an explicit --journal / --output that exists is replaced
    quiet: bool = attrs.field(default=False, validator=_flag)

    def __attrs_post_init__(self) -> None:
        """Settings only some models take, checked against the model (each is valid alone)."""
        if is_reasoning_realtime(self.model):
            return
        takers = ", ".join(sorted(REASONING_REALTIME))
        for field in ("reasoning_effort", "parallel_tool_calls"):
            value = getattr(self, field)
            if value is not None:
                problem = f"model {self.model} does not take it (only the reasoning realtime models do: {takers})"
                raise ConfigError(field, value, f"unset for model {self.model}", problem=problem)

    def truncation_object(self) -> str | dict[str, Any]:
        """``truncation`` as the GA session takes it: ``"auto"``, ``"disabled"`` or a retention-ratio object."""
        ratio = retention_ratio(self.truncation)
        if ratio is None:
            return self.truncation
        return {"type": "retention_ratio", "retention_ratio": ratio}

    def for_cores(self) -> dict[str, Any]:
        """The flat, secret-free map handed to cores and written to the journal header."""
        data = attrs.asdict(self, recurse=True)
        data.pop("api_key", None)
        data["output_modalities"] = list(self.output_modalities)
        data["script"] = list(self.script)
        data["tool_specs"] = list(self.tool_specs)
        data["journal"] = str(self.journal) if self.journal else None
        data["resume"] = str(self.resume) if self.resume else None
        # what --keep-last-turns counts: a question, or the whole answer to it (the summariser reads this;
        # journals without it counted items)
        data["summary_turns"] = "exchanges"
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
            "truncation": self.truncation_object(),
        }
        if self.reasoning_effort is not None:
            session["reasoning"] = {"effort": self.reasoning_effort}
        if self.parallel_tool_calls is not None:
            session["parallel_tool_calls"] = self.parallel_tool_calls
        return session
