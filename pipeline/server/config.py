"""Configuration of the embedded server (every field is also a flag of `rtpipe serve`)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Final, Literal

import attrs

from pipeline.models import DEFAULT_REALTIME_MODEL

TranscriptFault = Literal["none", "fail", "never", "empty"]
TRANSCRIPT_FAULTS: Final = ("none", "fail", "never", "empty")

# Moments a connection can be dropped at (`--drop-socket-on MOMENT[:N]`), counted over the whole server (every
# connection), so each one fires once: a reconnected client is not dropped again at the same moment.
DROP_MOMENTS: Final = {
    "tool-call": "right after the N-th response.function_call_arguments.done (the client has the call, not "
    "the response.done): a drop in the middle of a tool call",
    "audio": "in the middle of the N-th assistant audio item (once half of its audio deltas are sent): a drop "
    "in the middle of a spoken answer (a reasoning model's preamble is an audio item too)",
    "response": "right after the N-th response.created (nothing of it generated yet)",
}
ITEM_DONE_ORDERS: Final = ("at-end", "sequential")


@attrs.frozen
class DropPoint:
    """One `--drop-socket-on` moment: `moment` (a key of `DROP_MOMENTS`) the `nth` time it happens."""

    moment: str
    nth: int = 1

    @classmethod
    def parse(cls, text: str) -> DropPoint:
        """`tool-call`, `audio:2`, ... (N defaults to 1); ValueError with one line saying what is accepted."""
        moment, _, count = text.strip().partition(":")
        if moment not in DROP_MOMENTS:
            raise ValueError(f"unknown drop moment {moment!r}: use one of {', '.join(DROP_MOMENTS)} (optionally :N)")
        try:
            nth = int(count) if count else 1
        except ValueError:
            raise ValueError(f"bad drop moment {text!r}: N in {moment}:N must be a positive integer") from None
        if nth <= 0:
            raise ValueError(f"bad drop moment {text!r}: N in {moment}:N must be a positive integer")
        return cls(moment, nth)

    def __str__(self) -> str:
        return f"{self.moment}:{self.nth}"


def _drop_points(value: str | DropPoint | Iterable[str | DropPoint]) -> tuple[DropPoint, ...]:
    items = (value,) if isinstance(value, (str, DropPoint)) else tuple(value)
    return tuple(item if isinstance(item, DropPoint) else DropPoint.parse(str(item)) for item in items)


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
    # faults for the reconnect tests, all in session time and per server: every connection is dropped (TCP
    # reset, no close frame: the client sees 1006) this long after it opens; the connection open at each
    # `drop_socket_on` moment is dropped then; WebSocket upgrades after `refuse_connections_after` accepted
    # ones get HTTP 503
    drop_socket_after_s: float | None = attrs.field(default=None, validator=attrs.validators.optional(attrs.validators.gt(0)))
    drop_socket_on: tuple[DropPoint, ...] = attrs.field(default=(), converter=_drop_points)
    refuse_connections_after: int | None = attrs.field(default=None, validator=attrs.validators.optional(attrs.validators.ge(0)))
    error_after_responses: int | None = attrs.field(default=None, validator=attrs.validators.optional(attrs.validators.gt(0)))
    seed: int | None = None
    model: str = DEFAULT_REALTIME_MODEL  # reported when the URL names none
    # reasoning models' multi-item responses: "at-end" closes every message item (audio.done ... output_item.done)
    # just before response.done, as gpt-realtime-2 was seen doing; "sequential" closes each before the next opens
    item_done_order: str = attrs.field(default="at-end", validator=attrs.validators.in_(ITEM_DONE_ORDERS))
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
