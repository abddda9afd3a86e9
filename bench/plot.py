"""PNG plots of bench/compare.py's results, for docs/performance.md.

    python bench/plot.py                            # .local/compare.json -> docs/img/
    python bench/plot.py --results docs/img/compare.json

One plot per phase (batch with callback, chain, dispatch): a bar per system and database at the
median, a line from the fastest to the slowest round. The results are copied beside the plots
(``compare.json``) so the figures can be redrawn and checked.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.report import RATIOS, UNITS, median, ratio  # noqa: E402

TITLES = {
    "batch": "{jobs} no-op jobs + completion callback, {n_workers} workers",
    "chain": "{steps}-step chain, 1 worker",
    "dispatch": "dispatch of {dispatch_jobs} jobs (no worker running)",
}
COLOURS = {"ours": "#1f77b4", "raw": "#7f7f7f", "Celery": "#2ca02c"}


def _colour(system: str, systems: list[str]) -> Any:
    """The family's colour (ours, raw, Celery), lighter for each further member."""
    family = next(k for k in COLOURS if system.startswith(k))
    rank = [s for s in systems if s.startswith(family)].index(system)
    return matplotlib.colors.to_rgba(COLOURS[family], alpha=(1.0, 0.6, 0.38, 0.22)[rank % 4])


def _label(value: float) -> str:
    return f"{value:.2f}" if value < 10 else f"{value:.0f}"


def plot_phase(phase: str, meta: dict[str, Any], results: list[dict[str, Any]], out: Path) -> None:
    dbs = [r for r in results if phase in r]
    systems = list(dbs[0][phase])
    fig, ax = plt.subplots(figsize=(9, 4.2), dpi=110)
    width = 0.8 / len(systems)
    for s, system in enumerate(systems):
        xs = [d + (s - (len(systems) - 1) / 2) * width for d in range(len(dbs))]
        runs = [r[phase][system] for r in dbs]
        meds = [median(x) for x in runs]
        low = [m - min(x) for m, x in zip(meds, runs, strict=True)]
        high = [max(x) - m for m, x in zip(meds, runs, strict=True)]
        bars = ax.bar(xs, meds, width * 0.92, label=system, color=_colour(system, systems))
        ax.errorbar(xs, meds, yerr=[low, high], fmt="none", ecolor="black", lw=0.8, capsize=2)
        ax.bar_label(bars, fmt=_label, fontsize=7, padding=2)
    ax.set_xticks(
        range(len(dbs)), [{"sqlite": "SQLite", "postgres": "PostgreSQL"}[r["db"]] for r in dbs]
    )
    ax.set_ylabel(UNITS[phase] + " (lower is better)")
    ax.set_title(TITLES[phase].format(**meta), fontsize=10)
    ax.legend(fontsize=7, ncol=2, frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    fig.text(
        0.99,
        0.01,
        f"{meta['date']}, {meta['cpus']} shared cores, median of {meta['repeat']} interleaved "
        "rounds (line: fastest to slowest)",
        ha="right",
        fontsize=6,
        color="#555555",
    )
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)


def plot_ratios(meta: dict[str, Any], results: list[dict[str, Any]], out: Path) -> None:
    """Every ratio of bench/report.py, per database, with its target (a tick) where it has one."""
    rows = [(phase, ours, other, target) for phase, ours, other, target in RATIOS]
    fig, ax = plt.subplots(figsize=(9, 0.32 * len(rows) * len(results) + 1.2), dpi=110)
    labels: list[tuple[float, str]] = []
    seen: set[str] = set()
    y = 0.0
    for phase, ours, other, target in rows:
        for res in results:
            if phase not in res or not {ours, other} <= set(res[phase]):
                continue
            value, runs = ratio(res[phase], ours, other)
            colour = "#1f77b4" if res["db"] == "postgres" else "#ff7f0e"
            legend = res["db"] not in seen
            seen.add(res["db"])
            ax.barh(y, value, 0.8, color=colour, label=res["db"] if legend else None)
            ax.plot([min(runs), max(runs)], [y, y], color="black", lw=0.8)
            ax.text(value, y, f" {value:.2f}", va="center", fontsize=7)
            if target is not None:
                ax.plot([target, target], [y - 0.4, y + 0.4], color="red", lw=1.5)
            labels.append((y, f"{phase}: {ours} / {other} ({res['db']})"))
            y += 1
        y += 0.5
    ax.set_yticks([t for t, _ in labels], [text for _, text in labels], fontsize=7)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.legend(fontsize=7, frameon=False, loc="lower right")
    ax.axvline(1.0, color="#999999", lw=0.8)
    ax.set_xlabel("ours / other (log scale; below 1 = ours faster; red tick = issue's target)")
    ax.spines[["top", "right"]].set_visible(False)
    ax.set_title(f"ratios, median of {meta['repeat']} interleaved rounds", fontsize=10)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", default=str(ROOT / ".local" / "compare.json"))
    parser.add_argument("--out-dir", default=str(ROOT / "docs" / "img"))
    parser.add_argument("--prefix", default="compare", help="file names: <prefix>-<phase>.png")
    args = parser.parse_args()
    data = json.loads(Path(args.results).read_text())
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for phase in TITLES:
        if any(phase in r for r in data["results"]):
            path = out_dir / f"{args.prefix}-{phase}.png"
            plot_phase(phase, data["meta"], data["results"], path)
            print(path)
    plot_ratios(data["meta"], data["results"], out_dir / f"{args.prefix}-ratios.png")
    print(out_dir / f"{args.prefix}-ratios.png")
    kept = out_dir / f"{args.prefix}.json"
    if Path(args.results).resolve() != kept.resolve():
        shutil.copyfile(args.results, kept)
    return 0


if __name__ == "__main__":
    sys.exit(main())
