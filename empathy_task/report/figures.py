"""The report's figures as PNG bytes (matplotlib's Agg canvas, imported only when drawing).

Each function takes plain arrays and labels and returns the PNG; the reporter writes the files and
embeds them in the HTML.

Drawing is kept cheap, since a report of fifty sources draws hundreds of labels: figures are made
without pyplot (no figure manager to register and close), laid out once from measured label widths
instead of ``bbox_inches="tight"`` (which draws every figure twice), and category labels are plain
texts rather than axis ticks (a tick is five artists). Text from the data is never parsed as
mathtext, so a source named ``$x$`` is drawn as written.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from empathy_task.analysis.results import OVERALL, Analysis
from empathy_task.report.document import kind_title, with_paper_name
from empathy_task.vocabulary import LABELS, VALENCES

#: Bad, Okay, Good: colour-blind-safe (Okabe-Ito vermillion, yellow, bluish green).
RATING_COLOURS: tuple[str, ...] = ("#D55E00", "#F0E442", "#009E73")


_DPI = 100


_SMALL = 8  # points: labels, ticks, legends


_TITLE = 10


_PAD = 0.08  # inches between a label column and its axes


class ForestPanel(NamedTuple):
    """One comparison's per-emotion relative increase for :func:`forest_plot`."""

    title: str
    estimate: np.ndarray
    low: np.ndarray
    high: np.ndarray
    markers: Sequence[str]
    overall: float | None = None


