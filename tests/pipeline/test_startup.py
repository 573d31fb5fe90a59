"""Start-up stays light: what `rtpipe --version`, `--help`, `run --help` and a bad flag import.

Not a timing test (the machine's load would make it flaky; ``bench/bench_startup.py`` reports the times):
it checks which modules a command imported, in a fresh interpreter, and fails when one that has no business
there (the embedded server, the OpenAI SDK, trio, numpy, the session) creeps back in.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pipeline.cli_commands import COMMANDS

ROOT = Path(__file__).resolve().parents[2]

# imported by none of the quick paths below
HEAVY = ("openai", "pydantic", "httpx", "trio", "numpy", "matplotlib", "hypercorn", "pipeline.server", "pipeline.session")
# and, for the paths that only parse, nothing of the runtime either
RUNTIME = ("pipeline.journal", "pipeline.projections.ledger", "events", "actors", "msgpack")


def modules_after(argv: list[str], cwd: Path) -> tuple[int, set[str]]:
    """Run ``rtpipe ARGV`` in a fresh interpreter; its exit code and every module it imported."""
    script = textwrap.dedent(
        f"""
        import json, sys
        from pipeline.cli import main
        try:
            code = main({argv!r})
        except SystemExit as exc:
            code = exc.code
        sys.stdout.flush()
        sys.__stderr__.write("\\nMODULES " + json.dumps([code, sorted(sys.modules)]) + "\\n")
        """
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=cwd, capture_output=True, text=True, timeout=60)
    line = next(ln for ln in out.stderr.splitlines() if ln.startswith("MODULES "))
    code, modules = json.loads(line.removeprefix("MODULES "))
    return code, set(modules)


def imported(modules: set[str], prefixes: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == p or m.startswith(p + ".") for p in prefixes))


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (["--version"], 0),
        (["--help"], 0),
        (["run", "--help"], 0),
        (["run", "--tool-timeout-s", "0"], 2),
        (["run", "--bogus"], 2),
        (["bogus"], 2),
    ],
)
def test_parsing_imports_nothing_of_the_runtime(argv: list[str], code: int, tmp_path: Path) -> None:
    exit_code, modules = modules_after(argv, tmp_path)
    assert exit_code == code
    assert imported(modules, HEAVY + RUNTIME) == []
    assert list(tmp_path.iterdir()) == []


def test_only_the_chosen_command_module_is_imported(tmp_path: Path) -> None:
    _, modules = modules_after(["run", "--help"], tmp_path)
    others = [module for name, (module, _) in COMMANDS.items() if name != "run"]
    assert [m for m in others if m in modules] == []


def test_every_command_is_listed_with_its_own_help_line() -> None:
    """The registry's help lines (shown by `rtpipe --help` without importing the commands) are the commands'."""
    import argparse

    from pipeline.cli import build_parser

    parser = build_parser()  # every command in full
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    listed = {action.dest: action.help for action in sub._choices_actions}
    assert listed == {name: help_line for name, (_, help_line) in COMMANDS.items()}
