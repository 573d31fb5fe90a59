"""`rtpipe run`: hold a spoken conversation, journal it, and summarise it.

Every knob is a flag and a key of the optional TOML config file (``--config``; keys are the long flag names
with underscores). Precedence: flag > config file > default. ``OPENAI_API_KEY`` selects OpenAI unless
``--server local``; the key is read from the environment only, never from a flag, and never written anywhere.
"""

from __future__ import annotations

import argparse
import os
import sys
import tomllib
from pathlib import Path
from typing import Any

import attrs
import trio

from pipeline.cli import UsageError
from pipeline.config import RunConfig
from pipeline.journal import Journal
from pipeline.ledger import Ledger, load_prices

# flag dest -> RunConfig field (same name unless listed)
_RENAMES = {"say": "script", "tools": "tool_specs"}


def _config_file(path: str | None) -> dict[str, Any]:
    if not path:
        return {}
    try:
        data = tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise UsageError(f"--config {path}: no such file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"--config {path}: not valid TOML ({exc})") from None
    known = {f.name for f in attrs.fields(RunConfig)} - {"api_key"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise UsageError(f"--config {path}: unknown key {unknown[0]!r}")
    return data


def build_config(args: argparse.Namespace, environ: dict[str, str] | None = None) -> RunConfig:
    env = os.environ if environ is None else environ
    values: dict[str, Any] = _config_file(args.config)
    for field in attrs.fields(RunConfig):
        dest = next((k for k, v in _RENAMES.items() if v == field.name), field.name)
        flag_value = getattr(args, dest, None)
        if flag_value is not None and flag_value != []:
            values[field.name] = flag_value
    if args.script_file:
        try:
            lines = [ln.strip() for ln in Path(args.script_file).read_text().splitlines()]
        except FileNotFoundError:
            raise UsageError(f"--script {args.script_file}: no such file") from None
        values["script"] = [ln for ln in lines if ln and not ln.startswith("#")]
    if "script" in values:
        values["script"] = tuple(values["script"])
        values.setdefault("input", "script")
    for key in ("output_modalities", "tool_specs"):
        if key in values:
            values[key] = tuple(values[key])
    if "journal" in values and values["journal"] is not None:
        values["journal"] = Path(values["journal"])
    api_key = env.get("OPENAI_API_KEY") or None
    try:
        config = RunConfig(**values, api_key=api_key)
    except (TypeError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    if not 10 <= config.chunk_ms <= 1000:
        raise UsageError(f"--chunk-ms must be between 10 and 1000, not {config.chunk_ms}")
    if config.input not in ("script", "mic") and not Path(config.input).is_file():
        raise UsageError(f"--input {config.input}: no such file (use a WAV file, 'mic' or 'script')")
    return config


def ledger_for(recorded: Journal, prices_path: str | None) -> Ledger:
    """The cost ledger of a session's journal, with the user's price overrides."""
    prices = None
    if prices_path:
        try:
            prices = load_prices(prices_path)
        except (OSError, ValueError) as exc:
            raise UsageError(f"--prices {prices_path}: {exc}") from None
    config = recorded.header.config if recorded.header is not None else {}
    return Ledger.fold_config(recorded.envelopes(), config, prices)


def handle(args: argparse.Namespace) -> int:
    from actors.console.format import final_summary
    from pipeline.session import SessionSetupError, run_live

    config = build_config(args)
    try:
        result = trio.run(run_live, config)
    except SessionSetupError as exc:
        raise UsageError(str(exc)) from None
    if not config.quiet and result.recorded is not None:
        print(ledger_for(result.recorded, config.prices).render(per_response=False))
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
        return 1
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    d = RunConfig()
    p = sub.add_parser(
        "run",
        help="hold a spoken conversation (the demo by default) and journal it",
        description="Hold a spoken conversation with the Realtime API. Without OPENAI_API_KEY (or with "
        "--server local) it runs against the embedded server on loopback. By default a scripted user speaks the "
        "demo lines; --input takes a WAV file or 'mic'. The journal goes under ./journals/ with the assistant "
        "audio beside it.",
    )
    g = p.add_argument_group("input and output")
    g.add_argument("--input", help=f"'script' (a synthetic user), 'mic', or a WAV file (default {d.input})")
    g.add_argument("--say", action="append", metavar="TEXT",
                   help="a line the scripted user says (repeatable; '[barge MS] text' speaks over the answer)")
    g.add_argument("--script", dest="script_file", metavar="FILE", help="file with one scripted line per line")
    g.add_argument("--output", help="'wav' (beside the journal), a WAV path, 'speaker' or 'none' (default wav)")
    g.add_argument("--journal", help="journal path (default journals/session-<time>.rtpj)")
    g.add_argument("--overwrite", action="store_true", default=None,
                   help="overwrite an existing --journal / --output file (default: refuse)")
    g.add_argument("--journal-fsync", help=f"fsync policy: interval[:SECONDS], always or close (default {d.journal_fsync})")
    g.add_argument("--chunk-ms", type=int, help=f"capture chunk length in ms (default {d.chunk_ms})")
    g.add_argument("--fast", action="store_true", default=None, help="do not pace audio in real time (tests, benches)")
    g.add_argument("--quiet", action="store_true", default=None, help="print nothing but errors")
    g.add_argument("--config", help="TOML file whose keys are these flags' names with underscores")
    s = p.add_argument_group("server and session")
    s.add_argument("--server", help="auto (OpenAI with OPENAI_API_KEY, else local), local, or a ws(s):// or http(s):// URL")
    s.add_argument("--model", help=f"realtime model (default {d.model})")
    s.add_argument("--voice", help=f"assistant voice (default {d.voice})")
    s.add_argument("--instructions", help="system instructions of the session")
    s.add_argument("--transcription-model", help=f"input transcription model (default {d.transcription_model})")
    s.add_argument("--transcription-language", help=f"input transcription language (default {d.transcription_language})")
    s.add_argument("--vad-threshold", type=float, help=f"server VAD threshold 0..1 (default {d.vad_threshold})")
    s.add_argument("--vad-prefix-padding-ms", type=int, help=f"server VAD prefix padding (default {d.vad_prefix_padding_ms})")
    s.add_argument("--vad-silence-duration-ms", type=int,
                   help=f"silence that ends a user turn (default {d.vad_silence_duration_ms})")
    t = p.add_argument_group("transcripts")
    t.add_argument("--transcript-timeout-ms", type=int,
                   help=f"wait for the transcription event before retrieving the item (default {d.transcript_timeout_ms})")
    t.add_argument("--transcript-retries", type=int, help=f"retrieve attempts (default {d.transcript_retries})")
    t.add_argument("--transcript-backoff-ms", type=int, help=f"backoff per attempt (default {d.transcript_backoff_ms})")
    t.add_argument("--transcript-retrieve-wait-ms", type=int,
                   help=f"wait for each retrieve answer (default {d.transcript_retrieve_wait_ms})")
    k = p.add_argument_group("tools")
    k.add_argument("--tools", action="append", metavar="MODULE:ATTR",
                   help="load user tools (a function with @tool / __tool_schema__, a Tool, or a list); repeatable")
    k.add_argument("--no-builtin-tools", dest="builtin_tools", action="store_false", default=None,
                   help="do not offer get_weather, get_current_time and set_reminder")
    k.add_argument("--tool-timeout-s", type=float, help=f"default tool timeout (default {d.tool_timeout_s})")
    u = p.add_argument_group("summarising long conversations, and costs")
    u.add_argument("--no-summary", dest="summary_enabled", action="store_false", default=None,
                   help="never summarise (for A/B runs)")
    u.add_argument("--summary-trigger", type=int,
                   help=f"summarise when the token window reaches this (default {d.summary_trigger})")
    u.add_argument("--keep-last-turns", type=int, help=f"turns kept verbatim (default {d.keep_last_turns})")
    u.add_argument("--summary-model", help=f"chat model that writes summaries (default {d.summary_model})")
    u.add_argument("--summary-language", help=f"language of the summary (default {d.summary_language})")
    u.add_argument("--summary-style", choices=("paragraph", "bullets", "json"),
                   help=f"style of the summary (default {d.summary_style})")
    u.add_argument("--summary-timeout-s", type=float, help=f"bound on one summary request (default {d.summary_timeout_s})")
    u.add_argument("--prices", metavar="FILE.toml", help="override the price table of the cost ledger")
    m = p.add_argument_group("tracing (Maxim with MAXIM_API_KEY and MAXIM_LOG_REPO_ID, else <journal>.trace.jsonl)")
    m.add_argument("--maxim-session-name", help=f"name of the Maxim session (default {d.maxim_session_name!r})")
    m.add_argument("--maxim-session-tags", help="tags of the Maxim session: k=v,k2=v2")
    m.add_argument("--maxim-session-id", help="id of the Maxim session (default: a new one); never sent to OpenAI")
    m.add_argument("--trace-flush-timeout-s", type=float,
                   help=f"bound on flushing traces at the end (default {d.trace_flush_timeout_s})")
    p.set_defaults(handler=handle)
