"""`rtpipe run`: hold a spoken conversation, journal it, and summarise it.

Every knob is a flag and a key of the optional TOML config file (``--config``). The keys are ``RunConfig``'s
field names: the long flag names with underscores, except ``script`` (``--say``: a list of lines),
``tool_specs`` (``--tools``: a list), ``builtin_tools = false`` (``--no-builtin-tools``) and
``summary_enabled = false`` (``--no-summary``); ``sample_rate`` and ``output_modalities`` are keys only.
``--reasoning-effort`` and ``--parallel-tool-calls`` are refused with a model that does not take them, and a
model with an announced shutdown (``pipeline/models.py``) gets one warning line on stderr before the session.
Precedence: flag > config file > default. Every value is checked before anything starts: a bad one is one
line naming the flag (or the file's key), the value and what is allowed, exit 2, and nothing is journaled.
``OPENAI_API_KEY`` selects OpenAI unless ``--server local``; the key is read from the environment only,
never from a flag or a file, and never written anywhere.

Module-level imports stay light (argparse, attrs, the config): ``rtpipe run --help`` and a bad flag never
import trio, the session, or the server.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from pipeline.cli import UsageError
from pipeline.config import ConfigError, RunConfig, flag_of, show

if TYPE_CHECKING:
    from pipeline.journal import Journal
    from pipeline.projections.ledger import Ledger, Prices

# flag dest -> RunConfig field (same name unless listed)
_RENAMES = {"say": "script", "tools": "tool_specs"}
# what users write in a config file for a flag whose key has another name
_KEY_HINTS = {
    "say": "script = [...]",
    "tools": "tool_specs = [...]",
    "no_summary": "summary_enabled = false",
    "no_builtin_tools": "builtin_tools = false",
    "api_key": "the OPENAI_API_KEY environment variable (never a file)",
}


@contextmanager
def file_errors(where: str, error: type[Exception] = UsageError, kind: str = "file") -> Iterator[None]:
    """A missing or unreadable file, read inside the block, as one ``error`` line starting ``where: ``."""
    try:
        yield
    except FileNotFoundError:
        raise error(f"{where}: no such file") from None
    except IsADirectoryError:
        raise error(f"{where}: is a folder, not a {kind}") from None
    except OSError as exc:
        raise error(f"{where}: {(exc.strerror or type(exc).__name__).lower()}") from None


def read_text(path: str | Path, where: str, error: type[Exception] = UsageError, kind: str = "file") -> str:
    """The file's text; a missing, unreadable or binary file is one ``error`` line starting ``where: ``
    (also the scenario files' reader)."""
    with file_errors(where, error, kind):
        try:
            return Path(path).read_text()
        except UnicodeDecodeError:
            raise error(f"{where}: not a text file") from None


def _config_file(path: str | None) -> dict[str, Any]:
    if not path:
        return {}
    import tomllib

    try:
        data = tomllib.loads(read_text(path, f"--config {path}"))
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"--config {path}: not valid TOML ({exc})") from None
    known = {f.name for f in attrs.fields(RunConfig)} - {"api_key"}
    for key in data:
        if key not in known:
            raise UsageError(f"--config {path}: {unknown_key(key, known)}")
    return data


def unknown_key(key: str, known: Collection[str], hints: Mapping[str, str] = _KEY_HINTS) -> str:
    """``unknown key 'x' (did you mean y?)``: the hint for ``key`` if there is one, else the closest known key
    (also the scenario files' wording)."""
    import difflib

    hint = hints.get(key) or next(iter(difflib.get_close_matches(key, sorted(known), n=1)), None)
    return f"unknown key {key!r}" + (f" (did you mean {hint}?)" if hint else "")


def _flag_value(value: object) -> str:
    """A flag's value as typed on a command line."""
    import shlex

    return shlex.quote(value) if isinstance(value, str) else show(value)


def _where(field: str, value: object, from_flags: set[str], config_path: str | None) -> str:
    """``--tool-timeout-s 0`` when a flag set the field, ``summary_trigger = "abc" (in run.toml)`` when the
    config file did."""
    flag = flag_of(field)
    if field in from_flags and flag is not None:
        if isinstance(value, bool) and not flag.startswith("--no-"):  # --parallel-tool-calls / --no-...
            return flag if value else "--no-" + flag.removeprefix("--")
        return f"{flag} {_flag_value(value)}"
    return f"{field} = {show(value)}" + (f" (in {config_path})" if config_path else "")


