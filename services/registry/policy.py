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
    """The answer to `gateway.authenticate`: may the socket open, and why (for the logs).

    `refusal`: "credentials" (the gateway answers 401 + challenge) or "profile" (403: the
    connection cannot reach the station's security profile with what it presented).
    """

    allowed: bool
    reason: str
    refusal: str | None = None


UNKNOWN_ALLOWED = ConnectDecision(True, "unknown charge point (the boot answer applies the policy)")
NO_PASSWORD_SET = ConnectDecision(True, "no password set (security profile 0)")
CERTIFIED = ConnectDecision(True, "client certificate verified (security profile 3)")
DECOMMISSIONED = ConnectDecision(False, "decommissioned", "credentials")
PASSWORD_REQUIRED = ConnectDecision(False, "password required", "credentials")


def required_profile(security_profile: int, has_password: bool) -> int:
    """The profile a connection must present: the stored one, and at least 1 with a password
    (a password set through the API is required from then on, as before profiles were
    stored)."""
    return max(security_profile, 1 if has_password else 0)


def connect_decision(
    *,
    known: bool,
    decommissioned: bool,
    has_password: bool,
    presented: bool,
    security_profile: int = 0,
    presented_profile: int | None = None,
) -> ConnectDecision | None:
    """Whether a charge point may open its websocket; None: verify the presented password
    (the registry answers the stored hash and the gateway verifies, see handlers/connect_auth).

    - An id nobody provisioned is let in, with or without credentials (there is nothing to
      check them against): its BootNotification answers as CSMS_UNKNOWN_CHARGEPOINTS says.
    - A decommissioned charge point is refused, whatever it presents.
    - `presented_profile` is what the connection presents (the gateway's word: 3 a client
      certificate it verified for this id, 2 TLS + Basic credentials, 1 Basic credentials,
      0 nothing; an older gateway sends none: 1 with credentials, else 0). Below the required
      profile (`required_profile`) the connection is refused: 401 "password required" when
      only the credentials are missing, else 403.
    - Profile 3 needs no password. A presented password is verified when the charge point has
      one; without one (profile 0) the credentials are ignored.
    - `registration_status` plays no part: a Rejected charge point connects and is answered
      Rejected at boot (it then retries after the interval instead of reconnecting in a loop).
    """
    if not known:
        return UNKNOWN_ALLOWED
    if decommissioned:
        return DECOMMISSIONED
    offered = (1 if presented else 0) if presented_profile is None else presented_profile
    required = required_profile(security_profile, has_password)
    if offered < required:
        if not presented and required <= 2 and offered < 3:
            return PASSWORD_REQUIRED
        return ConnectDecision(
            False,
            f"security profile {required} required, the connection presents {offered}",
            "profile",
        )
    if offered == 3:
        return CERTIFIED
    if not has_password:
        return NO_PASSWORD_SET
    if not presented:  # not reached: a password requires profile 1
        return PASSWORD_REQUIRED
    return None
