"""Deterministic replay: re-run cores, not the scheduler.

For each actor, feed a fresh core the recorded envelopes it consumes, in ``seq`` order, and compare what
it returns with what the journal says that actor emitted in reaction to each input (its non-edge records
whose ``cause`` is that input). The first difference is reported with the seq of the recorded output, the
actor, what was expected and what the core produced. Replay performs no I/O beyond reading the journal.

A journal whose writer died (``truncated``: a torn tail or no close marker) can end between an input and the
outputs it caused. An actor publishes the outputs of its inputs in order, so an output the core produces for
an input at or after the cause of that actor's last recorded output may simply lie past the end: it is
counted as ``past_end`` (not verified), not as a divergence. Anything missing before that point is one.

Two ways in, one verdict: ``replay``/``replay_actor`` take the envelopes in memory (actor tests);
``StreamReplay`` takes a journal record by record, every actor at once, in one pass and flat memory (``rtpipe
replay``): each core's outputs wait only until the journal's record of them arrives (a few records later), and
the first divergence is the one ``replay_actor`` would report. It needs records in increasing ``seq`` order, as
the bus writes them; ``StreamReplay.ordered`` says whether they were (if not, replay them in memory).

Drops. A droppable event (audio) that the bus dropped for a subscriber whose inbox was full never reached that
actor: the journal says so right after it (``bus.dropped``, naming the subscriber and the dropped seq), and
replay does not feed it to that actor either (a core whose outputs depend on the audio it got, like the
uploader's held audio or the conductor's re-seed audio, then replays exactly).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from events.base import Event
from events.envelope import Envelope
from events.runtime import InboxDropped

if TYPE_CHECKING:  # not imported at run time: replay needs no trio
    from pipeline.runtime import CoreFactory


def event_types(types: Iterable[type[Event]]) -> frozenset[type[Event]]:
    """attrs converter: the set of event classes an actor consumes."""
    return frozenset(types)


@attrs.frozen(kw_only=True)
class Replayable:
    """An actor as replay sees it: what it consumes and how to build a fresh core from the session config."""

    name: str
    consumes: frozenset[type[Event]] = attrs.field(converter=event_types)
    make_core: CoreFactory


@attrs.frozen(kw_only=True)
class Divergence:
    seq: int  # the recorded output that differs (or, for a missing record, the input that caused the output)
    actor: str
    input_seq: int | None
    expected: Event | None
    got: Event | None

    def describe(self) -> str:
        return (
            f"seq {self.seq}, actor {self.actor} (input seq {self.input_seq}): "
            f"expected {self.expected!r}, got {self.got!r}"
        )


@attrs.frozen(kw_only=True)
class ActorReplay:
    actor: str
    fed: int
    compared: int
    divergences: int
    first: Divergence | None
    past_end: int = 0  # outputs the core produced that a truncated journal may have lost past its end

    @property
    def ok(self) -> bool:
        return self.divergences == 0


def recorded_outputs(envelopes: Sequence[Envelope], actor: str) -> dict[int, list[Envelope]]:
    """The actor's core outputs in the journal, grouped by the input that caused them."""
    outputs: dict[int, list[Envelope]] = defaultdict(list)
    for env in envelopes:
        if env.source == actor and env.cause is not None and not env.event.EDGE:
            outputs[env.cause].append(env)
    return outputs


def replay_actor(
    envelopes: Sequence[Envelope], actor: Replayable, config: Mapping[str, Any], *, truncated: bool = False
) -> ActorReplay:
    recorded = recorded_outputs(envelopes, actor.name)
    dropped = {
        e.event.dropped_seq for e in envelopes if isinstance(e.event, InboxDropped) and e.event.subscriber == actor.name
    }
    # outputs for inputs from here on may lie past the end of a truncated journal
    last_cause = max(recorded, default=-1)
    core = actor.make_core(config)
    fed = compared = divergences = past_end = 0
    first: Divergence | None = None

    def diverge(d: Divergence) -> None:
        nonlocal divergences, first
        divergences += 1
        if first is None:
            first = d

    for env in sorted(envelopes, key=lambda e: e.seq):
        if type(env.event) not in actor.consumes or env.seq in dropped:
            continue
        fed += 1
        got = list(core.handle(env))
        expected = recorded.pop(env.seq, [])
        for i in range(max(len(got), len(expected))):
            exp = expected[i] if i < len(expected) else None
            out = got[i] if i < len(got) else None
            if exp is None and truncated and env.seq >= last_cause:
                past_end += 1
                continue
            compared += 1
            if exp is None or out is None or exp.event != out:
                diverge(
                    Divergence(
                        seq=exp.seq if exp is not None else env.seq,
                        actor=actor.name,
                        input_seq=env.seq,
                        expected=exp.event if exp is not None else None,
                        got=out,
                    )
                )
    # recorded outputs whose cause was never fed to this actor: the core could not have produced them
    for cause, leftovers in sorted(recorded.items()):
        for exp in leftovers:
            compared += 1
            diverge(Divergence(seq=exp.seq, actor=actor.name, input_seq=cause, expected=exp.event, got=None))
    return ActorReplay(
        actor=actor.name, fed=fed, compared=compared, divergences=divergences, first=first, past_end=past_end
    )


