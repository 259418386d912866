"""Pure decisions of the registry (no I/O): registration, the latest report, who may connect."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.chargepoints import ACCEPTED, PENDING, REJECTED

# A charge point clock running ahead must not pin its status: a timestamp further than this
# in the future of the moment the gateway received the frame is replaced by that moment.
MAX_CLOCK_AHEAD = timedelta(minutes=5)


def boot_answer(registration_status: str, *, decommissioned: bool) -> str:
    """The BootNotification.conf status for a charge point's stored registration state.

    OCPP 1.6 §4.2: Accepted, Pending (the CSMS wants to talk first / awaits an operator) or
    Rejected. A decommissioned charge point is Rejected whatever its registration says; a
    value we do not know (2.0.1 writes the same column) is treated as Pending, never Accepted.
    """
    if decommissioned:
        return REJECTED
    if registration_status in (ACCEPTED, PENDING, REJECTED):
        return registration_status
    return PENDING


def report_time(reported: datetime | None, received_at: datetime) -> datetime:
    """The time that orders a status report: the charge point's timestamp, or receipt time.

    A report without a timestamp, or with one more than MAX_CLOCK_AHEAD after receipt
    (a clock running ahead would otherwise hide every later status), uses receipt time.
    """
    if reported is None or reported > received_at + MAX_CLOCK_AHEAD:
        return received_at
    return reported


def is_latest(incoming: datetime, current: datetime | None) -> bool:
    """Whether a report at `incoming` supersedes the state last applied at `current`.

    Messages can be consumed out of order (competing consumers, redelivery), so the stored
    state only moves forward in time. Equal timestamps apply (the later consumed wins): a
    redelivery of the same report rewrites the same values.
    """
    return current is None or incoming >= current


def clip(value: object, length: int | None) -> str | None:
    """`value` as a string cut to `length` characters (None stays None)."""
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    return text[:length] if length is not None else text


@dataclass(frozen=True, slots=True)
class ConnectDecision:
    """The answer to `gateway.authenticate`: may the socket open, and why (for the logs)."""

    allowed: bool
    reason: str


UNKNOWN_ALLOWED = ConnectDecision(True, "unknown charge point (the boot answer applies the policy)")
NO_PASSWORD_SET = ConnectDecision(True, "no password set (security profile 0)")
DECOMMISSIONED = ConnectDecision(False, "decommissioned")
PASSWORD_REQUIRED = ConnectDecision(False, "password required")


def connect_decision(
    *, known: bool, decommissioned: bool, has_password: bool, presented: bool
) -> ConnectDecision | None:
    """Whether a charge point may open its websocket; None: verify the presented password
    (the registry answers the stored hash and the gateway verifies, see handlers/connect_auth).

    - An id nobody provisioned is let in, with or without credentials (there is nothing to
      check them against): its BootNotification answers as CSMS_UNKNOWN_CHARGEPOINTS says.
    - A decommissioned charge point is refused, whatever it presents.
    - A charge point without a password (profile 0: development, closed networks) is let in;
      credentials it presents are ignored. Operators enable profile 1 by setting a password.
    - One with a password must present it: no credentials -> refused; otherwise verify.
    - `registration_status` plays no part: a Rejected charge point connects and is answered
      Rejected at boot (it then retries after the interval instead of reconnecting in a loop).
    """
    if not known:
        return UNKNOWN_ALLOWED
    if decommissioned:
        return DECOMMISSIONED
    if not has_password:
        return NO_PASSWORD_SET
    if not presented:
        return PASSWORD_REQUIRED
    return None
