"""Webhooks end to end: the API subscribes a real HTTP receiver, the webhooks service relays
committed events and delivers them signed, in order per charge point, with retries, the
delivery log, redelivery, the dead-letter queue and its replay, auto-disable. The harness
(`hooks`: API, receiver, service, outbox) is in conftest.py."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.transactions.reservation_expiry import expire_forever
from services.transactions.routes import ROUTER
from services.webhooks import signing
from services.webhooks.delivery import Deliverer
from shared.dispatch import Dispatcher
from shared.ocpp import OCPP201
from shared.settings import Settings
from tests.factories import RecordingPublisher, Sql, delivery
from tests.integration.api.conftest import Actor
from tests.integration.transactions.helpers import call
from tests.patience import eventually

from .conftest import Hooks, new_cp, webhook_settings
from .receiver import Received

pytestmark = pytest.mark.integration


def _verified(secret: str, got: Received) -> bool:
    return signing.verify(
        secret,
        got.headers[signing.TIMESTAMP_HEADER.lower()],
        got.body,
        got.headers[signing.SIGNATURE_HEADER.lower()],
        now=int(time.time()),
    )


async def test_events_are_delivered_signed_and_in_order_per_chargepoint(hooks: Hooks) -> None:
    hook = await hooks.subscribe("/hook", event_types=["security.*"])
    assert hook["secret"].startswith("whsec_")
    listed = await hooks.get(f"/api/v1/webhooks/{hook['id']}")
    assert "secret" not in listed
    await hooks.start()
    cps = [new_cp() for _ in range(3)]
    for _ in range(2):
        for cp in cps:
            await hooks.emit(cp, 3)
    await hooks.emit(cps[0], 1, "connector.status_changed")  # not subscribed
    got = await eventually(lambda: hooks.received("/hook", 18))
    for g in got:
        assert _verified(hook["secret"], g)
        assert g.headers[signing.EVENT_ID_HEADER.lower()] == g.event["id"]
        assert g.event["type"] == "security.event"
        forged = Received(g.path, g.headers, g.body + b" ")
        assert not _verified(hook["secret"], forged)
    for cp in cps:
        seqs = [g.event["seq"] for g in got if g.event["chargepoint_id"] == cp]
        assert seqs == list(range(1, 7))

    async def recorded() -> dict[str, Any] | None:
        body = await hooks.deliveries(hook)
        done = all(d["status"] != "pending" for d in body["items"])
        return body if done and body["total"] == 18 else None

    log = await eventually(recorded)  # answered first, recorded a moment later
    assert {d["status"] for d in log["items"]} == {"delivered"}
    assert all(d["last_status_code"] == 200 and d["attempts"] == 1 for d in log["items"])
    assert all(d["last_latency_ms"] is not None for d in log["items"])


async def test_a_failed_delivery_is_retried_after_500_and_timeout(hooks: Hooks) -> None:
    release = asyncio.Event()
    calls = 0

    async def flaky(_: Received) -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            return 500
        if calls == 2:
            await release.wait()  # silent past the delivery timeout
            return 200
        return 204

    hooks.recv.answers["/flaky"] = flaky
    hook = await hooks.subscribe("/flaky")
    await hooks.start(webhooks_timeout=0.5)
    await hooks.emit(new_cp())
    done = await eventually(lambda: hooks.newest_delivery(hook, "delivered"))
    release.set()
    assert done["attempts"] == 3
    assert done["last_status_code"] == 204
    ids = {g.headers[signing.EVENT_ID_HEADER.lower()] for g in hooks.at("/flaky")}
    assert ids == {done["event_id"]}  # the same event id on every attempt


async def test_a_slow_endpoint_does_not_hold_the_others(hooks: Hooks) -> None:
    release = asyncio.Event()

    async def stuck(_: Received) -> int:
        await release.wait()
        return 200

    hooks.recv.answers["/slow"] = stuck
    await hooks.subscribe("/slow")
    await hooks.subscribe("/fast")
    await hooks.start(webhooks_timeout=60.0)
    for cp in [new_cp() for _ in range(6)]:
        await hooks.emit(cp, 2)
    # Every event reaches the fast endpoint while the slow one holds all its slots.
    await eventually(lambda: hooks.received("/fast", 12))
    assert len(hooks.at("/slow")) <= 4  # CSMS_WEBHOOKS_ENDPOINT_CONCURRENCY, all stuck
    release.set()
    await eventually(lambda: hooks.received("/slow", 12))


async def test_redirects_are_not_followed_and_redelivery_sends_the_same_event(
    hooks: Hooks,
) -> None:
    hooks.answer("/moved", 302)
    hook = await hooks.subscribe("/moved")
    await hooks.start(webhooks_retry_window_hours=0.0001)  # dead after the first failure (0.36 s)
    await hooks.emit(new_cp())
    first = await eventually(lambda: hooks.newest_delivery(hook, "dead"))
    assert first["last_status_code"] == 302 and "redirect" in first["last_error"]
    assert hooks.at("/redirected") == []
    before = len(hooks.at("/moved"))
    hooks.answer("/moved", 200)
    queued = (await hooks.dead_letters(hook, replayed=False))["items"]
    assert [x["delivery_id"] for x in queued] == [first["id"]]
    r = await hooks.client.post(
        f"/api/v1/webhooks/{hook['id']}/deliveries/{first['id']}/redeliver",
        headers=hooks.admin.headers,
    )
    assert r.status_code == 202, r.text
    # Redelivered from the log: it leaves the dead-letter queue as a replay does.
    assert (await hooks.dead_letters(hook, replayed=False))["total"] == 0
    again = await eventually(lambda: hooks.newest_delivery(hook, "delivered"))
    assert again["event_id"] == first["event_id"]
    resent = hooks.at("/moved")[before:]
    assert {g.event["id"] for g in resent} == {first["event_id"]}


async def test_an_endpoint_failing_in_a_row_is_disabled_with_an_event(hooks: Hooks) -> None:
    hooks.answer("/down", 500)
    hook = await hooks.subscribe("/down")
    watcher = await hooks.subscribe("/admin", event_types=["webhook.disabled"])
    await hooks.start(webhooks_disable_after=3)
    await hooks.emit(new_cp())

    async def disabled() -> dict[str, Any] | None:
        body: dict[str, Any] = await hooks.get(f"/api/v1/webhooks/{hook['id']}")
        return body if not body["active"] else None

    off = await eventually(disabled)
    assert off["failure_streak"] >= 3 and "3 failed deliveries" in off["disabled_reason"]
    [note] = await eventually(lambda: hooks.received("/admin", 1))
    assert note.event["type"] == "webhook.disabled"
    assert note.event["data"]["webhook_id"] == hook["id"]
    assert _verified(watcher["secret"], note)
    attempts = len(hooks.at("/down"))
    assert attempts == 3
    # Re-enabled: the pending delivery goes out again, the streak starts over.
    hooks.answer("/down", 200)
    r = await hooks.client.patch(
        f"/api/v1/webhooks/{hook['id']}", json={"active": True}, headers=hooks.admin.headers
    )
    assert r.status_code == 200 and r.json()["failure_streak"] == 0
    await eventually(lambda: hooks.received("/down", attempts + 1))


async def test_an_expired_reservation_reaches_a_webhook_exactly_once(
    hooks: Hooks, db_sessionmaker: async_sessionmaker[AsyncSession], sql: Sql
) -> None:
    await hooks.subscribe("/res", event_types=["reservation.*", "security.*"])
    await hooks.start()
    cp = new_cp()
    await sql(
        "INSERT INTO chargepoint (chargepoint_id, registration_status, ocpp_version)"
        " VALUES (:cp, 'Accepted', 'ocpp2.0.1')",
        cp=cp,
    )
    await sql(
        "INSERT INTO reservation (chargepoint_id, connectorid, reservation_id, expiry_date,"
        " id_tag, status) VALUES (:cp, 1, 4, now() + interval '0.3 second', 'TAG-R', 'Active')",
        cp=cp,
    )
    # Two transactions processes' sweeps (replicas), then the station's own report.
    settings = Settings(reservation_expiry_interval=0.05)
    stopping = asyncio.Event()
    sweeps = [
        asyncio.create_task(expire_forever(db_sessionmaker, settings, stopping=stopping))
        for _ in range(2)
    ]
    try:

        async def expired() -> bool:
            rows = await sql(
                "SELECT status FROM reservation WHERE chargepoint_id = :cp AND reservation_id = 4",
                cp=cp,
            )
            return bool(rows[0]["status"] == "Expired")

        await eventually(expired)
        report = call(
            "ReservationStatusUpdate",
            {"reservationId": 4, "reservationUpdateStatus": "Expired"},
            chargepoint_id=cp,
            ocpp_version=OCPP201,
        )
        dispatcher = Dispatcher(
            router=ROUTER,
            sessionmaker=db_sessionmaker,
            settings=settings,
            publisher=RecordingPublisher(),
        )
        await dispatcher([delivery(report)])
    finally:
        stopping.set()
        await asyncio.gather(*sweeps)
    # A later event of the charge point: delivered in seq order, so once it is in, anything
    # written before it is too.
    await hooks.emit(cp)

    async def sentinel_in() -> list[dict[str, Any]] | None:
        got = [g.event for g in hooks.at("/res") if g.event["chargepoint_id"] == cp]
        return got if any(e["type"] == "security.event" for e in got) else None

    got = await eventually(sentinel_in)
    assert [e["type"] for e in got] == ["reservation.expired", "security.event"]
    assert got[0]["data"]["reservation_id"] == 4 and got[0]["data"]["source"] == "csms"


async def test_dead_deliveries_wait_in_the_dead_letter_queue_until_replayed(
    hooks: Hooks, operator: Actor, driver: Actor, sql: Sql
) -> None:
    hooks.answer("/dlq", 500)
    hook = await hooks.subscribe("/dlq")
    other = await hooks.subscribe("/other", active=False)
    await hooks.start(webhooks_retry_window_hours=0.0001)  # dead after ~0.36 s of retries
    cps = [new_cp("CP-DLQ") for _ in range(3)]
    for cp in cps:
        await hooks.emit(cp)

    async def waiting(n: int) -> list[dict[str, Any]] | None:
        items: list[dict[str, Any]] = (await hooks.dead_letters(hook, operator, replayed=False))[
            "items"
        ]
        return items if len(items) == n else None

    letters = await eventually(lambda: waiting(3))
    assert {x["chargepoint_id"] for x in letters} == set(cps)
    for x in letters:
        assert x["last_status_code"] == 500 and x["last_error"] == "HTTP 500"
        assert x["attempts"] >= 1 and x["replayed_at"] is None and x["replay_count"] == 0
        assert x["body"]["id"] == x["event_id"] and x["body"]["type"] == "security.event"
    # The delivery log says dead too; the queue outlives it (a pruned log row is rewritten).
    assert (await hooks.deliveries(hook, status="dead"))["total"] == 3
    pruned = next(x for x in letters if x["chargepoint_id"] == cps[0])
    await sql("DELETE FROM webhook_delivery WHERE id = :id", id=pruned["delivery_id"])

    # Another endpoint's dead letter is not this one's; drivers have no access.
    client, admin = hooks.client, hooks.admin
    url = f"/api/v1/webhooks/{hook['id']}/dead-letters"
    r = await client.post(
        f"/api/v1/webhooks/{other['id']}/dead-letters/{letters[0]['id']}/replay",
        headers=admin.headers,
    )
    assert r.status_code == 404
    assert (await client.get(url, headers=driver.headers)).status_code == 403
    assert (await client.post(f"{url}/replay", headers=driver.headers)).status_code == 403
    assert (await hooks.dead_letters(other))["total"] == 0

    hooks.answer("/dlq", 200)
    before = len(hooks.at("/dlq"))
    single = await client.post(f"{url}/{pruned['id']}/replay", headers=operator.headers)
    assert single.status_code == 202, single.text
    assert single.json()["replayed_at"] is not None and single.json()["replay_count"] == 1
    bulk = await client.post(f"{url}/replay", headers=operator.headers)
    assert bulk.status_code == 202, bulk.text
    assert bulk.json() == {"replayed": 2}  # the waiting ones: not the one replayed above
    got = await eventually(lambda: hooks.received("/dlq", before + 3))
    assert sorted(g.event["id"] for g in got[before:]) == sorted(x["event_id"] for x in letters)
    assert await waiting(0) == []

    async def all_delivered() -> bool:
        body = await hooks.deliveries(hook)
        return body["total"] == 3 and {d["status"] for d in body["items"]} == {"delivered"}

    await eventually(all_delivered)
    replayed = await hooks.dead_letters(hook, replayed=True)
    assert replayed["total"] == 3
    assert {x["replay_count"] for x in replayed["items"]} == {1}
    # Nothing left to replay.
    again = await client.post(f"{url}/replay", json={}, headers=admin.headers)
    assert again.json() == {"replayed": 0}


async def test_a_replayed_dead_letter_that_dies_again_waits_again(hooks: Hooks) -> None:
    hooks.answer("/gone", 503)
    hook = await hooks.subscribe("/gone")
    await hooks.start(webhooks_retry_window_hours=0.0001)
    await hooks.emit(new_cp("CP-DLQ"))

    async def waiting() -> dict[str, Any] | None:
        page = await hooks.dead_letters(hook, replayed=False)
        return page["items"][0] if page["total"] == 1 else None

    first = await eventually(waiting)
    tries = len(hooks.at("/gone"))
    r = await hooks.client.post(
        f"/api/v1/webhooks/{hook['id']}/dead-letters/replay",
        json={"ids": [first["id"]]},
        headers=hooks.admin.headers,
    )
    assert r.json() == {"replayed": 1}
    await eventually(lambda: hooks.received("/gone", tries + 1))  # sent again, fails again

    async def dead_again() -> dict[str, Any] | None:
        found = await waiting()
        return found if found is not None and found["dead_at"] > first["dead_at"] else None

    second = await eventually(dead_again)
    assert second["id"] == first["id"] and second["replay_count"] == 1
    assert second["event_id"] == first["event_id"]


async def test_prune_keeps_waiting_dead_letters_for_their_own_retention(
    hooks: Hooks, sql: Sql
) -> None:
    hook = await hooks.subscribe("/never")
    rows = {
        "waiting_old": ("now() - interval '100 hours'", None),  # past the event retention only
        "waiting_too_old": ("now() - interval '31 days'", None),
        "replayed_old": ("now() - interval '100 hours'", "now() - interval '80 hours'"),
        "replayed_new": ("now() - interval '100 hours'", "now() - interval '1 hour'"),
    }
    for name, (dead_at, replayed_at) in rows.items():
        await sql(
            "INSERT INTO webhook_dead_letter (endpoint_id, delivery_id, event_id, event_type,"
            " lane, seq, body, attempts, last_error, dead_at, replayed_at) VALUES (:e,"
            " gen_random_uuid(), gen_random_uuid(), 'security.event', '', 1, '{}', 3, :n,"
            f" {dead_at}, {replayed_at or 'NULL'})",
            e=hook["id"],
            n=name,
        )
    deliverer = Deliverer(hooks.sessionmaker, webhook_settings("amqp://unused"))
    await deliverer.prune()
    left = await sql(
        "SELECT last_error FROM webhook_dead_letter WHERE endpoint_id = :e", e=hook["id"]
    )
    assert sorted(r["last_error"] for r in left) == ["replayed_new", "waiting_old"]