def _figure(width: float, height: float) -> Any:
    """A figure on its own Agg canvas (no pyplot: nothing to close, safe in threads)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=_DPI)
    FigureCanvasAgg(fig)
    return fig


def _text_width(fig: Any, texts: Sequence[str], size: float) -> float:
    """Width in inches of the widest of ``texts`` at ``size`` points, as the figure draws it."""
    from matplotlib.font_manager import FontProperties

    renderer = fig.canvas.get_renderer()
    prop = FontProperties(size=size)
    widest = max(
        (renderer.get_text_width_height_descent(str(t), prop, ismath=False)[0] for t in texts),
        default=0.0,
    )
    return float(widest) / fig.dpi


def _axes(fig: Any, left: float, right: float, top: float, bottom: float) -> Any:
    """Axes with the given margins in inches."""
    width, height = fig.get_size_inches()
    return fig.add_axes(
        (
            left / width,
            bottom / height,
            max(1 - (left + right) / width, 0.05),
            max(1 - (top + bottom) / height, 0.05),
        )
    )


def _row_labels(ax: Any, y: np.ndarray, labels: Sequence[str]) -> None:
    """Category labels left of the axes, one text per row (no tick artists)."""
    from matplotlib.transforms import offset_copy

    ax.set_yticks([])
    at = offset_copy(ax.get_yaxis_transform(), fig=ax.figure, x=-3, units="points")
    for yi, label in zip(y, labels):
        ax.text(
            0,
            yi,
            str(label),
            transform=at,
            ha="right",
            va="center",
            fontsize=_SMALL,
            parse_math=False,
        )


def _png(fig: Any) -> bytes:
    """The figure as an opaque RGB PNG: no alpha channel to encode on a white figure, and
    zlib's level 3, which packs charts nearly as tight as the default in half the time. No date
    or software in the metadata: the bytes are the same from run to run."""
    from PIL import Image  # Pillow: matplotlib's own PNG writer

    fig.canvas.draw()
    pixels = np.asarray(fig.canvas.buffer_rgba())[:, :, :3]
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="png", compress_level=3, dpi=(_DPI, _DPI))
    return buf.getvalue()


def rating_bars(labels: Sequence[str], counts: np.ndarray, title: str) -> bytes:
    """Stacked horizontal bars of the Bad / Okay / Good shares, one bar per group."""
    from matplotlib.collections import PolyCollection
    from matplotlib.patches import Patch

    counts = np.asarray(counts, dtype=float)
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    n = len(labels)
    fig = _figure(7.5, 1.05 + 0.26 * n)
    ax = _axes(fig, _text_width(fig, labels, _SMALL) + _PAD + 0.1, 0.2, 0.5, 0.5)
    y = np.arange(n)[::-1]
    # Every segment in one collection: a patch per segment would cost a bar chart's time again.
    edges = np.hstack([np.zeros((n, 1)), np.cumsum(shares, axis=1)])
    x0, x1 = edges[:, :3].T.ravel(), edges[:, 1:].T.ravel()  # Bad of every row, then Okay, Good
    y0, y1 = np.tile(y - 0.35, 3), np.tile(y + 0.35, 3)
    corners = np.stack([np.c_[x0, y0], np.c_[x1, y0], np.c_[x1, y1], np.c_[x0, y1]], axis=1)
    ax.add_collection(
        PolyCollection(corners, facecolors=np.repeat(RATING_COLOURS, n), edgecolors="none")
    )
    handles = [Patch(color=c, label=name) for c, name in zip(RATING_COLOURS, LABELS)]
    if n <= 12:  # beyond that the leaderboard has the numbers; each text costs time
        for yi, g in zip(y, shares[:, 2]):
            ax.text(0.995, yi, f"Good {g:.1%}", va="center", ha="right", fontsize=_SMALL)
    _row_labels(ax, y, labels)
    ax.set_ylim(-0.5, n - 0.5)
    ax.set_xlim(0, 1)
    ax.tick_params(axis="x", labelsize=_SMALL)
    ax.set_xlabel("share of ratings", fontsize=_SMALL + 1)
    ax.set_title(title, fontsize=_TITLE, loc="left", parse_math=False)
    ax.legend(
        handles=handles,
        ncols=3,
        loc="lower right",
        bbox_to_anchor=(1.0, 1.0),
        fontsize=_SMALL,
        frameon=False,
    )
    return _png(fig)


def forest_plot(
    labels: Sequence[str],
    panels: Sequence[ForestPanel],
    title: str,
) -> bytes:
    """Relative increase in Good per emotion, one panel per comparison, sharing the emotion axis.

    Each point has its confidence interval; significance markers (* / ** / ***) are drawn as one to
    three stars right of the panel's intervals.
    """
    k = max(len(panels), 1)
    n = len(labels)
    fig = _figure(1.0, 1.3 + 0.22 * n)
    titles = [
        f"{p.title} (overall {p.overall:+.1f}%)"
        if p.overall is not None and np.isfinite(p.overall)
        else p.title
        for p in panels
    ]
    # Wide enough for the panels' titles and the figure's: nothing is cut off or overlaps.
    panel_width = max(2.6, _text_width(fig, titles, 9) + 0.15)
    gap = 0.25
    label_width = _text_width(fig, labels, _SMALL) + _PAD + 0.1
    width = label_width + k * panel_width + (k - 1) * gap + 0.15
    width = max(width, _text_width(fig, [title], _TITLE) + 0.3)
    fig.set_size_inches(width, 1.3 + 0.22 * n)
    y = np.arange(n)[::-1]
    for j, (panel, panel_title) in enumerate(zip(panels, titles)):
        left = label_width + j * (panel_width + gap)
        ax = _axes(fig, left, width - left - panel_width, 0.75, 0.55)
        est = np.asarray(panel.estimate, dtype=float)
        lo = np.asarray(panel.low, dtype=float)
        hi = np.asarray(panel.high, dtype=float)
        err = np.vstack([est - lo, hi - est])
        # A point outside its percentile interval (possible for tiny, skewed groups) gets none.
        err = np.where(np.isfinite(err) & (err > 0), err, 0)
        ax.errorbar(est, y, xerr=err, fmt="o", ms=3.5, color="#0072B2", ecolor="#56B4E9", lw=1)
        ax.axvline(0, color="grey", lw=0.8)
        if panel.overall is not None and np.isfinite(panel.overall):
            ax.axvline(panel.overall, color="#0072B2", lw=0.8, ls="--")
        finite = np.concatenate([hi[np.isfinite(hi)], est[np.isfinite(est)]])
        right = float(finite.max()) if finite.size else 1.0
        span = right - (float(np.nanmin(lo)) if np.isfinite(lo).any() else 0.0)
        step = max(span, 1.0) * 0.05
        # Stars as scatter glyphs: one artist per star count, not one text per emotion.
        stars = np.array([len(m) for m in panel.markers])
        for count in (1, 2, 3):  # one, two or three stars
            rows = y[stars >= count]
            if rows.size:
                ax.scatter(
                    np.full(rows.size, right + step * count), rows, marker="*", s=18, color="k"
                )
        ax.set_xlim(right=right + step * 4.5)
        ax.set_ylim(-0.7, n - 0.3)
        if j == 0:
            _row_labels(ax, y, labels)
        else:
            ax.set_yticks([])
        ax.set_title(panel_title, fontsize=9, parse_math=False)
        ax.set_xlabel("relative increase in Good (%)", fontsize=_SMALL)
        ax.tick_params(axis="x", labelsize=_SMALL)
    fig.suptitle(
        title, fontsize=_TITLE, y=1 - 0.12 / fig.get_size_inches()[1], va="top", parse_math=False
    )
    return _png(fig)


def valence_bars(
    sources: Sequence[str],
    rates: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
    valences: Sequence[str],
    title: str,
) -> bytes:
    """Good rate per source and valence, with confidence intervals: ``rates[source, valence]``."""
    rates = np.asarray(rates, dtype=float)
    rotate = len(sources) > 4
    fig = _figure(7.5, 3.2)
    widest = _text_width(fig, sources, _SMALL)
    bottom = 0.45 + (widest * 0.71 if rotate else 0.1)
    fig.set_size_inches(7.5, 2.9 + bottom)
    ax = _axes(fig, 0.7, 0.15, 0.35, bottom)
    width = 0.8 / max(len(valences), 1)
    x = np.arange(len(sources))
    colours = ("#009E73", "#CC79A7", "#0072B2")
    for j, valence in enumerate(valences):
        err = np.vstack([rates[:, j] - low[:, j], high[:, j] - rates[:, j]])
        ax.bar(
            x + (j - (len(valences) - 1) / 2) * width,
            rates[:, j],
            width,
            yerr=np.where(np.isnan(err), 0, err),
            label=valence,
            color=colours[j % len(colours)],
            capsize=2,
        )
    ax.set_xticks(x, [str(s) for s in sources])
    for text in ax.get_xticklabels():
        text.set_parse_math(False)
        if rotate:
            text.set_rotation(45)
            text.set_rotation_mode("anchor")
            text.set_horizontalalignment("right")
    ax.tick_params(axis="both", labelsize=_SMALL)
    ax.set_xlim(-0.6, len(sources) - 0.4)
    ax.set_ylim(0, 1)
    ax.set_ylabel("Good rate", fontsize=_SMALL + 1)
    ax.set_title(title, fontsize=_TITLE, parse_math=False)
    ax.legend(fontsize=_SMALL)
    return _png(fig)


def confusion_plot(confusion: np.ndarray, reference: str, other: str, title: str) -> bytes:
    """A 3x3 confusion matrix of two raters' Bad / Okay / Good, counts in the cells."""
    cm = np.asarray(confusion, dtype=float)
    fig = _figure(4.2, 3.8)
    ax = _axes(fig, 0.75, 0.3, 0.45, 0.6)
    ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(3), LABELS)
    ax.set_yticks(range(3), LABELS)
    ax.set_xlabel(other, parse_math=False)
    ax.set_ylabel(reference, parse_math=False)
    top = cm.max() if cm.size else 0
    for i in range(3):
        for j in range(3):
            colour = "white" if top and cm[i, j] > top / 2 else "black"
            ax.text(j, i, f"{int(cm[i, j])}", ha="center", va="center", color=colour)
    ax.set_title(title, fontsize=_TITLE, parse_math=False)
    return _png(fig)


