"""Deterministic replay: re-run cores, not the scheduler.

For each actor, feed a fresh core the recorded envelopes it consumes, in ``seq`` order, and compare what
it returns with what the journal says that actor emitted in reaction to each input (its non-edge records
whose ``cause`` is that input). The first difference is reported with the seq of the recorded output, the
actor, what was expected and what the core produced. Replay performs no I/O beyond reading the journal.

A journal whose writer died (``truncated``: a torn tail or no close marker) can end between an input and the
outputs it caused. An actor publishes the outputs of its inputs in order, so an output the core produces for
an input at or after the cause of that actor's last recorded output may simply lie past the end: it is
counted as ``past_end`` (not verified), not as a divergence. Anything missing before that point is one.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from events.base import Event
from events.envelope import Envelope
from pipeline.runtime import CoreFactory, event_types


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
        if type(env.event) not in actor.consumes:
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
