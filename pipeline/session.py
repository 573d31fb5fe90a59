"""One live session: connect, assemble the actors, run them under the supervisor, report how it went.

Order of the actor list is the shutdown order (upstream first): capture stops producing, the router stops
reading, the cores drain, the console prints the last lines, and the uploader goes last so that every
command a core asked for is on the wire before the socket closes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit, urlunsplit

import attrs
import trio

from actors.capture.actor import capture_actor
from actors.capture.sources import CaptureUnavailable, MicSource, ScriptSource, Source, WavSource
from actors.conductor.actor import conductor_actor
from actors.console.actor import console_actor
from actors.playback.actor import playback_actor
from actors.playback.sinks import NullSink, PlaybackUnavailable, Sink, SpeakerSink, WavSink
from actors.router.actor import router_actor
from actors.summariser.actor import summariser_actor
from actors.tools.actor import tools_actor
from actors.tools.registry import ToolLoadError, ToolRegistry
from actors.tracer.actor import tracer_actor
from actors.transcripts.actor import transcripts_actor
from actors.uploader.actor import uploader_actor
from events.playback import SessionFailed
from pipeline.bus import Bus
from pipeline.clock import TrioClock
from pipeline.config import RunConfig
from pipeline.connection import ConnectionFailed, Endpoint, connect, resolve_endpoint
from pipeline.journal import FsyncPolicy, Journal, JournalWriter, make_header, read_journal
from pipeline.projection import Conversation
from pipeline.runtime import ActorSpec, SessionOutcome, clock_actor, run_session
from pipeline.server import ServerConfig, serve


class SessionSetupError(Exception):
    """Something the user can fix before a session starts (bad input file, no microphone): one line."""


@attrs.frozen(kw_only=True)
class SessionResult:
    outcome: SessionOutcome
    journal: Path
    audio: Path | None
    conversation: Conversation
    failure: str | None  # one line when the session failed (connection, server error, actor failure)
    recorded: Journal | None = None  # the journal read back once at the end (ledger, failure line)


def default_paths(config: RunConfig, now: datetime | None = None) -> tuple[Path, Path | None]:
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    journal = config.journal or Path("journals") / f"session-{stamp}.rtpj"
    if config.output in (None, "wav"):
        audio: Path | None = journal.with_suffix(".wav")
    elif config.output in ("none", "speaker"):
        audio = None
    else:
        audio = Path(config.output)
    return journal, audio


def make_source(config: RunConfig) -> Source:
    if config.input == "script":
        from pipeline.audio.tts import USER_VOICE

        # the scripted user speaks with the voice the offline recogniser hears best (pipeline/audio/tts.py)
        return ScriptSource(
            list(config.script) or _demo_script(), voice=USER_VOICE, vad_silence_ms=config.vad_silence_duration_ms
        )
    if config.input == "mic":
        try:
            return MicSource()
        except CaptureUnavailable as exc:
            raise SessionSetupError(str(exc)) from None
    path = Path(config.input)
    try:
        return WavSource(path)
    except FileNotFoundError:
        raise SessionSetupError(f"--input {path}: no such file") from None
    except (OSError, ValueError) as exc:
        raise SessionSetupError(f"--input {path}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None


def _demo_script() -> list[str]:
    from actors.capture.script import DEMO_SCRIPT

    return list(DEMO_SCRIPT)


def make_sink(config: RunConfig, audio: Path | None) -> Sink:
    if config.output == "speaker":
        try:
            return SpeakerSink()
        except PlaybackUnavailable as exc:
            raise SessionSetupError(str(exc)) from None
    if audio is None:
        return NullSink()
    return WavSink(audio)


def rest_base_url(endpoint: Endpoint) -> str:
    """The OpenAI REST base (``.../v1``) beside a realtime endpoint: where chat completions go."""
    if endpoint.kind == "openai":
        return os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1"
    parts = urlsplit(endpoint.url)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    path = parts.path.rstrip("/")
    path = path[: -len("/realtime")] if path.endswith("/realtime") else path
    return urlunsplit((scheme, parts.netloc, path, "", ""))


def make_tools(config: RunConfig) -> ToolRegistry:
    try:
        return ToolRegistry.default(
            config.tool_specs, builtins=config.builtin_tools, default_timeout_s=config.tool_timeout_s
        )
    except ToolLoadError as exc:
        raise SessionSetupError(str(exc)) from None


def core_config(config: RunConfig, tools: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The flat map every core is built from; the journal header holds exactly this (redacted)."""
    data = config.for_cores()
    data["session"] = config.session_object(tools)
    if config.input == "script" and not config.script:
        data["script"] = _demo_script()
    return data


