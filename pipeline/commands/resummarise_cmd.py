"""`rtpipe resummarise JOURNAL [--summary-style ...] [--journal OUT]`: the summariser re-run on a recorded
call with other settings, beside what was recorded (see pipeline/projections/resummarise.py).

The summary model is the embedded server's chat completions (started in-process on loopback) unless
``OPENAI_API_KEY`` is set (or ``--server`` names a URL): the same choice as ``rtpipe run``. The key is read
from the environment only and never written anywhere.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.cli import UsageError
from pipeline.commands import debug_cmds

if TYPE_CHECKING:
    from pipeline.projections.recording import Recording
    from pipeline.projections.resummarise import Result

STYLES = ("paragraph", "bullets", "json")


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    if args.summary_trigger is not None and args.summary_trigger < 1:
        raise UsageError(f"--summary-trigger {args.summary_trigger}: must be at least 1 token")
    if args.keep_last_turns is not None and args.keep_last_turns < 0:
        raise UsageError(f"--keep-last-turns {args.keep_last_turns}: must be 0 or more")
    for flag, value in (("--summary-language", args.summary_language), ("--summary-model", args.summary_model)):
        if value is not None and not value.strip():
            raise UsageError(f"{flag}: must not be empty")
    return {
        "summary_style": args.summary_style,
        "summary_language": args.summary_language,
        "summary_model": args.summary_model,
        "summary_trigger": args.summary_trigger,
        "keep_last_turns": args.keep_last_turns,
    }


async def _run(recording: Recording, overrides: dict[str, Any], server: str, timeout_s: float) -> Result:
    import trio
    from openai import AsyncOpenAI

    from actors.summariser.actor import masked
    from actors.summariser.core import chat_request
    from events.summary import SummaryFailed, SummaryGenerated, SummaryRequested
    from pipeline.connection import resolve_endpoint
    from pipeline.models import DEFAULT_REALTIME_MODEL
    from pipeline.projections.resummarise import resummarise
    from pipeline.runtime import one_line
    from pipeline.server import ServerConfig, serve
    from pipeline.session import rest_base_url

    api_key = os.environ.get("OPENAI_API_KEY") or ""
    try:
        endpoint = resolve_endpoint(server, str(recording.config.get("model", DEFAULT_REALTIME_MODEL)), api_key or None,
                                    base_url=os.environ.get("OPENAI_BASE_URL"))  # fmt: skip
    except ValueError as exc:
        raise UsageError(f"--server {server}: {exc}") from None
    async with trio.open_nursery() as nursery:
        if endpoint.needs_local_server:
            handle = await nursery.start(serve, ServerConfig())
            endpoint = endpoint.at(handle.realtime_url)
        client = AsyncOpenAI(api_key=api_key or "local", base_url=rest_base_url(endpoint), max_retries=0, timeout=timeout_s)

        async def generate(request: SummaryRequested) -> SummaryGenerated | SummaryFailed:
            try:
                with trio.fail_after(timeout_s):
                    # the summariser's own request: valid for the model (reasoning chat models take no temperature)
                    response = await client.chat.completions.create(**chat_request(request.model, request.messages))
            except trio.TooSlowError:
                return SummaryFailed(summary_id=request.summary_id, error=f"no answer within {timeout_s:g} s")
            except Exception as exc:  # the model's failure is an outcome the summariser handles, not a crash
                return SummaryFailed(summary_id=request.summary_id, error=masked(one_line(exc), api_key))
            text = response.choices[0].message.content if response.choices else None
            usage = response.usage.model_dump(exclude_none=True) if response.usage is not None else {}
            return SummaryGenerated(summary_id=request.summary_id, text=text or "", usage=usage)

        try:
            result = await resummarise(recording, overrides, generate)
        finally:
            await client.close()
            nursery.cancel_scope.cancel()
    return result


def _write_journal(recording: Recording, result: Result, out: Path) -> None:
    from pipeline.journal import JournalWriter, make_header

    header = recording.header
    config = {**recording.config, **{k: v for k, v in result.settings.items() if v is not None}, "summary_enabled": True,
              "resummarised_from": str(recording.path)}  # fmt: skip
    made = make_header(config, session_id=header.session_id if header is not None else None)
    try:
        with JournalWriter(out, made) as writer:
            for env in result.envelopes:
                writer.append(env)
    except FileExistsError:
        raise UsageError(f"--journal {out}: already exists (choose another path)") from None
    except OSError as exc:
        raise UsageError(f"--journal {out}: cannot write ({exc.strerror or exc})") from None


def render(result: Result) -> str:
    lines = ["settings: " + ", ".join(f"{k}={v}" for k, v in result.settings.items())]
    lines.append("where summaries fire (window: recorded → as it would be with the new summaries):")
    for v in result.verdicts:
        window = "-" if v.window is None else f"{v.window:,}"
        lines.append(f"  {v.t_s:8.3f} s  {v.response_id}  {v.recorded_window or 0:>6,} → {window:>6}  recorded: {v.recorded:<24} new: {v.new}")
    for title, summaries in (("recorded", result.recorded), ("new", result.new)):
        lines.append(f"{title} summaries:" if summaries else f"{title} summaries: none")
        for s in summaries:
            measured = f"measured {s.reduction:,} tokens, " if s.reduction is not None else ""
            lines.append(f"  {s.summary_id} at {s.t_s:.3f} s after {s.response_id} (window {s.window:,}), {s.outcome}; "
                         f"replaced {len(s.replaced_item_ids)} items; {measured}estimated {s.estimate:,} tokens out of the window")  # fmt: skip
            lines += [f"    {line}" for line in (s.text or "(no text)").splitlines()]
    cost = "n/a" if result.new_summary_cost_usd is None else f"${result.new_summary_cost_usd:.4f}"
    lines.append(f"saved input tokens (the ledger's rule): recorded {result.recorded_saved:,} (measured), "
                 f"new {result.new_saved:,} (estimated); the new summaries cost {cost}")  # fmt: skip
    return "\n".join(lines)


def handle(args: argparse.Namespace) -> int:
    import trio

    overrides = _overrides(args)
    out = Path(args.journal_out) if args.journal_out else None
    if out is not None and out.exists():
        raise UsageError(f"--journal {out}: already exists (choose another path)")
    recording = debug_cmds.load(args.journal)
    result = trio.run(_run, recording, overrides, args.server, args.timeout_s)
    if out is not None:
        _write_journal(recording, result, out)
    if args.json:
        json.dump({"journal": str(recording.path), **result.as_dict(), "written": str(out) if out else None}, sys.stdout,
                  indent=2, ensure_ascii=False, default=str)  # fmt: skip
        print()
    else:
        print(debug_cmds.describe(recording))
        print(render(result))
        if out is not None:
            print(f"re-summarised call written to {out} (rtpipe show / diff read it)")
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = debug_cmds.add_command(
        sub,
        "resummarise",
        description="Re-run the summariser on a recorded call with new settings: rebuild the conversation from "
        "the journal, run the summariser core at each recorded response.done, call the summary model for each "
        "summary it decides on (the embedded server's chat completions offline, OpenAI with OPENAI_API_KEY), and "
        "show the recorded summaries beside the new ones, where each fires, and the tokens each saves by the "
        "ledger's rules. The journal is not changed; --journal OUT writes the re-summarised call as a new one.",
    )
    p.add_argument("--summary-style", choices=STYLES, help="style of the new summaries (default: as recorded)")
    p.add_argument("--summary-language", help="language of the new summaries (default: as recorded)")
    p.add_argument("--summary-model", help="chat model that writes them (default: as recorded)")
    p.add_argument("--summary-trigger", type=int, help="summarise when the window reaches this (default: as recorded)")
    p.add_argument("--keep-last-turns", type=int, help="turns kept verbatim (default: as recorded)")
    p.add_argument("--server", default="auto",
                   help="summary model: auto (OpenAI with OPENAI_API_KEY, else local), local, or a URL (default auto)")
    p.add_argument("--timeout-s", type=float, default=30.0, help="bound on each summary request (default 30)")
    p.add_argument("--journal", dest="journal_out", metavar="OUT", help="write the re-summarised call as a new journal")
    p.add_argument("--json", action="store_true", help="the comparison as JSON")
    p.set_defaults(handler=handle)
