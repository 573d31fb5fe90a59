"""Replaying a journal as a stream, every actor in one pass (issue 11), gives exactly what replaying each
actor over the envelopes in memory gives: the same counts, the same first divergence, the same outputs counted
past the end of a truncated journal, whatever was lost, tampered with or added."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st

from events.base import Event, register
from events.envelope import Envelope
from pipeline.replay import Replayable, SeqSet, StreamReplay, replay
from tests.toy import DOUBLER, DoublerCore, ToyDoubled, ToyNumber


@register
@attrs.frozen(kw_only=True)
class ToyPair(Event):
    TAG: ClassVar[str] = "test.stream.pair"
    n: int
    half: int


class PairCore:
    """Every third number: two outputs (several outputs for one input, and inputs with none)."""

    def __init__(self) -> None:
        self.seen = 0

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> PairCore:
        return cls()

    def handle(self, env: Envelope) -> Sequence[Event]:
        if not isinstance(env.event, ToyNumber):
            return []
        self.seen += 1
        if self.seen % 3:
            return []
        return [ToyPair(n=env.event.n, half=0), ToyPair(n=env.event.n, half=1)]


PAIR = Replayable(name="pair", consumes={ToyNumber}, make_core=PairCore.from_config)
ACTORS = [DOUBLER, PAIR]


@st.composite
def journals(draw: st.DrawFn) -> tuple[list[Envelope], bool, dict[str, int]]:
    """A recorded session of both actors (outputs published a few records after their input, as the bus
    interleaves them), then damaged: records lost, outputs tampered with, moved to another cause, added."""
    numbers = draw(st.lists(st.integers(0, 9), min_size=0, max_size=14))
    cores: dict[str, DoublerCore | PairCore] = {"doubler": DoublerCore(factor=3), "pair": PairCore()}
    slots: list[tuple[str, Event, int | None]] = []  # (source, event, index of its cause in slots)
    pending: list[tuple[int, str, Event, int]] = []  # (due position, source, event, cause index)
    for n in numbers:
        slots.append(("source", ToyNumber(n=n), None))
        index = len(slots) - 1
        probe = Envelope(seq=index, t_ns=index, source="source", cause=None, event=ToyNumber(n=n))
        for name, core in cores.items():
            for out in core.handle(probe):
                pending.append((index + draw(st.integers(0, 3)), name, out, index))
        for item in sorted((p for p in pending if p[0] <= index), key=lambda p: p[0]):
            slots.append((item[1], item[2], item[3]))
        pending = [p for p in pending if p[0] > index]
    slots += [(p[1], p[2], p[3]) for p in sorted(pending, key=lambda p: p[0])]
    envs = [Envelope(seq=i, t_ns=i * 1000, source=src, cause=cause, event=ev) for i, (src, ev, cause) in enumerate(slots)]
    for _ in range(draw(st.integers(0, 4))):
        if not envs:
            break
        at = draw(st.integers(0, len(envs) - 1))
        env = envs[at]
        kind = draw(st.sampled_from(["lose", "tamper", "recause", "add", "cut"]))
        if kind == "lose":
            del envs[at]
        elif kind == "tamper" and isinstance(env.event, ToyDoubled):
            envs[at] = attrs.evolve(env, event=attrs.evolve(env.event, running_total=env.event.running_total + 1))
        elif kind == "recause" and env.cause is not None:
            envs[at] = attrs.evolve(env, cause=draw(st.integers(0, len(slots) + 2)))
        elif kind == "add":
            source = draw(st.sampled_from(["doubler", "pair"]))
            event: Event = ToyDoubled(n=1, running_total=1) if source == "doubler" else ToyPair(n=1, half=0)
            cause = draw(st.integers(0, len(slots)))
            # an unused seq between its neighbours keeps the journal in seq order
            low = envs[at - 1].seq if at else -1
            if env.seq - low > 1:
                envs.insert(at, Envelope(seq=env.seq - 1, t_ns=0, source=source, cause=cause, event=event))
        elif kind == "cut":
            del envs[at:]
    config = {"factor": draw(st.sampled_from([3, 3, 3, 2]))}
    return envs, draw(st.booleans()), config


@settings(max_examples=400, deadline=None)
@given(journals())
def test_one_streaming_pass_reports_what_replaying_each_actor_in_memory_reports(
    case: tuple[list[Envelope], bool, dict[str, int]],
) -> None:
    envs, truncated, config = case
    expected = replay(envs, ACTORS, config, truncated=truncated)
    stream = StreamReplay(ACTORS, config)
    for env in envs:
        stream.feed(env)
    assert stream.ordered
    assert stream.finish(truncated=truncated) == expected


def test_records_out_of_seq_order_are_noticed() -> None:
    a = Envelope(seq=5, t_ns=0, source="source", cause=None, event=ToyNumber(n=1))
    b = Envelope(seq=4, t_ns=0, source="source", cause=None, event=ToyNumber(n=2))
    stream = StreamReplay(ACTORS, {})
    stream.feed(a)
    stream.feed(b)
    assert not stream.ordered


def test_seq_sets_hold_small_and_odd_seqs() -> None:
    seqs = SeqSet()
    for seq in (0, 7, 8, 1000, 2**40, -3):
        seqs.add(seq)
    assert [s in seqs for s in (0, 7, 8, 1000, 2**40, -3)] == [True] * 6
    assert [s in seqs for s in (1, 9, 999, 1001, 2**40 + 1, -2, 10**9)] == [False] * 7
