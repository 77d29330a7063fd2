"""Time windows: relative presets that follow the data, and absolute ranges that do not.

A relative window ("last 1 h") ends at the **newest sample in the database**, not at the wall
clock: a live batch then follows the clock anyway, and a finished batch from years ago still
opens on its last hour instead of an empty page. Database timestamps are naive; they are
interpreted in one configured zone (UTC by default) and never in the host's local zone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

_UNITS = {
    "ms": timedelta(milliseconds=1),
    "s": timedelta(seconds=1),
    "m": timedelta(minutes=1),
    "min": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
    "w": timedelta(weeks=1),
}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|min|m|h|d|w)\s*$")

#: Relative presets offered in the UI, in order (URL spelling); ``all``: every row there is.
PRESET_KEYS = ("5m", "15m", "1h", "6h", "24h", "7d", "30d", "all")
DEFAULT_WINDOW = "1h"
#: ``?end=now``: an absolute start whose end follows the newest sample.
LIVE_END = "now"


def parse_duration(text: str) -> timedelta:
    """``"90s"``, ``"5m"``, ``"1.5h"``, ``"7d"`` → timedelta. Raises ValueError with the input."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(
            f"{text!r} is not a duration (use a number and a unit: ms, s, m, h, d, w; e.g. 24h)"
        )
    return float(match.group(1)) * _UNITS[match.group(2)]


#: Preset → its length (``None`` for all data).
PRESETS: dict[str, timedelta | None] = {
    key: None if key == "all" else parse_duration(key) for key in PRESET_KEYS
}


def preset_label(key: str) -> str:
    """``"5m"`` → ``"Last 5 min"``; ``"all"`` → ``"All data"``."""
    if key == "all":
        return "All data"
    number, unit = key[:-1], key[-1]
    return f"Last {number} {'min' if unit == 'm' else unit}"


#: Times outside these years are refused: no process data is older, and both ends keep
#: every sum of times and durations inside what datetime, numpy and PostgreSQL represent.
EARLIEST = datetime(1900, 1, 1)
LATEST = datetime(2200, 1, 1)


def _shown(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:40] + "…")


def parse_time(text: str, tz: ZoneInfo) -> datetime:
    """ISO 8601 → naive datetime in the data's zone. An offset, if given, is honoured."""
    try:
        value = datetime.fromisoformat(text.strip().replace(" ", "T", 1))
        if value.tzinfo is not None:
            value = value.astimezone(tz).replace(tzinfo=None)
    except (ValueError, OverflowError) as exc:
        raise ValueError(
            f"{_shown(text)} is not an ISO 8601 date-time (e.g. 2023-05-04T10:00)"
        ) from exc
    return within_range(value, text)


def within_range(value: datetime, text: str | None = None) -> datetime:
    """``value`` if it lies within :data:`EARLIEST`-:data:`LATEST`, else ValueError naming it
    (as ``text``, what the user wrote, when given)."""
    # A date (a picker may give one) is its midnight; anything else is no time (TypeError).
    moment = value if isinstance(value, datetime) else datetime.combine(value, datetime.min.time())
    if not EARLIEST <= moment <= LATEST:
        shown = _shown(text if text is not None else value.isoformat())
        raise ValueError(f"{shown} is outside {EARLIEST.year}-{LATEST.year}; give a time within")
    return value


def query_text(
    args: Mapping[str, list[bytes]], keys: tuple[str, ...], limit: int = 1000
) -> dict[str, str]:
    """The ``keys`` of a raw query string (Tornado's ``query_arguments``) as text: each given
    once, valid UTF-8, without NUL, at most ``limit`` characters. Raises ValueError naming the
    parameter and what is wrong with it."""
    out: dict[str, str] = {}
    for key in keys:
        values = args.get(key)
        if not values:
            continue
        if len(values) != 1:
            raise ValueError(f"give {key} once")
        try:
            text = values[0].decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError(f"{key} is not valid UTF-8") from None
        if "\x00" in text or len(text) > limit:
            raise ValueError(f"{key} is not a valid value")
        out[key] = text
    return out


def format_time(value: datetime) -> str:
    """Naive datetime → ISO 8601 without a needless fraction."""
    return value.isoformat(timespec="milliseconds" if value.microsecond else "seconds")