def build_config(args: argparse.Namespace, environ: dict[str, str] | None = None) -> RunConfig:
    """The session's configuration from the flags and ``--config``; every value checked (``UsageError``)."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = _config_file(args.config)
    from_flags: set[str] = set()
    for field in attrs.fields(RunConfig):
        dest = next((k for k, v in _RENAMES.items() if v == field.name), field.name)
        flag_value = getattr(args, dest, None)
        if flag_value is not None and flag_value != []:
            values[field.name] = flag_value
            from_flags.add(field.name)
    if args.script_file:
        lines = [ln.strip() for ln in read_text(args.script_file, f"--script {args.script_file}").splitlines()]
        values["script"] = [ln for ln in lines if ln and not ln.startswith("#")]
        from_flags.add("script")
    if "script" in values:
        values.setdefault("input", "script")
    for key in ("script", "output_modalities", "tool_specs"):
        if isinstance(values.get(key), list):  # TOML arrays and repeated flags; anything else the config refuses
            values[key] = tuple(values[key])
    for key in ("journal", "resume"):  # paths; an empty one the config refuses
        if isinstance(values.get(key), str) and values[key].strip():
            values[key] = Path(values[key])
    api_key = env.get("OPENAI_API_KEY") or None
    try:
        config = RunConfig(**values, api_key=api_key)
    except ConfigError as exc:
        raise UsageError(f"{_where(exc.field, exc.value, from_flags, args.config)}: {exc.problem}") from None
    if config.input not in ("script", "mic"):
        where = _where("input", config.input, from_flags, args.config)
        path = Path(config.input)
        if not path.exists():
            raise UsageError(f"{where}: no such file (use a WAV file, 'mic' or 'script')")
        if not path.is_file():
            raise UsageError(f"{where}: not a file (use a WAV file, 'mic' or 'script')")
    if config.resume is not None:
        where = _where("resume", str(config.resume), from_flags, args.config)
        if not config.resume.exists():
            raise UsageError(f"{where}: no such file (give the journal of the call to continue)")
        if not config.resume.is_file():
            raise UsageError(f"{where}: not a file (give the journal of the call to continue)")
    return config


def model_warnings(config: RunConfig) -> list[str]:
    """One line per chosen model with an announced shutdown (the date and the suggested replacement), from
    the one table in ``pipeline/models.py``; the summary model only when the summariser runs."""
    from pipeline.models import REALTIME_MODELS, SUMMARY_MODELS, TRANSCRIPTION_MODELS, shutdown_notice

    chosen = [("model", REALTIME_MODELS), ("transcription_model", TRANSCRIPTION_MODELS)]
    if config.summary_enabled:
        chosen.append(("summary_model", SUMMARY_MODELS))
    lines = []
    for field, table in chosen:
        notice = shutdown_notice(getattr(config, field), table)
        if notice is not None:
            lines.append(f"rtpipe run: warning: {notice.line(flag_of(field))}")
    return lines


def load_price_overrides(prices_path: str | None) -> Prices | None:
    """The user's price table (``--prices``), read before the session starts so a bad file costs nothing."""
    if not prices_path:
        return None
    from pipeline.projections.ledger import load_prices

    with file_errors(f"--prices {prices_path}"):  # load_prices opens the file itself
        try:
            return load_prices(prices_path)
        except ValueError as exc:
            text = str(exc).removeprefix(f"{prices_path}: ")  # load_prices names the file; say it once
            raise UsageError(f"--prices {prices_path}: {text}") from None


def ledger_for(recorded: Journal, prices: Prices | None) -> Ledger:
    """The cost ledger of a session's journal, with the user's price overrides."""
    from pipeline.projections.ledger import Ledger

    config = recorded.header.config if recorded.header is not None else {}
    return Ledger.fold_config(recorded.envelopes(), config, prices)


