"""`rtpipe run` refuses every bad flag and config key before anything starts.

Each bad value is one line on stderr naming the flag as the user wrote it (or the config file's key), the value
and what is allowed; exit 2; nothing is created in the working directory (no ``journals/``). The tables cover
every flag of ``rtpipe run`` and every config key: a test fails when a flag or a field is added without a row.
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio

from pipeline.cli import build_parser, main
from pipeline.config import FLAGS, ConfigError, RunConfig, flag_of

RTPIPE = str(Path(sys.executable).parent / "rtpipe")

# flag -> bad values (as typed) and what the line must say; every run flag is here or in NO_BAD_VALUE
BAD_FLAGS: dict[str, list[str]] = {
    "--input": ["", "missing.wav", "."],
    "--say": ["", "   "],
    "--script": ["missing.txt", "."],
    "--output": ["", "speakers", "out.mp3", ".wav"],
    "--journal": [""],
    "--journal-fsync": ["", "sometimes", "interval:0", "interval:-1", "interval:nan", "interval:inf", "interval:x", "close:1"],
    "--chunk-ms": ["0", "-1", "9", "1001", "abc", "1.5", "nan"],
    "--config": ["missing.toml", "."],
    "--server": ["", "bogus", "ftp://127.0.0.1/", "ws://", "http://"],
    "--model": ["", " "],
    "--voice": [""],
    "--transcription-model": [""],
    "--transcription-language": [""],
    "--vad-threshold": ["-0.1", "1.5", "nan", "inf", "-inf", "abc"],
    "--vad-prefix-padding-ms": ["-1", "10001", "abc"],
    "--vad-silence-duration-ms": ["-1", "10001", "0.5"],
    "--transcript-timeout-ms": ["0", "-1", "600001", "abc"],
    "--transcript-retries": ["0", "-1", "101", "two"],
    "--transcript-backoff-ms": ["-1", "600001", "abc"],
    "--transcript-retrieve-wait-ms": ["0", "-1", "abc"],
    "--tools": ["", "nocolon", ":attr", "module:"],
    "--tool-timeout-s": ["0", "-1", "nan", "inf", "-inf", "3601", "abc"],
    "--summary-trigger": ["0", "-5", "1000001", "abc", "1.5"],
    "--keep-last-turns": ["-3", "-1", "1001", "abc"],
    "--summary-model": [""],
    "--summary-language": [""],
    "--summary-style": ["haiku", ""],
    "--summary-timeout-s": ["0", "-1", "nan", "inf", "abc"],
    "--prices": ["", "missing.toml", "."],
    "--maxim-session-name": [""],
    "--maxim-session-tags": ["novalue", "=v", "a=1,b"],
    "--maxim-session-id": [""],
    "--trace-flush-timeout-s": ["0", "-1", "nan", "inf", "abc"],
    "--reconnect-attempts": ["0", "-1", "101", "abc", "1.5"],
    "--reconnect-backoff-ms": ["-1", "60001", "abc"],
    "--reconnect-backoff-max-ms": ["-1", "600001", "abc"],
    "--reconnect-buffer-ms": ["-1", "60001", "abc"],
    "--max-session-minutes": ["0", "-1", "61", "nan", "inf", "abc"],
    "--resume": ["", "missing.rtpj", "."],
    "--reasoning-effort": ["", "none", "max", "HIGH", " low"],
    "--truncation": ["", "sometimes", "Auto", "retention_ratio", "retention_ratio:", "retention_ratio:0",
                     "retention_ratio:1.5", "retention_ratio:-0.5", "retention_ratio:nan", "retention_ratio:inf",
                     "retention_ratio:x", "ratio:0.5"],
}
# flags that take no value, or whose every value is valid
NO_BAD_VALUE = {"--help", "--fast", "--quiet", "--overwrite", "--no-builtin-tools", "--no-summary", "--no-reconnect", "--instructions",
                "--parallel-tool-calls", "--no-parallel-tool-calls"}  # these two: with a model that takes them (below)

# config key -> bad TOML values; every RunConfig field but api_key is here
BAD_KEYS: dict[str, list[str]] = {
    "server": ['"bogus"', "1", "true"],
    "model": ['""', "5"],
    "voice": ['""', "[]"],
    "instructions": ["1", "{ a = 1 }"],
    "output_modalities": ['["audio", "text"]', '"audio"', "[]", '["video"]'],
    "transcription_model": ['""', "false"],
    "transcription_language": ['""', "1.5"],
    "vad_threshold": ['"0.5"', "1.5", "-0.1", "nan", "inf", "true"],
    "vad_prefix_padding_ms": ["-1", '"300"', "300.0", "true"],
    "vad_silence_duration_ms": ["-1", "10001", '"500"'],
    "sample_rate": ["16000", "0", '"24000"', "24000.0"],
    "chunk_ms": ["0", "1001", '"40"', "40.5", "true"],
    "input": ['""', "1", '"missing.wav"'],
    "script": ['"hello"', '[""]', "[1]", "3"],
    "output": ['""', '"speakers"', "1"],
    "fast": ['"true"', '"yes"', "1"],
    "transcript_timeout_ms": ["0", "-1", '"3000"'],
    "transcript_retries": ["0", "-1", '"5"', "5.5"],
    "transcript_backoff_ms": ["-1", '"400"'],
    "transcript_retrieve_wait_ms": ["0", '"2000"'],
    "tool_specs": ['"mytools:weather"', '["nocolon"]', "[1]"],
    "builtin_tools": ['"false"', "0"],
    "tool_timeout_s": ["0", "-1", "nan", "inf", '"10"', "false"],
    "summary_enabled": ['"no"', "1"],
    "summary_trigger": ['"abc"', "-5", "0", "2000.5", "true"],
    "keep_last_turns": ["-3", '"2"', "2.0"],
    "summary_model": ['""', "4"],
    "summary_language": ['""', "[]"],
    "summary_style": ['"haiku"', "1"],
    "summary_timeout_s": ["0", "-1", "nan", '"30"'],
    "prices": ['""', "1"],
    "maxim_session_name": ['""', "1"],
    "maxim_session_tags": ['"novalue"', "{ a = 1 }"],
    "maxim_session_id": ['""', "1"],
    "trace_flush_timeout_s": ["0", "-inf", '"5"'],
    "journal": ['""', "1", "[]"],
    "journal_fsync": ['"sometimes"', '"interval:0"', "1"],
    "overwrite": ['"yes"', "1"],
    "quiet": ['"true"', "0"],
    "reconnect": ['"yes"', "1"],
    "reconnect_attempts": ["0", "101", '"5"', "5.5"],
    "reconnect_backoff_ms": ["-1", '"250"'],
    "reconnect_backoff_max_ms": ["-1", '"8000"'],
    "reconnect_buffer_ms": ["-1", "60001", '"5000"'],
    "max_session_minutes": ["0", "61", "nan", '"55"'],
    "resume": ['""', "1", '"missing.rtpj"'],
    "reasoning_effort": ['"none"', '"max"', '""', "1", "true"],
    "parallel_tool_calls": ['"yes"', "1", '"true"'],
    "truncation": ['"sometimes"', '""', '"retention_ratio:0"', '"retention_ratio:1.01"', '"retention_ratio"', "0.5", "true",
                   "{ type = \"retention_ratio\", retention_ratio = 0.5 }"],
}


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory, and a session that must never start."""

    def no_session(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the session started despite a bad value")

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setattr(trio, "run", no_session)
    return tmp_path


def run_parser() -> argparse.ArgumentParser:
    parser = build_parser(["run"])
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    run: argparse.ArgumentParser = sub.choices["run"]
    return run


def run_cli(argv: Sequence[str]) -> int:
    try:
        return main(list(argv))
    except SystemExit as exc:  # argparse's own errors (a value that is not a number, a bad choice)
        assert isinstance(exc.code, int)
        return exc.code


def assert_refused(code: int, err: str, out: str, naming: str, workdir: Path, made: set[str]) -> None:
    assert code == 2, err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("rtpipe run: "), err
    assert naming in lines[0], err
    assert "Traceback" not in err and out == ""
    assert {p.name for p in workdir.iterdir()} == made  # no journals/, no WAV, no trace


def flag_cases() -> list[tuple[str, str]]:
    return [(flag, value) for flag, values in BAD_FLAGS.items() for value in values]


@pytest.mark.parametrize(("flag", "value"), flag_cases())
def test_a_bad_flag_is_one_line_exit_2_and_nothing_starts(
    flag: str, value: str, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run_cli(["run", f"{flag}={value}" if value.startswith("-") else flag, *([] if value.startswith("-") else [value])])
    out, err = capsys.readouterr()
    assert_refused(code, err, out, flag, workdir, set())


@pytest.mark.parametrize(("key", "value"), [(k, v) for k, vs in BAD_KEYS.items() for v in vs])
def test_a_bad_config_key_is_one_line_naming_the_key(
    key: str, value: str, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (workdir / "run.toml").write_text(f"{key} = {value}\n")
    code = run_cli(["run", "--config", "run.toml"])
    out, err = capsys.readouterr()
    assert_refused(code, err, out, f"{key} = ", workdir, {"run.toml"})
    assert "(in run.toml)" in err


def test_the_tables_cover_every_flag_and_every_key() -> None:
    run = run_parser()
    flags = {opt for action in run._actions for opt in action.option_strings if opt.startswith("--")}
    assert flags == set(BAD_FLAGS) | NO_BAD_VALUE
    assert set(BAD_KEYS) == {f.name for f in attrs.fields(RunConfig)} - {"api_key"}


def test_every_field_maps_to_a_flag_of_rtpipe_run() -> None:
    run = run_parser()
    flags = {opt for action in run._actions for opt in action.option_strings}
    for field in attrs.fields(RunConfig):
        flag = flag_of(field.name)
        assert flag is None or flag in flags, field.name
    assert set(FLAGS) <= {f.name for f in attrs.fields(RunConfig)}


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (["--tool-timeout-s", "0"], "rtpipe run: --tool-timeout-s 0: must be a number greater than 0 and at most 3600 seconds"),
        (["--keep-last-turns", "-3"], "rtpipe run: --keep-last-turns -3: must be a whole number from 0 to 1000"),
        (["--transcript-retries", "-1"], "rtpipe run: --transcript-retries -1: must be a whole number from 1 to 100"),
        (["--summary-trigger", "-5"], "rtpipe run: --summary-trigger -5: must be a whole number from 1 to 1000000 tokens"),
        (["--summary-timeout-s", "-1"], "rtpipe run: --summary-timeout-s -1: must be a number greater than 0 and at most 3600 seconds"),
        (["--vad-threshold", "nan"], "rtpipe run: --vad-threshold nan: must be a number from 0 to 1"),
        (["--output", "speakers"], "rtpipe run: --output speakers: must be wav, speaker, none, or a path ending in .wav"),
        (["--say", "hi", "--say", ""], "rtpipe run: --say '': must be non-empty text (each line)"),
        (["--chunk-ms", "abc"], "rtpipe run: argument --chunk-ms: invalid int value: 'abc' (see 'rtpipe run --help')"),
    ],
)
def test_the_line_says_the_flag_the_value_and_what_is_allowed(
    argv: list[str], line: str, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(["run", *argv]) == 2
    assert capsys.readouterr().err == line + "\n"


def test_a_config_file_line_names_the_key_and_the_file(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (workdir / "run.toml").write_text('summary_trigger = "abc"\n')
    assert run_cli(["run", "--config", "run.toml"]) == 2
    assert capsys.readouterr().err == (
        'rtpipe run: summary_trigger = "abc" (in run.toml): must be a whole number from 1 to 1000000 tokens\n'
    )


def test_a_flag_overrides_the_file_and_is_named_when_it_is_the_bad_one(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (workdir / "run.toml").write_text("summary_trigger = 500\n")
    assert run_cli(["run", "--config", "run.toml", "--summary-trigger", "0"]) == 2
    assert capsys.readouterr().err.startswith("rtpipe run: --summary-trigger 0: ")


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("sumary_trigger = 5\n", "unknown key 'sumary_trigger' (did you mean summary_trigger?)"),
        ('say = ["hi"]\n', "unknown key 'say' (did you mean script = [...]?)"),
        ("no_summary = true\n", "unknown key 'no_summary' (did you mean summary_enabled = false?)"),
        ("summary_trigger = \n", "not valid TOML"),
    ],
)
def test_config_file_mistakes(text: str, line: str, workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (workdir / "run.toml").write_text(text)
    assert run_cli(["run", "--config", "run.toml"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rtpipe run: --config run.toml: ") and line in err and len(err.splitlines()) == 1


def test_an_api_key_in_a_config_file_is_refused_without_echoing_it(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = "sk-" + "test" * 6  # built at runtime: no committed line looks like a credential
    (workdir / "run.toml").write_text(f'api_key = "{secret}"\n')
    assert run_cli(["run", "--config", "run.toml"]) == 2
    err = capsys.readouterr().err
    assert "OPENAI_API_KEY" in err and secret not in err


def test_good_values_pass_and_are_normalised(workdir: Path) -> None:
    from pipeline.commands.run_cmd import build_config

    (workdir / "run.toml").write_text(
        'tool_timeout_s = 12\nscript = ["hello there"]\noutput_modalities = ["text"]\njournal = "j/x.rtpj"\n'
        'journal_fsync = "interval:0.5"\nvad_threshold = 1\nfast = true\nmaxim_session_tags = "a=1, b=2"\n'
    )
    args = build_parser(["run"]).parse_args(["run", "--config", "run.toml", "--summary-trigger", "1"])
    config = build_config(args, environ={})
    assert config.tool_timeout_s == 12.0 and isinstance(config.tool_timeout_s, float)
    assert config.vad_threshold == 1.0 and isinstance(config.vad_threshold, float)
    assert config.script == ("hello there",) and config.input == "script"
    assert config.output_modalities == ("text",)
    assert config.journal == Path("j/x.rtpj") and config.fast is True and config.summary_trigger == 1
    assert list(workdir.iterdir()) == [workdir / "run.toml"]


def test_a_run_config_cannot_hold_a_bad_value_whoever_builds_it() -> None:
    RunConfig()  # the defaults are valid
    for bad in (
        {"tool_timeout_s": 0},
        {"tool_timeout_s": math.nan},
        {"keep_last_turns": -1},
        {"summary_trigger": True},
        {"chunk_ms": 5},
        {"script": "hello"},
        {"journal": "x.rtpj"},
        {"journal_fsync": "interval:nan"},
        {"server": "ws://"},
    ):
        with pytest.raises(ConfigError) as caught:
            RunConfig(**bad)
        assert caught.value.field == next(iter(bad))


def test_overwrite_is_a_flag_and_a_field(workdir: Path) -> None:
    from pipeline.commands.run_cmd import build_config

    parser = build_parser(["run"])
    assert build_config(parser.parse_args(["run", "--overwrite"]), environ={}).overwrite is True
    assert build_config(parser.parse_args(["run"]), environ={}).overwrite is False


def test_run_help_documents_every_flag_with_its_default(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["run", "--help"]) == 0
    out = capsys.readouterr().out
    run = run_parser()
    for action in run._actions:
        if action.option_strings and action.option_strings != ["-h", "--help"]:
            assert action.help and "default" in action.help, action.option_strings
            assert action.option_strings[-1] in out


def rtpipe(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    return subprocess.run([RTPIPE, *args], cwd=cwd, capture_output=True, text=True, timeout=60, env=env)


def test_the_installed_command_refuses_a_bad_flag(tmp_path: Path) -> None:
    out = rtpipe("run", "--tool-timeout-s", "0", cwd=tmp_path)
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr == "rtpipe run: --tool-timeout-s 0: must be a number greater than 0 and at most 3600 seconds\n"
    assert list(tmp_path.iterdir()) == []


def test_the_installed_command_refuses_a_bad_config_key(tmp_path: Path) -> None:
    (tmp_path / "run.toml").write_text("keep_last_turns = -3\n")
    out = rtpipe("run", "--config", "run.toml", cwd=tmp_path)
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr == "rtpipe run: keep_last_turns = -3 (in run.toml): must be a whole number from 0 to 1000\n"
    assert [p.name for p in tmp_path.iterdir()] == ["run.toml"]


def test_a_bad_price_file_is_refused_before_the_session_and_named_once(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (workdir / "prices.toml").write_text("[gpt-realtime\n")
    assert run_cli(["run", "--prices", "prices.toml"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rtpipe run: --prices prices.toml: not valid TOML") and err.count("prices.toml") == 1
    assert [p.name for p in workdir.iterdir()] == ["prices.toml"]


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (["--model", "gpt-realtime", "--reasoning-effort", "low"],
         "rtpipe run: --reasoning-effort low: model gpt-realtime does not take it (only the reasoning realtime models "
         "do: gpt-realtime-2, gpt-realtime-2.1, gpt-realtime-2.1-mini)"),
        (["--model", "gpt-realtime-1.5", "--parallel-tool-calls"],
         "rtpipe run: --parallel-tool-calls: model gpt-realtime-1.5 does not take it (only the reasoning realtime "
         "models do: gpt-realtime-2, gpt-realtime-2.1, gpt-realtime-2.1-mini)"),
        (["--no-parallel-tool-calls", "--model", "gpt-realtime-mini"],
         "rtpipe run: --no-parallel-tool-calls: model gpt-realtime-mini does not take it (only the reasoning "
         "realtime models do: gpt-realtime-2, gpt-realtime-2.1, gpt-realtime-2.1-mini)"),
        (["--truncation", "retention_ratio:0"],
         "rtpipe run: --truncation retention_ratio:0: must be auto, disabled, or retention_ratio:R with R a number "
         "greater than 0 and at most 1"),
        (["--reasoning-effort", "none"],
         "rtpipe run: --reasoning-effort none: must be one of minimal, low, medium, high, xhigh"),
    ],
)  # fmt: skip
def test_model_settings_are_refused_in_one_line_naming_the_flag_and_the_model(
    argv: list[str], line: str, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(["run", *argv]) == 2
    out, err = capsys.readouterr()
    assert err == line + "\n" and out == ""
    assert list(workdir.iterdir()) == []


def test_a_config_file_setting_the_model_refuses_reasoning_from_the_file(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (workdir / "run.toml").write_text('model = "gpt-realtime"\nreasoning_effort = "high"\n')
    assert run_cli(["run", "--config", "run.toml"]) == 2
    assert capsys.readouterr().err == (
        'rtpipe run: reasoning_effort = "high" (in run.toml): model gpt-realtime does not take it (only the '
        "reasoning realtime models do: gpt-realtime-2, gpt-realtime-2.1, gpt-realtime-2.1-mini)\n"
    )


def test_model_settings_pass_for_a_reasoning_model_and_reach_the_session(workdir: Path) -> None:
    from pipeline.commands.run_cmd import build_config

    parser = build_parser(["run"])
    default = build_config(parser.parse_args(["run"]), environ={})
    assert (default.reasoning_effort, default.parallel_tool_calls, default.truncation) == (None, None, "auto")
    session = default.session_object()
    assert "reasoning" not in session and "parallel_tool_calls" not in session and session["truncation"] == "auto"

    argv = ["run", "--model", "gpt-realtime-2.1-mini-2026-06-01", "--reasoning-effort", "xhigh",
            "--no-parallel-tool-calls", "--truncation", "retention_ratio:0.8"]  # fmt: skip
    config = build_config(parser.parse_args(argv), environ={})
    session = config.session_object()
    assert session["reasoning"] == {"effort": "xhigh"} and session["parallel_tool_calls"] is False
    assert session["truncation"] == {"type": "retention_ratio", "retention_ratio": 0.8}
    cores = config.for_cores()  # flat, for the journal header and replay
    assert (cores["reasoning_effort"], cores["parallel_tool_calls"], cores["truncation"]) == ("xhigh", False, "retention_ratio:0.8")
    (workdir / "run.toml").write_text('truncation = "disabled"\nparallel_tool_calls = true\n')
    from_file = build_config(parser.parse_args(["run", "--config", "run.toml"]), environ={})
    assert from_file.session_object()["truncation"] == "disabled" and from_file.parallel_tool_calls is True
