from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.bus import Bus
from pipeline.clock import TrioClock
from pipeline.journal import JournalWriter, load_envelopes, make_header
from pipeline.replay import replay_actor
from pipeline.runtime import ActorContext, ActorSpec, run_core, run_session
from tests.pipeline.journal_layout import reframe
from tests.toy import DOUBLER, DoublerCore, ToyDoubled, ToyNumber


async def record_session(path: Path) -> None:
    async def source(ctx: ActorContext) -> None:
        with ctx.inbox:
            for n in [3, 1, 4, 1, 5, 9, 2, 6]:
                await ctx.publish(ToyNumber(n=n))

    async def doubler(ctx: ActorContext) -> None:
        await run_core(ctx, DoublerCore(factor=3))

    bus = Bus(clock=TrioClock(), journal=JournalWriter(path, make_header({"factor": 3})))
    await run_session(
        [ActorSpec(name="source", consumes=(), shell=source), ActorSpec(name="doubler", consumes={ToyNumber}, shell=doubler)],
        bus=bus,
        end_when=["source"],
    )


async def test_recorded_core_replays_with_zero_divergences(tmp_path: Path) -> None:
    path = tmp_path / "r.rtpj"
    await record_session(path)
    journal, envs = load_envelopes(path)
    report = replay_actor(envs, DOUBLER, journal.header.config)  # type: ignore[union-attr]
    assert (report.fed, report.compared, report.divergences, report.first) == (8, 8, 0, None)


def tamper(path: Path, target_seq: int) -> None:
    """Rewrite one ToyDoubled record with a different total, re-framed with a valid checksum."""

    def edit(record: list[Any]) -> list[Any]:
        if record[0] == target_seq:
            record[6]["running_total"] += 1
        return record

    path.write_bytes(reframe(path.read_bytes(), edit))


async def test_tampered_output_is_reported_at_its_exact_seq(tmp_path: Path) -> None:
    path = tmp_path / "t.rtpj"
    await record_session(path)
    _, envs = load_envelopes(path)
    outputs = [e for e in envs if isinstance(e.event, ToyDoubled)]
    victim = outputs[5]
    tamper(path, victim.seq)
    journal, envs = load_envelopes(path)
    report = replay_actor(envs, DOUBLER, journal.header.config)  # type: ignore[union-attr]
    assert report.divergences >= 1
    assert report.first is not None
    assert report.first.seq == victim.seq
    assert report.first.actor == "doubler"
    assert report.first.input_seq == victim.cause
    assert report.first.got == victim.event
    assert report.first.expected == ToyDoubled(n=victim.event.n, running_total=victim.event.running_total + 1)  # type: ignore[attr-defined]


async def test_wrong_config_diverges_from_the_first_output(tmp_path: Path) -> None:
    path = tmp_path / "c.rtpj"
    await record_session(path)
    _, envs = load_envelopes(path)
    report = replay_actor(envs, DOUBLER, {"factor": 2})
    assert report.divergences == 8
    assert report.first is not None and report.first.expected == ToyDoubled(n=9, running_total=9)



async def test_a_truncated_journal_does_not_count_outputs_lost_past_its_end(tmp_path: Path) -> None:
    path = tmp_path / "k.rtpj"
    await record_session(path)
    _, envs = load_envelopes(path)
    last_output = max(e.seq for e in envs if isinstance(e.event, ToyDoubled))
    kept = [e for e in envs if e.seq < last_output]  # the writer died just before the last output
    closed = replay_actor(kept, DOUBLER, {"factor": 3})
    assert (closed.divergences, closed.past_end) == (1, 0)  # in a closed journal a missing output diverges
    torn = replay_actor(kept, DOUBLER, {"factor": 3}, truncated=True)
    assert (torn.divergences, torn.past_end, torn.first) == (0, 1, None)


async def test_an_output_missing_before_the_end_still_diverges_in_a_truncated_journal(tmp_path: Path) -> None:
    path = tmp_path / "m.rtpj"
    await record_session(path)
    _, envs = load_envelopes(path)
    outputs = [e for e in envs if isinstance(e.event, ToyDoubled)]
    kept = [e for e in envs if e.seq != outputs[2].seq]  # a later output is recorded: this one cannot be past the end
    report = replay_actor(kept, DOUBLER, {"factor": 3}, truncated=True)
    assert report.divergences == 1 and report.past_end == 0
    assert report.first is not None and report.first.expected is None and report.first.got == outputs[2].event
