"""Remove secrets from a configuration before it is written anywhere (journal header, trace, log).

A key whose name says it holds a secret has its value replaced; the secret values found that way are also
scrubbed from every other string in the configuration (an API key inside a URL or a header line).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

REDACTED = "<redacted>"
_SECRET_KEY = re.compile(r"(api[_-]?key|authorization|secret|password|token|bearer|cookie)", re.IGNORECASE)
# values that look like credentials even under an innocent key
_SECRET_VALUE = re.compile(r"(sk-[A-Za-z0-9_\-]{8,}|Bearer\s+\S+|ek_[A-Za-z0-9_\-]{8,})")


def _collect(value: Any, found: set[str], key: str = "") -> None:
    if isinstance(value, Mapping):
        for k, v in value.items():
            _collect(v, found, str(k))
    elif isinstance(value, list | tuple):
        for v in value:
            _collect(v, found, key)
    elif isinstance(value, str) and key and _SECRET_KEY.search(key) and value:
        found.add(value)
        # "Bearer sk-..." also hides the bare token
        parts = value.split()
        if len(parts) == 2:
            found.add(parts[1])


def _scrub(value: Any, secrets: list[str], key: str = "") -> Any:
    if isinstance(value, Mapping):
        return {str(k): _scrub(v, secrets, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v, secrets, key) for v in value]
    if isinstance(value, str):
        if key and _SECRET_KEY.search(key) and value:
            return REDACTED
        for secret in secrets:
            if secret in value:
                value = value.replace(secret, REDACTED)
        return _SECRET_VALUE.sub(REDACTED, value)
    if isinstance(value, bytes) and key and _SECRET_KEY.search(key):
        return REDACTED
    return value


def redact(config: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of ``config`` with secret values replaced by ``<redacted>`` wherever they appear."""
    found: set[str] = set()
    _collect(config, found)
    secrets = sorted((s for s in found if len(s) >= 4), key=len, reverse=True)
    scrubbed: dict[str, Any] = _scrub(config, secrets)
    return scrubbed
