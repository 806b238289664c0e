"""``lotse`` command line: run, demo, check-config, texts, migrate, reset-cross-signing."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import signal
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.config import ConfigError, Settings, load_settings


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(args.config)


def _print_config_error(err: ConfigError) -> None:
    print("Lotse cannot start: the configuration has problems:", file=sys.stderr)
    for line in err.problems:
        print(f"  - {line}", file=sys.stderr)


async def _run_until_signal(settings: Settings) -> None:
    from bot.app import Lotse

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await Lotse(settings).run(stop)


def cmd_run(args: argparse.Namespace) -> int:
    from bot import logsetup

    settings = _settings(args)
    logsetup.configure(settings.log_level, nio_debug=settings.log_nio_debug)
    asyncio.run(_run_until_signal(settings))
    return 0


def _check_texts(settings: Settings) -> list[str]:
    """Problems in the files under policies/: consent notices, workers' rules, retention."""
    from bot.consent.notices import NoticeError, load_notices
    from bot.retention.policy import PolicyError, load_policies

    problems = []
    for sub in ("consent", "worker-rules"):
        try:
            load_notices(settings.policies_dir / sub, ("de", "en"))
        except NoticeError as exc:
            problems.append(f"{exc.path}: line {exc.line}: {exc.reason}")
    try:
        load_policies(settings.policies_dir)
    except PolicyError as exc:
        problems.append(f"{exc.path}: line {exc.line}: {exc.reason}")
    return problems


def cmd_check_config(args: argparse.Namespace) -> int:
    settings = _settings(args)
    problems = _check_texts(settings)
    if problems:
        raise ConfigError(problems)
    print("Configuration OK")
    print(f"  homeserver:       {settings.homeserver.url}")
    print(f"  bot account:      {settings.bot.user_id}")
    print(f"  data directory:   {settings.data_dir}")
    print(f"  store:            {settings.store.describe(settings.data_dir)}")
    print(f"  default language: {settings.default_language}")
    from bot.i18n import Catalog

    catalog = Catalog(settings.default_language, languages=settings.languages)
    print(f"  languages:        {', '.join(lang.code for lang in catalog.languages)}")
    unreviewed = [lang.code for lang in catalog.languages if catalog.review_note(lang.code)]
    if unreviewed:
        print(
            f"  not yet reviewed: {', '.join(unreviewed)} (machine translations: see lotse texts --missing)"
        )
    print(f"  policies:         {settings.policies_dir}")
    for kind, ref in settings.rooms.configured().items():
        print(f"  {kind} room:{' ' * (11 - len(kind))}{ref}")
    roles = settings.roles
    print(f"  workers:          {len(roles.workers)} listed, {len(roles.worker_rooms)} rooms")
    print(f"  admins:           {len(roles.admins)} listed, {len(roles.admin_rooms)} rooms")
    onboarding = settings.onboarding
    if onboarding.page:
        local = f"http://{onboarding.page_bind}:{onboarding.page_port} (this machine only)"
        page = onboarding.page_url or local
        print(f"  join page:        {page}")
        if onboarding.page_url is None and not settings.homeserver.url.startswith("http://"):
            print(
                "  warning: invitations (!einladen) link to this machine only: set onboarding.page_url to"
                " the join page's public https address (your reverse proxy), or onboarding.page = false"
            )
    return 0


def cmd_texts(args: argparse.Namespace) -> int:
    """Per language: client texts missing, and translations still waiting for a native
    speaker's review (catalog header, fuzzy entries, the consent notice). With a configuration
    its default language and notice folder, else the shipped ones. Exit 1 if texts are missing."""
    from bot.config import default_policies_dir
    from bot.i18n import Catalog
    from bot.i18n.client import status, status_text

    try:
        settings = _settings(args)
        catalog = Catalog(settings.default_language, languages=settings.languages)
        policies = settings.policies_dir
    except ConfigError:
        catalog, policies = Catalog("de"), default_policies_dir()
    statuses = status(catalog, policies / "consent")
    print(status_text(statuses, only_problems=args.missing))
    return 1 if any(s.missing for s in statuses) else 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from bot.store.db import Database

    settings = _settings(args)

    async def go() -> list[int]:
        db = await Database.open_store(settings)
        try:
            return await db.migrate()
        finally:
            await db.close()

    applied = asyncio.run(go())
    print(f"applied migrations: {applied}" if applied else "database is up to date")
    return 0


