"""One re-seed of a new connection's conversation (the conductor's; pure, no I/O).

The plan's items are created in order with ``conversation.item.create``: the first at ``"root"``, each next
one after the previous id, every item with the id it had before (so transcripts, tool outputs and summaries
that name them still apply). The server acknowledges each with ``conversation.item.added`` or refuses it with
an ``error`` naming the command's ``event_id``; once every item is accounted for (or the bound
``RESEED_TIMEOUT_MS`` passes: whatever was not acknowledged then counts as missing) the re-seed is over:
``ConversationReseeded(restored=not missing)``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs

from events import commands
from events.commands import ClientCommand
from events.connection import ConversationReseeded, ReseedPlanned
from pipeline.projections.seed import SeedPlan, summary_number

RESEED_TIMEOUT_MS = 15_000  # from Reconnected: the new session configured and every seed item acknowledged


def resumed_plan(items: Sequence[Mapping[str, Any]]) -> SeedPlan:
    """The plan of a resumed call's seed (config ``seed``: the items ``pipeline.resume`` built): its root
    summary and the user turns sent as audio, read off the items."""
    summary_id = None
    if items and items[0].get("role") == "system" and summary_number(str(items[0].get("id", ""))) is not None:
        summary_id = str(items[0]["id"])
    audio = tuple(
        str(item["id"])
        for item in items
        if any(isinstance(part, Mapping) and part.get("type") == "input_audio" for part in item.get("content") or ())
    )
    return SeedPlan(items=tuple(dict(item) for item in items), summary_id=summary_id, audio_items=audio)


@attrs.define
class Seeding:
    """A re-seed in progress: which command created which item, and what the server said so far."""

    items: tuple[str, ...]
    summary_id: str | None
    audio_items: tuple[str, ...]
    resumed_from: str | None
    recycle: bool
    commands: dict[str, str] = attrs.Factory(dict)  # event_id -> item id
    acknowledged: set[str] = attrs.Factory(set)
    refused: set[str] = attrs.Factory(set)

    @classmethod
    def plan(
        cls, plan: SeedPlan, next_id: Callable[[], str], *, resumed_from: str | None = None, recycle: bool = False
    ) -> tuple[Seeding, list[ClientCommand]]:
        """The seeding and its commands (``previous_item_id``: ``"root"`` first, then the previous id)."""
        seeding = cls(
            items=plan.ids,
            summary_id=plan.summary_id,
            audio_items=plan.audio_items,
            resumed_from=resumed_from,
            recycle=recycle,
        )
        out: list[ClientCommand] = []
        previous = "root"
        for item in plan.items:
            event_id = next_id()
            out.append(commands.item_create(event_id, _plain(item), previous_item_id=previous))
            seeding.commands[event_id] = str(item["id"])
            previous = str(item["id"])
        return seeding, out

    def planned(self) -> ReseedPlanned:
        return ReseedPlanned(
            items=self.items,
            summary_id=self.summary_id,
            audio_items=self.audio_items,
            resumed_from=self.resumed_from,
            recycle=self.recycle,
        )

    def acknowledge(self, item_id: str) -> bool:
        """The server added ``item_id``; True when it is one of ours."""
        if item_id in self.items and item_id not in self.refused:
            self.acknowledged.add(item_id)
            return True
        return False

    def refuse(self, event_id: str | None) -> bool:
        """The server refused the command ``event_id``; True when it is one of ours."""
        item_id = self.commands.get(event_id or "")
        if item_id is None or item_id in self.acknowledged:
            return False
        self.refused.add(item_id)
        return True

    @property
    def done(self) -> bool:
        return len(self.acknowledged) + len(self.refused) >= len(self.items)

    def result(self) -> ConversationReseeded:
        """What the server holds now (anything not acknowledged is missing)."""
        missing = tuple(i for i in self.items if i not in self.acknowledged)
        return ConversationReseeded(
            items=self.items,
            summary_id=self.summary_id,
            audio_items=self.audio_items,
            restored=not missing,
            missing=missing,
            resumed_from=self.resumed_from,
            recycle=self.recycle,
        )


def _plain(item: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON-ready copy (the command's body is frozen by the event)."""
    return {k: [dict(p) if isinstance(p, Mapping) else p for p in v] if isinstance(v, list | tuple) else v for k, v in item.items()}
