"""pipeline/models.py by value, and the one warning line `rtpipe run` prints for a model with an announced
shutdown (the SDK agreement is tests/pipeline/test_models_sdk.py)."""

from __future__ import annotations

import datetime
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import trio

from pipeline.cli import main
from pipeline.models import (
    DEFAULT_REALTIME_MODEL,
    DEFAULT_SUMMARY_MODEL,
    DEFAULT_TRANSCRIPTION_MODEL,
    REALTIME_MODELS,
    SUMMARY_MODELS,
    TRANSCRIPTION_MODELS,
    Notice,
    is_reasoning_realtime,
    model_info,
    shutdown_notice,
)


@pytest.mark.parametrize(
    ("name", "reasoning"),
    [
        ("gpt-realtime-2", True),
        ("gpt-realtime-2.1", True),
        ("gpt-realtime-2.1-mini", True),
        ("gpt-realtime-2-2026-05-07", True),  # a dated snapshot of a reasoning model
        ("gpt-realtime-2.1-mini-2026-06-01", True),
        (" gpt-realtime-2.1 ", True),
        ("gpt-realtime", False),  # the seed's
        ("gpt-realtime-2025-08-28", False),  # gpt-realtime's snapshot, not "gpt-realtime-2..."
        ("gpt-realtime-1.5", False),
        ("gpt-realtime-mini", False),
        ("gpt-realtime-2.1-preview", False),  # not a dated snapshot: a name we do not know
        ("gpt-realtime-20", False),
        ("gpt-realtime-2.10", False),
        ("GPT-REALTIME-2", False),
        ("my-proxy-model", False),
        ("", False),
    ],
)
def test_which_models_reason(name: str, reasoning: bool) -> None:
    assert is_reasoning_realtime(name) is reasoning


def test_the_tables_rows() -> None:
    assert REALTIME_MODELS["gpt-realtime-2.1"].reasoning and not REALTIME_MODELS["gpt-realtime-1.5"].reasoning
    assert not any(info.reasoning for info in TRANSCRIPTION_MODELS.values())
    assert not any(info.reasoning for info in SUMMARY_MODELS.values())
    for table in (REALTIME_MODELS, TRANSCRIPTION_MODELS, SUMMARY_MODELS):
        for name, info in table.items():
            assert info.name == name and info.source.startswith("openai/types/")
            assert (info.shutdown is None) == (info.replacement is None), name
            assert info.replacement is None or shutdown_notice(info.replacement, table) is None, name
    assert (DEFAULT_REALTIME_MODEL, DEFAULT_TRANSCRIPTION_MODEL, DEFAULT_SUMMARY_MODEL) == (
        "gpt-realtime-2.1", "gpt-transcribe", "gpt-5.4-mini"
    )  # fmt: skip


def test_a_notice_has_the_date_the_replacement_and_one_line() -> None:
    notice = shutdown_notice("gpt-realtime")
    assert notice == Notice(
        model="gpt-realtime", date=datetime.date(2027, 1, 20), replacement="gpt-realtime-2.1",
        source="openai/types/realtime/realtime_session_create_request.py",
    )  # fmt: skip
    assert notice.text == (
        "model gpt-realtime has an announced shutdown date of 2027-01-20 (openai SDK model notes); "
        "suggested replacement: gpt-realtime-2.1"
    )
    assert "\n" not in notice.line("--model") and "(--model)" in notice.line("--model")
    mini = shutdown_notice("gpt-realtime-mini-2025-12-15")
    assert mini is not None and mini.replacement == "gpt-realtime-2.1-mini"
    transcribe = shutdown_notice("gpt-4o-transcribe", TRANSCRIPTION_MODELS)
    assert transcribe is not None and (transcribe.date, transcribe.replacement) == (datetime.date(2027, 2, 26), "gpt-transcribe")
    summary = shutdown_notice("gpt-4o-mini", SUMMARY_MODELS)
    assert summary is not None and (summary.date, summary.replacement) == (datetime.date(2027, 1, 14), "gpt-5.4-mini")


def test_no_notice_for_current_or_unknown_models() -> None:
    for name in (DEFAULT_REALTIME_MODEL, DEFAULT_TRANSCRIPTION_MODEL, DEFAULT_SUMMARY_MODEL, "gpt-realtime-2",
                 "gpt-realtime-mini-2025-10-06", "my-proxy-model", ""):  # fmt: skip
        assert shutdown_notice(name) is None, name
    assert model_info("my-proxy-model") is None
    # a name is looked up in the table of the setting that chose it
    assert shutdown_notice("gpt-4o-mini", REALTIME_MODELS) is None


class Started(Exception):
    """The session would have started here."""


@pytest.fixture
def no_session(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    def start(*args: Any, **kwargs: Any) -> Any:
        raise Started

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setattr(trio, "run", start)
    return tmp_path


def warnings_of(argv: list[str], capsys: pytest.CaptureFixture[str]) -> list[str]:
    """The lines `rtpipe run ARGV` wrote before its session would have started."""
    with pytest.raises(Started):
        main(["run", *argv])
    out, err = capsys.readouterr()
    assert out == ""
    return err.splitlines()


def test_the_defaults_start_without_a_warning(no_session: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert warnings_of([], capsys) == []


def test_each_retiring_model_gets_one_warning_line(no_session: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = warnings_of(["--model", "gpt-realtime", "--transcription-model", "gpt-4o-transcribe",
                         "--summary-model", "gpt-4o-mini", "--quiet"], capsys)  # fmt: skip
    assert lines == [
        "rtpipe run: warning: model gpt-realtime (--model) has an announced shutdown date of 2027-01-20 "
        "(openai SDK model notes); suggested replacement: gpt-realtime-2.1",
        "rtpipe run: warning: model gpt-4o-transcribe (--transcription-model) has an announced shutdown date of "
        "2027-02-26 (openai SDK model notes); suggested replacement: gpt-transcribe",
        "rtpipe run: warning: model gpt-4o-mini (--summary-model) has an announced shutdown date of 2027-01-14 "
        "(openai SDK model notes); suggested replacement: gpt-5.4-mini",
    ]


def test_a_summary_model_that_will_not_run_is_not_warned_about(no_session: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert warnings_of(["--summary-model", "gpt-4o-mini", "--no-summary"], capsys) == []
    (no_session / "run.toml").write_text('model = "gpt-realtime-mini"\n')
    [line] = warnings_of(["--config", "run.toml"], capsys)
    assert line.startswith("rtpipe run: warning: model gpt-realtime-mini (--model) has an announced shutdown date")
    assert line.endswith("suggested replacement: gpt-realtime-2.1-mini")


def test_the_models_module_stays_light() -> None:
    """Everyone imports it (the CLI before --help, the server, the cores): no openai, no pydantic, no trio."""
    script = textwrap.dedent(
        """
        import sys
        import pipeline.models
        print(sorted(m for m in sys.modules if m.split(".")[0] in ("openai", "pydantic", "trio", "numpy", "events")))
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"
