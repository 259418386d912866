"""The public events of the services' internal domain events, and `emit_public` for handlers.

Handlers emit internal events (`ctx.emit`, published on `csms.events` after commit for the
other services). The dispatcher hands the batch's events to `public_events`, which maps them
to catalogue events written to the outbox in the same transaction. Events that exist only for
third parties (authorization.refused, reservation.*) are emitted with `emit_public`: an
internal event under `public:` that `split` takes out of the internal publication.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Final, Protocol

from shared.envelope import Envelope, event
from shared.events.outbox import PublicEvent
from shared.ocpp import format_datetime
from shared.txevents import wh_number

PUBLIC_PREFIX: Final = "public:"
"""Action of an internal event that only carries a public one (`emit_public`)."""


class Emitter(Protocol):
    """What `emit_public` needs of a handler context (shared.dispatch.HandlerContext)."""

    events: list[Envelope]


def public_envelope(
    event_type: str,
    data: dict[str, Any],
    chargepoint_id: str | None,
    *,
    id_tag: str | None = None,
    throttle_key: str | None = None,
    reading_key: str | None = None,
) -> Envelope:
    """The internal carrier of a public event (see `emit_public`)."""
    payload = {
        "data": data,
        "id_tag": id_tag,
        "throttle_key": throttle_key,
        "reading_key": reading_key,
    }
    return event(PUBLIC_PREFIX + event_type, payload, chargepoint_id)


def emit_public(
    ctx: Emitter,
    event_type: str,
    data: dict[str, Any],
    chargepoint_id: str | None,
    *,
    id_tag: str | None = None,
    throttle_key: str | None = None,
    reading_key: str | None = None,
) -> None:
    """Have the batch write public event `event_type` to the outbox with its change
    (`reading_key`: only if the batch stored those readings, PublicEvent.reading_key)."""
    carrier = public_envelope(
        event_type,
        data,
        chargepoint_id,
        id_tag=id_tag,
        throttle_key=throttle_key,
        reading_key=reading_key,
    )
    ctx.events.append(carrier)


def emit_meter_values(
    ctx: Emitter,
    chargepoint_id: str,
    *,
    transaction_id: int | None,
    connector_id: int | None,
    samples: int,
    latest: tuple[datetime, Decimal] | None,
    reading_key: str,
    remote_transaction_id: str | None = None,
) -> None:
    """The public events of one message's meter values (both throttled): `transaction.updated`
    (the energy so far) when the values belong to a transaction and hold a total register
    reading, and `meter_values` (opt-in). No internal event carries them: nothing but the
    outbox reads meter values. `latest`: the newest total register reading (time, Wh).
    `reading_key`: the `meter_value.message_id` the values are stored under; the events are
    written only if this batch stored them (a resent or retried message: no second event)."""
    meter_wh = wh_number(latest[1]) if latest is not None else None
    timestamp = format_datetime(latest[0]) if latest is not None else None
    if transaction_id is not None and meter_wh is not None:
        updated = {
            "transaction_id": transaction_id,
            "remote_transaction_id": remote_transaction_id,
            "connector_id": connector_id,
            "meter_wh": meter_wh,
            "timestamp": timestamp,
        }
        key = f"{chargepoint_id}:{transaction_id}"
        emit_public(
            ctx,
            "transaction.updated",
            updated,
            chargepoint_id,
            throttle_key=key,
            reading_key=reading_key,
        )
    data = {
        "transaction_id": transaction_id,
        "connector_id": connector_id,
        "samples": samples,
        "meter_wh": meter_wh,
        "timestamp": timestamp,
    }
    key = f"{chargepoint_id}:{connector_id}"
    emit_public(
        ctx, "meter_values", data, chargepoint_id, throttle_key=key, reading_key=reading_key
    )


def refused_event(ctx: Emitter, env: Envelope, id_tag: str, status: str) -> None:
    """`authorization.refused` when a charge point's request for `id_tag` was not Accepted."""
    if status != "Accepted":
        data = {"id_tag": id_tag, "status": status, "action": env.action}
        emit_public(ctx, "authorization.refused", data, env.chargepoint_id, id_tag=id_tag)


def registration_changed(chargepoint_id: str, previous: str | None, new: str) -> list[PublicEvent]:
    """`chargepoint.registration_changed` when an operator changes the status (none if equal)."""
    if previous == new:
        return []
    data = {"registration_status": new, "previous_registration_status": previous}
    return [PublicEvent("chargepoint.registration_changed", data, chargepoint_id)]


def split(events: Sequence[Envelope]) -> tuple[list[Envelope], list[PublicEvent]]:
    """(the internal events to publish, the public events to write) of a batch's events."""
    internal: list[Envelope] = []
    public: list[PublicEvent] = []
    for env in events:
        if env.action.startswith(PUBLIC_PREFIX):
            public.append(
                PublicEvent(
                    type=env.action[len(PUBLIC_PREFIX) :],
                    data=dict(env.payload.get("data") or {}),
                    chargepoint_id=env.chargepoint_id,
                    id_tag=env.payload.get("id_tag"),
                    throttle_key=env.payload.get("throttle_key"),
                    reading_key=env.payload.get("reading_key"),
                )
            )
            continue
        internal.append(env)
        public.extend(public_events(env))
    return internal, public


