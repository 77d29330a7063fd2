"""Saved displays (``TRENDING_DISPLAYS``): the file format both ways, and each mistake named."""

from __future__ import annotations

import pytest

from trending_panel.core.displays import Display, Displays, TrendSpec, check_name
from trending_panel.core.errors import ConfigError


def test_a_display_round_trips_through_its_file_with_any_key(tmp_path):
    folder = Displays(tmp_path)
    display = Display(
        "reactor-1",
        (
            TrendSpec(("BR01/TEMP_PV", 'odd "key" \\ ü,;'), 30.0, 40.5, ("#d62728", "#00aa00")),
            TrendSpec(("BR01/PH_PV",), None, 7.5),
        ),
    )
    path = folder.save(display)
    assert path.name == "reactor-1.toml"
    assert folder.load("reactor-1") == display
    assert folder.names() == ["reactor-1"]
    assert not list(tmp_path.glob(".display-*"))  # the temporary file was renamed


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[[trends]]\npens = []\n", "pens must be a list of tag keys"),
        ('[[trends]]\npens = ["a"]\ny_min = 2\ny_max = 1\n', "y_min (2) must be below y_max (1)"),
        ('[[trends]]\npens = ["a"]\ny_max = "high"\n', "y_max must be a finite number"),
        ('[[trends]]\npens = ["a"]\ncolour = 1\n', "unknown setting(s) colour"),
        ('[[trends]]\npens = ["a"]\ncolors = ["red"]\n', 'colors must be a list of "#rrggbb"'),
        ("[view]\n", "unknown section(s) view"),
        ("title = 'x'\n", "unknown section(s) title"),
        ("", "no [[trends]] entries"),
        ("[[trends]\n", "not valid TOML"),
    ],
)
def test_each_mistake_in_a_file_is_named_with_the_file_and_trend(tmp_path, text, problem):
    (tmp_path / "bad.toml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        Displays(tmp_path).load("bad")
    assert problem in str(caught.value)
    assert "bad.toml" in str(caught.value)


def test_a_missing_display_and_a_bad_name_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="no display named 'nope'"):
        Displays(tmp_path).load("nope")
    for name in ("../etc/passwd", "", "a/b", ".hidden", "x" * 65):
        with pytest.raises(ValueError, match="is not a display name"):
            check_name(name)


def test_at_most_sixteen_trends_in_a_display(tmp_path):
    (tmp_path / "big.toml").write_text('[[trends]]\npens = ["a"]\n' * 17, encoding="utf-8")
    with pytest.raises(ConfigError, match="17 trends; at most 16"):
        Displays(tmp_path).load("big")
