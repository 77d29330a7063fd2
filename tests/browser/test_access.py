"""Access control end to end: Panel's sign-in with scrypt hashes in front of the page and the
CSV route, websocket origins, and the configuration's refusals."""

from __future__ import annotations

import http.client
import http.cookiejar
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest

from tests.harness import visual
from tests.harness.browser import (
    browser_page,
    browser_pages,
    free_port,
    read_sources,
    served,
    wait_until,
)
from tests.harness.database import create_tables, insert, scratch_database
from trending_panel.core.errors import SettingsError
from trending_panel.core.variables import VARIABLES
from trending_panel.serve.access import Access, hash_password, verify_password

pytestmark = pytest.mark.browser
NEWEST = datetime(2024, 5, 1, 12, 0)
PASSWORD = "correct horse, battery: staple $HOME 'ü'"
SECRET = "cookie-secret-for-the-test-0123456789abcdef"


def test_password_hashes_verify_only_their_password():
    hashed = hash_password(PASSWORD)
    assert hashed.startswith("scrypt:") and PASSWORD not in hashed
    assert verify_password(PASSWORD, hashed)
    assert not verify_password(PASSWORD + " ", hashed)
    assert not verify_password(PASSWORD, "scrypt:1:2:3:nonsense")
    assert hash_password(PASSWORD) != hashed  # salted


def test_hash_password_command_reads_stdin():
    out = subprocess.run(
        [sys.executable, "-m", "trending_panel.ops.cli", "hash-password", "--user", "operator"],
        input=PASSWORD + "\n",
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    user, hashed = out.split(":", 1)
    assert user == "operator" and verify_password(PASSWORD, hashed)


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"TRENDING_AUTH_USERS": "operator:plain-password"}, "TRENDING_AUTH_USERS, entry 1"),
        ({"TRENDING_AUTH_FILE": "/nonexistent/users"}, "TRENDING_AUTH_FILE '/nonexistent/users'"),
        ({"PANEL_OAUTH_PROVIDER": "generic"}, "PANEL_COOKIE_SECRET"),
        ({"TRENDING_ALLOWED_ORIGINS": "https://plant.example/"}, "TRENDING_ALLOWED_ORIGINS"),
    ],
)
def test_bad_access_configuration_is_named(env, named):
    with pytest.raises(SettingsError, match=named.replace("(", r"\(")):
        Access.from_env(env)


