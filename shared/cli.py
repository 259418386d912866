"""`csms`: the one entry point; each subcommand starts one part of the system."""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable
from importlib import metadata
from typing import cast

from shared.logging import configure_logging
from shared.settings import get_settings
from shared.supervisor import SERVICES

DESCRIPTIONS = {
    "gateway": "run the OCPP websocket gateway (charge points connect here)",
    "registry": "run the registry: charge points, boot, heartbeats, status, firmware status",
    "transactions": "run the transactions service: authorize, transactions, meter values",
    "charging": "run the charging service: charging profiles, site load balancing",
    "webhooks": "run the webhooks service: relays public events, delivers them to webhooks",
    "api": "run the REST API for apps and operators",
}


# Subcommands with their own argument parser (`csms <tool> --help`).
TOOLS = {
    "prune": "delete history older than a retention period",
    "dlq": "list, show, replay or purge dead letters",
    "proxy": "TCP proxy in front of gateway replicas (docker compose --scale gateway=N)",
    "ca": "create the built-in CA that signs charge point certificates (development)",
}


def version() -> str:
    """The installed version of the csms distribution."""
    try:
        return metadata.version("csms")
    except metadata.PackageNotFoundError:
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `csms`, one subcommand per part."""
    parser = argparse.ArgumentParser(
        prog="csms",
        description="OCPP central system. Configuration comes from CSMS_* environment "
        "variables (and a .env file).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in SERVICES:
        sub.add_parser(name, help=DESCRIPTIONS[name], description=DESCRIPTIONS[name])
    sub.add_parser(
        "migrate",
        help="apply database migrations (options: --create-database, --revision, --downgrade; "
        "`csms migrate --help` for details)",
        add_help=False,  # --help goes to the migration tool itself
    )
    for name, text in TOOLS.items():
        # --help goes to the tool itself
        sub.add_parser(name, help=f"{text} (`csms {name} --help`)", add_help=False)
    run = sub.add_parser(
        "run",
        help="run every service as a supervised child process (single machine)",
        description="Start the services as child processes, prefix their output, restart "
        "any that exits, and stop them all on SIGINT/SIGTERM.",
    )
    run.add_argument(
        "services",
        nargs="*",
        metavar="SERVICE",
        help=f"services to run (default: all of {', '.join(SERVICES)})",
    )
    sub.add_parser("version", help="print the version and exit")
    return parser


def _selected_services(parser: argparse.ArgumentParser, names: list[str]) -> tuple[str, ...]:
    unknown = sorted(set(names) - set(SERVICES))
    if unknown:
        parser.error(
            f"unknown service(s) for run: {', '.join(unknown)} (choose from {', '.join(SERVICES)})"
        )
    # Whatever order was typed, start in dependency order.
    return tuple(name for name in SERVICES if name in names) or SERVICES


def _service_main(name: str) -> Callable[[], None]:
    module = importlib.import_module(f"services.{name}.main")
    return cast(Callable[[], None], module.main)


def _tool_main(name: str) -> Callable[[list[str]], int]:
    module = {
        "prune": "shared.db.prune",
        "dlq": "shared.dlq",
        "proxy": "services.proxy.main",
        "ca": "shared.ca",
    }[name]
    return cast(Callable[[list[str]], int], importlib.import_module(module).main)


def _migrate(argv: list[str]) -> None:
    from shared.db.migrate import main as migrate_main

    status = migrate_main(argv)
    if isinstance(status, int) and status != 0:
        raise SystemExit(status)


def main(argv: list[str] | None = None) -> None:
    """Parse the command line, validate the settings, start what was asked."""
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if rest and args.command != "migrate" and args.command not in TOOLS:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if args.command == "version":
        print(f"csms {version()}")
        return
    # Read the environment first: a bad CSMS_* value exits here, naming the variable.
    settings = get_settings()
    if args.command == "migrate" or args.command in TOOLS:
        # One-shot commands log like the services (CSMS_LOG_FORMAT=json: JSON lines).
        configure_logging(args.command, settings.log_level, settings.log_format)
    if args.command == "migrate":
        _migrate(rest)
    elif args.command in TOOLS:
        raise SystemExit(_tool_main(args.command)(rest))
    elif args.command == "run":
        from shared import supervisor

        supervisor.main(_selected_services(parser, args.services))
    else:
        _service_main(args.command)()


if __name__ == "__main__":
    main()