@dataclass(frozen=True)
class TimeWindow:
    """Either a relative ``preset`` or an absolute ``start``/``end`` (naive, data zone)."""

    preset: str | None = DEFAULT_WINDOW
    start: datetime | None = None
    end: datetime | None = None
    #: An absolute start whose end follows the newest sample once it passes ``end`` (a
    #: running batch): streamed rows extend it like a relative window's.
    live_end: bool = False

    def __post_init__(self) -> None:
        if self.preset is not None:
            if self.preset not in PRESETS:
                raise ValueError(
                    f"unknown window {_shown(self.preset)}; choose one of {', '.join(PRESETS)}"
                )
        elif self.start is None or self.end is None:
            raise ValueError("an absolute window needs both start and end")
        elif self.end <= self.start:
            raise ValueError(f"window end {self.end} is not after its start {self.start}")

    @property
    def is_relative(self) -> bool:
        """The window moves with the newest sample (a preset, or a start with a live end)."""
        return self.preset is not None or self.live_end

    def resolve(self, newest: datetime | None) -> tuple[datetime | None, datetime | None]:
        """The concrete ``[start, end]`` to query; ``None`` means unbounded on that side."""
        if self.preset is None:
            if self.live_end and newest is not None and self.end is not None and newest > self.end:
                return self.start, newest
            return self.start, self.end
        length = PRESETS[self.preset]
        if length is None or newest is None:
            return None, None
        return newest - length, newest

    def label(self) -> str:
        if self.preset is not None:
            return preset_label(self.preset)
        assert self.start is not None and self.end is not None
        if self.live_end:
            return f"{format_time(self.start)} – now"
        return f"{format_time(self.start)} – {format_time(self.end)}"

    def slug(self, newest: datetime | None) -> str:
        """File-name-safe description of the resolved window."""
        start, end = self.resolve(newest)
        if start is None or end is None:
            return "all-data"

        def stamp(t: datetime) -> str:
            return t.strftime("%Y%m%dT%H%M%S")

        return f"{stamp(start)}_{stamp(end)}"

    def to_query(self) -> dict[str, str]:
        """URL query parameters that reproduce this window."""
        if self.preset is not None:
            return {"window": self.preset}
        assert self.start is not None and self.end is not None
        return {"start": format_time(self.start),
                "end": LIVE_END if self.live_end else format_time(self.end)}  # fmt: skip

    @classmethod
    def from_query(cls, query: Mapping[str, str], tz: ZoneInfo) -> TimeWindow:
        """Build from URL query parameters (``window=24h``, ``start=..&end=..``, or
        ``start=..&end=now``: from that start to the newest sample, following it)."""
        start, end = query.get("start"), query.get("end")
        if start or end:
            if not (start and end):
                raise ValueError("give both start and end, or neither")
            first = parse_time(start, tz)
            if end.strip().lower() == LIVE_END:
                return cls(preset=None, start=first, end=first + timedelta(seconds=1),
                           live_end=True)  # fmt: skip
            return cls(preset=None, start=first, end=parse_time(end, tz))
        window = (query.get("window") or DEFAULT_WINDOW).strip()
        if window not in PRESETS:
            raise ValueError(f"unknown window {_shown(window)}; choose one of {', '.join(PRESETS)}")
        return cls(preset=window)


def window_of(
    window: str, start: datetime | None, end: datetime | None, live_end: bool = False
) -> TimeWindow:
    """A session's window parameters (a preset, or ``custom`` and its ends) as a window."""
    if window == "custom":
        return TimeWindow(preset=None, start=start, end=end, live_end=live_end)
    return TimeWindow(preset=window)


def window_problem(window: str, start: datetime | None, end: datetime | None) -> str:
    """Why a session's window parameters make no window (empty when they do)."""
    try:
        window_of(window, start, end)
        if window == "custom":
            within_range(start)  # the URL's rules
            within_range(end)
    except (ValueError, TypeError) as exc:
        return str(exc)
    return ""


def rows_dated(n: int, first: datetime, last: datetime) -> str:
    """``1 row dated T`` or ``N rows dated T1 to T2`` (rows ahead of the clock, say)."""
    if n == 1:
        return f"1 row dated {format_time(first)}"
    return f"{n:,} rows dated {format_time(first)} to {format_time(last)}"