def replay(
    envelopes: Sequence[Envelope],
    actors: Sequence[Replayable],
    config: Mapping[str, Any],
    *,
    truncated: bool = False,
) -> list[ActorReplay]:
    return [replay_actor(envelopes, actor, config, truncated=truncated) for actor in actors]


# -- streaming ---------------------------------------------------------------------------------------------------


class SeqSet:
    """A set of record seqs, as a bitmap while they are small non-negative ints (an hour is ~20 KB)."""

    LIMIT = 1 << 31

    def __init__(self) -> None:
        self.bits = bytearray()
        self._other: set[int] = set()

    def add(self, seq: int) -> None:
        byte = seq >> 3
        bits = self.bits
        if 0 <= byte < len(bits):
            bits[byte] |= 1 << (seq & 7)
        elif 0 <= seq < self.LIMIT:
            bits.extend(bytes(max(byte + 1 - len(bits), len(bits))))
            bits[byte] |= 1 << (seq & 7)
        else:
            self._other.add(seq)

    def __contains__(self, seq: int) -> bool:
        if 0 <= seq < self.LIMIT:
            byte = seq >> 3
            return byte < len(self.bits) and bool(self.bits[byte] & (1 << (seq & 7)))
        return seq in self._other


_FED, _LEFTOVER = 0, 1  # divergences of fed inputs come first (by input seq), then outputs never caused
_EXTRA = 1 << 40  # an expected output beyond what the core produced (after every pairwise comparison)


