"""The report's figures, drawn with matplotlib's object API on the Agg canvas (no display,
no global pyplot state). Each function writes one PNG and returns its path.

Japanese titles are used only when a font with CJK glyphs is installed (`cjk_font`);
otherwise documents are labelled by id and the HTML page shows the titles.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
from matplotlib import font_manager
from matplotlib.figure import Figure

from .collect import Predictions, Run
from .significance import doc_counts, f1_from_counts

CJK_FILES = ("notosanscjk", "notoserifcjk", "notosansjp", "ipaexg", "ipag", "takao", "vl-gothic", "droidsansfallback",
             "wqy-zenhei", "sourcehansans")
CJK_FAMILIES = ("Noto Sans CJK JP", "Noto Sans JP", "IPAexGothic", "IPAGothic", "IPAPGothic", "TakaoGothic",
                "VL Gothic", "Source Han Sans JP", "Noto Serif CJK JP", "Droid Sans Fallback", "WenQuanYi Zen Hei")
DPI = 110


@lru_cache(maxsize=1)
def cjk_font() -> Optional[str]:
    """Name of an installed font family with Japanese glyphs, or None."""
    def pick():
        names = {f.name for f in font_manager.fontManager.ttflist}
        return next((fam for fam in CJK_FAMILIES if fam in names), None)

    fam = pick()
    if fam is None:   # installed after matplotlib cached its font list: register the files now
        for f in font_manager.findSystemFonts() + _packaged_fonts():
            if any(k in Path(f).name.lower().replace("_", "-") for k in CJK_FILES):
                try:
                    font_manager.fontManager.addfont(f)
                except (OSError, RuntimeError, ValueError):
                    continue
        fam = pick()
    return fam


def _packaged_fonts() -> list[str]:
    """Font files shipped inside an installed Python package (japanize-matplotlib's IPAexGothic,
    in seg's bench extra): the CJK font of a machine without system fonts."""
    import importlib.util

    spec = importlib.util.find_spec("japanize_matplotlib")
    if spec is None or not spec.submodule_search_locations:
        return []
    return [str(p) for loc in spec.submodule_search_locations for p in Path(loc).rglob("*.ttf")]


def _figure(w: float, h: float) -> Figure:
    fig = Figure(figsize=(w, h), dpi=DPI, layout="constrained")
    fam = cjk_font()
    if fam:
        import matplotlib as mpl
        fig.set_facecolor("white")
        mpl.rcParams["font.family"] = ["sans-serif"]
        mpl.rcParams["font.sans-serif"] = [fam] + [f for f in mpl.rcParams["font.sans-serif"] if f != fam]
    return fig


def _save(fig: Figure, path: Path) -> Path:
    path = Path(path)
    fig.savefig(path, format="png", dpi=DPI, facecolor="white")
    return path


def doc_label(doc: str, titles: dict[str, str]) -> str:
    t = titles.get(doc)
    return t if t and cjk_font() else doc


# --- per run --------------------------------------------------------------------------

def plot_training(run: Run, path: Path) -> Optional[Path]:
    """Train/dev loss and dev F1 per epoch, one colour per repeat, best epoch starred."""
    reps = [r for r in run.repeats if r.get("epochs")]
    if not reps:
        return None
    fig = _figure(10, 3.4)
    ax_loss, ax_f1 = fig.subplots(1, 2)
    for k, rep in enumerate(reps):
        color = f"C{k % 10}"
        ep = [e["epoch"] for e in rep["epochs"]]
        ax_loss.plot(ep, [e.get("train_loss", np.nan) for e in rep["epochs"]], color=color, label=f"repeat {rep.get('repeat', k)} train")
        ax_loss.plot(ep, [e.get("dev_loss", np.nan) for e in rep["epochs"]], color=color, ls="--", label=f"repeat {rep.get('repeat', k)} dev")
        f1 = [e.get("dev", {}).get("f1", np.nan) for e in rep["epochs"]]
        ax_f1.plot(ep, f1, color=color, marker=".", label=f"repeat {rep.get('repeat', k)}")
        best = rep.get("best_epoch")
        if best in ep:
            ax_f1.plot([best], [f1[ep.index(best)]], marker="*", ms=14, color=color, ls="none")
    from matplotlib.ticker import MaxNLocator

    for ax in (ax_loss, ax_f1):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax_loss.set(title="loss (solid train, dashed dev)", xlabel="epoch", ylabel="loss")
    ax_f1.set(title="dev F1 per epoch (★ = kept epoch)", xlabel="epoch", ylabel="F1")
    ax_loss.legend(fontsize=7, ncol=2)
    ax_f1.legend(fontsize=7)
    for ax in (ax_loss, ax_f1):
        ax.grid(alpha=0.3)
    fig.suptitle(run.name)
    return _save(fig, path)


def plot_threshold(run: Run, preds: Predictions, split: str, path: Path) -> Path:
    """Precision-recall curve and F1 against threshold per repeat, the chosen threshold marked."""
    from sklearn.metrics import precision_recall_curve

    fig = _figure(10, 3.8)
    ax_pr, ax_t = fig.subplots(1, 2)
    thr = run.thresholds or [0.5] * preds.probs.shape[1]
    y = preds.labels
    for k in range(preds.probs.shape[1]):
        color = f"C{k % 10}"
        p, r, t = precision_recall_curve(y, preds.probs[:, k])
        ax_pr.plot(r, p, color=color, lw=1.2, label=f"repeat {k}")
        f1 = np.divide(2 * p * r, p + r, out=np.zeros_like(p), where=(p + r) > 0)
        ax_t.plot(t, f1[:-1], color=color, lw=1.2, label=f"repeat {k}")
        chosen = preds.probs[:, k] >= thr[k]          # the threshold's point on the curve
        tp = float((chosen & (y == 1)).sum())
        cp = tp / max(chosen.sum(), 1)
        cr = tp / max((y == 1).sum(), 1)
        cf = 2 * cp * cr / (cp + cr) if cp + cr else 0.0
        ax_pr.plot([cr], [cp], marker="o", ms=8, mfc="none", color=color)
        ax_t.axvline(thr[k], color=color, ls=":", lw=1)
        ax_t.plot([thr[k]], [cf], marker="o", ms=8, mfc="none", color=color)
    base = float(y.mean()) if len(y) else 0.0
    ax_pr.axhline(base, color="grey", ls="--", lw=0.8, label=f"break rate {base:.2f}")
    ax_pr.set(title=f"precision-recall on {split} (○ = chosen threshold)", xlabel="recall", ylabel="precision",
              xlim=(0, 1.01), ylim=(0, 1.01))
    ax_t.set(title=f"F1 against threshold on {split}", xlabel="threshold", ylabel="F1", xlim=(0, 1), ylim=(0, 1.01))
    for ax in (ax_pr, ax_t):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(run.name)
    return _save(fig, path)


# --- across runs ----------------------------------------------------------------------

def doc_f1(run: Run, preds: Predictions) -> dict[str, float]:
    """F1 per document, averaged over repeats, at each repeat's chosen threshold."""
    docs = list(preds.doc_slices())
    counts = doc_counts(preds, run.thresholds or [0.5] * preds.probs.shape[1], docs)
    return dict(zip(docs, f1_from_counts(counts).mean(1).tolist()))


def plot_doc_f1(per_run: dict[str, dict[str, float]], titles: dict[str, str], split: str, path: Path) -> Optional[Path]:
    """Grouped horizontal bars: F1 of each run on each document, hardest document on top."""
    docs = sorted({d for v in per_run.values() for d in v})
    if not docs:
        return None
    mean = {d: np.mean([v[d] for v in per_run.values() if d in v]) for d in docs}
    docs.sort(key=lambda d: mean[d])
    n = len(per_run)
    h = 0.8 / n
    fig = _figure(9, 1.2 + 0.35 * len(docs) * max(1, n * 0.6))
    ax = fig.subplots()
    ypos = np.arange(len(docs))
    for j, (name, v) in enumerate(per_run.items()):
        ax.barh(ypos - 0.4 + h * (j + 0.5), [v.get(d, np.nan) for d in docs], height=h, color=f"C{j % 10}", label=name)
    ax.set_yticks(ypos, [doc_label(d, titles) for d in docs], fontsize=8)
    ax.invert_yaxis()
    ax.set(xlim=(0, 1), xlabel="F1 (mean over repeats)", title=f"F1 per document on {split} (hardest first)")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return _save(fig, path)


def plot_timeline(doc: str, labels: np.ndarray, index: np.ndarray, predicted: dict[str, np.ndarray],
                  probs: dict[str, np.ndarray], titles: dict[str, str], path: Path) -> Path:
    """One document as a strip: true breaks on top, each run's predicted breaks (and
    break probability) below, x = sentence index."""
    n = len(predicted)
    fig = _figure(12, 1.1 + 0.75 * (n + 1))
    ax = fig.subplots()
    ax.eventplot([index[labels == 1]], lineoffsets=[n], linelengths=0.8, colors="black", linewidths=0.8)
    names = ["true breaks"]
    for j, (name, pred) in enumerate(predicted.items()):
        y = n - 1 - j
        lab = labels == 1
        tp, fp, fn = index[pred & lab], index[pred & ~lab], index[~pred & lab]
        ax.eventplot([tp, fp, fn], lineoffsets=[y] * 3, linelengths=[0.8, 0.8, 0.35],
                     colors=["tab:green", "tab:orange", "tab:red"], linewidths=0.8)
        ax.plot(index, y - 0.45 + 0.9 * probs[name], color="tab:blue", lw=0.5, alpha=0.6)
        names.append(name)
    ax.set_yticks(range(n, -1, -1), names, fontsize=8)
    ax.set_ylim(-0.6, n + 0.6)
    ax.set(xlabel="sentence", title=f"{doc_label(doc, titles)}: green = found break, orange = false alarm, "
                                   f"short red = missed break, blue = break probability")
    ax.margins(x=0.005)
    return _save(fig, path)


def plot_attention(examples: Sequence[dict], x_labels: Sequence[str], title: str, path: Path) -> Path:
    """Heatmaps of attention per head over the window, one panel per example gap.

    Each example: {"attention": (heads, positions) array, "title": str}.
    """
    k = len(examples)
    heads = max(e["attention"].shape[0] for e in examples)
    fig = _figure(min(max(3.2, 0.36 * len(x_labels) + 1.0) * k + 1.0, 13.0), 1.3 + 0.42 * heads)
    axes = np.atleast_1d(fig.subplots(1, k, squeeze=False)[0])
    im = None
    vmax = max(max(float(np.max(e["attention"])) for e in examples), 1e-6)   # one scale for every panel
    for ax, e in zip(axes, examples):
        a = np.asarray(e["attention"], dtype=float)
        im = ax.imshow(a, aspect="auto", cmap="viridis", vmin=0.0, vmax=vmax)
        if a.shape[0] <= 8 and a.shape[1] <= 14:
            for (h, j), v in np.ndenumerate(a):
                ax.text(j, h, f"{v:.2f}", ha="center", va="center", fontsize=6,
                        color="black" if v > 0.6 * vmax else "white")
        ax.set_xticks(range(a.shape[1]), list(x_labels)[: a.shape[1]], fontsize=7, rotation=90 if a.shape[1] > 8 else 0)
        ax.set_yticks(range(a.shape[0]), [f"head {h}" for h in range(a.shape[0])], fontsize=7)
        split_at = [j for j, s in enumerate(x_labels) if s.startswith("R")]
        if split_at:
            ax.axvline(split_at[0] - 0.5, color="white", lw=1.5)
        ax.set_title(e["title"], fontsize=8)
    if im is not None:
        fig.colorbar(im, ax=list(axes), shrink=0.8, label="attention weight")
    fig.suptitle(title, fontsize=9)
    return _save(fig, path)


def plot_token_attention(examples: Sequence[dict], title: str, path: Path, width: int = 40) -> Optional[Path]:
    """Word attention as a heatmap over characters: one panel per example gap, its window's
    sentences wrapped at `width` characters, each character shaded by the weight of its token.
    Each example: {"title", "rows": [(position label, label, [(token, weight)])], "gap_row": L}.
    None without a CJK font (the HTML page shows the same weights as shaded text)."""
    if not cjk_font() or not examples:
        return None
    panels = []
    for e in examples:
        lines, labels, gap_line = [], [], None
        for r, (pos, lab, toks) in enumerate(e["rows"]):
            chars = [(ch, w) for t, w in toks for ch in t]
            if r == e["gap_row"]:
                gap_line = len(lines)
            for a in range(0, max(len(chars), 1), width):
                lines.append(chars[a:a + width])
                labels.append(f"{pos}{' ¶' if lab else ''}" if a == 0 else "")
        panels.append((e["title"], lines, labels, gap_line))
    n_lines = sum(len(p[1]) for p in panels)
    fig = _figure(0.22 * width + 1.6, 0.3 * n_lines + 0.7 * len(panels) + 0.6)
    axes = np.atleast_1d(fig.subplots(len(panels), 1, squeeze=False, height_ratios=[len(p[1]) for p in panels])[:, 0])
    vmax = max((w for p in panels for ln in p[1] for _, w in ln), default=1.0) or 1.0
    im = None
    for ax, (ptitle, lines, labels, gap_line) in zip(axes, panels):
        grid = np.full((len(lines), width), np.nan)
        for r, ln in enumerate(lines):
            for c, (_, w) in enumerate(ln):
                grid[r, c] = w
        im = ax.imshow(grid, aspect="auto", cmap="Oranges", vmin=0.0, vmax=vmax)
        for r, ln in enumerate(lines):
            for c, (ch, w) in enumerate(ln):
                ax.text(c, r, ch, ha="center", va="center", fontsize=8, color="black" if w < 0.7 * vmax else "white")
        if gap_line:
            ax.axhline(gap_line - 0.5, color="C0", lw=1.5)
        ax.set_yticks(range(len(lines)), labels, fontsize=7)
        ax.set_xticks([])
        ax.set_title(ptitle, fontsize=8, loc="left")
    if im is not None:
        fig.colorbar(im, ax=list(axes), shrink=0.6, label="weight x tokens (1 = uniform)")
    fig.suptitle(title, fontsize=9)
    return _save(fig, path)


def plot_gap_types(systems: dict[str, dict[str, dict]], kinds: dict[str, str], gap_types: Sequence[str],
                   split: str, path: Path) -> Path:
    """Grouped bars: F1 of every run and baseline (hatched) on each gap type; n gaps under each group."""
    n = len(systems)
    w = 0.8 / max(n, 1)
    fig = _figure(9, 4.2)
    ax = fig.subplots()
    x = np.arange(len(gap_types))
    for j, (name, per_type) in enumerate(systems.items()):
        vals = [np.nan if per_type[t]["f1"] is None else per_type[t]["f1"] for t in gap_types]
        base = kinds.get(name) == "baseline"
        ax.bar(x - 0.4 + w * (j + 0.5), vals, width=w, label=name + (" (baseline)" if base else ""),
               color="none" if base else f"C{j % 10}", edgecolor="0.35" if base else f"C{j % 10}",
               hatch="//" if name.startswith("rule") else ".." if base else None)
    first = next(iter(systems.values()))
    ax.set_xticks(x, [f"{t}\n{first[t]['gaps']:,} gaps, {first[t]['breaks']:,} breaks" for t in gap_types], fontsize=8)
    ax.set(ylim=(0, 1), ylabel="F1", title=f"F1 by gap type on {split} (sentence before → sentence after the gap)")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return _save(fig, path)
