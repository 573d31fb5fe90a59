"""Words of an utterance, for the offline brain and for scoring the recogniser. Pure functions.

- ``words(text)``: lowercase tokens; digits, decimals and clock times ("7:30") stay whole, "$50" is "$ 50".
- ``numbers(tokens)``: every number said, in words or digits ("fifty" 50, "twenty five" 25, "one hundred and
  twenty" 120, "3.5", "a hundred"), with where it stands.
- ``canonical(text)``: the words of a transcript in one spelling, so that "Remind me to call mom in 5 minutes."
  and "remind me to call mom in five minutes" compare equal (numbers as digits, contractions expanded,
  punctuation and case dropped, "$50" as "50 dollars"). Used for word error rates and "heard word for word".
- ``word_errors(reference, hypothesis)``: word-level edit distance on canonical words, and the reference length.
- ``word_groups(text, size)``: ``text`` cut into pieces of ``size`` words that join back to it (streamed deltas).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

import attrs

_UNITS: Final = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen"
).split()
_TENS: Final = "twenty thirty forty fifty sixty seventy eighty ninety".split()
SMALL: Final[dict[str, int]] = {w: i for i, w in enumerate(_UNITS)} | {w: 20 + 10 * i for i, w in enumerate(_TENS)}
_SCALES: Final = {"hundred": 100, "thousand": 1000, "million": 1_000_000}
_CONTRACTIONS: Final = {
    "i'm": "i am", "it's": "it is", "what's": "what is", "that's": "that is", "there's": "there is",
    "let's": "let us", "don't": "do not", "doesn't": "does not", "isn't": "is not", "aren't": "are not",
    "can't": "can not", "cannot": "can not", "won't": "will not", "i'd": "i would", "i'll": "i will",
    "you're": "you are", "we're": "we are", "they're": "they are", "i've": "i have", "how's": "how is",
    "where's": "where is", "who's": "who is", "when's": "when is", "o'clock": "",
}  # fmt: skip
_TOKEN = re.compile(r"\d+(?::\d\d)?(?:\.\d+)?|[$%]|[a-z]+(?:'[a-z]+)*")


def words(text: str) -> list[str]:
    """Lowercase tokens of ``text``: words (with their apostrophes), numbers, "$" and "%"."""
    lowered = text.lower().replace("a.m.", "am").replace("p.m.", "pm")
    return _TOKEN.findall(lowered.replace(",", "").replace("-", " "))


@attrs.frozen
class Number:
    value: float
    start: int  # index of the first token
    end: int  # one past the last token

    @property
    def integral(self) -> bool:
        return float(self.value).is_integer()


def _digits(token: str) -> float | None:
    if re.fullmatch(r"\d+(?:\.\d+)?", token):
        return float(token)
    return None


def numbers(tokens: Sequence[str]) -> list[Number]:
    """Every number in ``tokens`` (from ``words``), in order: digits, or a run of number words."""
    found: list[Number] = []
    i = 0
    while i < len(tokens):
        digits = _digits(tokens[i])
        if digits is not None:
            found.append(Number(digits, i, i + 1))
            i += 1
            continue
        run = _number_run(tokens, i)
        if run is None:
            i += 1
        else:
            found.append(run)
            i = run.end
    return found


def _number_run(tokens: Sequence[str], start: int) -> Number | None:
    """The number spelt in words from ``start`` ("twenty five", "a hundred and ten"), if one starts there."""
    total = current = 0
    last = ""  # kind of the previous token: "", "unit", "ten", "scale", "and"
    i = start
    if tokens[i] == "a" and i + 1 < len(tokens) and tokens[i + 1] in _SCALES:
        current, last, i = 1, "unit", i + 1
    while i < len(tokens):
        token = tokens[i]
        value = SMALL.get(token)
        if value is not None and value < 20 and (last in ("", "scale", "and") or (last == "ten" and value < 10)):
            current, last = current + value, "unit"
        elif value is not None and value >= 20 and last in ("", "scale", "and"):
            current, last = current + value, "ten"
        elif token == "hundred" and last in ("unit", "ten"):
            current, last = current * 100, "scale"
        elif token in ("thousand", "million") and last in ("unit", "ten", "scale"):
            total, current, last = total + current * _SCALES[token], 0, "scale"
        elif token == "and" and last == "scale" and i + 1 < len(tokens) and tokens[i + 1] in SMALL:
            last = "and"
        else:
            break
        i += 1
    if last in ("", "and"):
        return None
    return Number(float(total + current), start, i)


def _number_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def canonical(text: str) -> list[str]:
    """The words of ``text`` in one spelling (see the module docstring)."""
    expanded: list[str] = []
    for token in words(text):
        replacement = _CONTRACTIONS.get(token)
        if replacement is not None:
            expanded += replacement.split()
        elif token.endswith(":00"):
            expanded.append(token[:-3])
        else:
            expanded.append(token)
    out: list[str] = []
    dollars = False
    spans = {n.start: n for n in numbers(expanded)}
    i = 0
    while i < len(expanded):
        token = expanded[i]
        if token == "$":
            dollars = True
            i += 1
            continue
        number = spans.get(i)
        if number is not None:
            out.append(_number_text(number.value))
            i = number.end
            if dollars:
                out.append("dollars")
        else:
            out.append(token)
            i += 1
        dollars = False
    return out


def word_errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """(substitutions + insertions + deletions, number of reference words), on canonical words."""
    ref, hyp = canonical(reference), canonical(hypothesis)
    row = list(range(len(hyp) + 1))
    for i, ref_word in enumerate(ref, 1):
        diagonal, row[0] = row[0], i
        for j, hyp_word in enumerate(hyp, 1):
            diagonal, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diagonal + (ref_word != hyp_word))
    return row[len(hyp)], len(ref)


def word_groups(text: str, size: int) -> list[str]:
    """``text`` in pieces of ``size`` space-separated words, each but the last with its trailing space, so the
    pieces join back to ``text`` ("" is one empty piece)."""
    parts = text.split(" ")
    return [" ".join(parts[i : i + size]) + (" " if i + size < len(parts) else "") for i in range(0, len(parts), size)]
