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
SHIPPED = sorted((REPO / "scenarios").glob("*.toml"))
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
"""


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
    """The shipped files with --jobs 4, and a quick file with --jobs 1 and --jobs 4: three processes at once
    (each runs its sessions in one trio run), to keep the wall time down."""
    folder = tmp_path_factory.mktemp("eval")
    quick = folder / "quick.toml"
    quick.write_text(QUICK)
    plans = {
        "shipped": (SHIPPED, 4),
        "jobs1": ([quick], 1),
        "jobs4": ([quick], 4),
    }
    started = {}
    for name, (files, jobs) in plans.items():
        junit = folder / f"{name}.xml"
        started[name] = (rtpipe_eval(*files, "--jobs", jobs, "--journals", folder / name, "--junit", junit), junit)
    return {name: (finish(process), junit) for name, (process, junit) in started.items()}


def test_the_shipped_scenarios_pass(runs: Runs) -> None:
    assert {p.name for p in SHIPPED} >= {"demo.toml", "tools.toml", "barge-in.toml", "transcripts.toml", "summary.toml"}
    run, junit = runs["shipped"]
    assert run.returncode == 0, run.stdout + run.stderr
    found = verdicts(run.stdout)
    assert {status for status, _, _ in found} <= {"PASS", "XFAIL", "XPASS"}, run.stdout + run.stderr
    assert len(found) >= 12 and sum(status == "PASS" for status, _, _ in found) >= 11, run.stdout
    demo = next(v for v in found if v[1] == "demo")
    if demo[0] == "XFAIL":  # until --fast runs on simulated time: the summary, and only the summary
        assert demo[2] is not None and demo[2].startswith("summary = true: no summary applied") and "(and " not in demo[2], run.stdout
    assert re.fullmatch(r"\d+ passed, 0 failed(, \d+ x(failed|passed))* in [\d.]+ s", run.stdout.splitlines()[-1])
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
    assert re.fullmatch(r"3 passed, 1 failed in [\d.]+ s", lines[-1])


def test_four_jobs_give_the_verdicts_of_one(runs: Runs) -> None:
    one, four = runs["jobs1"][0], runs["jobs4"][0]
    assert (one.returncode, four.returncode) == (1, 1), four.stdout + four.stderr
    assert verdicts(four.stdout) == verdicts(one.stdout)
    assert [v[1] for v in verdicts(four.stdout)] == ["right place", "wrong place", "time", "greeting"]  # file order


def test_junit_is_valid_xml_with_the_failure(runs: Runs) -> None:
    run, junit = runs["jobs4"]
    assert junit.is_file(), run.stdout + run.stderr
    root = ET.parse(junit).getroot()
    assert (root.tag, root.get("tests"), root.get("failures")) == ("testsuites", "4", "1")
    (suite,) = root.findall("testsuite")
    assert (suite.get("name"), suite.get("tests"), suite.get("failures")) == ("quick", "4", "1")
    cases = {case.get("name"): case for case in suite.findall("testcase")}
    assert list(cases) == ["right place", "wrong place", "time", "greeting"]
    failure = cases["wrong place"].find("failure")
    assert failure is not None and (failure.get("message") or "").startswith('tool get_weather(location = "London"): no such call')
    assert all(cases[n].find("failure") is None for n in ("right place", "time", "greeting"))
    assert all(float(case.get("time") or 0) > 0 for case in cases.values())
