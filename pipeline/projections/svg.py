"""Inline SVG charts for the HTML report: the latency waterfall and the token window (no library, no script).

Both are plain ``<svg>`` text with a ``viewBox`` (they scale with the page) and ``<title>`` tooltips, so the
report stays one self-contained file that any browser draws.
"""

from __future__ import annotations

from html import escape

from pipeline.projections.charts import COLOURS
from pipeline.projections.latency import STAGE_LABELS, STAGES, Latency

WIDTH = 900


def _ticks(top: float, count: int = 5) -> list[float]:
    """Round tick values from 0 to at least ``top``."""
    if top <= 0:
        return [0.0, 1.0]
    raw = top / count
    magnitude = 10 ** len(str(int(raw))) / 10 if raw >= 1 else 1.0
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    ticks, value = [], 0.0
    while value < top + step:
        ticks.append(value)
        value += step
    return ticks


def waterfall(latency: Latency) -> str:
    turns = list(latency.turns)
    left, right, row, top_pad = 60, 20, 26, 40
    height = top_pad + row * max(1, len(turns)) + 40
    longest = max((t.ms(s) or 0.0 for t in turns for s in STAGES), default=0.0)
    ticks = _ticks(longest)
    scale = (WIDTH - left - right) / (ticks[-1] or 1.0)
    parts = [f'<svg class="chart" id="latency-chart" viewBox="0 0 {WIDTH} {height}" role="img">',
             "<title>latency per user turn, ms from the end of the user's speech</title>"]  # fmt: skip
    for tick in ticks:
        x = left + tick * scale
        parts.append(f'<line x1="{x:.1f}" y1="{top_pad - 5}" x2="{x:.1f}" y2="{height - 30}" stroke="#ddd"/>')
        parts.append(f'<text x="{x:.1f}" y="{height - 14}" font-size="11" text-anchor="middle">{tick:,.0f}</text>')
    for i, turn in enumerate(turns):
        y = top_pad + i * row
        parts.append(f'<text x="{left - 8}" y="{y + 15}" font-size="12" text-anchor="end">#{turn.number}</text>')
        for stage in reversed(STAGES):  # longest first, so each shorter bar is drawn over it
            value = turn.ms(stage)
            if value is None:
                continue
            w = max(1.0, value * scale)
            label = f"turn {turn.number}: {STAGE_LABELS[stage]} {value:,.0f} ms"
            parts.append(f'<rect x="{left}" y="{y + 4}" width="{w:.1f}" height="{row - 8}" fill="{COLOURS[stage]}">'
                         f"<title>{escape(label)}</title></rect>")  # fmt: skip
    x = left
    for stage in STAGES:
        parts.append(f'<rect x="{x}" y="8" width="12" height="12" fill="{COLOURS[stage]}"/>')
        parts.append(f'<text x="{x + 16}" y="18" font-size="11">{escape(STAGE_LABELS[stage])}</text>')
        x += 30 + 7 * len(STAGE_LABELS[stage])
    if not turns:
        parts.append(f'<text x="{WIDTH / 2}" y="{top_pad + 15}" text-anchor="middle">no user turns</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def token_window(latency: Latency, duration_s: float) -> str:
    points = [(w.t_ns / 1e9, w.total_tokens, w.response_id) for w in latency.windows]
    left, right, top, bottom, height = 60, 20, 15, 35, 220
    y_ticks = _ticks(max((p[1] for p in points), default=0))
    x_ticks = _ticks(max(duration_s, max((p[0] for p in points), default=0.0)))
    sx = (WIDTH - left - right) / (x_ticks[-1] or 1.0)
    sy = (height - top - bottom) / (y_ticks[-1] or 1.0)

    def xy(t: float, tokens: float) -> tuple[float, float]:
        return left + t * sx, height - bottom - tokens * sy

    parts = [f'<svg class="chart" id="window-chart" viewBox="0 0 {WIDTH} {height}" role="img">',
             "<title>token window after each response over the call</title>"]  # fmt: skip
    for tick in y_ticks:
        _, y = xy(0, tick)
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{WIDTH - right}" y2="{y:.1f}" stroke="#ddd"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end">{tick:,.0f}</text>')
    for tick in x_ticks:
        x, _ = xy(tick, 0)
        parts.append(f'<text x="{x:.1f}" y="{height - 12}" font-size="11" text-anchor="middle">{tick:,.0f} s</text>')
    if points:
        path, previous = [], None
        for t, tokens, _ in points:
            x, y = xy(t, tokens)
            if previous is None:
                path.append(f"M{x:.1f},{y:.1f}")
            else:
                path.append(f"H{x:.1f}V{y:.1f}")
            previous = (x, y)
        parts.append(f'<path d="{" ".join(path)}" fill="none" stroke="#3182bd" stroke-width="2"/>')
        for t, tokens, response_id in points:
            x, y = xy(t, tokens)
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="#3182bd">'
                         f"<title>{escape(response_id)}: {tokens:,} tokens at {t:.1f} s</title></circle>")  # fmt: skip
    else:
        parts.append(f'<text x="{WIDTH / 2}" y="{height / 2}" text-anchor="middle">no response reported usage</text>')
    parts.append("</svg>")
    return "\n".join(parts)
