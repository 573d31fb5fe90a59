"""The default conversation: an ordered list of items with the real service's edit semantics.

`insert` appends (no `previous_item_id`, or `""`), inserts at the head (`"root"`) or after an existing id,
and reports the actual predecessor (null at the head) for `conversation.item.added/done`. Items keep the
server-side extras the events do not show: the 24 kHz PCM of audio content (returned only by `retrieve`),
what the server "heard" in user audio (the brain's input, even when transcription is off), and the
transcript once transcription delivered it. Truncation cuts assistant audio and the transcript with it.
"""

from __future__ import annotations

import base64
import binascii
import copy
from collections.abc import Callable
from typing import Any, Final

import attrs

from pipeline.server.audio_format import BYTES_PER_SECOND, decode_input, encode_output, pcm_ms
from pipeline.server.errors import ClientError, invalid_value, string_too_long

MAX_ITEM_ID: Final = 32  # "Invalid 'item.id': string too long" above 32 characters [OBS]


@attrs.define(kw_only=True)
class StoredItem:
    """One conversation item: its public JSON shape plus the audio and hearing behind it."""

    data: dict[str, Any]
    pcm: bytes = b""  # 24 kHz PCM16 of the item's audio content (user input or assistant output)
    heard: str | None = None  # what ASR made of user audio (None until known)
    planned_transcript: str = ""  # assistant: the full text the audio speaks, for truncation

    @property
    def id(self) -> str:
        return str(self.data["id"])

    @property
    def audio_ms(self) -> int:
        return pcm_ms(self.pcm)

    def public(self, *, with_audio: bool = False, fmt_type: str = "audio/pcm") -> dict[str, Any]:
        """The item as events show it; `with_audio` adds base64 audio (only `retrieve` does)."""
        shown = copy.deepcopy(self.data)
        if with_audio and self.pcm:
            for part in shown.get("content", []):
                if part.get("type") in ("input_audio", "output_audio"):
                    part["audio"] = base64.b64encode(encode_output(self.pcm, fmt_type)).decode()
        return shown

    def text(self) -> str:
        """Everything said in the item, as text (for the brain and the summary)."""
        data = self.data
        if data["type"] == "function_call":
            return f"{data.get('name', '')}({data.get('arguments', '')})"
        if data["type"] == "function_call_output":
            return str(data.get("output", ""))
        pieces = []
        for part in data.get("content", []):
            kind = part.get("type")
            if kind in ("input_text", "output_text", "text"):
                pieces.append(part.get("text") or "")
            elif kind == "input_audio":
                pieces.append(part.get("transcript") or self.heard or "")
            elif kind == "output_audio":
                pieces.append(part.get("transcript") or "")
        return " ".join(p for p in pieces if p)


