"""What a dashboard process keeps of the shared rollup (no database: its memory bound)."""

from __future__ import annotations


def test_what_the_rollup_view_keeps_is_bounded_by_bytes():
    """A live window's newest span moves with the watermark: a new key each time. What is
    kept stays within its byte budget, the least recently used going first."""
    from types import SimpleNamespace

    import numpy as np

    from trending_panel.core import m4
    from trending_panel.core.settings import Settings
    from trending_panel.live import rollup_view

    settings = Settings(host="h", port=5432, user="u", password="", dbname="d")
    view = rollup_view.RollupView(SimpleNamespace(store=None, settings=settings))
    t = np.arange(100_000, dtype="int64") * 1_000_000
    span = m4.aggregate(t, np.ones(len(t)), 0, 1_000_000, 10**9)  # 100,000 buckets, 16.8 MB
    for minute in range(40):
        view.keep(("BR01/T", 0, 0, minute), span)
    assert view.kept_bytes <= rollup_view.KEPT_BYTES
    assert view.kept(("BR01/T", 0, 0, 39)) is span  # the newest stays
    assert view.kept(("BR01/T", 0, 0, 0)) is None  # the oldest went