def good_rate_heatmap(
    emotions: Sequence[str],
    sources: Sequence[str],
    rates: np.ndarray,
    markers: Sequence[Sequence[str]],
    title: str,
) -> bytes:
    """Good rate per emotion (rows) and source (columns), ``rates[emotion, source]``, each cell
    labelled with its rate in percent and its significance marker (``markers[emotion][source]``:
    the source against the baseline; empty for the baseline itself)."""
    rates = np.asarray(rates, dtype=float)
    n_rows, n_cols = rates.shape
    fig = _figure(1.0, 1.0)
    label_width = _text_width(fig, emotions, _SMALL) + _PAD + 0.1
    cell = max(0.62, _text_width(fig, ["100*** "], _SMALL - 1) + 0.1)
    header = _text_width(fig, sources, _SMALL) * 0.71 + 0.35  # names at 45 degrees
    width = max(label_width + n_cols * cell + 1.1, _text_width(fig, [title], _TITLE) + 0.3)
    height = 0.45 + header + 0.2 * n_rows + 0.2
    fig.set_size_inches(width, height)
    ax = _axes(fig, label_width, width - label_width - n_cols * cell, 0.45 + header, 0.2)
    image = ax.imshow(np.ma.masked_invalid(rates), cmap="cividis", vmin=0, vmax=1, aspect="auto")
    for i in range(n_rows):
        for j in range(n_cols):
            if not np.isfinite(rates[i, j]):
                continue
            colour = "black" if rates[i, j] > 0.6 else "white"
            ax.text(
                j,
                i,
                f"{100 * rates[i, j]:.0f}{markers[i][j]}",
                ha="center",
                va="center",
                fontsize=_SMALL - 1,
                color=colour,
                parse_math=False,
            )
    _top_column_labels(ax, sources)
    _row_labels(ax, np.arange(n_rows), emotions)
    colourbar = fig.colorbar(image, ax=ax, fraction=0.04, pad=0.02)
    colourbar.ax.tick_params(labelsize=_SMALL)
    colourbar.set_label("Good rate", fontsize=_SMALL)
    fig.suptitle(title, fontsize=_TITLE, y=1 - 0.1 / height, va="top", parse_math=False)
    return _png(fig)


