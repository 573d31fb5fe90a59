"""`rtpipe serve`: run the embedded Realtime server until Ctrl-C / SIGTERM / SIGHUP (exit 0).

Once it listens and its speech recogniser has started (the worker process loads and checks the model), it
prints one line with its URLs. Usage errors (bad flag values, a non-loopback host without `--allow-remote`, a port
in use) and a recogniser that cannot start (model missing or altered) print one line and exit 2.
"""

from __future__ import annotations

import argparse
import errno
import functools
import signal
import sys
from typing import Any

from pipeline.models import DEFAULT_REALTIME_MODEL
from pipeline.server.config import (
    DROP_MOMENTS,
    ITEM_DONE_ORDERS,
    TRANSCRIPT_FAULTS,
    DropPoint,
    ServerConfig,
    is_loopback,
)


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, not {text}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, not {text}")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, not {text}")
    return value


def _drop_point(text: str) -> DropPoint:
    try:
        return DropPoint.parse(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "serve",
        help="run the embedded Realtime-protocol server on loopback",
        description="Serve the OpenAI Realtime (GA) protocol over WebSocket at any path ending in /realtime, "
        "and POST /v1/chat/completions, on one port. Point the SDK at it with "
        "AsyncOpenAI(api_key='local', base_url='http://HOST:PORT/v1').",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; loopback only unless --allow-remote)")
    p.add_argument("--port", type=_non_negative_int, default=8765, help="TCP port (default 8765; 0 picks a free port)")
    p.add_argument("--allow-remote", action="store_true", help="allow a non-loopback --host (no authentication: use with care)")
    p.add_argument("--max-session-s", type=_positive_float, default=3600.0, metavar="S",
                   help="session length limit in seconds of session time, per connection; then error session_expired "
                        "(the real wording: 'Your session hit the maximum duration of 60 minutes.'; a shorter limit is "
                        "said in whole minutes or else seconds: '... of 8 seconds.') and close 1001 (default 3600)")
    p.add_argument("--transcript-delay-ms", type=_non_negative_int, default=150, metavar="MS",
                   help="delay from commit to the input transcription events (default 150)")
    p.add_argument("--transcript-fault", choices=TRANSCRIPT_FAULTS, default="none",
                   help="none: normal; fail: send ...transcription.failed; never: send nothing (retrieve has it); "
                        "empty: complete with an empty transcript")  # fmt: skip
    p.add_argument("--drop-socket-after", type=_positive_float, default=None, metavar="S",
                   help="drop every WebSocket (TCP reset, no close frame: the client sees 1006) S seconds of session "
                        "time after it opens; a reconnected client is dropped again S seconds later")
    moments = "; ".join(f"{name}: {text}" for name, text in DROP_MOMENTS.items())
    p.add_argument("--drop-socket-on", type=_drop_point, action="append", default=[], metavar="MOMENT[:N]",
                   help=f"drop the connection open at the N-th MOMENT (default N 1; counted over every connection, so "
                        f"it fires once; repeatable): {moments}")
    p.add_argument("--refuse-connections-after", type=_non_negative_int, default=None, metavar="N",
                   help="after N accepted WebSocket connections, refuse every further upgrade with HTTP 503 (a "
                        "server that refuses reconnection)")
    p.add_argument("--error-after-responses", type=_positive_int, default=None, metavar="N",
                   help="send one server_error event after the N-th response.done of each connection")
    p.add_argument("--seed", type=int, default=None, metavar="N", help="seed ids and choices: same inputs, same events")
    p.add_argument("--audio-chunk-ms", type=_positive_int, default=200, metavar="MS",
                   help="assistant audio per response.output_audio.delta (default 200)")
    p.add_argument("--pacing-ms", type=float, default=10.0, metavar="MS",
                   help="modelled streaming rate: session time between audio deltas (and text chunks); output "
                        "stays faster than real time (default 10)")
    p.add_argument("--recognition-ms", type=_non_negative_int, default=600, metavar="MS",
                   help="modelled latency from a commit to its words being known (the response can start); "
                        "recognition work hides inside it (default 600)")
    p.add_argument("--first-audio-ms", type=_non_negative_int, default=300, metavar="MS",
                   help="modelled latency from the start of a spoken response to its first audio delta (default 300)")
    p.add_argument("--fixed-reply", default=None, metavar="TEXT",
                   help="benchmarks: skip speech recognition; every user turn is heard as TEXT at once, so every "
                        "turn gets the same spoken reply")
    p.add_argument("--model", default=DEFAULT_REALTIME_MODEL,
                   help=f"model reported when the URL names none (default {DEFAULT_REALTIME_MODEL}); a reasoning "
                        "model (gpt-realtime-2, -2.1, -2.1-mini) speaks a preamble before tool calls, may call "
                        "several tools in one response and takes reasoning.effort and parallel_tool_calls")
    p.add_argument("--item-done-order", choices=ITEM_DONE_ORDERS, default="at-end",
                   help="a reasoning model's response with several items: at-end closes every message item just "
                        "before response.done (as gpt-realtime-2 was seen doing), sequential closes each before the "
                        "next one opens (default at-end)")
    p.set_defaults(handler=run)


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    return ServerConfig(
        host=args.host,
        port=args.port,
        allow_remote=args.allow_remote,
        max_session_s=args.max_session_s,
        transcript_delay_ms=args.transcript_delay_ms,
        transcript_fault=args.transcript_fault,
        drop_socket_after_s=args.drop_socket_after,
        drop_socket_on=tuple(args.drop_socket_on),
        refuse_connections_after=args.refuse_connections_after,
        item_done_order=args.item_done_order,
        error_after_responses=args.error_after_responses,
        seed=args.seed,
        audio_chunk_ms=args.audio_chunk_ms,
        pacing_ms=max(0.0, args.pacing_ms),
        recognition_ms=args.recognition_ms,
        first_audio_ms=args.first_audio_ms,
        model=args.model,
        fixed_reply=args.fixed_reply,
    )


