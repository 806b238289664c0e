"""``lotse backup`` and ``lotse restore``: a consistent copy of everything Lotse keeps.

A backup is a folder ``lotse-backup-<UTC time>`` (0700, files 0600) holding

- ``data/``: the data directory — Lotse's database, the login session, the end-to-end
  encryption store and the keys (``keys/``: pseudonym, sealing, encryption-store and
  cross-signing keys). SQLite files (Lotse's database, nio's store) are copied with SQLite's
  online backup, so the bot can keep running: each copy is one consistent state, however busy
  the bot is; other files are written atomically by Lotse and copied as they are;
- ``external/pseudonym.key`` when ``pseudonym_key_file`` lives outside the data directory;
- ``manifest.json`` (written last: a folder without it is an unfinished backup) with a SHA-256
  per file, the database's schema version and the bot's account.

The keys are in the backup: whoever holds it can read the database's sealed IDs and act as the
bot's device. Keep backups encrypted and apart from the server (docs/admin.md).

``lotse restore`` checks a backup first (every checksum, SQLite's integrity check, a schema this
Lotse can run, the configured account) and only then puts it in place; an existing data
directory is moved aside, never deleted. Synapse's database is not part of this backup; with
PostgreSQL, ``pg_dump`` backs it up (docs/admin.md).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import shutil
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from bot import __version__
from bot.keyfiles import private_dir, write_private

FORMAT = 1
MANIFEST = "manifest.json"
# Where `lotse backup` notes its last run (read by `lotse doctor`); not itself backed up.
LAST_BACKUP = "last-backup.json"
_SQLITE_MAGIC = b"SQLite format 3\x00"
# Files SQLite and Lotse's key writer use while running; the backup API covers their content.
_SKIP_SUFFIXES = ("-wal", "-shm", "-journal", ".tmp")


class BackupError(Exception):
    """A backup cannot be made or used; the message says why in plain words."""


@dataclass
class Check:
    ok: bool
    problems: list[str] = field(default_factory=list)
    manifest: dict[str, Any] = field(default_factory=dict)


def _is_sqlite(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.read(16) == _SQLITE_MAGIC


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _sqlite_copy(source: Path, target: Path) -> None:
    """SQLite's online backup: a consistent copy while other connections read and write."""
    src = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst, pages=1024, sleep=0.01)
            # The copy is a plain database file: no WAL beside it that a restore could lose.
            dst.execute("PRAGMA journal_mode=DELETE")
        finally:
            dst.close()
    finally:
        src.close()
    target.chmod(0o600)


def _copy_file(source: Path, target: Path) -> None:
    private_dir(target.parent)
    if _is_sqlite(source):
        _sqlite_copy(source, target)
    else:
        write_private(target, source.read_bytes())


def _schema_version(db: Path) -> int:
    with contextlib.closing(sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)) as conn:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])


def _files(root: Path) -> list[Path]:
    out = []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.is_symlink():
            continue
        rel = path.relative_to(root)
        if rel.name == LAST_BACKUP or rel.name.endswith(_SKIP_SUFFIXES):
            continue
        out.append(rel)
    return out


