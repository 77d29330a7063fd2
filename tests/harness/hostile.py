"""Hostile query strings for Hypothesis: what the page's URL and the CSV route may receive
(invalid UTF-8, NUL, repeated and unknown keys, extreme times, huge values, SQL text)."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote_from_bytes

from hypothesis import strategies as st

from trending_panel.core.timewindow import PRESET_KEYS

NEWEST = datetime(2024, 5, 1, 12, 0)
KEYS = (
    "window",
    "start",
    "end",
    "variables",
    "ref",
    "pens",
    "display",
    "colors",
    "y1min",
    "y2max",
    "batch",
)
SQL_TEXT = [
    '\'; DROP TABLE "CM_PRESSURE/Output"; --',
    '") OR 1=1 --',
    '1h; DELETE FROM "CM_HAM_PH_AI1/pH_value"',
    "temperature,ph'||pg_sleep(10)||'",
    "$$; SELECT pg_terminate_backend(pg_backend_pid()); $$",
]


def _iso(t: datetime) -> bytes:
    return t.isoformat().encode()


#: Values: arbitrary bytes (invalid UTF-8, NUL), what the app understands, near misses,
#: extreme and inverted times, huge values and SQL text.
values = st.one_of(
    st.binary(max_size=40),
    st.sampled_from([k.encode() for k in PRESET_KEYS]),
    st.sampled_from([b"temperature,ph", b"pressure", b"ph,ph", b"", b",", b"oxygen,nope"]),
    st.sampled_from(
        [
            b"ph;temperature,ph",
            b";;",
            b"ph%2Cph",
            b"default",
            b"../etc/passwd",
            b"#00ff00",
            b"#zzz",
            b"5",
            b"nan",
            b"-inf",
        ]
    ),
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)).map(_iso),
    st.sampled_from(
        [
            b"0001-01-01T00:00+14:00",
            b"9999-12-31T23:59:59-12:00",
            b"2024-02-30T00:00",
            b"2024-05-01T12:00:00.000000001",
            b"\x00",
            b"%00%ff",
            b"\xff\xfe",
            b"1e308h",
            b"99999999999999999999d",
            b"-5m",
            b"x" * 5000,
        ]
    ),
    st.sampled_from([s.encode() for s in SQL_TEXT]),
)
keys = st.one_of(st.sampled_from(KEYS), st.binary(min_size=1, max_size=12))
queries = st.lists(st.tuples(keys, values), max_size=5)


def as_args(pairs: list[tuple]) -> dict[str, list[bytes]]:
    """What Tornado makes of a query string: text keys, byte values, repeats kept."""
    out: dict[str, list[bytes]] = {}
    for key, value in pairs:
        name = key if isinstance(key, str) else key.decode("latin-1")
        out.setdefault(name, []).append(value)
    return out


def as_url(pairs: list[tuple]) -> str:
    return "&".join(
        f"{quote_from_bytes(k.encode() if isinstance(k, str) else k)}={quote_from_bytes(v)}"
        for k, v in pairs
    )
