"""Connection diagnosis in the page (Chromium against a served dashboard): a site whose
database cannot be used shows what failed and what to check in place of empty plots, and
names unreadable, slow and doubtful tables in the header, never with the password. The same
site's CLI and ``check``: tests/db/test_diagnosis.py."""

from __future__ import annotations

import psycopg
import pytest

from tests.harness import visual
from tests.harness.browser import browser_page, browser_pages, free_port, served, wait_until
from tests.harness.diagnosis_site import (
    CAUSES,
    PH,
    PRESSURE,
    leaks,
)


@pytest.mark.browser
def test_the_page_shows_the_diagnosis_instead_of_empty_plots(site):
    for cause, settings in site["wrong"].items():
        words = CAUSES[cause][1].format(**site["names"])
        port = free_port()
        cmd = ["trending-panel", "serve", "--port", str(port)]
        with served(cmd, settings.to_env(), port), browser_page(1366, 768) as page:
            page.goto(f"http://localhost:{port}/")
            box = page.locator(f".tp-diagnosis[data-cause={cause}]")
            wait_until(lambda: box.count() == 1, what=f"the diagnosis of {cause}")  # noqa: B023
            wait_until(
                lambda: words in page.locator(".tp-status").inner_text(),  # noqa: B023
                what=f"{cause} in the header",
            )
            said = box.inner_text()
            assert words in said and "What to do:" in said
            assert (
                page.locator(".tp-stats").count() == 0
                or not page.locator(".tp-stats").first.is_visible()
            )  # no empty plots beside it
            assert leaks(page_text(page)) == [] and leaks(page.content()) == []


@pytest.mark.browser
def test_the_page_names_unreadable_slow_and_doubtful_tables(site, admin_settings):
    port = free_port()
    good = site["good"]
    with served(["trending-panel", "serve", "--port", str(port)], good.to_env(), port) as proc:
        with browser_page(1366, 768) as page:
            page.goto(f"http://localhost:{port}/")
            status = page.locator(".tp-status")
            wait_until(lambda: "Live" in status.inner_text(), what="live")
            wait_until(lambda: "ahead of the clock" in status.inner_text(), what="the 2099 row")
            said = status.inner_text()
            assert f"{PRESSURE.table}: no SELECT permission" in said
            assert f"{PH.table}: no index on time" in said
            assert f'CREATE INDEX ON "{PH.table}" ("time");' in said
            assert leaks(page_text(page)) == []
        # DBAs see the dashboard's sessions by name
        with psycopg.connect(admin_settings.conninfo(), autocommit=True) as c:
            names = c.execute(
                "SELECT application_name FROM pg_stat_activity WHERE datname = %s AND usename = %s",
                (good.dbname, good.user),
            ).fetchall()
        assert ("trending-panel",) in names
    assert proc.returncode == 0


def page_text(page) -> str:
    """Every HTML pane's text in the page's Bokeh document (the header, the diagnosis)."""
    return page.evaluate(
        """() => [...Bokeh.documents[0].all_models]
             .filter(m => typeof m.text === "string").map(m => m.text).join("\\n")"""
    )


@pytest.mark.browser
def test_the_diagnosis_and_a_refused_csv_pass_the_visual_check():
    """Issue 17's visual check of the diagnosis shown in place of the trends (a database that
    refuses connections), light and dark, on a laptop and a full-HD screen; with the CSV
    button's refusal shown in the page (checked before any download starts)."""
    port, nobody = free_port(), free_port()
    env = {"POSTGRES_HOST": "127.0.0.1", "POSTGRES_PORT": str(nobody), "POSTGRES_USER": "plant",
           "POSTGRES_PASSWORD": "unused", "POSTGRES_DB": "plant"}  # fmt: skip
    failed = {}
    with (
        served(["trending-panel", "serve", "--port", str(port)], env, port),
        browser_pages(2, 1366, 768, color_schemes=["light", "dark"]) as pages,
    ):
        for scheme, page in zip(("light", "dark"), pages, strict=True):
            page.goto(f"http://localhost:{port}/")
            box = page.locator(".tp-diagnosis[data-cause=refused]")
            wait_until(lambda: box.count() == 1, what="the diagnosis")  # noqa: B023
            downloads = []
            page.on("download", lambda d: downloads.append(d))  # noqa: B023
            page.get_by_role("button", name="Download CSV").click()
            said = page.locator(".tp-csv-status")
            wait_until(lambda: said.inner_text().startswith("CSV refused"), what="the refusal")  # noqa: B023
            assert "database unavailable: connection refused" in said.inner_text()
            assert downloads == []
            failed |= visual.problems_at(page, visual.SIZES, f"diagnosis {scheme}")
    assert failed == {}, visual.report(failed)