def _top_column_labels(ax: Any, labels: Sequence[str]) -> None:
    """Column names above a matrix, at 45 degrees, as plain text (a source may hold a ``$``)."""
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels([str(label) for label in labels], fontsize=_SMALL)
    ax.xaxis.tick_top()
    for text in ax.get_xticklabels():
        text.set_parse_math(False)
        text.set_rotation(45)
        text.set_rotation_mode("anchor")
        text.set_horizontalalignment("left")


def wins_plot(models: Sequence[str], wins: np.ndarray, title: str) -> bytes:
    """A models x models matrix: ``wins[i, j]`` emotions where row model i is significantly
    better than column model j (the diagonal is empty)."""
    wins = np.asarray(wins, dtype=float)
    n = len(models)
    fig = _figure(1.0, 1.0)
    label_width = _text_width(fig, models, _SMALL) + _PAD + 0.1
    header = _text_width(fig, models, _SMALL) * 0.71 + 0.35
    side = 0.5 * max(n, 1)
    # Room right of the matrix for the last column's name, drawn at 45 degrees.
    right = max(0.3, header - 0.35 - 0.25 + 0.1)
    width = max(label_width + side + right, _text_width(fig, [title], _TITLE) + 0.3)
    height = 0.45 + header + side + 0.2
    fig.set_size_inches(width, height)
    ax = _axes(fig, label_width, width - label_width - side, 0.45 + header, 0.2)
    shown = wins.copy()
    np.fill_diagonal(shown, np.nan)
    top = max(float(np.nanmax(shown)) if n > 1 else 1.0, 1.0)
    ax.imshow(np.ma.masked_invalid(shown), cmap="Blues", vmin=0, vmax=top, aspect="auto")
    for i in range(n):
        for j in range(n):
            if i == j:
                continue
            colour = "white" if shown[i, j] > top / 2 else "black"
            ax.text(
                j, i, f"{int(wins[i, j])}", ha="center", va="center", fontsize=_SMALL, color=colour
            )
    _top_column_labels(ax, models)
    _row_labels(ax, np.arange(n), models)
    fig.suptitle(title, fontsize=_TITLE, y=1 - 0.1 / height, va="top", parse_math=False)
    return _png(fig)


def _heatmap_figures(a: Analysis, figures: dict[str, bytes]) -> None:
    """Per rater kind with a baseline: the 32 emotions x sources' Good rates, marked where a
    source differs from the baseline (its per-emotion Good test, p adjusted in its family)."""
    from empathy_task.report.between_models import SHOWN_MODELS
    from empathy_task.resources import source_display_names

    names = source_display_names()
    c = a.comparisons
    g = a.groups
    emotions = list(a.scopes[3:])
    for i, kind in enumerate(a.rater_kinds, start=1):
        if a.options.baseline not in a.sources[kind] or len(a.sources[kind]) < 2:
            continue
        sources = list(a.sources[kind])
        if len(sources) > SHOWN_MODELS + 1:  # the baseline and the highest Good rates
            sources = [s for s in sources if s in a.detail_sources[kind]]
        rates = (
            g[g["rater_kind"] == kind]
            .pivot(index="scope", columns="source", values="good_rate")
            .reindex(index=emotions, columns=sources)
            .to_numpy(float)
        )
        vs = c[(c["rater_kind"] == kind) & c["vs_baseline"] & (c["level"] == "emotion")]
        marks = vs.pivot(index="scope", columns="b", values="good_marker").reindex(
            index=emotions, columns=sources
        )
        markers = [[m if isinstance(m, str) else "" for m in row] for row in marks.to_numpy()]
        figures[f"heatmap_{i}.png"] = good_rate_heatmap(
            [e.split(":", 1)[1] for e in emotions],
            [with_paper_name(s, names) for s in sources],
            rates,
            markers,
            f"Good rate per emotion, {kind_title(kind)}; stars: differs from "
            f"{a.options.baseline} (p adjusted: {a.options.correction})",
        )


