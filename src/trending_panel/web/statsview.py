"""The statistics of the window beside each trend: a small block per variable.

A view only: the numbers come from :mod:`trending_panel.stats` (over every row, in SQL).
"""

from __future__ import annotations

import html
from pathlib import Path

from trending_panel.core.variables import Variable
from trending_panel.read.stats import Stats

#: Rows of the block: field, label, and how to write it (decimals of the variable or fixed).
ROWS = (
    ("time_weighted_mean", "average (time-weighted)"),
    ("mean", "mean of samples"),
    ("min", "min"),
    ("max", "max"),
    ("std", "std"),
    ("samples", "samples"),
    ("coverage", "coverage"),
    ("time_outside_limits_s", "outside limits"),
)


def _cell(var: Variable, name: str, value: object) -> str:
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


def block_html(var: Variable, stats: Stats | None, *, reference: Stats | None = None) -> str:
    """The block for ``var``: its statistics over the window, and the reference period's
    (golden batch) in a second column when there is one."""
    body = ""
    if stats is not None:
        head = '<tr><th></th><td class="tp-col">window</td><td class="tp-col">ref.</td></tr>'
        body = head if reference is not None else ""
        for name, label in ROWS:
            if name == "time_outside_limits_s" and var.low is None and var.high is None:
                continue
            cells = f"<td>{html.escape(_cell(var, name, getattr(stats, name)))}</td>"
            if reference is not None:
                cells += (
                    f'<td class="tp-ref">{html.escape(_cell(var, name, getattr(reference, name)))}'
                    "</td>"
                )
            body += f'<tr data-stat="{name}"><th>{label}</th>{cells}</tr>'
    unit = f" [{html.escape(var.unit)}]" if var.unit else ""
    return (
        f'<table class="tp-stats" data-key="{var.key}"><caption>{html.escape(var.label)}{unit}'
        f"</caption>{body}</table>"
    )


CSS = (Path(__file__).parent / "statsview.css").read_text()