def cmd_migrate_store(args: argparse.Namespace) -> int:
    """Copy the SQLite store into an empty PostgreSQL database, verified table by table."""
    from pydantic import ValidationError

    from bot.config import StoreSettings
    from bot.store.copy import CopyRefused, copy_store
    from bot.store.db import DB_FILE, redact_url

    settings = _settings(args)
    url = args.to or settings.store.url
    if not url:
        raise ConfigError(["--to: the PostgreSQL URL to copy into (or set [store] url)"])
    try:
        target = StoreSettings(url=url, password_file=args.password_file)
    except ValidationError as exc:
        raise ConfigError([f"--to: {e['msg'].removeprefix('Value error, ')}" for e in exc.errors()]) from None
    password = target.password_value()
    if password is None and args.password_file is None and url == settings.store.url:
        password = settings.store.password_value()
    source = Path(args.source) if args.source else settings.data_dir / DB_FILE
    print(f"Copying {source} into {redact_url(url)} (stop the bot first: later writes are not copied)")
    try:
        results = asyncio.run(copy_store(source, url, password=password, say=print))
    except CopyRefused as exc:
        print(f"lotse migrate-store: {exc}", file=sys.stderr)
        return 1
    width = max(len(r.table) for r in results)
    print(f"  {'table':<{width}}  {'rows':>8}  checksum (SHA-256 sum of rows)")
    for r in results:
        print(f"  {r.table:<{width}}  {r.rows:>8}  {r.checksum[:16]}…  same in both")
    print(f"Copied {sum(r.rows for r in results)} rows in {len(results)} tables; counts and checksums match.")
    if url != settings.store.url:
        print("Next: set [store] url (and password_file) in the configuration, then start the bot.")
    print(f"{source} is left as it was; keep it until the bot runs well on PostgreSQL.")
    return 0


def cmd_reset_cross_signing(args: argparse.Namespace) -> int:
    from bot import logsetup
    from bot.matrix.client import MatrixGateway
    from bot.matrix.crosssign import CrossSigner

    if not args.yes:
        print(
            "This replaces the bot's cross-signing identity. Every user's client will warn that\n"
            "the bot's identity changed. Run again with --yes if that is what you want.",
            file=sys.stderr,
        )
        return 1
    settings = _settings(args)
    logsetup.configure(settings.log_level)

    async def go() -> str:
        s = settings
        gw = MatrixGateway.from_settings(s)
        try:
            await gw.connect()
            signer = CrossSigner(
                gw,
                gw.user_id,
                gw.device_id,
                s.data_dir / "keys" / "cross_signing.json",
                gw.password,
                gw.identity_keys(),
            )
            return await signer.ensure(reset=True)
        finally:
            await gw.close()

    print(asyncio.run(go()))
    return 0