def _between_figures(a: Analysis, figures: dict[str, bytes]) -> None:
    from empathy_task.analysis.between import wins_matrix
    from empathy_task.report.between_models import compute, shown_models
    from empathy_task.resources import source_display_names

    names = source_display_names()
    result = compute(a)
    for i, kind in enumerate(result.sources, start=1):
        models, wins = wins_matrix(result, kind)
        keep = [j for j, m in enumerate(models) if m in set(shown_models(a, result, kind))]
        figures[f"between_models_{i}.png"] = wins_plot(
            [with_paper_name(models[j], names) for j in keep],
            wins[np.ix_(keep, keep)],
            f"Emotions where the row's model is significantly better, {kind_title(kind)}",
        )


def render_figures(a: Analysis) -> dict[str, bytes]:
    """The report's PNGs, keyed by file name."""
    from empathy_task.report import figures as plots

    figures: dict[str, bytes] = {}
    g = a.overall_groups()
    labels = [
        f"{s}" if len(a.rater_kinds) == 1 else f"{s} ({kind_title(k)})"
        for k, s in zip(g["rater_kind"], g["source"])
    ]
    figures["ratings_by_source.png"] = plots.rating_bars(
        labels, g[list(LABELS)].to_numpy(), "Ratings per source (computed)"
    )
    for i, kind in enumerate(a.rater_kinds, start=1):
        srcs = list(a.detail_sources[kind])
        v = a.groups[
            (a.groups["rater_kind"] == kind) & (a.groups["scope"].str.startswith("valence:"))
        ]
        v = v.set_index(["source", "scope"])
        idx = [(s, f"valence:{val}") for s in srcs for val in VALENCES]
        take = v.reindex(idx)
        shape = (len(srcs), 2)
        figures[f"valence_{i}.png"] = plots.valence_bars(
            srcs,
            take["good_rate"].to_numpy(float).reshape(shape),
            take["good_rate_low"].to_numpy(float).reshape(shape),
            take["good_rate_high"].to_numpy(float).reshape(shape),
            VALENCES,
            f"Good rate by valence, {kind_title(kind)}",
        )
    c = a.comparisons
    if not c.empty:
        emo = c[(c["level"] == "emotion") & c["vs_baseline"].to_numpy()]
        overall = c[(c["scope"] == OVERALL) & c["vs_baseline"].to_numpy()]
        overall = overall.set_index(["rater_kind", "b"])["rel_increase_good"]
        labels = list(a.scopes[3:])
        for i, kind in enumerate(a.rater_kinds, start=1):
            if a.options.baseline not in a.sources[kind]:
                continue  # descriptive only: nothing was compared
            panels = []
            for source in a.detail_sources[kind]:
                if source == a.options.baseline:
                    continue
                part = emo[(emo["rater_kind"] == kind) & (emo["b"] == source)]
                part = part.set_index("scope").reindex(labels)
                panels.append(
                    plots.ForestPanel(
                        f"{source} vs {a.options.baseline}",
                        part["rel_increase_good"].to_numpy(float),
                        part["rel_increase_good_low"].to_numpy(float),
                        part["rel_increase_good_high"].to_numpy(float),
                        [m if isinstance(m, str) else "" for m in part["good_marker"]],
                        float(overall.get((kind, source), np.nan)),
                    )
                )
            if panels:
                figures[f"forest_{i}.png"] = plots.forest_plot(
                    [s.split(":", 1)[1] for s in labels],
                    panels,
                    f"Relative increase in Good per emotion ({kind_title(kind)})",
                )
    _heatmap_figures(a, figures)
    _between_figures(a, figures)
    for i, ag in enumerate(a.agreement, start=1):
        figures[f"confusion_{i}.png"] = plots.confusion_plot(
            np.array(ag.overall.confusion),
            ag.reference,
            ag.other,
            f"{ag.other} vs {ag.reference}",
        )
    return figures
