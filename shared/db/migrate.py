"""Schema migrations: `csms migrate [--create-database] [--revision R] [--downgrade R]`.

The functions block (they run `asyncio.run`): call them from async code with
`asyncio.to_thread`. Alembic's `context` is process-global, so run one migration per process
at a time; separate processes (replicas) serialise on an advisory lock taken in env.py.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import create_async_engine

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Key in `Config.attributes` through which the database URL reaches env.py (no alembic.ini,
# no cwd dependency, no configparser interpolation of `%` in passwords).
URL_ATTRIBUTE = "database_url"

log = logging.getLogger(__name__)


def alembic_config(url: str) -> Config:
    """An Alembic configuration for `url`, built in code."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes[URL_ATTRIBUTE] = url
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Upgrade the database at `url` to `revision` (concurrent callers serialise on a lock)."""
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    """Downgrade the database at `url` to `revision` (`base` drops everything)."""
    command.downgrade(alembic_config(url), revision)


def current(url: str) -> str | None:
    """The revision the database at `url` is at, or None when it has none."""
    return asyncio.run(_current(url))


async def _current(url: str) -> str | None:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            exists = await conn.scalar(text("SELECT to_regclass('alembic_version') IS NOT NULL"))
            if not exists:
                return None
            version = await conn.scalar(text("SELECT version_num FROM alembic_version"))
            return None if version is None else str(version)
    finally:
        await engine.dispose()


def _admin_url(url: URL) -> URL:
    return url.set(database="postgres")


async def _create_database_if_missing(url: str) -> bool:
    target = make_url(url)
    name = target.database
    if not name:
        raise ValueError(f"no database name in {target.render_as_string(hide_password=True)}")
    engine = create_async_engine(_admin_url(target), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            found = await conn.scalar(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
            )
            if found:
                return False
            quoted = engine.dialect.identifier_preparer.quote(name)
            try:
                await conn.execute(text(f"CREATE DATABASE {quoted}"))
            except Exception:
                # Another process may have created it meanwhile; that is success too.
                again = await conn.scalar(
                    text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
                )
                if again:
                    return False
                raise
            return True
    finally:
        await engine.dispose()


def create_database_if_missing(url: str) -> bool:
    """Create the database named in `url` on its server if absent; True when created."""
    return asyncio.run(_create_database_if_missing(url))


async def _drop_database_if_exists(url: str) -> None:
    target = make_url(url)
    name = target.database
    if not name:
        raise ValueError("no database name in the URL")
    engine = create_async_engine(_admin_url(target), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            quoted = engine.dialect.identifier_preparer.quote(name)
            await conn.execute(text(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)"))
    finally:
        await engine.dispose()


def drop_database_if_exists(url: str) -> None:
    """Drop the database named in `url` (closing its sessions); for tests and tooling."""
    asyncio.run(_drop_database_if_exists(url))


def build_parser() -> argparse.ArgumentParser:
    """The `csms migrate` command line."""
    parser = argparse.ArgumentParser(
        prog="csms migrate", description="Bring the database schema to a revision."
    )
    parser.add_argument(
        "--create-database",
        action="store_true",
        help="create the database named in CSMS_DATABASE_URL if it does not exist",
    )
    parser.add_argument(
        "--recreate-database",
        action="store_true",
        help="drop and create the database first (tests; refused when CSMS_ENV=production)",
    )
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--revision", default="head", help="upgrade to this revision (head)")
    group.add_argument("--downgrade", metavar="R", help="downgrade to this revision (base: all)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run `csms migrate` with `argv` (without the program name); return the exit status."""
    from shared.settings import get_settings

    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
    url = get_settings().database_url
    shown = make_url(url).render_as_string(hide_password=True)
    if args.recreate_database:
        if get_settings().env == "production":
            log.error("--recreate-database is refused when CSMS_ENV=production")
            return 2
        drop_database_if_exists(url)
        create_database_if_missing(url)
        log.info("recreated database %s", shown)
    if args.create_database and create_database_if_missing(url):
        log.info("created database %s", shown)
    if args.downgrade is not None:
        downgrade(url, args.downgrade)
        log.info("downgraded %s to %s", shown, args.downgrade)
    else:
        upgrade(url, args.revision)
        log.info("upgraded %s to %s", shown, args.revision)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