def build_actors(
    config: RunConfig,
    cores: Mapping[str, Any],
    ws: Any,
    *,
    source: Source,
    sink: Sink,
    conversation: Conversation,
    stream: TextIO | None,
    journal_path: Path | None = None,
    tools: ToolRegistry | None = None,
    rest_base_url: str | None = None,
    observers: Sequence[ActorSpec] = (),
) -> list[ActorSpec]:
    """The session's actors in shutdown order. Without ``rest_base_url`` (chat completions) there is no
    summariser: it is never pointed at a default host by accident."""
    summariser = (
        [summariser_actor(base_url=rest_base_url, api_key=config.api_key or "local", timeout_s=config.summary_timeout_s, config=cores)]
        if rest_base_url
        else []
    )
    return [
        capture_actor(source, chunk_ms=config.chunk_ms, fast=config.fast),
        router_actor(ws),
        conductor_actor(cores),
        transcripts_actor(cores),
        playback_actor(sink, realtime=not config.fast),
        console_actor(quiet=config.quiet, stream=stream, conversation=conversation),
        *summariser,
        clock_actor(),
        tools_actor(tools or ToolRegistry.default((), builtins=False), cores),
        tracer_actor(journal_path=journal_path, config=cores, flush_timeout_s=config.trace_flush_timeout_s),
        *observers,
        uploader_actor(ws),
    ]


def _session_failure(recorded: Journal) -> str | None:
    """The conductor's ``SessionFailed`` reason, if the session gave up."""
    for record in recorded.records:
        if record.tag == "session.failed":
            return str(record.payload.get("reason", "session failed"))
    return None


async def run_live(
    config: RunConfig, *, stream: TextIO | None = None, observers: Sequence[ActorSpec] = ()
) -> SessionResult:
    """Run one session end to end. Setup mistakes raise ``SessionSetupError``; everything after the journal
    is open is reported in the result (and journaled)."""
    journal_path, audio_path = default_paths(config)
    source = make_source(config)
    try:
        endpoint = resolve_endpoint(config.server, config.model, config.api_key, base_url=os.environ.get("OPENAI_BASE_URL"))
    except ValueError as exc:
        raise SessionSetupError(str(exc)) from None
    sink = make_sink(config, audio_path)  # a missing speaker is a setup error, before anything starts
    registry = make_tools(config)
    cores = core_config(config, registry.session_tools())
    conversation = Conversation()
    try:
        fsync = FsyncPolicy.from_text(config.journal_fsync)
    except ValueError as exc:
        raise SessionSetupError(str(exc)) from None

    async with trio.open_nursery() as nursery:
        if endpoint.needs_local_server:
            handle = await nursery.start(serve, ServerConfig())
            endpoint = endpoint.at(handle.realtime_url)
        result = await _run_connected(
            config, endpoint, cores, journal_path, audio_path, source, sink, conversation, fsync, stream, observers,
            registry,
        )
        nursery.cancel_scope.cancel()
    return result


async def _run_connected(
    config: RunConfig,
    endpoint: Endpoint,
    cores: dict[str, Any],
    journal_path: Path,
    audio_path: Path | None,
    source: Source,
    sink: Sink,
    conversation: Conversation,
    fsync: FsyncPolicy,
    stream: TextIO | None,
    observers: Sequence[ActorSpec],
    tools: ToolRegistry,
) -> SessionResult:
    rest = rest_base_url(endpoint)
    # build_actors runs a summariser exactly when there is a REST base; the conductor waits on its verdicts
    # only then (and replay reads this from the header)
    cores = {**cores, "summariser": bool(rest)}
    header_config = {**cores, "server_url": endpoint.describe(), "server_kind": endpoint.kind}
    writer = JournalWriter(journal_path, make_header(header_config), fsync=fsync)
    bus = Bus(clock=TrioClock(), journal=writer)
    try:
        async with connect(endpoint) as ws:
            specs = build_actors(
                config,
                cores,
                ws,
                source=source,
                sink=sink,
                conversation=conversation,
                stream=stream,
                journal_path=journal_path,
                tools=tools,
                rest_base_url=rest,
                observers=observers,
            )
            outcome = await run_session(specs, bus=bus)
    except ConnectionFailed as exc:
        # the journal says why the session never started
        bus.publish_nowait_unchecked(SessionFailed(reason=str(exc)), source="connection")
        writer.close()
        return SessionResult(
            outcome=SessionOutcome(failed_actor="connection", error=str(exc)),
            journal=journal_path,
            audio=None,
            conversation=conversation,
            failure=str(exc),
        )
    recorded = read_journal(journal_path)  # once: the caller's ledger and the failure line both come from it
    failure = f"{outcome.failed_actor} failed: {outcome.error}" if not outcome.ok else _session_failure(recorded)
    return SessionResult(
        outcome=outcome,
        journal=journal_path,
        audio=audio_path,
        conversation=conversation,
        failure=failure,
        recorded=recorded,
    )
