"""Who may open the dashboard and download its data, and from which pages.

Optional, and only through Panel's own mechanisms:

- **Basic auth**: Panel's login page and signed cookie (``BasicAuthProvider``), with one
  difference: the passwords it checks against are scrypt hashes (``trending-panel
  hash-password``), from ``TRENDING_AUTH_USERS`` (``user:hash,user:hash``) or a file named by
  ``TRENDING_AUTH_FILE`` (a ``user:hash`` line each), never plain text.
- **OAuth / OpenID Connect**: Panel's providers, configured entirely by Panel's own
  environment variables (``PANEL_OAUTH_PROVIDER``, ``PANEL_OAUTH_KEY``, ``PANEL_OAUTH_SECRET``,
  ``PANEL_OAUTH_EXTRA_PARAMS``, ``PANEL_COOKIE_SECRET``, ``PANEL_OAUTH_ENCRYPTION``…).
- **Websocket origins**: ``TRENDING_ALLOWED_ORIGINS`` (``host[:port]``, comma-separated); by
  default only the address the server was started for.

The CSV route checks the same signed cookie as the page (:func:`signed_in`).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from trending_panel.core.errors import SettingsError
from trending_panel.serve.throttle import Throttle

log = logging.getLogger(__name__)

#: scrypt's cost: 2^15 (32 MB, about 0.1 s a check): slow for a guesser, quick for a login.
_N, _R, _P = 2**15, 8, 1


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """``scrypt:N:r:p:salt:hash`` (URL-safe base64, no padding): no ``$`` or ``,`` in it, so it
    survives env files, compose files and the comma list of ``TRENDING_AUTH_USERS``."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=_N, r=_R, p=_P, maxmem=128 * 1024 * 1024
    )
    return ":".join(["scrypt", str(_N), str(_R), str(_P), _b64(salt), _b64(digest)])


