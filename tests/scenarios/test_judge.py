"""Judging: each expectation against what a recorded call shows, as one line saying what was seen instead."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from pipeline.scenarios.format import Expectations, ToolExpectation
from pipeline.scenarios.judge import Observed, ToolCall, judge, normalise
from pipeline.scenarios.verdict import Status, Verdict, junit_xml, tally


def call(name: str, raw: str, output: str | None = "{}") -> ToolCall:
    import json

    return ToolCall(name=name, arguments=json.loads(raw), raw_arguments=raw, output=output)


SEEN = Observed(
    transcripts=("What is the weather like in Paris?", None, "Okay, stop."),
    replies=("The weather in Paris is sunny at 17°C.", "Once upon a time", "You said: Okay, stop."),
    tool_calls=(call("get_weather", '{"location": "Paris", "unit": "celsius"}', '{"condition": "sunny"}'), call("get_current_time", "{}")),
    interruptions=(5200,),
    summaries_applied=(),
    windows=(("resp_a", 338), ("resp_b", 1155), ("resp_c", 900)),
    first_audio_ms=((1, 846.0), (3, 1553.4)),
)


def test_text_is_compared_ignoring_case_punctuation_and_spaces() -> None:
    assert normalise("  Okay,   STOP. ") == "okay stop"
    assert normalise("17°C") == "17 c"


def test_expectations_that_hold_pass() -> None:
    expect = Expectations(
        turns=3, transcript_contains=("okay stop", "weather like in paris"), untranscribed_turns=1,
        tools=(ToolExpectation(name="get_weather", args={"location": "PARIS"}, result_contains="Sunny"), ToolExpectation(name="get_current_time")),
        reply_contains=("sunny at 17°C", "once upon"), interrupted=True, summary=False, max_window_tokens=1155, max_first_audio_ms=1600,
    )  # fmt: skip
    assert judge(expect, SEEN) == []
    assert judge(Expectations(), SEEN) == []


def test_each_failed_expectation_says_what_was_seen_instead() -> None:
    expect = Expectations(
        turns=2, transcript_contains=("goodbye",), untranscribed_turns=0, reply_contains=("Tokyo",), interrupted=False,
        summary=True, max_window_tokens=1000, max_first_audio_ms=1000,
    )  # fmt: skip
    assert judge(expect, SEEN) == [
        "turns = 2: saw 3 user turn(s)",
        'transcript_contains "goodbye": no user transcript contains it; heard "What is the weather like in Paris?", "Okay, stop."',
        "untranscribed_turns = 0: saw 1 of 3 turn(s) without words",
        'reply_contains "Tokyo": no assistant reply contains it; replies "The weather in Paris is sunny at 17°C.", "Once upon a time", "You said: Okay, stop."',
        "interrupted = false: 1 reply(ies) cut, the first at 5,200 ms",
        "summary = true: no summary applied (token window peaked at 1,155)",
        "max_window_tokens = 1000: the window reached 1,155 tokens after resp_b",
        "max_first_audio_ms = 1000: turn #3 first audio after 1,553 ms",
    ]


def test_tool_calls_match_in_order_with_a_subset_of_the_arguments() -> None:
    def tools(*expected: ToolExpectation) -> list[str]:
        return judge(Expectations(tools=expected), SEEN)

    weather, clock = ToolExpectation(name="get_weather", args={"location": "Paris"}), ToolExpectation(name="get_current_time")
    assert tools(weather, clock) == []
    assert tools(clock, weather) == [
        'tool get_weather(location = "Paris"): no such call after the previous expected call; saw get_weather {"location": "Paris", "unit": "celsius"}, get_current_time {}'
    ]
    assert tools(ToolExpectation(name="get_weather", args={"location": "London"})) == [
        'tool get_weather(location = "London"): no such call; saw get_weather {"location": "Paris", "unit": "celsius"}, get_current_time {}'
    ]
    assert tools(ToolExpectation(name="get_weather", args={"days": 3})) != []  # an argument the call lacks
    assert tools(ToolExpectation(name="get_weather", result_contains="rain")) != []
    assert tools() == ['tool = []: expected no tool call; saw get_weather {"location": "Paris", "unit": "celsius"}, get_current_time {}']
    assert judge(Expectations(tools=(weather,)), Observed()) == ['tool get_weather(location = "Paris"): no such call; saw no tool call']
    assert judge(Expectations(tools=()), Observed()) == []


def test_a_failed_session_fails_whatever_it_expects() -> None:
    assert judge(Expectations(), Observed(failure="session failed: server error")) == ["the session failed: session failed: server error"]


def test_verdict_lines_and_the_count() -> None:
    journal = Path("j/a.rtpj")
    passed = Verdict.of(Path("f.toml"), "a", [], xfail=None, journal=journal, seconds=1.0)
    failed = Verdict.of(Path("f.toml"), "b", ["turns = 2: saw 1 user turn(s)", "summary = true: ..."], xfail=None, journal=journal, seconds=2.0)
    xfailed = Verdict.of(Path("g.toml"), "c", ["summary = true: ..."], xfail="needs time", journal=journal, seconds=3.0)
    xpassed = Verdict.of(Path("g.toml"), "d", [], xfail="needs time", journal=journal, seconds=3.0)
    assert [v.status for v in (passed, failed, xfailed, xpassed)] == [Status.PASS, Status.FAIL, Status.XFAIL, Status.XPASS]
    assert passed.line() == "PASS   a  (journal: j/a.rtpj)"
    assert failed.line() == "FAIL   b  turns = 2: saw 1 user turn(s) (and 1 more)  (journal: j/a.rtpj)"
    assert xfailed.line() == "XFAIL  c  summary = true: ...  [expected to fail: needs time]  (journal: j/a.rtpj)"
    assert tally([passed, failed, xfailed, xpassed], 4.25) == "1 passed, 1 failed, 1 xfailed, 1 xpassed in 4.2 s"


def test_junit_xml_has_a_suite_per_file_and_a_failure_per_failed_scenario() -> None:
    verdicts = [
        Verdict.of(Path("f.toml"), "a", [], xfail=None, journal=Path("j/a.rtpj"), seconds=1.0),
        Verdict.of(Path("f.toml"), "b", ["turns = 2: saw 1 user turn(s)", "summary = true: no"], xfail=None, journal=None, seconds=2.0),
        Verdict.of(Path("g.toml"), "c", ["summary = true: no"], xfail="needs time", journal=None, seconds=3.0),
    ]
    root = ET.fromstring(junit_xml(verdicts, 6.0))
    assert root.tag == "testsuites" and (root.get("tests"), root.get("failures")) == ("3", "1")
    suites = root.findall("testsuite")
    assert [(s.get("name"), s.get("tests"), s.get("failures"), s.get("skipped")) for s in suites] == [("f", "2", "1", "0"), ("g", "1", "0", "1")]
    a, b = suites[0].findall("testcase")
    assert (a.get("name"), a.find("failure"), a.findtext("system-out")) == ("a", None, "journal: j/a.rtpj")
    failure = b.find("failure")
    assert failure is not None and failure.get("message") == "turns = 2: saw 1 user turn(s)"
    assert failure.text == "turns = 2: saw 1 user turn(s)\nsummary = true: no"
    skipped = suites[1].find("testcase/skipped")
    assert skipped is not None and skipped.get("message") == "expected to fail: needs time"


def test_what_a_journal_shows_is_read_from_its_read_models(tmp_path: Path) -> None:
    from pipeline.projections.recording import Recording
    from tests.projections.synthetic import Call

    call = Call(tmp_path / "call.rtpj")
    call.start()
    call.user_turn("item_u1", 1000, text="What is the weather like in Paris?")
    call.tool_call("resp_t", "call_1", "get_weather", '{"location": "Paris"}', 1500, '{"condition": "sunny"}', 3)
    call.reply("resp_1", "item_a1", created_ms=1600, first_delta_ms=1700, audio_ms=1000, text="Sunny in Paris.", play_from_ms=1800,
               total_tokens=420)  # fmt: skip
    call.user_turn("item_u2", 4000, fail=True)
    call.reply("resp_2", "item_a2", created_ms=4100, first_delta_ms=4300, audio_ms=3000, text="Once upon a time", play_from_ms=4500,
               cut_at_ms=1200, total_tokens=610)  # fmt: skip
    seen = Observed.from_recording(Recording.load(call.end(7000)))
    assert seen == Observed(
        transcripts=("What is the weather like in Paris?", None),
        replies=("Sunny in Paris.", "Once upon a time"),
        tool_calls=(
            ToolCall(name="get_weather", arguments={"location": "Paris"}, raw_arguments='{"location": "Paris"}', output='{"condition": "sunny"}'),
        ),
        interruptions=(1200,),
        windows=(("resp_t", 300), ("resp_1", 420), ("resp_2", 610)),
        first_audio_ms=((1, 800.0), (2, 500.0)),
    )
