"""The latency waterfall and the token window as a PNG (matplotlib, headless: the Agg backend).

One figure, two panels: per user turn, horizontal bars from the end of the user's speech to each stage of the
answer (committed, created, first audio received, first audio played, response.done), with the seeds' time to
first audio (played only at response.done) marked; below, the token window after each response over the call.
"""

from __future__ import annotations

import os

from pipeline.projections.latency import STAGE_LABELS, STAGES, Latency

COLOURS = {"committed": "#9ecae1", "created": "#6baed6", "first_delta": "#3182bd", "first_played": "#31a354", "done": "#756bb1"}


def latency_png(latency: Latency, path: str | os.PathLike[str], *, title: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib import pyplot as plt

    turns = list(latency.turns)
    height = max(3.0, 0.45 * len(turns) + 1.5)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, height + 3), gridspec_kw={"height_ratios": [height, 3]})
    try:
        labels = [f"#{t.number}" for t in turns]
        for row, turn in enumerate(turns):
            # later stages first, so the earlier (shorter) bars are drawn on top of them
            for stage in reversed(STAGES):
                value = turn.ms(stage)
                if value is not None:
                    top.barh(row, max(value, 1.0), color=COLOURS[stage], label=STAGE_LABELS[stage] if row == 0 else None)
        top.set_yticks(range(len(turns)), labels)
        top.invert_yaxis()
        top.set_xlabel("ms from the end of the user's speech (server speech_stopped)")
        top.set_title(title or "latency per user turn")
        if turns:
            handles, names = top.get_legend_handles_labels()
            order = [names.index(STAGE_LABELS[s]) for s in STAGES if STAGE_LABELS[s] in names]
            top.legend([handles[i] for i in order], [names[i] for i in order], loc="lower right", fontsize="small")
        else:
            top.text(0.5, 0.5, "no user turns", ha="center", va="center", transform=top.transAxes)
        times = [w.t_ns / 1e9 for w in latency.windows]
        tokens = [w.total_tokens for w in latency.windows]
        if times:
            bottom.step(times, tokens, where="post", color="#3182bd")
            bottom.plot(times, tokens, "o", color="#3182bd", markersize=3)
        bottom.set_xlabel("session time (s)")
        bottom.set_ylabel("token window")
        bottom.set_ylim(bottom=0)
        fig.tight_layout()
        fig.savefig(os.fspath(path), format="png", dpi=100)
    finally:
        plt.close(fig)
