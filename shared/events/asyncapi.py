"""The AsyncAPI 2.6 document of the public events, generated from the catalogue's models."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from shared.events.catalogue import CATALOGUE, EVENT_VERSION, typed_envelope

ASYNCAPI_VERSION = "2.6.0"
REF_TEMPLATE = "#/components/schemas/{model}"


def _message_name(event_type: str) -> str:
    return event_type.replace(".", "_")


def asyncapi_document(*, server_url: str = "") -> dict[str, Any]:
    """The document: one message per event type, on the webhook and stream channels."""
    specs = list(CATALOGUE.values())
    models: list[tuple[type[BaseModel], Literal["validation", "serialization"]]] = [
        (typed_envelope(spec), "validation") for spec in specs
    ]
    keys, schema = models_json_schema(models, ref_template=REF_TEMPLATE)
    schemas: dict[str, Any] = dict(schema.get("$defs", {}))
    messages: dict[str, Any] = {}
    for spec, (model, _) in zip(specs, models, strict=True):
        ref = keys[(model, "validation")]
        messages[_message_name(spec.name)] = {
            "name": spec.name,
            "title": spec.name,
            "summary": spec.summary,
            "contentType": "application/json",
            "payload": ref,
            "examples": [
                {
                    "name": spec.name,
                    "payload": {
                        "id": "5b7f0f4e-8d0c-4a55-9a3e-0d9c1b1c2f10",
                        "type": spec.name,
                        "version": EVENT_VERSION,
                        "occurred_at": "2026-11-30T10:00:00Z",
                        "chargepoint_id": None if spec.scope == "system" else "CP-1",
                        "location_id": None,
                        "seq": 17,
                        "data": spec.example,
                    },
                }
            ],
            "x-opt-in": spec.opt_in,
            "x-throttled": spec.throttled,
        }
    one_of = [{"$ref": f"#/components/messages/{name}"} for name in messages]
    servers: dict[str, Any] = {}
    if server_url:
        servers["api"] = {"url": server_url, "protocol": "https", "description": "The REST API"}
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "CSMS public events",
            "version": str(EVENT_VERSION),
            "description": "Events of the OCPP central system for third-party apps, delivered "
            "to webhooks (signed POSTs, header X-CSMS-Signature) and on the Server-Sent Events "
            "stream `GET /api/v1/events/stream`. See docs/events.md.",
        },
        "defaultContentType": "application/json",
        "servers": servers,
        "channels": {
            "webhook": {
                "description": "POSTed to every subscribed webhook endpoint, one event a request.",
                "subscribe": {"operationId": "receiveWebhook", "message": {"oneOf": one_of}},
            },
            "/api/v1/events/stream": {
                "description": "Server-Sent Events: `id` (resume with Last-Event-ID), `event` "
                "(the type), `data` (the event).",
                "subscribe": {"operationId": "readStream", "message": {"oneOf": one_of}},
            },
        },
        "components": {"messages": messages, "schemas": schemas},
    }
