"""The wheel holds the product: the seven layers, their JS and CSS, nothing of the tests."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_wheel_holds_only_the_package_and_its_assets(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation",
         "--quiet", "-w", str(tmp_path)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    [wheel] = tmp_path.glob("trending_panel-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    product = [n for n in names if not n.startswith("trending_panel-")]  # not the dist-info
    assert product and all(n.startswith("trending_panel/") for n in product), product
    assert not [n for n in product if "test" in n or "harness" in n or "browser" in n]
    layers = {n.split("/")[1] for n in product if n.count("/") >= 2}
    assert layers == {"core", "db", "live", "read", "web", "serve", "ops"}
    assets = {n.rsplit("/", 1)[1] for n in product if n.endswith((".js", ".css", ".html"))}
    assert assets == {"cursor.js", "theme.js", "bokehjs_speed.js", "ages.js", "csv_button.js",
                      "csv_button.css", "header.css", "statsview.css", "tag_panel.css",
                      "login.html"}  # fmt: skip