def without_password(url: str) -> str:
    """A database URL fit for output: its password replaced by ***."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


def pg_dump_hint(url: str) -> str:
    """How to back up (and restore) a store on PostgreSQL: pg_dump, not this copy."""
    shown = without_password(url)
    return (
        f"pg_dump --format=custom --file=lotse-$(date -u +%Y%m%dT%H%M%SZ).dump '{shown}'\n"
        f"  (restore: pg_restore --clean --if-exists --dbname='{shown}' lotse-….dump)"
    )


def make_backup(
    data_dir: Path,
    target: Path,
    *,
    bot_user_id: str,
    pseudonym_key_file: Path | None = None,
    store_url: str | None = None,
) -> Path:
    """Copy the data directory (and an outside pseudonym key) into a new folder in ``target``.

    With the store on PostgreSQL (``store_url``) the database is not copied here (pg_dump does
    that); the keys, the session and the encryption store still are."""
    data_dir = data_dir.resolve()
    if store_url is None and not (data_dir / "lotse.db").is_file():
        raise BackupError(f"{data_dir} holds no Lotse database (lotse.db): check data_dir")
    if not data_dir.is_dir():
        raise BackupError(f"{data_dir} does not exist: check data_dir")
    target = target.resolve()
    if target == data_dir or data_dir in target.parents:
        raise BackupError(f"the backup must not go inside the data directory {data_dir}")
    private_dir(target)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    folder = target / f"lotse-backup-{stamp}"
    n = 1
    while folder.exists():
        n += 1
        folder = target / f"lotse-backup-{stamp}-{n}"
    private_dir(folder)
    files: dict[str, dict[str, Any]] = {}
    # The database first: everything else (keys, session) only ever grows or stays as it is.
    ordered = sorted(_files(data_dir), key=lambda rel: rel != Path("lotse.db"))
    for rel in ordered:
        source = data_dir / rel
        name = f"data/{rel.as_posix()}"
        try:
            _copy_file(source, folder / name)
        except FileNotFoundError:
            continue  # removed while we copied (a temporary file): nothing to keep
        files[name] = {"sha256": _sha256(folder / name), "size": (folder / name).stat().st_size}
    external: dict[str, str] = {}
    if pseudonym_key_file is not None and data_dir not in pseudonym_key_file.resolve().parents:
        name = "external/pseudonym.key"
        _copy_file(pseudonym_key_file, folder / name)
        files[name] = {"sha256": _sha256(folder / name), "size": (folder / name).stat().st_size}
        external["pseudonym_key_file"] = name
    manifest = {
        "format": FORMAT,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "lotse_version": __version__,
        "bot_user_id": bot_user_id,
        "data_dir": str(data_dir),
        "store": "postgresql" if store_url is not None else "sqlite",
        "schema_version": None if store_url is not None else _schema_version(folder / "data" / "lotse.db"),
        "files": files,
        "external": external,
    }
    write_private(folder / MANIFEST, json.dumps(manifest, indent=2).encode())
    write_private(
        data_dir / LAST_BACKUP,
        json.dumps({"at_ms": int(time.time() * 1000), "path": str(folder)}).encode(),
    )
    return folder


def last_backup(data_dir: Path) -> tuple[int, str] | None:
    """(when in ms, where) of the last ``lotse backup`` of this data directory, if any."""
    try:
        data = json.loads((data_dir / LAST_BACKUP).read_text(encoding="utf-8"))
        return int(data["at_ms"]), str(data["path"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def check_backup(folder: Path, *, bot_user_id: str | None = None, latest_schema: int | None = None) -> Check:
    """Everything a restore needs, verified: manifest, checksums, database, schema, account."""
    problems: list[str] = []
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Check(False, [f"{folder} has no {MANIFEST}: not a Lotse backup, or one that did not finish"])
    except (OSError, ValueError) as exc:
        return Check(False, [f"{folder / MANIFEST} cannot be read: {exc}"])
    if manifest.get("format") != FORMAT:
        return Check(
            False, [f"backup format {manifest.get('format')!r} is not one this Lotse reads"], manifest
        )
    files: dict[str, dict[str, Any]] = manifest.get("files") or {}
    for name, meta in sorted(files.items()):
        path = folder / name
        if ".." in Path(name).parts or Path(name).is_absolute():
            problems.append(f"{name}: a path outside the backup")
        elif not path.is_file():
            problems.append(f"{name}: missing")
        elif _sha256(path) != meta.get("sha256"):
            problems.append(f"{name}: changed or damaged since the backup (checksum differs)")
    on_sqlite = manifest.get("store", "sqlite") == "sqlite"
    for required in ("data/lotse.db", "data/session.json") if on_sqlite else ("data/session.json",):
        if required not in files:
            problems.append(f"{required}: not in the backup")
    for key in ("pseudonym.key", "seal.key", "store.key", "cross_signing.json"):
        in_data = f"data/keys/{key}" in files
        outside = key == "pseudonym.key" and "pseudonym_key_file" in (manifest.get("external") or {})
        if not (in_data or outside):
            problems.append(f"data/keys/{key}: not in the backup (without it the data cannot be used)")
    db = folder / "data" / "lotse.db"
    if db.is_file() and not any(p.startswith("data/lotse.db:") for p in problems):
        try:
            with contextlib.closing(sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)) as conn:
                result = conn.execute("PRAGMA integrity_check").fetchone()[0]
                schema = int(conn.execute("PRAGMA user_version").fetchone()[0])
            if result != "ok":
                problems.append(f"data/lotse.db: SQLite's integrity check failed ({result})")
            if latest_schema is not None and schema > latest_schema:
                problems.append(
                    f"data/lotse.db: schema {schema} is newer than this Lotse knows ({latest_schema}); "
                    "restore with the Lotse version that made the backup or a newer one"
                )
        except sqlite3.DatabaseError as exc:
            problems.append(f"data/lotse.db: not a readable database ({exc})")
    if bot_user_id is not None and manifest.get("bot_user_id") != bot_user_id:
        problems.append(
            f"the backup is of {manifest.get('bot_user_id')}, the configuration names {bot_user_id}"
        )
    return Check(not problems, problems, manifest)


def restore_backup(
    folder: Path, data_dir: Path, *, pseudonym_key_file: Path | None = None, force: bool = False
) -> Path | None:
    """Put a checked backup in place; return where an existing data directory was moved to."""
    data_dir = data_dir.resolve()
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    external = manifest.get("external") or {}
    if "pseudonym_key_file" in external and pseudonym_key_file is None:
        raise BackupError(
            "the backup's pseudonym key lived outside the data directory: set pseudonym_key_file "
            "in the configuration to where it belongs, then restore again"
        )
    key_target = pseudonym_key_file if "pseudonym_key_file" in external else None
    occupied = data_dir.exists() and any(data_dir.iterdir())
    if occupied and not force:
        raise BackupError(
            f"{data_dir} is not empty. Stop Lotse and restore with --force: the present data directory "
            "is moved aside (not deleted)"
        )
    key_source = folder / external["pseudonym_key_file"] if key_target is not None else None
    if (
        key_target is not None
        and key_source is not None
        and key_target.exists()
        and key_target.read_bytes() != key_source.read_bytes()
        and not force
    ):
        raise BackupError(f"{key_target} exists with another key; restore with --force to replace it")
    staging = data_dir.with_name(f".{data_dir.name}.restoring")
    if staging.exists():
        shutil.rmtree(staging)
    private_dir(staging)
    for name in manifest["files"]:
        if not name.startswith("data/"):
            continue
        source = folder / name
        target = staging / name[len("data/") :]
        private_dir(target.parent)
        shutil.copyfile(source, target)
        target.chmod(0o600)
    moved: Path | None = None
    if data_dir.exists():
        if occupied:
            stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
            moved = data_dir.with_name(f"{data_dir.name}.before-restore-{stamp}")
            data_dir.rename(moved)
        else:
            data_dir.rmdir()
    private_dir(data_dir.parent)
    staging.replace(data_dir)
    data_dir.chmod(0o700)
    if key_target is not None and key_source is not None:
        if key_target.exists() and key_target.read_bytes() != key_source.read_bytes():
            key_target.replace(key_target.with_name(key_target.name + ".before-restore"))
        write_private(key_target, key_source.read_bytes())
    return moved