def cmd_retention_report(args: argparse.Namespace) -> int:
    """The retention evidence from the database alone: no homeserver needed."""
    from bot.offline import offline_context
    from bot.retention import report

    settings = _settings(args)

    async def go() -> str:
        ctx, db = await offline_context(settings)
        try:
            return report.render(
                ctx, await report.build(ctx, args.days), args.language or settings.default_language
            )
        finally:
            await db.close()

    print(asyncio.run(go()))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """The leadership report for one period, from the database alone."""
    from bot.offline import offline_context
    from bot.stats import report as stats_report
    from bot.stats.periods import parse_period, period_containing

    settings = _settings(args)
    if args.period is None:  # as the weekly schedule does: the last complete week
        today = dt.datetime.now(ZoneInfo(settings.stats.timezone)).date()
        period = period_containing(today, "week").previous()
    else:
        try:
            period = parse_period(args.period)
        except ValueError as exc:
            raise ConfigError([f"--period: {exc}"]) from None

    async def go() -> bytes:
        ctx, db = await offline_context(settings)
        try:
            report = await stats_report.build(ctx, period)
            language = args.language or settings.stats.language or settings.default_language
            if args.format == "png":
                return stats_report.render_png(ctx, report, language)
            if args.format == "pdf":
                return stats_report.render_pdf(ctx, report, language)
            if args.format == "csv":
                return stats_report.render_csv(ctx, report, language).encode()
            if args.format == "json":
                return stats_report.render_json(report).encode()
            return stats_report.render_text(ctx, report, language).encode()
        finally:
            await db.close()

    from bot.stats.rollup import PeriodRunning

    try:
        data = asyncio.run(go())
    except PeriodRunning:
        raise ConfigError(
            [
                f"--period: {period.label} is not over yet; its report can be made from "
                f"{period.end.isoformat()} (a running period has no report: its figures still change)"
            ]
        ) from None
    if args.out:
        Path(args.out).write_bytes(data)
        print(f"{period.label} written to {args.out}", file=sys.stderr)
    elif args.format in ("png", "pdf"):
        raise ConfigError([f"--format {args.format} needs --out FILE"])
    else:
        sys.stdout.write(data.decode())
        sys.stdout.write("\n")
    return 0


def _latest_schema() -> int:
    from bot.store.db import find_migrations, migrations_dir

    return find_migrations(migrations_dir())[-1].version


def cmd_backup(args: argparse.Namespace) -> int:
    """A consistent copy of the data directory and the store, while the bot runs."""
    from bot.backup import make_backup

    settings = _settings(args)
    # With the store on PostgreSQL ([store] url) the database is backed up with pg_dump.
    store_url = getattr(getattr(settings, "store", None), "url", None)
    folder = make_backup(
        settings.data_dir,
        Path(args.dir),
        bot_user_id=settings.bot.user_id,
        pseudonym_key_file=settings.pseudonym_key_file,
        store_url=store_url,
    )
    print(f"Backup written to {folder}")
    if store_url:
        from bot.backup import pg_dump_hint

        print("  Lotse's store is on PostgreSQL and not in this copy: back it up with pg_dump, e.g.")
        print(f"  {pg_dump_hint(store_url)}")
    print("  It holds the database, the login session, the encryption store and the keys:")
    print("  keep it encrypted and away from this server (see docs/admin.md, Backups).")
    print("  Synapse's own database is not in it: back it up with pg_dump (docs/admin.md).")
    print(f"  Check it any time with: lotse restore --check {folder}")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    """Check a backup, and (without --check) put it in place of the data directory."""
    from bot.backup import check_backup, restore_backup

    folder = Path(args.backup)
    settings = None if args.check and args.config is None else _settings(args)
    check = check_backup(
        folder,
        bot_user_id=settings.bot.user_id if settings is not None else None,
        latest_schema=_latest_schema(),
    )
    if not check.ok:
        print(f"The backup {folder} cannot be restored:", file=sys.stderr)
        for line in check.problems:
            print(f"  - {line}", file=sys.stderr)
        return 1
    m = check.manifest
    print(
        f"Backup OK: {len(m['files'])} files, made {m['created_at']} by Lotse {m['lotse_version']}, "
        f"schema {m['schema_version']}, account {m['bot_user_id']}"
    )
    if args.check:
        return 0
    assert settings is not None
    moved = restore_backup(
        folder, settings.data_dir, pseudonym_key_file=settings.pseudonym_key_file, force=args.force
    )
    if moved is not None:
        print(f"The data directory that was there is now {moved} (delete it once all is well).")
    if m.get("store") == "postgresql":
        print("Lotse's store is on PostgreSQL: restore its pg_dump of the same time (pg_restore) too.")
    print(f"Restored into {settings.data_dir.resolve()}. Start Lotse: it migrates the database itself.")
    return 0