Projector = Callable[[str | None, dict[str, Any]], list[PublicEvent]]


def _connection(name: str) -> Projector:
    def project(cp: str | None, p: dict[str, Any]) -> list[PublicEvent]:
        data = {
            "ip": p.get("ip"),
            "port": p.get("port"),
            "node_id": p.get("nodeId"),
            "subprotocol": p.get("subprotocol"),
            "connection_id": p.get("connectionId"),
            "connected_at": p.get("connectedAt"),
        }
        return [PublicEvent(name, data, cp)]

    return project


def _snake(name: str) -> str:
    out = []
    for ch in name:
        if ch.isupper():
            out.append("_" + ch.lower())
        else:
            out.append(ch)
    return "".join(out).lstrip("_")


def _booted(cp: str | None, p: dict[str, Any]) -> list[PublicEvent]:
    return [PublicEvent("chargepoint.booted", {_snake(k): v for k, v in p.items()}, cp)]


def _cp_status(cp: str | None, p: dict[str, Any]) -> list[PublicEvent]:
    data = {
        "status": p.get("status"),
        "previous_status": p.get("previousStatus"),
        "timestamp": p.get("timestamp"),
    }
    return [PublicEvent("chargepoint.status_changed", data, cp)]


def _connector_status(cp: str | None, p: dict[str, Any]) -> list[PublicEvent]:
    data = {
        "connector_id": p.get("connectorId"),
        "status": p.get("status"),
        "error_code": p.get("errorCode"),
        "previous_status": p.get("previousStatus"),
        "previous_error_code": p.get("previousErrorCode"),
        "timestamp": p.get("timestamp"),
    }
    return [PublicEvent("connector.status_changed", data, cp)]


def _device_status(name: str) -> Projector:
    def project(cp: str | None, p: dict[str, Any]) -> list[PublicEvent]:
        data = {"status": p.get("status"), "previous_status": p.get("previousStatus")}
        if "requestId" in p:
            data["request_id"] = p["requestId"]
        return [PublicEvent(name, data, cp)]

    return project


def _security(cp: str | None, p: dict[str, Any]) -> list[PublicEvent]:
    data = {
        "type": p.get("type"),
        "timestamp": p.get("timestamp"),
        "tech_info": p.get("techInfo"),
        "source": p.get("source") or "chargepoint",
    }
    return [PublicEvent("security.event", data, cp)]


def _started(cp: str | None, p: dict[str, Any]) -> list[PublicEvent]:
    if p.get("repeated"):
        return []
    data = {
        "transaction_id": p.get("transaction_id"),
        "remote_transaction_id": p.get("remote_transaction_id"),
        "connector_id": p.get("connector_id"),
        "id_tag": p.get("id_tag"),
        "id_tag_status": p.get("id_tag_status"),
        "meter_start_wh": p.get("meter_start"),
        "started_at": p.get("timestamp"),
        "reservation_id": p.get("reservation_id"),
    }
    return [PublicEvent("transaction.started", data, cp, id_tag=p.get("id_tag"))]


def _stopped(cp: str | None, p: dict[str, Any]) -> list[PublicEvent]:
    if p.get("outcome") == "repeated":
        return []
    data = {
        "transaction_id": p.get("transaction_id"),
        "remote_transaction_id": p.get("remote_transaction_id"),
        "connector_id": p.get("connector_id"),
        "id_tag": p.get("id_tag"),
        "meter_stop_wh": p.get("meter_stop"),
        "energy_wh": p.get("energy_wh"),
        "reason": p.get("reason"),
        "ended_at": p.get("timestamp"),
        "outcome": p.get("outcome"),
        "closed_by": p.get("closed_by"),
    }
    if p.get("previous") is not None:
        data["previous"] = p["previous"]
    return [PublicEvent("transaction.ended", data, cp, id_tag=p.get("id_tag"))]


PROJECTORS: Final[dict[str, Projector]] = {
    "chargepoint.connected": _connection("chargepoint.connected"),
    "chargepoint.disconnected": _connection("chargepoint.disconnected"),
    "chargepoint.booted": _booted,
    "chargepoint.status_changed": _cp_status,
    "connector.status_changed": _connector_status,
    "chargepoint.firmware_status": _device_status("firmware.status_changed"),
    "chargepoint.diagnostics_status": _device_status("diagnostics.status_changed"),
    "chargepoint.security_event": _security,
    "transaction.started": _started,
    "transaction.stopped": _stopped,
}
"""Internal event action -> its public events (command.completed is written by
shared/command_outbox.complete itself, in the transaction that records the outcome)."""


def public_events(env: Envelope) -> list[PublicEvent]:
    """The public events of one internal event (none for most internal-only events)."""
    project = PROJECTORS.get(env.action)
    if project is None:
        return []
    return project(env.chargepoint_id, dict(env.payload))