class Conversation:
    """Ordered items of the default conversation."""

    def __init__(self) -> None:
        self._items: list[StoredItem] = []

    def __iter__(self) -> Any:
        return iter(list(self._items))

    def __len__(self) -> int:
        return len(self._items)

    def ids(self) -> list[str]:
        return [item.id for item in self._items]

    def get(self, item_id: str) -> StoredItem | None:
        for item in self._items:
            if item.id == item_id:
                return item
        return None

    def in_use(self, some_id: str) -> bool:
        """Whether an item already has this id, or this call_id (a new call must not take an output's call_id)."""
        return any(item.id == some_id or item.data.get("call_id") == some_id for item in self._items)

    def last_id(self) -> str | None:
        return self._items[-1].id if self._items else None

    def check_insert(self, item_id: str, previous_item_id: str | None) -> None:
        """Raise the client error an insert would cause, without inserting."""
        if self.get(item_id) is not None:
            raise ClientError(
                f"Error adding item: an item with id '{item_id}' already exists.",
                code="invalid_value",
                param="item.id",
            )
        if previous_item_id not in (None, "", "root") and self.get(previous_item_id) is None:
            raise ClientError(
                f"Error adding item: the previous item with id '{previous_item_id}' does not exist.",
                code="invalid_value",
                param="previous_item_id",
            )

    def insert(self, item: StoredItem, previous_item_id: str | None = None) -> str | None:
        """Insert and return the id of the item now before it (None at the head)."""
        self.check_insert(item.id, previous_item_id)
        if previous_item_id == "root":
            self._items.insert(0, item)
            return None
        if previous_item_id in (None, ""):
            before = self.last_id()
            self._items.append(item)
            return before
        index = self.ids().index(previous_item_id)
        self._items.insert(index + 1, item)
        return previous_item_id

    def delete(self, item_id: str) -> None:
        item = self.get(item_id)
        if item is None:
            raise ClientError(
                f"Error deleting item: the item with id '{item_id}' does not exist.",
                code="item_delete_invalid_item_id",
            )
        self._items.remove(item)

    def retrieve(self, item_id: str) -> StoredItem:
        item = self.get(item_id)
        if item is None:
            raise ClientError(
                f"Error retrieving item: the item with id '{item_id}' does not exist.",
                code="item_retrieve_invalid_item_id",
            )
        return item

    def truncate(self, item_id: str, content_index: int, audio_end_ms: int) -> StoredItem:
        """Cut an assistant audio item at `audio_end_ms`; its transcript keeps only the words heard."""
        item = self.get(item_id)
        if item is None:
            raise ClientError(f"Item with item_id not found: {item_id}", code="item_truncate_invalid_item_id")
        content = item.data.get("content", [])
        if item.data.get("role") != "assistant" or item.data["type"] != "message":
            raise ClientError(
                "Only assistant messages can be truncated.", code="invalid_value", param="item_id"
            )
        if not 0 <= content_index < len(content) or content[content_index].get("type") != "output_audio":
            raise invalid_value("content_index", content_index)
        if audio_end_ms < 0:
            raise invalid_value("audio_end_ms", audio_end_ms)
        total_ms = item.audio_ms
        if audio_end_ms > total_ms:
            raise ClientError(
                f"Audio content of {total_ms}ms is already shorter than {audio_end_ms}ms",
                code="invalid_value",
                param="audio_end_ms",
            )
        keep_bytes = audio_end_ms * BYTES_PER_SECOND // 1000 // 2 * 2
        transcript = item.planned_transcript or content[content_index].get("transcript") or ""
        content[content_index]["transcript"] = heard_prefix(transcript, audio_end_ms, total_ms)
        item.pcm = item.pcm[:keep_bytes]
        return item


def heard_prefix(transcript: str, played_ms: int, total_ms: int) -> str:
    """The whole words of `transcript` spoken in the first `played_ms` of `total_ms` (by character share)."""
    if total_ms <= 0 or played_ms >= total_ms:
        return transcript
    cut = len(transcript) * played_ms // total_ms
    prefix = transcript[:cut]
    if cut < len(transcript) and not transcript[cut].isspace():
        prefix = prefix.rsplit(" ", 1)[0] if " " in prefix else ""
    return prefix.rstrip()


def stored_from_client(raw_item: dict[str, Any], *, new_id: Callable[[str], str], input_format: str) -> StoredItem:
    """The stored form of an item a client created (already validated against the SDK model)."""
    item_id = raw_item.get("id")
    if isinstance(item_id, str) and len(item_id) > MAX_ITEM_ID:
        raise string_too_long("item.id", item_id, MAX_ITEM_ID)
    data: dict[str, Any] = {"id": item_id or new_id("item"), "object": "realtime.item", "type": raw_item["type"]}
    pcm = b""
    heard: str | None = None
    if raw_item["type"] == "message":
        data["status"] = "completed"
        data["role"] = raw_item["role"]
        content = []
        for index, part in enumerate(raw_item["content"]):
            part = dict(part)
            kind = part.get("type")
            if kind is None:
                raise invalid_value(f"item.content[{index}].type", None, ["input_text", "input_audio", "output_text"])
            if kind == "output_audio":
                raise ClientError("Assistant audio items cannot be created by the client.", code="invalid_value", param=f"item.content[{index}].type")
            if kind == "input_audio":
                audio = part.pop("audio", None)
                if audio:
                    try:
                        pcm += decode_input(base64.b64decode(audio, validate=True), input_format)
                    except (binascii.Error, ValueError):
                        raise invalid_value(f"item.content[{index}].audio", "<audio>") from None
                part.setdefault("transcript", None)
                heard = part["transcript"]
            content.append(part)
        data["content"] = content
    elif raw_item["type"] == "function_call":
        data.update(status="completed", name=raw_item["name"], call_id=raw_item.get("call_id") or new_id("call"), arguments=raw_item["arguments"])
    elif raw_item["type"] == "function_call_output":
        data.update(call_id=raw_item["call_id"], output=raw_item["output"])
    else:
        raise ClientError(f"Items of type '{raw_item['type']}' are not supported by this server.", code="invalid_value", param="item.type")
    return StoredItem(data=data, pcm=pcm, heard=heard if heard is not None or not pcm else None)
