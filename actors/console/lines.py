"""The shape of a console line, shared by ``format.py`` and ``connection.py``: ``[label    ] text``.

A stable 9-character label, text on one line, counts pluralised (``1 response``, ``2 responses``).
"""

from __future__ import annotations


def labelled(label: str, text: str) -> str:
    return f"[{label:<9}] {text}"


def label_of(line: str) -> str:
    """The label of a line made by ``labelled`` (for styling)."""
    return line[1:10].strip() if line.startswith("[") and line[10:11] == "]" else ""


def one_line(text: str) -> str:
    return " ".join(text.split())


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """``1 response``, ``2 responses``, ``0 replies`` (``plural_form`` for irregular words)."""
    word = singular if count == 1 else (plural_form if plural_form is not None else singular + "s")
    return f"{count} {word}"
