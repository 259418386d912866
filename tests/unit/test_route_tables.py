"""Every route of every service names its request model, and its handler takes exactly it."""

from __future__ import annotations

import inspect
import types
import typing
from typing import Any, Union
from unittest.mock import MagicMock

import pytest

from services.charging.routes import build_router
from services.registry.routes import ROUTER as REGISTRY
from services.transactions.routes import ROUTER as TRANSACTIONS
from services.webhooks.intake import ROUTER as WEBHOOKS
from shared.dispatch import Route, Router, ocpp_route
from shared.messages import Message
from shared.ocpp import OCPP16, request_model
from shared.ocpp.v16.authorize_request import AuthorizeRequest

ROUTERS: dict[str, Router] = {
    "registry": REGISTRY,
    "transactions": TRANSACTIONS,
    "charging": build_router(MagicMock(), MagicMock()),
    "webhooks": WEBHOOKS,
}
ROUTES = [(name, route) for name, router in ROUTERS.items() for route in router.routes.values()]


def request_annotation(route: Route[Any]) -> Any:
    """What the handler's third parameter is annotated with."""
    hints = typing.get_type_hints(route.handler)
    params = list(inspect.signature(route.handler).parameters)
    return hints[params[-1]]


@pytest.mark.parametrize(("service", "route"), ROUTES, ids=[r.routing_key for _, r in ROUTES])
def test_every_route_parses_into_its_model_and_the_handler_takes_it(
    service: str, route: Route[Any]
) -> None:
    if route.ocpp_version is not None:
        action = route.routing_key.split(".", 1)[1]
        assert route.request is request_model(route.ocpp_version, action)
    else:
        assert issubclass(route.request, Message)
    annotation = request_annotation(route)
    accepted = (
        typing.get_args(annotation)
        if typing.get_origin(annotation) in (Union, types.UnionType)
        else (annotation,)
    )
    assert route.request in accepted


def test_a_route_with_another_actions_model_does_not_build() -> None:
    async def handler(ctx: Any, env: Any, req: AuthorizeRequest) -> None:
        return None

    with pytest.raises(TypeError, match="HeartbeatRequest"):
        ocpp_route(OCPP16, "Heartbeat", handler, AuthorizeRequest)
    assert ocpp_route(OCPP16, "Authorize", handler, AuthorizeRequest).request is AuthorizeRequest


def test_no_handler_module_reads_the_raw_payload() -> None:
    """The payload is the dispatcher's to parse: handlers get the model."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "services"
    offenders = [
        str(path.relative_to(root))
        for service in ("registry", "transactions", "charging", "webhooks")
        for path in (root / service).rglob("*.py")
        if "env.payload" in path.read_text() or "payload_errors" in path.read_text()
    ]
    assert offenders == []
