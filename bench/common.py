"""Shared shape of a benchmark result."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Result:
    name: str
    value: float
    unit: str
    target: float | None = None
    # "max": value should be at most target; "min": at least target.
    sense: Literal["max", "min"] = "max"

    def value_text(self) -> str:
        return f"{self.value:,.3g} {self.unit}" if self.value < 1000 else f"{self.value:,.0f} {self.unit}"

    def target_text(self) -> str:
        if self.target is None:
            return "-"
        op = "<=" if self.sense == "max" else ">="
        return f"{op} {self.target:,g} {self.unit}"

    def ratio_text(self) -> str:
        if self.target is None or self.value == 0:
            return "-"
        ratio = self.value / self.target if self.sense == "max" else self.target / self.value
        return f"{ratio:.2f}" + (" ok" if ratio <= 1.0 else " MISS")