def _bind_error(config: ServerConfig, error: OSError) -> int:
    if error.errno == errno.EADDRINUSE:
        print(f"rtpipe serve: port {config.port} on {config.host} is already in use; pick another with --port", file=sys.stderr)
    else:
        print(f"rtpipe serve: cannot listen on {config.host}:{config.port}: {error.strerror or error}", file=sys.stderr)
    return 2


async def _main(config: ServerConfig) -> int:
    import trio

    from pipeline.server.app import serve

    async with trio.open_nursery() as nursery:
        try:
            speech = None
            if config.fixed_reply is not None:
                from pipeline.server.speech import FixedSpeech

                speech = FixedSpeech(config.fixed_reply)
            handle: Any = await nursery.start(functools.partial(serve, speech=speech), config)
        except OSError as error:
            return _bind_error(config, error)
        # ready means ready: the recogniser's worker has loaded (and checked) its model before the URL is printed
        problem = None if config.fixed_reply is not None else await trio.to_thread.run_sync(_start_recognition)
        if problem is not None:
            print(f"rtpipe serve: speech recognition unavailable: {problem}", file=sys.stderr)
            nursery.cancel_scope.cancel()
            return 2
        # the handlers are in place before the line is printed: a client that signals as soon as it reads it
        # gets a clean exit 0, not the default action
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM, signal.SIGHUP) as signals:
            print(
                f"rtpipe serve: listening on {handle.base_url} (realtime: {handle.realtime_url})",
                flush=True,
            )
            async for _ in signals:
                break
        nursery.cancel_scope.cancel()
    return 0


def run(args: argparse.Namespace) -> int:
    if not args.allow_remote and not is_loopback(args.host):
        print(f"rtpipe serve: refusing to listen on non-loopback host {args.host}; pass --allow-remote to do so", file=sys.stderr)
        return 2
    try:
        config = config_from_args(args)
    except ValueError as error:
        print(f"rtpipe serve: {error}", file=sys.stderr)
        return 2
    import trio  # here, not at the top: `rtpipe serve --help` starts fast

    try:
        return trio.run(_main, config)
    except KeyboardInterrupt:
        return 0


def _start_recognition() -> str | None:
    """Start the shared recogniser now (not on the first utterance); one line saying why it cannot, or None."""
    from pipeline.server.speech import OfflineSpeech

    try:
        OfflineSpeech(warm_up=False).start_recognition()
    except (ImportError, RuntimeError, OSError) as error:
        return str(error)
    return None