def verify_password(password: str, hashed: str) -> bool:
    """True when ``password`` matches ``hashed`` (constant time in the hash's length)."""
    try:
        scheme, n, r, p, salt, digest = hashed.split(":")
        if scheme != "scrypt":
            return False
        expected = _unb64(digest)
        actual = hashlib.scrypt(
            password.encode(),
            salt=_unb64(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            maxmem=128 * 1024 * 1024,
            dklen=len(expected),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Access:
    """Validated access settings for ``serve`` (the database settings are apart)."""

    #: user → scrypt hash; empty: no basic auth.
    users: Mapping[str, str] = field(default_factory=dict, repr=False)
    #: Panel's OAuth provider name (``PANEL_OAUTH_PROVIDER``), or None.
    oauth_provider: str | None = None
    #: Secret that signs the login cookie; None: not configured (one is made per start).
    cookie_secret: str | None = field(default=None, repr=False)
    #: Websocket origins allowed (``host[:port]``); empty: the address served on.
    origins: tuple[str, ...] = ()

    @property
    def enabled(self) -> bool:
        return bool(self.users) or self.oauth_provider is not None

    def allowed_origins(self, address: str | None, port: int) -> list[str]:
        """What Bokeh's ``allow_websocket_origin`` gets: the configured origins, else only
        the address the server was started for (``localhost`` when it listens everywhere)."""
        if self.origins:
            return list(self.origins)
        host = address if address and address not in ("0.0.0.0", "::") else "localhost"
        return [f"{host}:{port}"]

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Access:
        env = os.environ if env is None else env
        users: dict[str, str] = {}
        if text := env.get("TRENDING_AUTH_USERS", "").strip():
            users.update(_users(text.split(","), "TRENDING_AUTH_USERS"))
        if path := env.get("TRENDING_AUTH_FILE", "").strip():
            try:
                lines = Path(path).read_text(encoding="utf-8").splitlines()
            except OSError as exc:
                raise SettingsError(f"TRENDING_AUTH_FILE {path!r}: {exc.strerror}") from None
            users.update(_users(lines, f"TRENDING_AUTH_FILE {path!r}"))
        provider = env.get("PANEL_OAUTH_PROVIDER", "").strip() or None
        if users and provider:
            raise SettingsError(
                "both basic auth (TRENDING_AUTH_USERS/TRENDING_AUTH_FILE) and OAuth "
                "(PANEL_OAUTH_PROVIDER) are configured: choose one"
            )
        if provider and not env.get("PANEL_COOKIE_SECRET", "").strip():
            raise SettingsError(
                "PANEL_OAUTH_PROVIDER needs PANEL_COOKIE_SECRET (a long random text)"
            )
        origins = tuple(
            o.strip() for o in env.get("TRENDING_ALLOWED_ORIGINS", "").split(",") if o.strip()
        )
        for origin in origins:
            if "/" in origin or " " in origin:
                raise SettingsError(
                    f"TRENDING_ALLOWED_ORIGINS: {origin!r} is not host[:port] (no scheme, no path)"
                )
        secret = (
            env.get("TRENDING_COOKIE_SECRET", "").strip()
            or env.get("PANEL_COOKIE_SECRET", "").strip()
            or None
        )
        return cls(users=users, oauth_provider=provider, cookie_secret=secret, origins=origins)

    def serve_options(self) -> dict:
        """Keyword arguments for ``pn.serve``: the auth provider and its cookie secret."""
        if not self.enabled:
            return {}
        secret = self.cookie_secret
        if secret is None:
            secret = secrets.token_urlsafe(32)
            log.warning(
                "no TRENDING_COOKIE_SECRET: sign-ins last until this server restarts "
                "(set one to keep them, and the same one on every server behind a balancer)"
            )
        if self.oauth_provider is not None:
            return {"oauth_provider": self.oauth_provider, "cookie_secret": secret}
        return {"auth_provider": _provider(dict(self.users)), "cookie_secret": secret}


def _users(lines: list[str], where: str) -> dict[str, str]:
    out = {}
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        user, sep, hashed = line.partition(":")
        if not sep or not user or not hashed.startswith("scrypt:") or hashed.count(":") != 5:
            raise SettingsError(
                f"{where}, entry {number}: expected user:scrypt:… "
                "(make one with `trending-panel hash-password --user NAME`)"
            )
        out[user] = hashed
    return out


def _provider(users: dict[str, str]):
    """Panel's basic-auth provider, its login handler checking scrypt hashes."""
    from panel.auth import BasicAuthProvider, BasicLoginHandler

    def check(username: str, password: str) -> bool:
        hashed = users.get(username)
        return hashed is not None and verify_password(password, hashed)

    throttle = Throttle()

    class HashedLoginHandler(BasicLoginHandler):
        async def post(self) -> None:
            # scrypt takes a tenth of a second on purpose: in a thread, not on the event loop
            # (Panel's own post() then asks _validate, which answers with this result).
            username = self.get_argument("username", "")
            keys = (f"user:{username}", f"address:{self.request.remote_ip}")
            wait = throttle.wait_s(*keys)
            if wait > 0:  # refused unchecked: a guesser learns nothing while locked
                log.warning(
                    "refused a sign-in as %r from %s unchecked: locked for %.0f s more after "
                    "too many failures", username[:64], self.request.remote_ip, wait,
                )  # fmt: skip
                self._refuse(f"Too many failed sign-ins: try again in {_seconds(wait)}.")
                return
            self._checked = await asyncio.to_thread(
                check, username, self.get_argument("password", "")
            )
            if self._checked:
                throttle.succeeded(*keys)
                super().post()
                return
            locked = throttle.failed(*keys)
            log.warning(
                "refused a sign-in as %r from %s%s", username[:64], self.request.remote_ip,
                f"; locked for {locked:.0f} s after too many failures" if locked else "",
            )  # fmt: skip
            message = "Invalid username or password!"
            if locked:
                message += f" Too many failed sign-ins: try again in {_seconds(locked)}."
            self._refuse(message)

        def _refuse(self, message: str) -> None:
            """Back to the login page with ``message`` (as Panel's own handler does)."""
            import tornado.escape

            uri = self.request.uri.split("?")[0]
            self.redirect(uri + "?error=" + tornado.escape.url_escape(message))

        def _validate(self, username: str, password: str) -> bool:
            return getattr(self, "_checked", False)

    class HashedBasicAuthProvider(BasicAuthProvider):
        @property
        def login_handler(self):
            HashedLoginHandler._login_endpoint = self._login_endpoint
            HashedLoginHandler._login_template = self._login_template
            return HashedLoginHandler

    # Our sign-in page, not Panel's: the page's title, labelled fields, both colour schemes,
    # an error that reads, and nothing fetched from a CDN (plants are often offline).
    return HashedBasicAuthProvider(login_template=str(Path(__file__).with_name("login.html")))


def _seconds(s: float) -> str:
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.0f} min"


def signed_in(handler) -> bool:
    """True when the Tornado ``handler``'s request may have data: no auth is configured, or
    the provider (Panel's, from the server's application) knows its user."""
    provider = getattr(handler.application, "auth_provider", None)
    if provider is None or (provider.get_user is None and provider.get_user_async is None):
        return True
    return bool(handler.current_user)