def test_bad_access_configuration_stops_serve_with_exit_code_2(admin_settings):
    env = {**admin_settings.to_env(), "TRENDING_AUTH_USERS": "operator:hunter2"}
    proc = subprocess.run(
        [sys.executable, "-m", "trending_panel.ops.cli", "serve", "--port", str(free_port())],
        env={**env, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "TRENDING_AUTH_USERS, entry 1" in proc.stderr and "hunter2" not in proc.stderr
    assert "Traceback" not in proc.stderr


def test_default_origin_is_the_served_address():
    assert Access().allowed_origins(None, 8888) == ["localhost:8888"]
    assert Access().allowed_origins("10.1.2.3", 8888) == ["10.1.2.3:8888"]
    assert Access(origins=("hmi.plant:443",)).allowed_origins(None, 1) == ["hmi.plant:443"]


@pytest.fixture(scope="module")
def guarded(admin_settings, tmp_path_factory) -> Iterator[tuple[str, object]]:
    """A served dashboard that lets in only ``operator`` with :data:`PASSWORD`."""
    yield from _guarded(admin_settings, tmp_path_factory)


def _guarded(admin_settings, tmp_path_factory) -> Iterator[tuple[str, object]]:
    with scratch_database(admin_settings, "tp_auth") as (db, conn):
        create_tables(conn)
        for i, var in enumerate(VARIABLES):
            insert(
                conn, var.table, [(NEWEST - timedelta(minutes=k), 10.0 * i + k) for k in range(90)]
            )
        users = tmp_path_factory.mktemp("auth") / "users"
        users.write_text(f"# who may see the trends\noperator:{hash_password(PASSWORD)}\n")
        log = users.with_name("server.log")
        env = {
            **db.to_env(),
            "TRENDING_AUTH_FILE": str(users),
            "TRENDING_COOKIE_SECRET": SECRET,
        }
        port = free_port()
        with served(["trending-panel", "serve", "--port", str(port)], env, port, log=log):
            yield f"http://localhost:{port}", log
        text = log.read_text()
        assert "Traceback" not in text
        for secret in (PASSWORD, SECRET, users.read_text().split(":", 1)[1].strip()):
            assert secret not in text


def _status(url: str, headers: dict | None = None) -> tuple[int, str, str]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status, resp.url, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, url, exc.read().decode()


def test_without_credentials_neither_page_nor_csv(guarded):
    base, _ = guarded
    status, final, body = _status(base + "/?window=1h")
    assert status == 200 and "/login" in final and 'name="password"' in body
    assert "source-temperature" not in body
    status, _, body = _status(base + "/export.csv?window=all")
    assert status == 401 and "sign in first" in body
    # A forged cookie is no better than none.
    status, _, _ = _status(base + "/export.csv?window=all", {"Cookie": 'user="operator"'})
    assert status == 401


def test_signing_in_in_chromium_opens_the_page_and_the_download(guarded, tmp_path):
    base, _ = guarded
    with browser_page() as page:
        page.goto(base + "/?window=1h")
        wait_until(lambda: "/login" in page.url, what="the login page")
        page.fill("input[name=username]", "operator")
        page.fill("input[name=password]", "wrong")
        page.click("button[type=submit], input[type=submit]")
        wait_until(
            lambda: "Invalid username or password" in page.content(), what="the refusal shown"
        )
        assert not read_sources(page)
        page.fill("input[name=username]", "operator")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit], input[type=submit]")
        wait_until(
            lambda: len(read_sources(page).get("temperature", {}).get("time", [])) > 10,
            timeout=30,
            what="the trends after signing in",
        )
        assert SECRET not in page.content()
        with page.expect_download(timeout=30_000) as info:
            page.get_by_role("button", name="Download CSV").click()
        path = tmp_path / "signed-in.csv"
        info.value.save_as(path)
        lines = path.read_text().splitlines()
        assert lines[0].startswith("time,") and len(lines) > 60
        # The same URL from a browser that has not signed in: refused.
        other = page.context.browser.new_context()
        response = other.request.get(base + "/export.csv?window=1h")
        assert response.status == 401
        other.close()


def test_the_login_page_passes_the_visual_check(guarded):
    """Issue 17's visual check of the login page with its refusal shown, light and dark."""
    base, _ = guarded
    failed = {}
    with browser_pages(2, 1366, 768, color_schemes=["light", "dark"]) as pages:
        for scheme, page in zip(("light", "dark"), pages, strict=True):
            page.goto(base + "/")
            wait_until(lambda: "/login" in page.url, what="the login page")  # noqa: B023
            page.fill("input[name=username]", "visitor")
            page.fill("input[name=password]", "wrong")
            page.click("button[type=submit], input[type=submit]")
            wait_until(
                lambda: "Invalid username or password" in page.content(),  # noqa: B023
                what="the refusal shown",
            )
            failed |= visual.problems_at(page, visual.SIZES, f"login {scheme}")
    assert failed == {}, visual.report(failed)


def test_a_websocket_from_a_foreign_origin_is_refused(guarded):
    base, _ = guarded
    port = int(base.rsplit(":", 1)[1])
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    form = urllib.parse.urlencode({"username": "operator", "password": PASSWORD}).encode()
    opener.open(base + "/login", data=form, timeout=30).read()
    cookie = "; ".join(f"{c.name}={c.value}" for c in jar)
    assert "user=" in cookie  # signed in
    answers = {}
    # (The page's own origin is the one Chromium opens its socket from, signed in, above.)
    for origin in ("http://evil.example",):
        conn = http.client.HTTPConnection("localhost", port, timeout=10)
        conn.request(
            "GET",
            "/ws",
            headers={
                "Origin": origin,
                "Upgrade": "websocket",
                "Connection": "Upgrade",
                "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
                "Sec-WebSocket-Version": "13",
                "Cookie": cookie,
            },
        )
        response = conn.getresponse()
        answers[origin] = (response.status, response.read().decode())
        conn.close()
    assert answers["http://evil.example"] == (403, "Cross origin websockets not allowed")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _sign_in(base: str, user: str, password: str) -> tuple[int, str]:
    """POST the login form; (status, where it sends the browser next)."""
    data = urllib.parse.urlencode({"username": user, "password": password}).encode()
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(urllib.request.Request(base + "/login", data=data), timeout=30) as r:
            return r.status, urllib.parse.unquote_plus(r.headers.get("Location", ""))
    except urllib.error.HTTPError as exc:
        return exc.code, urllib.parse.unquote_plus(exc.headers.get("Location", ""))


def test_wrong_passwords_are_answered_five_times_then_locked(admin_settings, tmp_path_factory):
    """A guesser gets five answers per user and per address within five minutes, then a
    refusal that does not check the password (the right one included) for a growing delay,
    said on the login page and in the log, without the password."""
    for base, log in _guarded(admin_settings, tmp_path_factory):  # a server of its own
        answers = [_sign_in(base, "operator", f"guess-{k}") for k in range(8)]
        assert all(status == 302 for status, _ in answers)
        said = [where.split("error=", 1)[1] for _, where in answers]
        assert all(s == "Invalid username or password!" for s in said[:4]), said
        assert "Too many failed sign-ins: try again in 30 s" in said[4]  # the fifth: locked
        locked = said[5:]
        assert all(s.startswith("Too many failed sign-ins: try again in") for s in locked)
        assert not any("Invalid" in s for s in locked)  # not checked: nothing to learn
        _, where = _sign_in(base, "operator", PASSWORD)  # even the right one waits
        assert "Too many failed sign-ins" in where and "/login" in where
        text = log.read_text()
        assert text.count("refused a sign-in as 'operator'") == 9
        assert "locked for 30 s after too many failures" in text
        assert "guess-" not in text and PASSWORD not in text
