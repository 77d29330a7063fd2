"""``TRENDING_CONFIG``: the variables from a TOML file, every problem named."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta

import pytest

from trending_panel.core.errors import SettingsError
from trending_panel.core.settings import Settings
from trending_panel.core.variables import VARIABLES
from trending_panel.ops.simulate import Plant

ENV = {
    "POSTGRES_HOST": "localhost",
    "POSTGRES_PORT": "5432",
    "POSTGRES_USER": "u",
    "POSTGRES_PASSWORD": "p",
    "POSTGRES_DB": "d",
}
FIVE = """
[[variables]]
table = "CM_HAM_DO_AI1/Temp_value"
label = "Temperature"
unit = "°C"
key = "temperature"
low = 36.5
high = 37.8

[[variables]]
table = "CM_HAM_PH_AI1/pH_value"
label = "pH"
decimals = 3
key = "ph"

[[variables]]
table = "CM_PID_DO/Process_DO"
label = "Dissolved oxygen"
unit = "%"

[[variables]]
table = "CM_PRESSURE/Output"
label = "Pressure"
unit = "psi"

[[variables]]
table = "CM_FEED/Glucose g/L"
label = "Glucose (feed)"
unit = "g/L"
color = "#ff7f0e"
low = 2
"""


def settings_with(tmp_path, text: str) -> Settings:
    path = tmp_path / "trending.toml"
    path.write_text(text, encoding="utf-8")
    return Settings.from_env({**ENV, "TRENDING_CONFIG": str(path)})


def test_without_a_file_the_four_tables_of_the_spec_with_limits():
    settings = Settings.from_env(ENV)
    assert settings.variables == VARIABLES
    assert all(v.low is not None or v.high is not None for v in VARIABLES)


def test_a_fifth_table_in_the_file_is_a_fifth_variable(tmp_path):
    settings = settings_with(tmp_path, FIVE)
    assert [v.key for v in settings.variables] == [
        "temperature", "ph", "dissolved_oxygen", "pressure", "glucose_feed"
    ]  # fmt: skip
    glucose = settings.by_key["glucose_feed"]
    assert (glucose.table, glucose.unit, glucose.color, glucose.low, glucose.high) == (
        "CM_FEED/Glucose g/L", "g/L", "#ff7f0e", 2.0, None
    )  # fmt: skip
    assert settings.by_key["temperature"].low == 36.5
    assert settings.by_key["dissolved_oxygen"].color.startswith("#")  # from the palette
    hash(settings)  # still usable as the key of the process-wide feed


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("[[variables]]\nlabel = 'x'\n", "variables entry 1: table is required"),
        (FIVE + "\n[[variables]]\ntable = 'T'\nlabel = 'T'\nlow = 5\nhigh = 1\n",
         "variables entry 6 ('T'): low (5) must be below high (1)"),
        ("[[variables]]\ntable = 'T'\nlabel = 'T'\ncolor = 'red'\n",
         "variables entry 1 ('T'): color must be #rrggbb, got 'red'"),
        ("[[variables]]\ntable = 'T'\nlabel = 'T'\nlimit = 3\n",
         "variables entry 1 ('T'): unknown setting(s) limit"),
        ("[[variables]]\ntable = 'T'\nlabel = 'T'\ndecimals = 2.5\n",
         "variables entry 1 ('T'): decimals must be a whole number 0-10"),
        ("[[variables]]\ntable = 'T'\nlabel = 'T'\nhigh = 'hot'\n",
         "variables entry 1 ('T'): high must be a finite number, got 'hot'"),
        ("[[variables]]\ntable = 'T'\nlabel = 'A'\n[[variables]]\ntable = 'T'\nlabel = 'B'\n",
         "table 'T' appears twice"),
        ("[[variables]]\ntable = 'T'\nlabel = 'A b'\n[[variables]]\ntable = 'U'\nlabel = 'a-b'\n",
         "key 'a_b' appears twice"),
        ("[[variables]\ntable = 'T'\n", "not valid TOML"),
        ("title = 'x'\n", "unknown section(s) title"),
        ("", "no [[variables]] entries"),
    ],
)  # fmt: skip
def test_a_bad_file_names_the_entry_and_the_problem(tmp_path, text, named):
    with pytest.raises(SettingsError) as info:
        settings_with(tmp_path, text)
    assert named in str(info.value)
    assert "trending.toml" in str(info.value)


def test_a_missing_file_is_named():
    with pytest.raises(SettingsError, match=r"TRENDING_CONFIG '/nowhere\.toml': No such file"):
        Settings.from_env({**ENV, "TRENDING_CONFIG": "/nowhere.toml"})


def test_a_bad_file_stops_the_program_with_exit_code_2(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[[variables]]\ntable = 'T'\nlabel = 'T'\nlow = 5\nhigh = 1\n")
    proc = subprocess.run(
        [sys.executable, "-m", "trending_panel.ops.cli", "export", "--window", "1h"],
        env={**ENV, "TRENDING_CONFIG": str(path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "variables entry 1 ('T'): low (5) must be below high (1)" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_the_simulated_plant_stays_inside_the_default_limits():
    plant = Plant()
    rows = plant.rows(datetime(2024, 1, 1), datetime(2024, 1, 1) + timedelta(hours=24))
    for var in VARIABLES:
        values = [v for _, v in rows[var.key]]
        assert values
        assert var.low is None or min(values) >= var.low, (var.key, min(values))
        assert var.high is None or max(values) <= var.high, (var.key, max(values))
