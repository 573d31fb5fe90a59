"""The HTML report opened in a real headless Chromium: every turn in the DOM, both audio elements load, a
click seeks both tracks, no JavaScript error; a screenshot is left in build/test-artifacts.

Without Chromium the test skips, except under ``CI=true``, where it fails (``.ci/run`` installs it).
"""

from __future__ import annotations

import base64
import os
import re
import time
from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.projections import timeline
from pipeline.projections.recording import Recording
from tests.projections.browser import Chromium, artefact_dir, find_chromium
from tests.projections.test_read_models import make_call


def chromium_or_skip() -> str:
    binary = find_chromium()
    if binary is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is not installed (CI installs Debian's chromium in .ci/run)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return binary


def check_report_in_chromium(journal: Path, tmp_path: Path, name: str) -> None:
    binary = chromium_or_skip()
    html = tmp_path / f"{name}.html"
    assert main(["report", str(journal), "-o", str(html)]) == 0
    page_text = html.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)|url\(|@import""", page_text)  # nothing fetched
    expected = timeline.fold(Recording.load(journal))
    users = expected.user_turns()
    assistants = expected.of_kind("assistant")

    browser = Chromium(binary, tmp_path / "profile")
    try:
        page = browser.page()
        try:
            for domain in ("Page", "Runtime", "Log"):
                page.call(f"{domain}.enable")
            page.call("Page.navigate", url=html.as_uri())
            page.wait_for("Page.loadEventFired", timeout_s=60)

            # both audio elements load (metadata at least) without error
            deadline = time.monotonic() + 30
            state = None
            while time.monotonic() < deadline:
                state = page.evaluate(
                    "Array.from(document.querySelectorAll('audio')).map(a => "
                    "({id: a.id, ready: a.readyState, error: a.error && a.error.code, duration: a.duration}))"
                )
                if len(state) == 2 and all(a["ready"] >= 1 or a["error"] for a in state):
                    break
                time.sleep(0.2)
            assert state is not None and [a["id"] for a in state] == ["audio-user", "audio-assistant"], state
            assert all(a["ready"] >= 1 and a["error"] is None for a in state), state
            assert all(a["duration"] > 0 for a in state), state

            # every turn is in the DOM, with its text
            dom_users = page.evaluate(
                "Array.from(document.querySelectorAll('tr[data-user-turn]')).map(r => "
                "[Number(r.dataset.userTurn), r.dataset.item, r.cells[2].firstChild.textContent])"
            )
            assert dom_users == [[u.data["number"], u.item_id, u.text] for u in users]
            dom_items = page.evaluate("Array.from(document.querySelectorAll('tr[data-kind=assistant]')).map(r => r.dataset.item)")
            assert dom_items == [a.item_id for a in assistants]
            assert page.evaluate("document.querySelectorAll('svg.chart').length") == 2
            assert page.evaluate("document.getElementById('ledger').textContent.includes('total')")

            # clicking a turn seeks both tracks to it
            target = users[-1].data["number"]
            seek = page.evaluate(f"(() => {{ const r = document.querySelector('tr[data-user-turn=\"{target}\"]'); r.click(); "
                                 "return parseFloat(r.dataset.seek); })()")  # fmt: skip
            time.sleep(0.3)
            times = page.evaluate("Array.from(document.querySelectorAll('audio')).map(a => a.currentTime)")
            assert all(abs(t - seek) < 0.5 for t in times), (seek, times)
            assert page.evaluate("document.querySelector('tr.current').dataset.userTurn") == str(target)

            page.drain()
            assert page.errors() == []
            shot = page.call("Page.captureScreenshot", format="png")
            picture = base64.b64decode(shot["data"])
            assert picture[:8] == b"\x89PNG\r\n\x1a\n"
            (artefact_dir() / f"report-{name}.png").write_bytes(picture)
        finally:
            page.close()
    finally:
        browser.close()


def test_report_opens_in_headless_chromium(tmp_path: Path) -> None:
    journal = make_call(tmp_path / "call.rtpj", jitter_ms=30)
    check_report_in_chromium(journal, tmp_path, "synthetic")
