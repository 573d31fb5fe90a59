"""Configuration of the embedded server (every field is also a flag of `rtpipe serve`)."""

from __future__ import annotations

import ipaddress
from typing import Final, Literal

import attrs

TranscriptFault = Literal["none", "fail", "never", "empty"]
TRANSCRIPT_FAULTS: Final = ("none", "fail", "never", "empty")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_fault(_instance: object, _attribute: object, value: str) -> None:
    if value not in TRANSCRIPT_FAULTS:
        raise ValueError(f"transcript_fault must be one of {', '.join(TRANSCRIPT_FAULTS)}, not {value!r}")


@attrs.frozen(kw_only=True)
class ServerConfig:
    """Knobs of the embedded Realtime server; defaults match the real service where it has one."""

    host: str = "127.0.0.1"
    port: int = attrs.field(default=0, validator=attrs.validators.and_(attrs.validators.ge(0), attrs.validators.le(65535)))
    allow_remote: bool = False
    max_session_s: float = attrs.field(default=3600.0, validator=attrs.validators.gt(0))
    transcript_delay_ms: int = attrs.field(default=150, validator=attrs.validators.ge(0))
    transcript_fault: str = attrs.field(default="none", validator=_check_fault)
    drop_socket_after_s: float | None = attrs.field(default=None, validator=attrs.validators.optional(attrs.validators.gt(0)))
    error_after_responses: int | None = attrs.field(default=None, validator=attrs.validators.optional(attrs.validators.gt(0)))
    seed: int | None = None
    model: str = "gpt-realtime"
    audio_chunk_ms: int = attrs.field(default=200, validator=attrs.validators.ge(10))
    pacing_ms: float = attrs.field(default=10.0, validator=attrs.validators.ge(0))
    # modelled service latencies, in session time (real and simulated alike): commit -> words known, and
    # synthesis start -> first audio delta; the real ASR/TTS work hides inside them
    recognition_ms: int = attrs.field(default=600, validator=attrs.validators.ge(0))
    first_audio_ms: int = attrs.field(default=300, validator=attrs.validators.ge(0))
    rate_limit_tokens: int = 40_000
    max_message_bytes: int = 64 * 1024 * 1024
    worker_threads: int = attrs.field(default=2, validator=attrs.validators.ge(1))
    # benchmarks: no recognition, every user turn is heard as this text at once (so gets the same reply)
    fixed_reply: str | None = None

    def __attrs_post_init__(self) -> None:
        if not self.allow_remote and not is_loopback(self.host):
            raise ValueError(f"refusing to listen on non-loopback host {self.host!r} without allow_remote")
