"""One live session: connect, assemble the actors, run them under the supervisor, report how it went.

Order of the actor list is the shutdown order (upstream first): capture stops producing, the router stops
reading, the cores drain, the console prints the last lines, and the uploader goes last so that every
command a core asked for is on the wire before the socket closes.

Outputs. The journal (default ``journals/session-<time>-<ms>-<random>.rtpj``, unique even for runs started
in the same millisecond), the WAV of the assistant's audio (beside the journal by default) and the trace file
(always beside the journal) get their folders created. A path that cannot be written, or an explicit one that
already exists (without ``overwrite``), is a ``SessionSetupError`` (one line) raised before anything starts.

Endings. SIGINT, SIGTERM and SIGHUP end a session at once but cleanly (``SessionEnding`` with reason
``interrupted``, ``terminated`` or ``hangup``; capture stops, the cores drain under a short bound, the journal,
WAV and trace are closed) and ``run_live`` returns normally with ``SessionResult.exit_signal`` set, so the
caller can print its report and exit with 128 + the signal number. A second signal exits the process at once
(``os._exit``), after handing the journal's buffered records to the OS.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import threading
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO
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
from events.runtime import SessionEnding
from pipeline.audio.wav import AudioFormatError
from pipeline.bus import Bus
from pipeline.clock import SimClock, TrioClock, simulated
from pipeline.config import RunConfig
from pipeline.connection import ConnectionFailed, Endpoint, connect, resolve_endpoint
from pipeline.journal import FsyncPolicy, Journal, JournalWriter, make_header, read_journal
from pipeline.link import Link, connection_actor
from pipeline.projections.conversation import Conversation
from pipeline.runtime import ActorSpec, SessionControl, SessionOutcome, clock_actor, run_session
from pipeline.server import ServerConfig, serve

if TYPE_CHECKING:
    from pipeline.resume import ResumeSeed


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
    exit_signal: int | None = None  # the signal that ended the session (the CLI exits with 128 + it)


# what a signal's SessionEnding says; SIGHUP is named for what happened (the terminal went away)
SIGNAL_REASONS: Mapping[int, str] = {
    signal.SIGINT: "interrupted",
    signal.SIGTERM: "terminated",
    signal.SIGHUP: "hangup",
}
SIGNAL_GRACE_S = 2.0  # the whole shutdown after a signal: capture stops, the cores drain, files close


def default_journal_name(now: datetime | None = None, suffix: str | None = None) -> str:
    """``session-YYYYmmdd-HHMMSS-mmm-xxxx.rtpj``: sortable by start time, unique across runs started in the
    same millisecond (four random hex digits)."""
    moment = now or datetime.now()
    tail = suffix if suffix is not None else secrets.token_hex(2)
    return f"session-{moment:%Y%m%d-%H%M%S}-{moment.microsecond // 1000:03d}-{tail}.rtpj"


def default_paths(config: RunConfig, now: datetime | None = None) -> tuple[Path, Path | None]:
    journal = config.journal or Path("journals") / default_journal_name(now)
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
        # the silence after the file lets server VAD end a turn the recording ends in (most recordings stop
        # right after the last word): what the user said at the end is still heard, committed and answered
        return WavSource(path, trailing_silence_ms=config.vad_silence_duration_ms + END_OF_FILE_MARGIN_MS)
    except FileNotFoundError:
        raise SessionSetupError(f"--input {path}: no such file") from None
    except AudioFormatError as exc:
        raise SessionSetupError(f"--input {path}: {exc.problem}") from None
    except OSError as exc:
        raise SessionSetupError(f"--input {path}: {exc.strerror or type(exc).__name__}") from None
    except ValueError as exc:
        raise SessionSetupError(f"--input {path}: {_first_line(exc)}") from None


END_OF_FILE_MARGIN_MS = 500  # silence past the VAD's silence_duration_ms, so the VAD surely ends the turn


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _demo_script() -> list[str]:
    from actors.capture.script import DEMO_SCRIPT

    return list(DEMO_SCRIPT)


def check_output(path: Path, flag: str, *, overwrite: bool, created: list[Path] | None = None) -> None:
    """Make ``path``'s folder and make sure the file can be created there; one line (``SessionSetupError``)
    saying why not. An existing file is an error unless ``overwrite``. Folders made are added to ``created``."""
    parent = path.parent
    missing = [p for p in (parent, *parent.parents) if not p.exists()]
    try:
        for folder in reversed(missing):
            folder.mkdir()
            if created is not None:
                created.append(folder)
    except (FileExistsError, NotADirectoryError):
        raise SessionSetupError(f"{flag} {path}: cannot create its folder {parent}: a file is in the way") from None
    except OSError as exc:
        raise SessionSetupError(f"{flag} {path}: cannot create its folder {parent}: {exc.strerror}") from None
    if not parent.is_dir():
        raise SessionSetupError(f"{flag} {path}: cannot create its folder {parent}: a file is in the way")
    if path.is_dir():
        raise SessionSetupError(f"{flag} {path}: is a folder, not a file")
    if path.exists() or path.is_symlink():
        if not overwrite:
            raise SessionSetupError(f"{flag} {path}: already exists (choose another path, or --overwrite)")
        if not (os.access(path, os.W_OK) and os.access(parent, os.W_OK | os.X_OK)):
            raise SessionSetupError(f"{flag} {path}: cannot be replaced: permission denied")
        return
    try:  # the honest test (permissions, read-only file systems, ACLs): create it, then leave no trace
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise SessionSetupError(f"{flag} {path}: cannot be written: {exc.strerror}") from None
    os.close(fd)
    path.unlink()


def check_outputs(config: RunConfig, journal: Path, audio: Path | None) -> None:
    """Every file the session will write can be written (folders created): journal, WAV, and the trace
    file beside the journal (same folder, so the journal's check covers it). When one cannot, the folders
    made for the others are removed again: a setup error leaves nothing behind."""
    overwrite = config.overwrite
    if audio is not None and os.path.abspath(audio) == os.path.abspath(journal):
        raise SessionSetupError(f"--output {audio}: is the journal's own path; choose another")
    created: list[Path] = []
    try:
        check_output(journal, "--journal" if config.journal else "journal", overwrite=overwrite, created=created)
        if audio is not None:
            explicit = config.output not in (None, "wav")
            check_output(audio, "--output" if explicit else "audio output", overwrite=overwrite, created=created)
    except SessionSetupError:
        for folder in reversed(created):
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise


def make_sink(config: RunConfig, audio: Path | None) -> Sink:
    if config.output == "speaker":
        try:
            return SpeakerSink()
        except PlaybackUnavailable as exc:
            raise SessionSetupError(str(exc)) from None
    if audio is None:
        return NullSink()
    try:
        return WavSink(audio)
    except OSError as exc:
        raise SessionSetupError(f"--output {audio}: cannot be written: {exc.strerror or type(exc).__name__}") from None


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


def core_config(
    config: RunConfig, tools: list[dict[str, Any]] | None = None, *, resume: ResumeSeed | None = None
) -> dict[str, Any]:
    """The flat map every core is built from; the journal header holds exactly this (redacted). A resumed
    call adds ``seed`` (the items its first connection is seeded with) and ``parent`` (the journal it
    continues: ``journal``, ``session_id``, ``ended``), so the header names its parent and replay has the seed."""
    data = config.for_cores()
    data["session"] = config.session_object(tools)
    if config.input == "script" and not config.script:
        data["script"] = _demo_script()
    if resume is not None:
        data["seed"] = resume.items
        data["parent"] = dict(resume.parent)
    return data


def load_resume(config: RunConfig) -> ResumeSeed | None:
    """The seed of ``--resume J`` (None without it); a journal that cannot seed a session is a
    ``SessionSetupError`` (one line), before anything starts."""
    if config.resume is None:
        return None
    from pipeline.resume import ResumeError
    from pipeline.resume import load_resume as load

    try:
        return load(config.resume)
    except ResumeError as exc:
        raise SessionSetupError(str(exc)) from None
    except OSError as exc:
        raise SessionSetupError(f"--resume {config.resume}: {exc.strerror or type(exc).__name__}") from None


def build_actors(
    config: RunConfig,
    cores: Mapping[str, Any],
    ws: Any,
    *,
    endpoint: Endpoint | None = None,
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
    summariser: it is never pointed at a default host by accident. ``ws`` is the call's ``Link`` (a bare
    socket: that one socket); with an ``endpoint`` (and a ``Link``) the connection actor opens the new
    sockets a reconnect or recycle asks for, after everyone else (the uploader's last frames are sent first)."""
    link = ws if isinstance(ws, Link) else Link.of(ws)
    reconnecting = [connection_actor(link, endpoint)] if endpoint is not None and isinstance(ws, Link) else []
    summariser = (
        [summariser_actor(base_url=rest_base_url, api_key=config.api_key or "local", timeout_s=config.summary_timeout_s, config=cores)]
        if rest_base_url
        else []
    )
    # on a simulated clock --fast paces exactly as real time does (in session time); unpaced only without one
    unpaced = config.fast and not simulated()
    return [
        capture_actor(source, chunk_ms=config.chunk_ms, fast=unpaced),
        router_actor(link),
        conductor_actor(cores),
        transcripts_actor(cores),
        playback_actor(sink, realtime=not unpaced),
        console_actor(quiet=config.quiet, stream=stream, conversation=conversation),
        *summariser,
        clock_actor(),
        tools_actor(tools or ToolRegistry.default((), builtins=False), cores),
        tracer_actor(journal_path=journal_path, config=cores, flush_timeout_s=config.trace_flush_timeout_s),
        *observers,
        uploader_actor(link, config=cores),
        *reconnecting,
    ]


def session_clock(config: RunConfig) -> trio.abc.Clock | None:
    """The clock to run ``run_live(config)`` on: ``trio.run(run_live, config, clock=session_clock(config))``.

    ``--fast`` against the embedded server (started in this process) runs on a ``SimClock``: the client and
    the server share simulated time, so the call is the real-time one, only faster. Anything else (real time,
    or ``--fast`` against a server elsewhere, which cannot share a clock) runs on trio's own clock (None).
    """
    if not config.fast:
        return None
    try:
        endpoint = resolve_endpoint(config.server, config.model, config.api_key, base_url=os.environ.get("OPENAI_BASE_URL"))
    except ValueError:
        return None  # run_live reports it
    return SimClock() if endpoint.needs_local_server else None


def _session_failure(recorded: Journal) -> str | None:
    """The conductor's ``SessionFailed`` reason, if the session gave up."""
    for record in recorded.records:
        if record.tag == "session.failed":
            return str(record.payload.get("reason", "session failed"))
    return None


class _Signals:
    """SIGINT, SIGTERM and SIGHUP during ``run_live``: the first ends the session cleanly (or, before it runs,
    abandons the set-up), a second one exits the process at once."""

    def __init__(self) -> None:
        self.control = SessionControl(grace_s=SIGNAL_GRACE_S)
        self.signum: int | None = None
        self.setup = trio.CancelScope()  # what a signal cancels before the session runs
        self.running = False  # the session is running: a signal goes through ``control``
        self.bus: Bus | None = None

    @property
    def reason(self) -> str | None:
        return SIGNAL_REASONS.get(self.signum) if self.signum is not None else None

    async def watch(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        with trio.open_signal_receiver(*SIGNAL_REASONS) as received:
            task_status.started()
            async for signum in received:
                self.received(signum)

    def received(self, signum: int) -> None:
        if self.signum is not None:
            self.exit_now(signum)
        self.signum = signum
        if self.running:
            self.control.end(SIGNAL_REASONS[signum])
        else:
            self.setup.cancel()

    def exit_now(self, signum: int) -> None:
        """The second signal: no more waiting. The journal's records reach the OS every few tens of ms
        already; hand it the last ones, so it reads up to here (without a close marker)."""
        journal = self.bus.journal if self.bus is not None else None
        if journal is not None and not journal.closed:
            journal.flush()
        os.write(2, f"rtpipe run: {SIGNAL_REASONS[signum]} again, exiting at once\n".encode())
        os._exit(128 + signum)


async def run_live(
    config: RunConfig,
    *,
    stream: TextIO | None = None,
    observers: Sequence[ActorSpec] = (),
    handle_signals: bool = True,
) -> SessionResult:
    """Run one session end to end. Setup mistakes raise ``SessionSetupError`` before anything starts;
    everything after the journal is open is reported in the result (and journaled).

    With ``handle_signals`` (and in the main thread), SIGINT/SIGTERM/SIGHUP end the session cleanly and the
    result's ``exit_signal`` names the signal (see the module docstring). Several sessions in one process
    should pass ``handle_signals=False`` and end their sessions themselves.
    """
    journal_path, audio_path = default_paths(config)
    source = make_source(config)
    try:
        endpoint = resolve_endpoint(config.server, config.model, config.api_key, base_url=os.environ.get("OPENAI_BASE_URL"))
    except ValueError as exc:
        raise SessionSetupError(str(exc)) from None
    registry = make_tools(config)
    resume = load_resume(config)  # a journal that cannot seed a session stops here, before anything starts
    cores = core_config(config, registry.session_tools(), resume=resume)
    conversation = Conversation()
    try:
        fsync = FsyncPolicy.from_text(config.journal_fsync)
    except ValueError as exc:
        raise SessionSetupError(str(exc)) from None
    check_outputs(config, journal_path, audio_path)  # folders made; nothing unwritable or in the way
    sink = make_sink(config, audio_path)  # a missing speaker is a setup error, before anything starts

    signals = _Signals()
    result: SessionResult | None = None
    try:
        async with trio.open_nursery() as nursery:
            if handle_signals and threading.current_thread() is threading.main_thread():
                await nursery.start(signals.watch)
            with signals.setup:
                if endpoint.needs_local_server:
                    handle = await nursery.start(serve, ServerConfig())
                    endpoint = endpoint.at(handle.realtime_url)
                result = await _run_connected(
                    config, endpoint, cores, journal_path, audio_path, source, sink, conversation, fsync, stream,
                    observers, registry, signals,
                )
            nursery.cancel_scope.cancel()
    finally:
        sink.close()  # the playback actor closes it; not when the session never ran (idempotent)
    if result is None:  # a signal before the session ran
        reason = signals.reason or "interrupted"
        result = SessionResult(
            outcome=SessionOutcome(ending_reason=reason),
            journal=journal_path,
            audio=audio_path,
            conversation=conversation,
            failure=None,
            recorded=read_journal(journal_path) if journal_path.exists() else None,
        )
    return attrs.evolve(result, exit_signal=signals.signum)


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
    signals: _Signals,
) -> SessionResult:
    rest = rest_base_url(endpoint)
    # build_actors runs a summariser exactly when there is a REST base; the conductor waits on its verdicts
    # only then (and replay reads this from the header)
    cores = {**cores, "summariser": bool(rest)}
    header_config = {
        **cores,
        "server_url": endpoint.describe(),
        "server_kind": endpoint.kind,
        "clock": "simulated" if simulated() else "real time",  # what the journal's timestamps count
    }
    if config.overwrite:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(journal_path)  # the writer never replaces a journal by itself
    writer = JournalWriter(journal_path, make_header(header_config), fsync=fsync)
    bus = Bus(clock=TrioClock(), journal=writer)
    signals.bus = bus
    try:
        async with connect(endpoint) as ws:
            specs = build_actors(
                config,
                cores,
                Link(ws),
                endpoint=endpoint,
                source=source,
                sink=sink,
                conversation=conversation,
                stream=stream,
                journal_path=journal_path,
                tools=tools,
                rest_base_url=rest,
                observers=observers,
            )
            signals.running = True
            if signals.signum is not None:  # a signal while connecting: end as soon as it starts
                signals.control.end(SIGNAL_REASONS[signals.signum])
            outcome = await run_session(specs, bus=bus, control=signals.control)
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
    finally:
        if not writer.closed:  # never ran (a signal while connecting): the journal still says why, and closes
            if signals.reason is not None and not bus.closed:
                bus.publish_nowait_unchecked(SessionEnding(reason=signals.reason), source="supervisor")
            bus.close()
            writer.close()
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
