"""Reading scenario files: every key checked before anything runs, one line naming the scenario and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.scenarios.format import Expectations, ScenarioError, ToolExpectation, load_file, parse

FILE = Path("eval.toml")


def test_a_scenario_with_every_key_reads_as_written(tmp_path: Path) -> None:
    (tmp_path / "hello.wav").write_bytes(b"RIFF")  # only its existence is checked when the file is read
    text = """
[[scenario]]
name = "weather"
say = ["what is the weather like in Paris", "[barge 1500] okay stop"]
summary_trigger = 400
settings = { keep_last_turns = 1, tool_specs = ["mytools:lookup"] }
embedded_server = { transcript_fault = "empty", seed = 3 }
turns = 2
transcript_contains = "okay stop"
untranscribed_turns = 0
tool = [{ name = "get_weather", args = { location = "Paris" }, result_contains = "sunny" }, { name = "get_current_time" }]
reply_contains = ["Paris", "17"]
interrupted = true
summary = false
max_window_tokens = 3000
max_first_audio_ms = 1500
xfail = "not yet"

[[scenario]]
name = "recorded"
wav = "hello.wav"
tool = []
"""
    first, second = parse(text, tmp_path / "eval.toml")
    assert first.name == "weather" and first.slug == "weather" and first.xfail == "not yet"
    assert first.say == ("what is the weather like in Paris", "[barge 1500] okay stop")
    assert first.settings == {"summary_trigger": 400, "keep_last_turns": 1, "tool_specs": ("mytools:lookup",)}
    assert first.embedded_server == {"transcript_fault": "empty", "seed": 3}
    assert first.expect == Expectations(
        turns=2, transcript_contains=("okay stop",), untranscribed_turns=0,
        tools=(ToolExpectation(name="get_weather", args={"location": "Paris"}, result_contains="sunny"),
               ToolExpectation(name="get_current_time")),
        reply_contains=("Paris", "17"), interrupted=True, summary=False, max_window_tokens=3000, max_first_audio_ms=1500.0,
    )  # fmt: skip
    config = first.run_config(journal=tmp_path / "j.rtpj")
    assert (config.input, config.script, config.summary_trigger, config.quiet) == ("script", first.say, 400, True)
    assert second.wav == (tmp_path / "hello.wav").resolve() and second.expect.tools == ()
    assert second.run_config(journal=tmp_path / "k.rtpj").input == str((tmp_path / "hello.wav").resolve())


@pytest.mark.parametrize(
    ("body", "line"),
    [
        ('name = "a"\nsay = ["hi"]\nsumary_trigger = 3',
         "eval.toml: scenario 'a': unknown key 'sumary_trigger' (did you mean summary_trigger?)"),
        ('name = "a"\nsay = ["hi"]\nsummary_trigger = "abc"',
         'eval.toml: scenario \'a\': summary_trigger = "abc": must be a whole number from 1 to 1000000 tokens'),
        ('name = "a"\nsay = ["hi"]\nsettings = { vad_threshold = 2 }',
         "eval.toml: scenario 'a': vad_threshold = 2: must be a number from 0 to 1"),
        ('name = "a"\nsay = ["hi"]\nno_summary = true',
         "eval.toml: scenario 'a': unknown key 'no_summary' (did you mean summary_enabled = false?)"),
        ('name = "a"\nsay = ["hi"]\njournal = "x.rtpj"',
         "eval.toml: scenario 'a': unknown key 'journal' (did you mean rtpipe eval --journals DIR?)"),
        ('name = "a"',
         'eval.toml: scenario \'a\': say / wav: missing (what the user says: say = ["line", ...] or wav = "file.wav")'),
        ('name = "a"\nsay = ["[barge x] stop"]',
         "eval.toml: scenario 'a': say: script line '[barge x] stop': expected '[barge MS] text'"),
        ('name = "a"\nsay = ["hi"]\nturns = "two"', 'eval.toml: scenario \'a\': turns = "two": must be a whole number, at least 0'),
        ('name = "a"\nsay = ["hi"]\nsummary = "yes"',
         'eval.toml: scenario \'a\': summary = "yes": must be true or false (a TOML boolean, not a string)'),
        ('name = "a"\nsay = ["hi"]\ntool = { args = { location = "Paris" } }',
         "eval.toml: scenario 'a': tool: name missing or empty (the tool's name, e.g. name = \"get_weather\")"),
        ('name = "a"\nsay = ["hi"]\ntool = { name = "x", arguments = {} }',
         "eval.toml: scenario 'a': tool: unknown key 'arguments' (a tool expectation has name, args and result_contains)"),
        ('name = "a"\nsay = ["hi"]\nembedded_server = { transcript_fault = "sometimes" }',
         'eval.toml: scenario \'a\': embedded_server.transcript_fault = "sometimes": must be one of none, fail, never, empty'),
        ('name = "a"\nsay = ["hi"]\nwav = "x.wav"',
         "eval.toml: scenario 'a': say and wav: both set (a scenario's user speaks lines or plays a recording, not both)"),
        ('say = ["hi"]', 'eval.toml: scenario #1: name: missing (every scenario needs a name = "...")'),
        ('name = "a"\nsay = ["hi"]\nsummary_trigger = 5\nsettings = { summary_trigger = 6 }',
         "eval.toml: scenario 'a': summary_trigger: set both as a key and in settings (keep one)"),
    ],
)  # fmt: skip
def test_a_mistake_is_one_line_naming_the_scenario_and_the_key(body: str, line: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        parse("[[scenario]]\n" + body + "\n", FILE)
    assert str(caught.value) == line


def test_file_level_mistakes() -> None:
    with pytest.raises(ScenarioError, match=r"^eval.toml: no \[\[scenario\]\] tables$"):
        parse("", FILE)
    with pytest.raises(ScenarioError, match=r"^eval.toml: not valid TOML"):
        parse("[[scenario]\n", FILE)
    with pytest.raises(ScenarioError, match=r"^eval\.toml: scenario 'a': name: another scenario has this name"):
        parse('[[scenario]]\nname = "a"\nsay = ["hi"]\n[[scenario]]\nname = "a"\nsay = ["ho"]\n', FILE)
    with pytest.raises(ScenarioError, match=r"^eval\.toml: unknown top-level key 'defaults'"):
        parse('defaults = {}\n[[scenario]]\nname = "a"\nsay = ["hi"]\n', FILE)
    with pytest.raises(ScenarioError, match=r"^nope\.toml: no such file$"):
        load_file(Path("nope.toml"))


def test_the_cli_exits_2_with_the_line_before_running_anything(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[[scenario]]\nname = "good"\nsay = ["hi"]\n\n[[scenario]]\nname = "bad"\nsay = ["hi"]\nchunk_ms = 5\n')
    assert main(["eval", str(path), "--journals", str(tmp_path / "j")]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"rtpipe eval: {path}: scenario 'bad': chunk_ms = 5: must be a whole number from 10 to 1000 ms\n"
    assert not (tmp_path / "j").exists()  # nothing ran
    good = tmp_path / "good.toml"
    good.write_text('[[scenario]]\nname = "good"\nsay = ["hi"]\n')
    assert main(["eval", str(good), "-k", "nothing like it", "--journals", str(tmp_path / "j")]) == 2
    assert capsys.readouterr().err == "rtpipe eval: -k nothing like it: no scenario's name contains it\n"
    assert not (tmp_path / "j").exists()


def test_against_openai_the_key_comes_from_the_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    good = tmp_path / "good.toml"
    good.write_text('[[scenario]]\nname = "good"\nsay = ["hi"]\n')
    assert main(["eval", str(good), "--server", "openai", "--journals", str(tmp_path / "j")]) == 2
    assert capsys.readouterr().err == "rtpipe eval: --server openai: set OPENAI_API_KEY in the environment (it is never read from a file)\n"
    assert not (tmp_path / "j").exists()