def cmd_setup(args: argparse.Namespace) -> int:
    """The managed rooms (team, admin, leadership), created by the bot with the power it needs."""
    from bot import logsetup
    from bot.opsclient import OpsClient, OpsError
    from bot.roomsetup import setup_rooms

    settings = _settings(args)
    logsetup.configure("WARNING")
    language = args.language or settings.default_language

    async def go() -> list[Any]:
        async with OpsClient(settings, device_name="Lotse setup") as ops:
            await ops.login()
            return await setup_rooms(ops, settings, language)

    try:
        outcomes = asyncio.run(go())
    except OpsError as exc:
        print(f"lotse setup: {exc}", file=sys.stderr)
        return 1
    configured = settings.rooms.configured()
    missing = []
    for o in outcomes:
        where = f"{o.ref} ({o.room_id})" if o.room_id and o.room_id != o.ref else o.ref
        print(f"  {o.kind:<11} {o.action.upper():<8} {where}: {o.detail}")
        if o.action != "problem" and o.kind not in configured:
            missing.append(o)
    if missing:
        print("\nAdd to the configuration (lotse.toml) so the bot uses these rooms:\n\n[rooms]")
        for o in missing:
            print(f'{o.kind} = "{o.ref}"')
    problems = [o for o in outcomes if o.action == "problem"]
    return 1 if problems else 0


def cmd_doctor(args: argparse.Namespace) -> int:
    """Checks the installation; prints what to fix; exit 1 on a problem."""
    from bot.doctor import diagnose, render
    from bot.i18n import Catalog

    settings = _settings(args)
    language = args.language or settings.default_language
    catalog = Catalog(settings.default_language)
    findings = asyncio.run(diagnose(settings, catalog, language, _latest_schema()))
    print(render(findings, catalog, language, settings))
    return 1 if any(f.level == "fail" for f in findings) else 0


def cmd_demo(args: argparse.Namespace) -> int:
    from bot.devserver.demo import run_demo

    return run_demo(Path(args.dir), args.port)


