"""A scenario's verdict, its one-line report, and the verdicts of a file as JUnit XML (for CI)."""

from __future__ import annotations

import enum
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

import attrs


class Status(enum.Enum):
    PASS = "PASS"
    FAIL = "FAIL"
    XFAIL = "XFAIL"  # failed, and the scenario says why it is expected to (not counted as a failure)
    XPASS = "XPASS"  # passed although marked xfail: the mark can go (not counted as a failure)
    SKIP = "SKIP"  # not run (e.g. it needs the embedded server and eval runs against OpenAI)

    @property
    def failed(self) -> bool:
        return self is Status.FAIL


@attrs.frozen(kw_only=True)
class Verdict:
    file: Path
    name: str
    status: Status
    failures: tuple[str, ...] = ()  # every expectation that did not hold (or why the run broke)
    journal: Path | None = None
    seconds: float = 0.0
    note: str | None = None  # the xfail reason, or why it was skipped

    @classmethod
    def of(cls, file: Path, name: str, failures: Sequence[str], *, xfail: str | None, journal: Path | None, seconds: float) -> Verdict:
        if xfail is not None:
            status = Status.XFAIL if failures else Status.XPASS
        else:
            status = Status.FAIL if failures else Status.PASS
        return cls(file=file, name=name, status=status, failures=tuple(failures), journal=journal, seconds=seconds, note=xfail)

    def line(self) -> str:
        """``FAIL  weather  tool get_weather(location = "Paris"): ...  (journal: ...)``"""
        parts = [f"{self.status.value:<5}", self.name]
        if self.failures:
            more = f" (and {len(self.failures) - 1} more)" if len(self.failures) > 1 else ""
            parts.append(self.failures[0] + more)
        if self.status is Status.XFAIL:
            parts.append(f"[expected to fail: {self.note}]")
        elif self.status is Status.XPASS:
            parts.append(f"[passed although marked xfail ({self.note}): remove the mark]")
        elif self.status is Status.SKIP:
            parts.append(f"[skipped: {self.note}]")
        text = "  ".join(parts)
        return text + (f"  (journal: {self.journal})" if self.journal is not None else "")


def tally(verdicts: Sequence[Verdict], seconds: float) -> str:
    """``5 passed, 1 failed, 1 xfailed in 12.3 s``"""
    names = {Status.PASS: "passed", Status.FAIL: "failed", Status.XFAIL: "xfailed", Status.XPASS: "xpassed", Status.SKIP: "skipped"}
    counts = [f"{sum(v.status is s for v in verdicts)} {label}" for s, label in names.items()
              if s in (Status.PASS, Status.FAIL) or any(v.status is s for v in verdicts)]  # fmt: skip
    return f"{', '.join(counts)} in {seconds:.1f} s"


def junit_xml(verdicts: Sequence[Verdict], seconds: float) -> bytes:
    """One ``<testsuite>`` per scenario file inside ``<testsuites>``; a failed scenario has a ``<failure>``
    (its first failed expectation as the message, all of them in the text), xfailed and skipped ones a
    ``<skipped>``; the journal's path is in ``<system-out>``."""
    root = ET.Element("testsuites", name="rtpipe eval", tests=str(len(verdicts)),
                      failures=str(sum(v.status.failed for v in verdicts)), errors="0", time=f"{seconds:.3f}")  # fmt: skip
    files: dict[Path, list[Verdict]] = {}
    for verdict in verdicts:
        files.setdefault(verdict.file, []).append(verdict)
    for file, group in files.items():
        suite = ET.SubElement(root, "testsuite", name=file.stem, file=str(file), tests=str(len(group)),
                              failures=str(sum(v.status.failed for v in group)), errors="0",
                              skipped=str(sum(v.status in (Status.XFAIL, Status.SKIP) for v in group)),
                              time=f"{sum(v.seconds for v in group):.3f}")  # fmt: skip
        for v in group:
            case = ET.SubElement(suite, "testcase", classname=f"rtpipe.eval.{file.stem}", name=v.name, file=str(file), time=f"{v.seconds:.3f}")
            if v.status is Status.FAIL:
                failure = ET.SubElement(case, "failure", message=v.failures[0], type="expectation")
                failure.text = "\n".join(v.failures)
            elif v.status in (Status.XFAIL, Status.SKIP):
                reason = f"expected to fail: {v.note}" if v.status is Status.XFAIL else f"skipped: {v.note}"
                skipped = ET.SubElement(case, "skipped", message=reason)
                skipped.text = "\n".join(v.failures) or None
            if v.journal is not None:
                ET.SubElement(case, "system-out").text = f"journal: {v.journal}"
    ET.indent(root)
    data: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return data + b"\n"