class _ActorStream:
    """One actor's replay, fed record by record (see ``StreamReplay``)."""

    def __init__(self, actor: Replayable, config: Mapping[str, Any]) -> None:
        self.name = actor.name
        self.consumes = actor.consumes
        self.core = actor.make_core(config)
        self.fed = self.compared = self.divergences = 0
        self.first: tuple[tuple[int, int, int], Divergence] | None = None
        self.last_cause = -1
        self.fed_seqs = SeqSet()
        # input seq -> [outputs the core produced, how many the journal has matched so far]
        self.pending: dict[int, tuple[list[Event], list[int]]] = {}
        self.early: dict[int, list[Envelope]] = {}  # recorded outputs whose input comes later (not in a real journal)
        self.extras = 0

    def diverge(self, key: tuple[int, int, int], d: Divergence) -> None:
        self.divergences += 1
        if self.first is None or key < self.first[0]:
            self.first = (key, d)

    def recorded(self, env: Envelope, position: int) -> None:
        """A recorded output of this actor (``env.cause`` is its input)."""
        cause = env.cause
        assert cause is not None
        if cause > self.last_cause:
            self.last_cause = cause
        entry = self.pending.get(cause)
        if entry is not None:
            got, matched = entry
            index = matched[0]
            matched[0] += 1
            if matched[0] >= len(got):
                del self.pending[cause]
            self.compared += 1
            if env.event != got[index]:
                self.diverge((_FED, cause, index), Divergence(seq=env.seq, actor=self.name, input_seq=cause, expected=env.event, got=got[index]))
        elif cause in self.fed_seqs:  # its input was fed and the core produced no more outputs for it
            self.extras += 1
            self.compared += 1
            self.diverge((_FED, cause, _EXTRA + self.extras), Divergence(seq=env.seq, actor=self.name, input_seq=cause, expected=env.event, got=None))
        elif cause < position:  # its input has gone by without being an input of this actor: never fed
            self.extras += 1
            self.compared += 1
            self.diverge((_LEFTOVER, cause, self.extras), Divergence(seq=env.seq, actor=self.name, input_seq=cause, expected=env.event, got=None))
        else:
            self.early.setdefault(cause, []).append(env)

    def feed(self, env: Envelope) -> None:
        """An input of this actor: run the core, and compare with what was already recorded for it (if any)."""
        self.fed += 1
        seq = env.seq
        self.fed_seqs.add(seq)
        got = self.core.handle(env)
        expected = self.early.pop(seq, ()) if self.early else ()
        for i, exp in enumerate(expected):
            out = got[i] if i < len(got) else None
            self.compared += 1
            if out is None or exp.event != out:
                self.diverge((_FED, seq, i), Divergence(seq=exp.seq, actor=self.name, input_seq=seq, expected=exp.event, got=out))
        if len(got) > len(expected):
            self.pending[seq] = (list(got), [len(expected)])

    def finish(self, truncated: bool) -> ActorReplay:
        past_end = 0
        for seq, (got, matched) in sorted(self.pending.items()):
            for i in range(matched[0], len(got)):
                if truncated and seq >= self.last_cause:
                    past_end += 1
                    continue
                self.compared += 1
                self.diverge((_FED, seq, i), Divergence(seq=seq, actor=self.name, input_seq=seq, expected=None, got=got[i]))
        self.pending.clear()
        for cause, leftovers in sorted(self.early.items()):
            for exp in leftovers:
                self.extras += 1
                self.compared += 1
                self.diverge((_LEFTOVER, cause, self.extras), Divergence(seq=exp.seq, actor=self.name, input_seq=cause, expected=exp.event, got=None))
        self.early.clear()
        first = self.first[1] if self.first is not None else None
        return ActorReplay(actor=self.name, fed=self.fed, compared=self.compared, divergences=self.divergences, first=first, past_end=past_end)


class StreamReplay:
    """Replay several actors in one pass over a journal's envelopes, in ``seq`` order.

    ``feed(env)`` every envelope of the journal, in file order; ``finish(truncated)`` gives one ``ActorReplay``
    per actor, equal to what ``replay_actor`` reports for the same envelopes. Memory holds each core's state and the outputs not yet matched by the journal's record of
    them (normally a few), whatever the journal's length.
    """

    def __init__(self, actors: Sequence[Replayable], config: Mapping[str, Any]) -> None:
        self.actors = [_ActorStream(actor, config) for actor in actors]
        self._by_name = {a.name: a for a in self.actors}
        self._consumers: dict[type[Event], list[_ActorStream]] = {}
        for a in self.actors:
            for cls in a.consumes:
                self._consumers.setdefault(cls, []).append(a)
        self.ordered = True
        self._last_seq: int | None = None
        # a droppable input waits for the record after it: the bus journals its drops right there
        self._droppable: Envelope | None = None
        self._dropped_for: set[str] = set()

    def feed(self, env: Envelope) -> None:
        seq = env.seq
        if self._last_seq is not None and seq <= self._last_seq:
            self.ordered = False
        self._last_seq = seq
        event = env.event
        if self._droppable is not None:
            if isinstance(event, InboxDropped) and event.dropped_seq == self._droppable.seq:
                self._dropped_for.add(event.subscriber)
            else:
                self._feed_droppable()
        if env.cause is not None and env.source in self._by_name and not event.EDGE:
            self._by_name[env.source].recorded(env, seq)
        consumers = self._consumers.get(type(event))
        if consumers:
            if event.DROPPABLE:
                self._droppable = env
                return
            for actor in consumers:
                actor.feed(env)

    def _feed_droppable(self) -> None:
        env, self._droppable = self._droppable, None
        assert env is not None
        skip, self._dropped_for = self._dropped_for, set()
        for actor in self._consumers.get(type(env.event), ()):
            if actor.name not in skip:
                actor.feed(env)

    def feed_all(self, envelopes: Iterable[Envelope]) -> None:
        for env in envelopes:
            self.feed(env)

    def finish(self, *, truncated: bool = False) -> list[ActorReplay]:
        if self._droppable is not None:
            self._feed_droppable()
        return [a.finish(truncated) for a in self.actors]
