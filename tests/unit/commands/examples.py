"""Example payloads generated from the 1.6 JSON schemas: every property present, valid values."""

from __future__ import annotations

from typing import Any

EXAMPLE_DATETIME = "2030-01-02T03:04:05+00:00"


def example(schema: dict[str, Any], *, name: str = "x") -> Any:
    """A value valid against `schema`, with every optional property filled in."""
    if "enum" in schema:
        return schema["enum"][-1]
    kind = schema.get("type")
    if kind == "object":
        return {prop: example(sub, name=prop) for prop, sub in schema.get("properties", {}).items()}
    if kind == "array":
        return [example(schema.get("items", {}), name=name), example(schema.get("items", {}))]
    if kind == "string" and schema.get("format") == "date-time":
        return EXAMPLE_DATETIME
    if kind == "string" and schema.get("format") == "uri":
        return "ftp://files.example.com/upload"
    if kind == "string":
        return f"{name}-value"[: schema.get("maxLength", 1000)]
    if kind == "integer":
        return 7
    if kind == "number":
        return 16.5
    if kind == "boolean":
        return True
    return "any"


def minimal(schema: dict[str, Any]) -> Any:
    """A value valid against `schema` with only the required properties."""
    if schema.get("type") == "object":
        required = set(schema.get("required", ()))
        return {
            prop: minimal(sub)
            for prop, sub in schema.get("properties", {}).items()
            if prop in required
        }
    if schema.get("type") == "array":
        return [minimal(schema.get("items", {}))]
    return example(schema)


def resolved(schema: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any]:
    """`schema` with its `$ref` (2.0.1 `#/definitions/...`) followed."""
    ref = schema.get("$ref")
    if isinstance(ref, str):
        target: dict[str, Any] = definitions[ref.rsplit("/", 1)[-1]]
        return target
    return schema


def example201(
    schema: dict[str, Any], definitions: dict[str, Any] | None = None, *, name: str = "x"
) -> Any:
    """`example` for a 2.0.1 schema: `$ref`s followed, `customData` left out."""
    defs = schema.get("definitions", {}) if definitions is None else definitions
    schema = resolved(schema, defs)
    kind = schema.get("type")
    if "enum" not in schema and kind == "object":
        return {
            prop: example201(sub, defs, name=prop)
            for prop, sub in schema.get("properties", {}).items()
            if prop != "customData"
        }
    if "enum" not in schema and kind == "array":
        item = schema.get("items", {})
        return [example201(item, defs, name=name), example201(item, defs)][
            : schema.get("maxItems", 2)
        ]
    return example(schema, name=name)


def minimal201(schema: dict[str, Any], definitions: dict[str, Any] | None = None) -> Any:
    """`minimal` for a 2.0.1 schema."""
    defs = schema.get("definitions", {}) if definitions is None else definitions
    schema = resolved(schema, defs)
    if "enum" not in schema and schema.get("type") == "object":
        required = set(schema.get("required", ()))
        return {
            prop: minimal201(sub, defs)
            for prop, sub in schema.get("properties", {}).items()
            if prop in required
        }
    if "enum" not in schema and schema.get("type") == "array":
        return [minimal201(schema.get("items", {}), defs)]
    return example201(schema, defs)