def cmd_chat(args: argparse.Namespace) -> int:
    from bot.devserver.chat import chat

    try:
        return asyncio.run(chat(Path(args.dir), args.name))
    except KeyboardInterrupt:
        return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lotse", description="Lotse — Matrix bot for social work")
    parser.add_argument(
        "-c",
        "--config",
        type=Path,
        default=None,
        help="TOML config file (default: $LOTSE_CONFIG or ./lotse.toml)",
    )
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("run", help="run the bot (default)").set_defaults(func=cmd_run)
    sub.add_parser("check-config", help="validate the configuration and exit").set_defaults(
        func=cmd_check_config
    )
    texts = sub.add_parser("texts", help="languages: client texts missing or waiting for review")
    texts.add_argument(
        "--missing", action="store_true", help="only languages with missing or unreviewed texts"
    )
    texts.set_defaults(func=cmd_texts)
    sub.add_parser("migrate", help="apply database migrations and exit").set_defaults(func=cmd_migrate)
    ms = sub.add_parser("migrate-store", help="copy the SQLite store into an empty PostgreSQL database")
    ms.add_argument("--to", default=None, help="postgresql://USER@HOST/DATABASE (default: [store] url)")
    ms.add_argument("--password-file", type=Path, default=None, help="the database password, from a file")
    ms.add_argument(
        "--from", dest="source", default=None, help="the SQLite store (default: lotse.db in data_dir)"
    )
    ms.set_defaults(func=cmd_migrate_store)
    reset = sub.add_parser("reset-cross-signing", help="replace the bot's cross-signing identity")
    reset.add_argument("--yes", action="store_true")
    reset.set_defaults(func=cmd_reset_cross_signing)
    ret = sub.add_parser("retention", help="retention evidence")
    ret_sub = ret.add_subparsers(dest="retention_command", required=True)
    rep = ret_sub.add_parser("report", help="what was deleted, what is still there, per room kind")
    rep.add_argument("--days", type=int, default=30)
    rep.add_argument("--language", default=None)
    rep.set_defaults(func=cmd_retention_report)
    rp = sub.add_parser("report", help="the anonymous leadership report for one period")
    rp.add_argument("--period", default=None, help="2026-W47 or 2026-11 (default: last week)")
    rp.add_argument("--format", choices=["text", "csv", "png", "pdf", "json"], default="text")
    rp.add_argument("--out", default=None)
    rp.add_argument("--language", default=None)
    rp.set_defaults(func=cmd_report)
    backup = sub.add_parser("backup", help="copy the data directory and the store into DIR (bot may run)")
    backup.add_argument("dir", help="where to put the backup (a new folder is made inside)")
    backup.set_defaults(func=cmd_backup)
    restore = sub.add_parser("restore", help="check a backup and put it in place of the data directory")
    restore.add_argument("backup", help="the backup's folder (lotse-backup-…)")
    restore.add_argument("--check", action="store_true", help="only check the backup, change nothing")
    restore.add_argument(
        "--force", action="store_true", help="replace an existing data directory (it is moved aside)"
    )
    restore.set_defaults(func=cmd_restore)
    setup = sub.add_parser("setup", help="create the team, admin and leadership rooms with the bot's power")
    setup.add_argument("--language", default=None, help="room names in this language (default_language)")
    setup.set_defaults(func=cmd_setup)
    doctor = sub.add_parser("doctor", help="check the installation and say what to fix")
    doctor.add_argument("--language", default=None, help="de or en (default: default_language)")
    doctor.set_defaults(func=cmd_doctor)
    demo = sub.add_parser("demo", help="run a local Synapse, demo accounts and the bot")
    demo.add_argument("--dir", default=".lotse-demo", help="where the demo keeps its data")
    demo.add_argument(
        "--port", type=int, default=None, help="homeserver port (default: the one used before, else 8008)"
    )
    demo.set_defaults(func=cmd_demo)
    chat = sub.add_parser("chat", help="chat with the demo bot from the terminal as a demo person")
    chat.add_argument("name", choices=["anna", "kim", "admin"])
    chat.add_argument("--dir", default=".lotse-demo", help="the demo's folder")
    chat.set_defaults(func=cmd_chat)
    return parser


def _storage_trouble(err: BaseException) -> str | None:
    """A full or read-only disk or store at start-up, in one line with what to do."""
    import errno

    from bot.store.db import unwritable_reason

    todo = "free space or make it writable, then start Lotse again"
    if isinstance(err, OSError) and err.errno in (errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EIO):
        return f"cannot write {err.filename or 'the data directory'}: {err.strerror}; {todo}"
    reason = unwritable_reason(err) if isinstance(err, sqlite3.Error) else None
    if reason is not None:
        return f"the store takes no writes ({reason}: {err}); {todo}"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    # Whatever a Lotse command creates (store, journals, keys, backups) is the bot user's alone;
    # the bot refuses to start when such a file is readable by others.
    os.umask(0o077)
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", cmd_run)
    try:
        return int(func(args))
    except ConfigError as err:
        _print_config_error(err)
        return 2
    except Exception as err:
        from bot.backup import BackupError
        from bot.keyfiles import ExposedFiles
        from bot.matrix.client import MatrixError, SessionLost
        from bot.matrix.crosssign import CrossSigningError
        from bot.store.db import SchemaTooNew, StoreUnavailable

        if isinstance(err, BackupError):
            print(f"Lotse: {err}", file=sys.stderr)
            return 1
        said = SessionLost | CrossSigningError | SchemaTooNew | StoreUnavailable | MatrixError | ExposedFiles
        if isinstance(err, said):
            print(f"Lotse stopped: {err}", file=sys.stderr)
            return 1
        if (hint := _storage_trouble(err)) is not None:
            print(f"Lotse stopped: {hint}", file=sys.stderr)
            return 1
        raise
    except KeyboardInterrupt:
        return 130
