"""The statistics of the window beside each trend: a small block per variable.

A view only: the numbers come from :mod:`trending_panel.read.stats`. Beside a trend that is
too short for every row (five trends on a laptop), the block shows the rows that matter most
and leaves out the rest, in a fixed order (see :data:`ROWS`); the whole block is always in the
tooltip of the variable's name, and in ``trending-panel stats`` and the CSV.
"""

from __future__ import annotations

import html
from pathlib import Path

from trending_panel.core.variables import Variable
from trending_panel.read.stats import Stats

#: Rows of the block, the most important first: field and label. When the block is short,
#: rows are left out from the end of this list (the CSS's container queries).
ROWS = (
    ("time_weighted_mean", "time-weighted avg"),
    ("min", "min"),
    ("max", "max"),
    ("time_outside_limits_s", "outside limits"),
    ("coverage", "coverage"),
    ("samples", "samples"),
    ("mean", "mean of samples"),
    ("std", "std"),
)
#: The order the rows are drawn in (the order of the issue 8 columns).
ORDER = ("time_weighted_mean", "mean", "min", "max", "std", "samples", "coverage",
         "time_outside_limits_s")  # fmt: skip
#: Full names, for the tooltip.
NAMES = {"time_weighted_mean": "average (time-weighted)"}


def cell(var: Variable, name: str, value: object) -> str:
    if value is None:
        return "—"
    if name == "samples":
        return f"{value:,}"
    if name == "coverage":
        return f"{float(value):.1%}"  # type: ignore[arg-type]
    if name == "time_outside_limits_s":
        seconds = float(value)  # type: ignore[arg-type]
        return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"
    return f"{float(value):.{var.decimals + 1}f}"  # type: ignore[arg-type]


def block_html(
    var: Variable,
    stats: Stats | None,
    *,
    reference: Stats | None = None,
    fit: bool = False,
    share: int = 1,
) -> str:
    """The block for ``var``: its statistics over the window, and the reference period's
    (golden batch) in a second column when there is one. With ``fit``, the block takes the
    height it is given (a ``share``-th of it: a trend of several pens) and leaves out the
    least important rows that do not fit in it."""
    unit = f" [{html.escape(var.unit)}]" if var.unit else ""
    labels = dict(ROWS)
    shown = [
        name
        for name, _ in ROWS
        if name != "time_outside_limits_s" or var.low is not None or var.high is not None
    ]
    rank = {name: i + 1 for i, name in enumerate(shown)}
    rows, tip = "", [f"{var.label}{unit}"]
    if stats is not None:
        for name in ORDER:
            if name not in rank:
                continue
            here = cell(var, name, getattr(stats, name))
            cells = f"<td>{html.escape(here)}</td>"
            line = f"{NAMES.get(name, labels[name])}: {here}"
            if reference is not None:
                there = cell(var, name, getattr(reference, name))
                cells += f'<td class="tp-ref">{html.escape(there)}</td>'
                line += f" (reference {there})"
            tip.append(line)
            rows += (
                f'<tr data-stat="{name}" class="tp-r{rank[name]}"><th>{labels[name]}</th>'
                f"{cells}</tr>"
            )
    two = stats is not None and reference is not None
    cols = '<tr class="tp-cols"><th></th><td>window</td><td>ref.</td></tr>' if two else ""
    tip_text = html.escape(chr(10).join(tip))
    box = "tp-box" + (" tp-fit" if fit else "") + (" tp-two" if two else "")
    height = f' style="height:calc(100% / {share})"' if fit and share > 1 else ""
    return (
        f'<div class="{box}"{height}><div class="tp-name" title="{tip_text}">'
        f"{html.escape(var.label)}{unit}</div>"
        f'<table class="tp-stats" data-key="{var.key}" title="{tip_text}">{cols}{rows}</table>'
        "</div>"
    )


def table_html(var: Variable, rows: list[tuple[str, str | None, Stats]]) -> str:
    """``var``'s statistics in rows (a phase's, a compared batch's): each row's label (after
    a swatch of its colour, when it has one), time-weighted average, minimum and maximum;
    every statistic in the row's tooltip."""
    unit = f" [{html.escape(var.unit)}]" if var.unit else ""
    body = ""
    for label, colour, st in rows:
        cells = "".join(
            f"<td>{html.escape(cell(var, name, getattr(st, name)))}</td>"
            for name in ("time_weighted_mean", "min", "max")
        )
        tip = "\n".join(
            [label] + [f"{NAMES.get(name, dict(ROWS)[name])}: {cell(var, name, getattr(st, name))}"
                       for name in ORDER]
        )  # fmt: skip
        swatch = f'<span class="tp-sw" style="background:{colour}"></span>' if colour else ""
        body += (
            f'<tr data-row="{html.escape(label)}" title="{html.escape(tip)}">'
            f'<td class="tp-id">{swatch}{html.escape(label)}</td>{cells}</tr>'
        )
    head = "<tr><th></th><th>avg</th><th>min</th><th>max</th></tr>" if body else ""
    return (
        f'<div class="tp-box"><div class="tp-name">{html.escape(var.label)}{unit}</div>'
        f'<table class="tp-rows" data-key="{var.key}">{head}{body}</table></div>'
    )


CSS = (Path(__file__).parent / "statsview.css").read_text()
