"""`rtpipe eval` end to end (a subprocess, real sessions against the embedded server): the shipped scenarios
pass, a wrong expectation fails with a clear line, ``--jobs 4`` gives the verdicts of ``--jobs 1``, and
``--junit`` writes JUnit XML."""

from __future__ import annotations

import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
SHIPPED = sorted((REPO / "pipeline" / "scenarios" / "examples").glob("*.toml"))
LINE = re.compile(r"^(PASS|FAIL|XFAIL|XPASS|SKIP) +(.*)$")

# short conversations (one line each), one of them expecting what does not happen
QUICK = """
[[scenario]]
name = "right place"
say = ["what is the weather like in Paris"]
tool = { name = "get_weather", args = { location = "Paris" } }
reply_contains = "Paris"
turns = 1

[[scenario]]
name = "wrong place"
say = ["what is the weather like in Paris"]
tool = { name = "get_weather", args = { location = "London" } }

[[scenario]]
name = "time"
say = ["what time is it"]
tool = { name = "get_current_time" }
untranscribed_turns = 0

[[scenario]]
name = "greeting"
say = ["hello there"]
tool = []
summary = false

[[scenario]]
name = "recorded question"
wav = "question.wav"
turns = 1
transcript_contains = "what time is it"
tool = { name = "get_current_time" }
"""


def write_wav(path: Path, text: str) -> None:
    """The user's words as a 24 kHz mono PCM16 WAV, as a recorded call would be."""
    import wave

    from pipeline.audio.tts import USER_VOICE, synthesize

    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(24000)
        out.writeframes(bytes(12000) + synthesize(text, voice=USER_VOICE))  # a quarter second before the words


def rtpipe_eval(*args: str | int | Path) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "pipeline", "eval", *map(str, args)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)


def finish(process: subprocess.Popen[str], timeout: float = 240) -> subprocess.CompletedProcess[str]:
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def parse_line(line: str) -> tuple[str, str, str | None, str | None]:
    """(status, scenario, first failure, journal) of a scenario's line."""
    head, _, journal = line.partition("  (journal: ")
    match = LINE.match(head)
    assert match, line
    name, _, failure = match[2].partition("  ")
    return match[1], name, failure or None, journal.removesuffix(")") or None


def verdicts(stdout: str) -> list[tuple[str, str, str | None]]:
    """(status, scenario, first failure) per scenario line (the journal's path aside)."""
    return [parse_line(line)[:3] for line in stdout.splitlines()[:-1]]


Runs = dict[str, tuple[subprocess.CompletedProcess[str], Path]]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    """The shipped files with --jobs 4 in one process; beside it, a quick file with --jobs 1, then --jobs 4.
    (Sessions of one eval share one speech recogniser, whose decoding is serialised, and one Python thread, so
    a second process uses the other core; more than that only slow each other down on a loaded 2-core machine.)"""
    folder = tmp_path_factory.mktemp("eval")
    quick = folder / "quick.toml"
    quick.write_text(QUICK)
    write_wav(folder / "question.wav", "what time is it")  # beside the scenario file, which names it relatively

    def start(name: str, files: list[Path], jobs: int) -> tuple[subprocess.Popen[str], Path]:
        junit = folder / f"{name}.xml"
        return rtpipe_eval(*files, "--jobs", jobs, "--journals", folder / name, "--junit", junit), junit

    shipped, shipped_junit = start("shipped", SHIPPED, 4)
    done: Runs = {}
    for name, jobs in (("jobs1", 1), ("jobs4", 4)):
        process, junit = start(name, [quick], jobs)
        done[name] = (finish(process), junit)
    done["shipped"] = (finish(shipped), shipped_junit)
    return done


def test_the_shipped_scenarios_pass(runs: Runs) -> None:
    assert {p.name for p in SHIPPED} >= {"demo.toml", "tools.toml", "barge-in.toml", "transcripts.toml", "summary.toml"}
    run, junit = runs["shipped"]
    assert run.returncode == 0, run.stdout + run.stderr
    found = verdicts(run.stdout)
    assert {status for status, _, _ in found} == {"PASS"}, run.stdout + run.stderr
    assert len(found) >= 12 and "demo" in {name for _, name, _ in found}
    assert re.fullmatch(rf"{len(found)} passed, 0 failed in [\d.]+ s", run.stdout.splitlines()[-1])
    root = ET.parse(junit).getroot()
    assert root.get("failures") == "0" and int(root.get("tests") or 0) == len(found)
    assert sorted(s.get("name") or "" for s in root.iter("testsuite")) == sorted(p.stem for p in SHIPPED)
    for line in run.stdout.splitlines()[:-1]:  # every journal a line names is there, for `rtpipe show`
        journal = parse_line(line)[3]
        assert journal is not None and Path(journal).is_file(), line


def test_a_wrong_expectation_fails_with_a_clear_line(runs: Runs) -> None:
    run, _ = runs["jobs1"]
    assert run.returncode == 1, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    wrong = next(line for line in lines if line.startswith("FAIL"))
    journal = Path(wrong.rsplit("(journal: ", 1)[1].rstrip(")"))
    assert wrong == (
        'FAIL   wrong place  tool get_weather(location = "London"): no such call; saw get_weather {"location": "Paris"}'
        f"  (journal: {journal})"
    )
    assert journal.name == "wrong-place.rtpj" and journal.is_file()
    assert re.fullmatch(r"4 passed, 1 failed in [\d.]+ s", lines[-1])


def test_four_jobs_give_the_verdicts_of_one(runs: Runs) -> None:
    one, four = runs["jobs1"][0], runs["jobs4"][0]
    assert (one.returncode, four.returncode) == (1, 1), four.stdout + four.stderr
    assert verdicts(four.stdout) == verdicts(one.stdout)
    assert [v[1] for v in verdicts(four.stdout)] == ["right place", "wrong place", "time", "greeting", "recorded question"]  # file order


def test_junit_is_valid_xml_with_the_failure(runs: Runs) -> None:
    run, junit = runs["jobs4"]
    assert junit.is_file(), run.stdout + run.stderr
    root = ET.parse(junit).getroot()
    assert (root.tag, root.get("tests"), root.get("failures")) == ("testsuites", "5", "1")
    (suite,) = root.findall("testsuite")
    assert (suite.get("name"), suite.get("tests"), suite.get("failures")) == ("quick", "5", "1")
    cases = {case.get("name"): case for case in suite.findall("testcase")}
    assert list(cases) == ["right place", "wrong place", "time", "greeting", "recorded question"]
    failure = cases["wrong place"].find("failure")
    assert failure is not None and (failure.get("message") or "").startswith('tool get_weather(location = "London"): no such call')
    assert all(cases[n].find("failure") is None for n in ("right place", "time", "greeting", "recorded question"))
    assert all(float(case.get("time") or 0) > 0 for case in cases.values())
