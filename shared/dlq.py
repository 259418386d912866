"""`csms dlq`: list, show, replay or purge what landed in `csms.dead-letter`.

A dead letter says why it died in its headers (docs/internals.md):
- dead-lettered by the CSMS (a handler refused it, a poison message, a body that is not an
  Envelope, a data error): `x-csms-death-reason` (`poison`, `invalid-envelope`, `data-error`,
  `handler-refused`, ...), `x-csms-death-detail`, `x-csms-original-queue`,
  `x-csms-original-routing-key` (and `x-csms-original-exchange` when known);
- dead-lettered by the broker: its `x-death` header, reason `delivery_limit` (redelivered more
  than `x-delivery-limit` times), `expired` (an RPC request nobody took before its caller gave
  up: harmless, the caller already answered with an error) or `rejected`.

Reading is non-destructive: messages are fetched unacknowledged (at most `--scan` of them)
and whatever is not replayed or purged returns to the queue when the command ends.

`replay` re-publishes the original body (the same Envelope, so the same correlation id, the
idempotency key of everything a service writes from it) to the original exchange with the
original routing key, with publisher confirms and `mandatory`; only once the broker confirmed
it is the dead letter removed. RPC properties (`reply_to`, `expiration`) are not carried over:
the caller stopped waiting long ago. Expired RPCs are replayed only when asked for by name
(`--reason expired`).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import logging
import re
import sys
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Final

import aio_pika
import orjson
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue
from aiormq.exceptions import DeliveryError, PublishError
from pydantic import ValidationError

from shared.bus.topology import DEAD_LETTER, EVENTS, UPSTREAM, VERSION_PREFIXES
from shared.envelope import Envelope

log = logging.getLogger(__name__)

REASON: Final = "x-csms-death-reason"
DETAIL: Final = "x-csms-death-detail"
ORIGINAL_QUEUE: Final = "x-csms-original-queue"
ORIGINAL_ROUTING_KEY: Final = "x-csms-original-routing-key"
ORIGINAL_EXCHANGE: Final = "x-csms-original-exchange"
REPLAYED: Final = "x-csms-replayed"
EXPIRED: Final = "expired"
DEFAULT_SCAN: Final = 10_000
_UPSTREAM_PREFIXES: Final = (*VERSION_PREFIXES.values(), "gateway")


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def _as_utc(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    return None


@dataclass(frozen=True)
class DeadLetter:
    """One message of the dead-letter queue and why it is there."""

    id: str
    reason: str
    detail: str | None
    queue: str | None
    exchange: str | None
    routing_key: str | None
    died_at: datetime | None
    envelope: Envelope | None
    message: AbstractIncomingMessage

    @classmethod
    def of(cls, message: AbstractIncomingMessage) -> DeadLetter:
        """Read the headers (ours first, then the broker's `x-death`) and the body."""
        headers: Mapping[str, Any] = message.headers or {}
        deaths = headers.get("x-death")
        death: Mapping[str, Any] = deaths[0] if isinstance(deaths, list) and deaths else {}
        keys = death.get("routing-keys")
        routing_key = _text(headers.get(ORIGINAL_ROUTING_KEY)) or (
            _text(keys[0]) if isinstance(keys, list) and keys else None
        )
        exchange = _text(headers.get(ORIGINAL_EXCHANGE)) or _text(death.get("exchange"))
        try:
            envelope: Envelope | None = Envelope.from_bytes(message.body)
        except (ValueError, ValidationError):
            envelope = None
        return cls(
            id=message.message_id or hashlib.sha256(message.body).hexdigest()[:32],
            reason=_text(headers.get(REASON))
            or _text(death.get("reason"))
            or _text(headers.get("x-first-death-reason"))
            or "unknown",
            detail=_text(headers.get(DETAIL)),
            queue=_text(headers.get(ORIGINAL_QUEUE))
            or _text(death.get("queue"))
            or _text(headers.get("x-first-death-queue")),
            exchange=exchange if exchange else _infer_exchange(routing_key),
            routing_key=routing_key,
            died_at=_as_utc(death.get("time")) or _as_utc(message.timestamp),
            envelope=envelope,
            message=message,
        )

    @property
    def action(self) -> str | None:
        """The envelope's action (OCPP action or event name), if the body is an Envelope."""
        return self.envelope.action if self.envelope is not None else None

    @property
    def chargepoint_id(self) -> str | None:
        """The envelope's charge point, if any."""
        return self.envelope.chargepoint_id if self.envelope is not None else None

    def age(self, now: datetime) -> timedelta | None:
        """How long ago it died (None when nothing says)."""
        return now - self.died_at if self.died_at is not None else None

    def summary(self) -> dict[str, Any]:
        """The fields `list` prints."""
        return {
            "id": self.id,
            "died_at": self.died_at.isoformat() if self.died_at else None,
            "reason": self.reason,
            "queue": self.queue,
            "routing_key": self.routing_key,
            "action": self.action,
            "chargepoint_id": self.chargepoint_id,
            "correlation_id": self.envelope.correlation_id if self.envelope else None,
            "detail": self.detail,
        }

    def details(self) -> dict[str, Any]:
        """Everything `show` prints: the summary, the exchange, headers and the body."""
        body: Any
        try:
            body = orjson.loads(self.message.body)
        except orjson.JSONDecodeError:
            body = self.message.body.decode("utf-8", errors="replace")
        return {
            **self.summary(),
            "exchange": self.exchange,
            "headers": self.message.headers or {},
            "body": body,
        }


def _infer_exchange(routing_key: str | None) -> str | None:
    """OCPP messages and gateway housekeeping come on `ocpp.upstream`, the rest are events."""
    if routing_key is None:
        return None
    return UPSTREAM if routing_key.split(".", 1)[0] in _UPSTREAM_PREFIXES else EVENTS


@dataclass(frozen=True)
class Filters:
    """What to select; a field left None matches everything."""

    ids: frozenset[str] = frozenset()
    queue: str | None = None
    action: str | None = None
    chargepoint_id: str | None = None
    reason: str | None = None
    older_than: timedelta | None = None
    newer_than: timedelta | None = None

    @property
    def empty(self) -> bool:
        """True when nothing is filtered (purge/replay then need --all)."""
        return self == Filters()

    def match(self, letter: DeadLetter, now: datetime) -> bool:
        """Does `letter` pass every filter?"""
        if self.ids and letter.id not in self.ids:
            return False
        for wanted, actual in (
            (self.queue, letter.queue),
            (self.action, letter.action),
            (self.chargepoint_id, letter.chargepoint_id),
            (self.reason, letter.reason),
        ):
            if wanted is not None and wanted != actual:
                return False
        age = letter.age(now)
        if self.older_than is not None and (age is None or age < self.older_than):
            return False
        return not (self.newer_than is not None and (age is None or age > self.newer_than))


class ReplayFailed(Exception):
    """The broker did not take a replayed message (no queue bound, nack): it stays dead."""


class DeadLetterQueue:
    """A connection to the dead-letter queue; fetched messages are held until settled or closed."""

    def __init__(self, url: str, *, queue: str = DEAD_LETTER) -> None:
        self.url = url
        self.queue_name = queue
        self._connection: aio_pika.abc.AbstractConnection | None = None
        self._channel: AbstractChannel | None = None
        self._queue: AbstractQueue | None = None

    async def __aenter__(self) -> DeadLetterQueue:
        self._connection = await aio_pika.connect(
            self.url, client_properties={"connection_name": "csms-dlq"}
        )
        self._channel = await self._connection.channel(
            publisher_confirms=True, on_return_raises=True
        )
        self._queue = await self._channel.declare_queue(self.queue_name, passive=True)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Closing returns every fetched message that was not settled to the queue.
        if self._connection is not None:
            await self._connection.close()

    async def fetch(self, scan: int = DEFAULT_SCAN) -> list[DeadLetter]:
        """Take up to `scan` messages (unacknowledged) from the head of the queue."""
        assert self._queue is not None, "use `async with DeadLetterQueue(url)`"
        letters: list[DeadLetter] = []
        while len(letters) < scan:
            message = await self._queue.get(no_ack=False, fail=False, timeout=10)
            if message is None:
                break
            letters.append(DeadLetter.of(message))
        return letters

    async def replay(self, letter: DeadLetter) -> None:
        """Re-publish the original body to its original exchange and routing key; then ack."""
        assert self._channel is not None
        if letter.routing_key is None or letter.exchange is None:
            raise ReplayFailed(f"{letter.id}: the dead letter does not say where it came from")
        original = letter.message
        replays = original.headers.get(REPLAYED) if original.headers else None
        message = aio_pika.Message(
            original.body,
            content_type=original.content_type or "application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=uuid.uuid4().hex,
            timestamp=datetime.now(UTC),
            app_id="csms-dlq",
            headers={REPLAYED: (int(replays) if isinstance(replays, int) else 0) + 1},
        )
        exchange = await self._channel.get_exchange(letter.exchange, ensure=False)
        try:
            await exchange.publish(message, routing_key=letter.routing_key, mandatory=True)
        except (PublishError, DeliveryError) as exc:
            raise ReplayFailed(
                f"{letter.id}: {letter.exchange} refused {letter.routing_key!r}: {exc!r}"
            ) from exc
        await original.ack()

    async def purge(self, letter: DeadLetter) -> None:
        """Remove the dead letter for good."""
        await letter.message.ack()


# --- command line -----------------------------------------------------------------------------

_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def duration(text: str) -> timedelta:
    """`90s`, `15m`, `2h`, `7d`."""
    found = _DURATION.match(text.strip())
    if not found:
        raise argparse.ArgumentTypeError(f"expected a duration such as 30m, 2h or 7d: {text!r}")
    return timedelta(**{_UNITS[found.group(2)]: int(found.group(1))})


def build_parser() -> argparse.ArgumentParser:
    """The `csms dlq` command line."""
    parser = argparse.ArgumentParser(
        prog="csms dlq",
        description="Dead letters (csms.dead-letter): why each died, replay to where it came "
        "from with the same envelope, or purge. Reading leaves the queue as it was.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    filters = argparse.ArgumentParser(add_help=False)
    group = filters.add_argument_group("filters (all must match)")
    group.add_argument("--queue", help="the queue it died in (csms.transactions, ...)")
    group.add_argument("--action", help="envelope action (MeterValues, transaction.started, ...)")
    group.add_argument("--chargepoint", dest="chargepoint_id", help="charge point id")
    group.add_argument(
        "--reason",
        help="why it died: poison, invalid-envelope, data-error, handler-refused, ... "
        "(the CSMS) or delivery_limit, expired, rejected (the broker)",
    )
    group.add_argument("--older-than", type=duration, metavar="AGE", help="e.g. 2h, 7d")
    group.add_argument("--newer-than", type=duration, metavar="AGE", help="e.g. 30m")
    group.add_argument("--id", dest="ids", action="append", default=[], help="message id")
    group.add_argument(
        "--scan", type=int, default=DEFAULT_SCAN, help=f"messages read at most ({DEFAULT_SCAN})"
    )
    listing = sub.add_parser("list", parents=[filters], help="one line per dead letter")
    listing.add_argument("--json", action="store_true", help="JSON lines")
    show = sub.add_parser("show", parents=[filters], help="headers and body of dead letters")
    show.add_argument("message_ids", nargs="*", metavar="ID")
    for name, text in (
        ("replay", "re-publish to the original routing key, then remove from the queue"),
        ("purge", "remove for good"),
    ):
        command = sub.add_parser(name, parents=[filters], help=text)
        command.add_argument("--all", action="store_true", help="allow no filter: every message")
        command.add_argument("--dry-run", action="store_true", help="say what, do nothing")
    return parser


def _filters(args: argparse.Namespace) -> Filters:
    ids = set(args.ids) | set(getattr(args, "message_ids", []) or [])
    return Filters(
        ids=frozenset(ids),
        queue=args.queue,
        action=args.action,
        chargepoint_id=args.chargepoint_id,
        reason=args.reason,
        older_than=args.older_than,
        newer_than=args.newer_than,
    )


def _line(letter: DeadLetter, now: datetime) -> str:
    age = letter.age(now)
    shown = f"{int(age.total_seconds())}s" if age is not None else "?"
    return (
        f"{letter.id}  {shown:>8} ago  {letter.reason:<16} {letter.queue or '?':<24} "
        f"{letter.routing_key or '?':<28} {letter.chargepoint_id or '-'}"
        + (f"  ({letter.detail})" if letter.detail else "")
    )


async def run(args: argparse.Namespace, url: str, out: Any = sys.stdout) -> int:
    """Carry out one `csms dlq` command; the exit status."""
    filters = _filters(args)
    if args.command in ("replay", "purge") and filters.empty and not args.all:
        print(f"csms dlq {args.command}: give a filter, or --all for every message", file=out)
        return 2
    now = datetime.now(UTC)
    failed = 0
    async with DeadLetterQueue(url) as dlq:
        scanned = await dlq.fetch(args.scan)
        selected = [letter for letter in scanned if filters.match(letter, now)]
        if args.command == "replay" and filters.reason != EXPIRED:
            # An expired RPC's caller answered long ago: not replayed unless asked by name.
            selected = [letter for letter in selected if letter.reason != EXPIRED]
        for letter in selected:
            if args.command == "list":
                text = orjson.dumps(letter.summary()).decode() if args.json else _line(letter, now)
                print(text, file=out)
            elif args.command == "show":
                print(
                    orjson.dumps(
                        letter.details(), default=str, option=orjson.OPT_INDENT_2
                    ).decode(),
                    file=out,
                )
            elif args.dry_run:
                print(f"would {args.command} {_line(letter, now)}", file=out)
            elif args.command == "replay":
                try:
                    await dlq.replay(letter)
                except ReplayFailed as exc:
                    failed += 1
                    print(f"not replayed: {exc}", file=out)
                    continue
                print(f"replayed {letter.id} to {letter.exchange} {letter.routing_key}", file=out)
            else:
                await dlq.purge(letter)
                print(f"purged {letter.id}", file=out)
        verb = {"list": "listed", "show": "shown", "replay": "replayed", "purge": "purged"}
        done = len(selected) - failed
        what = verb[args.command] if not getattr(args, "dry_run", False) else "selected"
        print(f"{done} {what}, {failed} failed, {len(scanned)} scanned", file=sys.stderr)
    return 1 if failed else 0


def main(argv: Sequence[str]) -> int:
    """`csms dlq ...`."""
    from shared.settings import get_settings

    args = build_parser().parse_args(list(argv))
    return asyncio.run(run(args, get_settings().amqp_url))
