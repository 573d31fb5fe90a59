"""One self-contained HTML page of a call, to attach to a bug report: no server, no CDN, no build step.

It holds the timeline of ``show`` (every entry, each user turn with its latency), the two sides of the call
from the audio render as two ``<audio>`` elements (mono WAVs in base64 ``data:`` URIs: the user as sent, the
assistant as played, on one timeline), a few lines of inline script so that clicking an entry seeks both
tracks to it (through ``Rendered.position``, so a stretched ``--fast`` timeline seeks right too) and plays
them, the latency waterfall and the token window as inline SVG, the cost ledger and the configuration (the
journal header's, secrets already removed). It opens from disk in any browser.
"""

from __future__ import annotations

import base64
import io
import json
import tempfile
import wave
from html import escape
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.projections import audio, latency, svg, timeline
from pipeline.projections.ledger import Ledger, LedgerFold
from pipeline.projections.recording import Recording

LABELS = {"tool": "tool call", "window": "tokens"}

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 1100px; padding: 0 16px 40px; color: #222; }
h1 { font-size: 20px; margin: 18px 0 4px; } h2 { font-size: 16px; margin: 28px 0 8px; border-bottom: 1px solid #ddd; }
.meta { color: #555; margin: 0; } .notice { color: #a15c00; }
#player { position: sticky; top: 0; background: #fff; padding: 8px 0; border-bottom: 1px solid #ddd; z-index: 1; }
#player .track { display: inline-flex; align-items: center; gap: 6px; margin-right: 18px; }
#player audio { height: 32px; } #clock { font-variant-numeric: tabular-nums; margin-left: 8px; }
table { border-collapse: collapse; width: 100%; } td, th { padding: 3px 6px; vertical-align: top; text-align: left; }
tr.entry { border-bottom: 1px solid #f0f0f0; } tr[data-seek] { cursor: pointer; } tr[data-seek]:hover { background: #f5f9ff; }
tr.current { background: #e3efff; } td.t { color: #666; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.label { white-space: nowrap; font-weight: 600; } .kind-user td.label { color: #0b6e99; } .kind-assistant td.label { color: #2c7a2c; }
.kind-tool td.label { color: #8a6d00; } .kind-error td.label { color: #b00020; } .kind-window td, .kind-session td { color: #777; }
.kind-summary td.label { color: #6a3d9a; } .latency { color: #666; font-size: 12px; }
pre { background: #f7f7f7; padding: 8px; overflow-x: auto; font-size: 12px; } .chart { width: 100%; height: auto; }
"""

SCRIPT = """
(function () {
  "use strict";
  var tracks = Array.prototype.slice.call(document.querySelectorAll("audio.track-audio"));
  var clock = document.getElementById("clock");
  function seek(t) { tracks.forEach(function (a) { a.currentTime = t; }); }
  function play() {
    tracks.forEach(function (a) { var p = a.play(); if (p && p.catch) { p.catch(function () {}); } });
  }
  function pause() { tracks.forEach(function (a) { a.pause(); }); }
  Array.prototype.forEach.call(document.querySelectorAll("[data-seek]"), function (row) {
    row.addEventListener("click", function () {
      Array.prototype.forEach.call(document.querySelectorAll("tr.current"), function (r) { r.classList.remove("current"); });
      row.classList.add("current");
      seek(parseFloat(row.getAttribute("data-seek")));
      play();
    });
  });
  var button = document.getElementById("play-both");
  if (button && tracks.length) {
    button.addEventListener("click", function () {
      if (tracks[0].paused) { seek(tracks[0].currentTime); play(); } else { pause(); }
    });
    tracks[0].addEventListener("timeupdate", function () {
      clock.textContent = tracks[0].currentTime.toFixed(1) + " s";
    });
  }
})();
"""


def _wav(samples: np.ndarray[Any, Any], rate: int) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.astype("<i2").tobytes())
    return buffer.getvalue()


def _tracks(recording: Recording, plan: audio.RenderPlan) -> tuple[audio.Rendered, bytes, bytes]:
    """The render's two sides as two mono WAVs."""
    with tempfile.TemporaryDirectory(prefix="rtpipe-report-") as tmp:
        path = Path(tmp) / "call.wav"
        rendered = audio.render(recording, path, plan=plan)
        with wave.open(str(path)) as w:
            frames = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)
    return rendered, _wav(frames[:, 0], audio.RATE), _wav(frames[:, 1], audio.RATE)


def _data_uri(wav: bytes) -> str:
    return "data:audio/wav;base64," + base64.b64encode(wav).decode("ascii")


def _entry_row(entry: timeline.Entry, turn: latency.TurnLatency | None, seek: float | None) -> str:
    label = f"user #{entry.data['number']}" if entry.kind == "user" else LABELS.get(entry.kind, entry.kind)
    attributes = f' class="entry kind-{entry.kind}" data-kind="{entry.kind}" data-turn="{entry.turn}"'
    if entry.kind == "user":
        attributes += f' data-user-turn="{entry.data["number"]}"'
    if entry.item_id:
        attributes += f' data-item="{escape(entry.item_id)}"'
    if seek is not None:
        attributes += f' data-seek="{seek:.3f}" title="play from here"'
    text = escape(entry.text)
    if turn is not None:
        stages = " · ".join(
            f"{latency.STAGE_LABELS[s]} {'-' if turn.ms(s) is None else f'{turn.ms(s):,.0f}'}" for s in latency.STAGES
        )
        text += f'<div class="latency">ms from speech end: {escape(stages)}</div>'
    return f'<tr{attributes}><td class="t">{entry.t_s:.3f}</td><td class="label">{escape(label)}</td><td>{text}</td></tr>'


def _stats_table(waterfall: latency.Latency) -> str:
    stats = waterfall.stats()
    rows = ["<tr><th></th>" + "".join(f"<th>{escape(latency.STAGE_LABELS[s])}</th>" for s in latency.STAGES)
            + "<th>seeds' first audio</th></tr>"]  # fmt: skip
    for p in ("p50", "p95"):
        cells = [stats[s][p] for s in latency.STAGES] + [stats["seed_first_audio"][p]]
        rows.append(f"<tr><th>{p}</th>" + "".join(f"<td>{'-' if v is None else f'{v:,.0f} ms'}</td>" for v in cells) + "</tr>")
    return f'<table class="stats">{"".join(rows)}</table>'


def build(recording: Recording, *, with_audio: bool = True) -> str:
    """The page; the journal is read in one pass (two with the audio: the render's second pass writes it)."""
    line, waterfall_fold, ledger_fold, plan = timeline.TimelineFold(), latency.LatencyFold(), LedgerFold(Ledger.from_config(recording.config)), audio.RenderPlan()
    if with_audio:
        recording.run(line, waterfall_fold, ledger_fold, plan)
    else:
        recording.run(line, waterfall_fold, ledger_fold)
    tl, waterfall, ledger = line.result(recording.duration_ns), waterfall_fold.result(), ledger_fold.ledger
    turns = {t.number: t for t in waterfall.turns}
    rendered: audio.Rendered | None = None
    player = ""
    if with_audio:
        rendered, user_wav, assistant_wav = _tracks(recording, plan)
        player = (
            '<section id="player"><span class="track">user (as sent) '
            f'<audio id="audio-user" class="track-audio" controls preload="auto" src="{_data_uri(user_wav)}"></audio></span>'
            '<span class="track">assistant (as played) '
            f'<audio id="audio-assistant" class="track-audio" controls preload="auto" src="{_data_uri(assistant_wav)}"></audio></span>'
            '<button id="play-both" type="button">play / pause both</button><span id="clock">0.0 s</span>'
            f'<div class="meta">click an entry to hear it; {rendered.duration_s:.1f} s of audio on the session timeline'
            + (f" (stretched by {rendered.stretch_s:.1f} s: the journal's clock ran ahead of its audio)" if rendered.stretch_s > 0.05 else "")
            + "</div></section>"
        )  # fmt: skip
    rows = []
    for entry in tl.entries:
        turn = turns.get(entry.data["number"]) if entry.kind == "user" else None
        seek = rendered.position(entry.t_ns) if rendered is not None else None
        rows.append(_entry_row(entry, turn, seek))
    header = recording.header
    title = f"rtpipe call {header.started_wall}" if header is not None else f"rtpipe call {recording.path.name}"
    meta = [f"journal {recording.path.name}", f"{recording.duration_ns / 1e9:.1f} s", f"{tl.turns} user turns",
            recording.end.describe()]  # fmt: skip
    if header is not None:
        meta[1:1] = [header.software, f"session {header.session_id}"]
    notices = "".join(f'<p class="notice">note: {escape(n)}</p>' for n in recording.notices())
    config = json.dumps(recording.config, indent=2, ensure_ascii=False, sort_keys=True, default=str)
    return "\n".join(
        [
            "<!doctype html>",
            '<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>",
            f"<h1>{escape(title)}</h1><p class=\"meta\">{escape(' · '.join(meta))}</p>{notices}",
            player,
            f'<h2>Timeline</h2><table id="timeline"><tbody>{"".join(rows)}</tbody></table>',
            f'<h2>Latency</h2>{svg.waterfall(waterfall)}{_stats_table(waterfall)}',
            f"<h2>Token window</h2>{svg.token_window(waterfall, recording.duration_ns / 1e9)}",
            f'<h2>Cost ledger</h2><pre id="ledger">{escape(ledger.render())}</pre>',
            f'<h2>Configuration</h2><pre id="config">{escape(config)}</pre>',
            f"<script>{SCRIPT}</script>",
            "</body></html>",
        ]
    )