def handle(args: argparse.Namespace) -> int:
    config = build_config(args)
    prices = load_price_overrides(config.prices)
    for line in model_warnings(config):  # stderr, even with --quiet: it warns of a call that will fail
        print(line, file=sys.stderr)

    import trio

    from actors.console.format import final_summary
    from pipeline.session import SessionSetupError, run_live, session_clock

    try:
        result = trio.run(run_live, config, clock=session_clock(config))
    except SessionSetupError as exc:
        raise UsageError(str(exc)) from None
    if not config.quiet and result.recorded is not None:
        print(ledger_for(result.recorded, prices).render(per_response=False))
    if not config.quiet:
        print(
            final_summary(
                result.conversation,
                journal=result.journal,
                audio=result.audio,
                ending_reason=result.outcome.ending_reason,
            )
        )
    if result.failure:
        print(f"rtpipe run: {result.failure} (journal: {result.journal})", file=sys.stderr)
    # a session a signal ended exits as the shell expects of it: 128 + the signal (130 for Ctrl-C)
    if result.exit_signal:
        return 128 + int(result.exit_signal)
    return 1 if result.failure else 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    # the defaults for the help text, without building a RunConfig (its journal_fsync check imports the journal)
    d = argparse.Namespace(**{f.name: f.default for f in attrs.fields(RunConfig)})
    p = sub.add_parser(
        "run",
        help="hold a spoken conversation (the demo by default) and journal it",
        description="Hold a spoken conversation with the Realtime API. Without OPENAI_API_KEY (or with "
        "--server local) it runs against the embedded server on loopback. By default a scripted user speaks the "
        "demo lines; --input takes a WAV file or 'mic'. The journal goes under ./journals/ with the assistant "
        "audio beside it. Every flag is also a key of the --config file; a bad value is refused before anything "
        "starts.",
    )
    g = p.add_argument_group("input and output")
    g.add_argument("--input", help=f"'script' (a synthetic user), 'mic', or a WAV file (default {d.input})")
    g.add_argument("--say", action="append", metavar="TEXT",
                   help="a line the scripted user says (repeatable; '[barge MS] text' speaks over the answer; "
                   "default: the demo's lines)")
    g.add_argument("--script", dest="script_file", metavar="FILE",
                   help="file with one scripted line per line, '#' comments (default: none)")
    g.add_argument("--output", help="'wav' (beside the journal), a path ending in .wav, 'speaker' or 'none' (default wav)")
    g.add_argument("--journal", help="journal path (default journals/session-<time>.rtpj)")
    g.add_argument("--overwrite", action="store_true", default=None,
                   help="overwrite an existing --journal / --output file (default: refuse)")
    g.add_argument("--journal-fsync", metavar="POLICY",
                   help=f"fsync policy: interval[:SECONDS], always or close (default {d.journal_fsync})")
    g.add_argument("--chunk-ms", type=int, metavar="MS", help=f"capture chunk length, 10..1000 ms (default {d.chunk_ms})")
    g.add_argument("--fast", action="store_true", default=None,
                   help="do not pace audio in real time (tests, benches; default: real time)")
    g.add_argument("--quiet", action="store_true", default=None, help="print nothing but errors and model shutdown warnings (default: print)")
    g.add_argument("--config", metavar="FILE.toml",
                   help="TOML file whose keys are these flags' names with underscores (see the README; default: none)")
    s = p.add_argument_group("server and session")
    s.add_argument("--server", help="auto (OpenAI with OPENAI_API_KEY, else local), local, or a ws(s):// or http(s):// URL "
                   f"(default {d.server})")
    s.add_argument("--model", help=f"realtime model (default {d.model})")
    s.add_argument("--reasoning-effort", metavar="EFFORT",
                   help="reasoning effort of a reasoning realtime model (gpt-realtime-2, gpt-realtime-2.1, "
                   "gpt-realtime-2.1-mini): minimal, low, medium, high or xhigh; refused for other models "
                   "(default: not sent, the server's own)")
    s.add_argument("--parallel-tool-calls", action=argparse.BooleanOptionalAction, default=None,
                   help="let a reasoning realtime model call several tools in one response, or not; refused for "
                   "other models (default: not sent, the server's own)")
    s.add_argument("--voice", help=f"assistant voice (default {d.voice})")
    s.add_argument("--instructions", help="system instructions of the session (default: a concise voice assistant "
                   "that uses its tools)")
    s.add_argument("--transcription-model", help=f"input transcription model (default {d.transcription_model})")
    s.add_argument("--transcription-language", help=f"input transcription language (default {d.transcription_language})")
    s.add_argument("--vad-threshold", type=float, metavar="0..1", help=f"server VAD threshold, 0..1 (default {d.vad_threshold})")
    s.add_argument("--vad-prefix-padding-ms", type=int, metavar="MS",
                   help=f"server VAD prefix padding, 0..10000 ms (default {d.vad_prefix_padding_ms})")
    s.add_argument("--vad-silence-duration-ms", type=int, metavar="MS",
                   help=f"silence that ends a user turn, 0..10000 ms (default {d.vad_silence_duration_ms})")
    c = p.add_argument_group("connections (a call outlives its connection)")
    c.add_argument("--no-reconnect", dest="reconnect", action="store_false", default=None,
                   help="end the call when the connection drops (default: reconnect and re-seed the conversation)")
    c.add_argument("--reconnect-attempts", type=int, metavar="N",
                   help=f"reconnect attempts after one loss, 1..100 (default {d.reconnect_attempts})")
    c.add_argument("--reconnect-backoff-ms", type=int, metavar="MS",
                   help=f"delay before the first attempt; it doubles each attempt (default {d.reconnect_backoff_ms})")
    c.add_argument("--reconnect-backoff-max-ms", type=int, metavar="MS",
                   help=f"the longest delay between attempts (default {d.reconnect_backoff_max_ms})")
    c.add_argument("--reconnect-buffer-ms", type=int, metavar="MS",
                   help=f"user audio held while disconnected, sent after the re-seed (default {d.reconnect_buffer_ms})")
    c.add_argument("--max-session-minutes", type=float, metavar="MIN",
                   help="renew the session at the next quiet moment after this long, before the server's 60-minute "
                   f"cap (default {d.max_session_minutes:g})")
    c.add_argument("--resume", metavar="JOURNAL",
                   help="continue an earlier call: seed a new session from its journal (default: a new call)")
    t = p.add_argument_group("transcripts")
    t.add_argument("--transcript-timeout-ms", type=int, metavar="MS",
                   help="wait for the transcription event before retrieving the item, 1..600000 ms "
                   f"(default {d.transcript_timeout_ms})")
    t.add_argument("--transcript-retries", type=int, metavar="N",
                   help=f"retrieve attempts, 1..100 (default {d.transcript_retries})")
    t.add_argument("--transcript-backoff-ms", type=int, metavar="MS",
                   help=f"backoff per attempt, 0..600000 ms (default {d.transcript_backoff_ms})")
    t.add_argument("--transcript-retrieve-wait-ms", type=int, metavar="MS",
                   help=f"wait for each retrieve answer, 1..600000 ms (default {d.transcript_retrieve_wait_ms})")
    k = p.add_argument_group("tools")
    k.add_argument("--tools", action="append", metavar="MODULE:ATTR",
                   help="load user tools (a function with @tool / __tool_schema__, a Tool, or a list); repeatable "
                   "(default: none)")
    k.add_argument("--no-builtin-tools", dest="builtin_tools", action="store_false", default=None,
                   help="do not offer get_weather, get_current_time and set_reminder (default: offer them)")
    k.add_argument("--tool-timeout-s", type=float, metavar="SECONDS",
                   help=f"default tool timeout, more than 0, at most 3600 s (default {d.tool_timeout_s:g})")
    u = p.add_argument_group("summarising long conversations, and costs")
    u.add_argument("--no-summary", dest="summary_enabled", action="store_false", default=None,
                   help="never summarise (for A/B runs; default: summarise)")
    u.add_argument("--summary-trigger", type=int, metavar="TOKENS",
                   help=f"summarise when the token window reaches this, 1..1000000 (default {d.summary_trigger})")
    u.add_argument("--keep-last-turns", type=int, metavar="N",
                   help=f"turns kept verbatim, 0..1000 (default {d.keep_last_turns})")
    u.add_argument("--summary-model", help=f"chat model that writes summaries (default {d.summary_model})")
    u.add_argument("--summary-language", help=f"language of the summary (default {d.summary_language})")
    u.add_argument("--summary-style", choices=("paragraph", "bullets", "json"),
                   help=f"style of the summary (default {d.summary_style})")
    u.add_argument("--summary-timeout-s", type=float, metavar="SECONDS",
                   help=f"bound on one summary request, more than 0, at most 3600 s (default {d.summary_timeout_s:g})")
    u.add_argument("--truncation", metavar="auto|disabled|retention_ratio:R",
                   help="the server's own trimming when the conversation outgrows the model's window: auto, "
                   "disabled (an error instead), or retention_ratio:R (0 < R <= 1, trim down to that fraction); "
                   f"the summariser normally keeps the window far below it (default {d.truncation})")
    u.add_argument("--prices", metavar="FILE.toml",
                   help="override the price table of the cost ledger (default: the built-in prices)")
    m = p.add_argument_group("tracing (Maxim with MAXIM_API_KEY and MAXIM_LOG_REPO_ID, else <journal>.trace.jsonl)")
    m.add_argument("--maxim-session-name", help=f"name of the Maxim session (default {d.maxim_session_name!r})")
    m.add_argument("--maxim-session-tags", metavar="K=V,...", help="tags of the Maxim session: k=v,k2=v2 (default: none)")
    m.add_argument("--maxim-session-id", help="id of the Maxim session (default: a new one); never sent to OpenAI")
    m.add_argument("--trace-flush-timeout-s", type=float, metavar="SECONDS",
                   help=f"bound on flushing traces at the end, more than 0, at most 3600 s (default {d.trace_flush_timeout_s:g})")
    p.set_defaults(handler=handle)
