"""Generate `shared/ocpp/v16` and `shared/ocpp/v201` from the `ocpp` package's JSON schemas.

    python -m shared.ocpp.generate            # (re)write the packages (`make gen-ocpp-models`)
    python -m shared.ocpp.generate --check    # exit 1 when the committed files differ

The schemas of the pinned `ocpp` release are the source of truth; datamodel-code-generator
(a dev dependency, pinned in constraints.txt) turns them into pydantic models. What this
script does around it, so that the output is what the services want:

1. Copy every schema to a work folder as `<action>_request.json` / `<action>_response.json`
   (snake_case modules) with the title `<Action>Request` / `<Action>Response` (the class
   name), without `description`s (spec prose; the models stay small, the spec is the doc),
   without `additionalProperties: false` (unknown fields are ignored by `OcppModel`: the
   gateway decides what it admits) and with `format: uri` as the gateway's regex (a URL is
   sent as the operator wrote it). 2.0.1 `CustomDataType` keeps vendor properties
   (`additionalProperties: true`, as the schema means it).
2. Run datamodel-codegen over the folder: snake_case fields with camelCase aliases,
   StrEnum enums, OCPP types from `shared.ocpp.types` (`AwareDatetime`, `Decimal` for
   `number`, 32-bit `StrictInt`), strict `str`/`bool`, identical models shared in
   `common.py` of the version.
3. Format with the project's ruff and write the package `__init__.py`: `REQUESTS` and
   `RESPONSES`, action -> (module, class), the index `shared.ocpp.models` looks up.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from enum import Enum
from importlib import metadata, resources
from pathlib import Path
from typing import Any, Final

from ocpp.v16 import enums

PACKAGE_DIR: Final = Path(__file__).resolve().parent
REPO_ROOT: Final = PACKAGE_DIR.parent.parent


@dataclass(frozen=True, slots=True)
class VersionSource:
    """Where a version's schemas are and which package gets its models."""

    package: str  # `v16` -> shared/ocpp/v16
    schema_dir: str  # folder of the `ocpp` package
    request_suffix: str  # 1.6 `Authorize.json`, 2.0.1 `AuthorizeRequest.json`


VERSIONS: Final = (
    VersionSource("v16", "v16/schemas", ""),
    VersionSource("v201", "v201/schemas", "Request"),
)

IMPORT_OVERRIDES: Final = {
    "AwareDatetime": "shared.ocpp.types",
    "Decimal": "shared.ocpp.types",
    "StrictInt": "shared.ocpp.types",
}

CODEGEN_OPTIONS: Final = [
    "--input-file-type=jsonschema",
    "--output-model-type=pydantic_v2.BaseModel",
    "--target-python-version=3.11",
    "--base-class=shared.ocpp.types.OcppModel",
    "--snake-case-field",
    "--use-annotated",
    "--use-standard-collections",
    "--use-union-operator",
    "--use-specialized-enum",
    "--use-title-as-name",
    "--output-datetime-class=AwareDatetime",
    "--type-mappings",
    "number+default=decimal",
    "--strict-types",
    "str",
    "int",
    "bool",
    f"--import-overrides={json.dumps(IMPORT_OVERRIDES)}",
    "--use-exact-imports",
    "--deserialize-default-values",
    "enum",
    "--disable-timestamp",
    "--no-formatters",
]


def snake(name: str) -> str:
    """`MeterValues` -> `meter_values`, `GetCertificateStatus` -> `get_certificate_status`."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


URI_PATTERN: Final = r"^\w+:(\/?\/?)[^\s]+$"
"""`format: uri` as the gateway checks it (fastjsonschema's regex): the text is kept as sent
(pydantic's AnyUrl would rewrite it: a trailing slash, a lower-case host, escapes)."""


def _clean(node: Any) -> Any:
    """Drop descriptions and `additionalProperties: false`; `format: uri` as a pattern."""
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in ("description", "comment", "javaType", "$id", "$schema"):
                continue
            if key == "additionalProperties" and value is False:
                continue
            if key == "format" and value == "uri":
                out["pattern"] = URI_PATTERN
                continue
            out[key] = _clean(value)
        return out
    if isinstance(node, list):
        return [_clean(v) for v in node]
    return node


# OCPP 1.6 schemas define their objects inline; the specification's type names (§7).
V16_OBJECT_NAMES: Final = {
    "idTagInfo": "IdTagInfo",
    "chargingProfile": "ChargingProfile",
    "csChargingProfiles": "ChargingProfile",
    "chargingSchedule": "ChargingSchedule",
    "chargingSchedulePeriod": "ChargingSchedulePeriod",
    "configurationKey": "KeyValue",
    "localAuthorizationList": "AuthorizationData",
    "meterValue": "MeterValue",
    "transactionData": "MeterValue",
    "sampledValue": "SampledValue",
}
# Inline 1.6 enums whose value set no `ocpp.v16.enums` class has exactly, or several do.
V16_ENUM_NAMES: Final = {
    "FirmwareStatusNotificationRequest.status": "FirmwareStatus",
    "MeterValuesRequest.unit": "UnitOfMeasure",
    "StopTransactionRequest.unit": "UnitOfMeasure",
    "TriggerMessageRequest.requestedMessage": "MessageTrigger",
    "RemoteStartTransactionResponse.status": "RemoteStartStopStatus",
    "RemoteStopTransactionResponse.status": "RemoteStartStopStatus",
}


def _v16_enum_classes() -> dict[frozenset[str], list[str]]:
    out: dict[frozenset[str], list[str]] = {}
    for name, obj in sorted(vars(enums).items()):
        if isinstance(obj, type) and issubclass(obj, Enum) and obj.__module__ == enums.__name__:
            out.setdefault(frozenset(str(m.value) for m in obj), []).append(name)
    return out


class _V16Namer:
    """Gives the inline objects and enums of a 1.6 schema their specification names."""

    def __init__(self) -> None:
        self.enums = _v16_enum_classes()

    def enum_name(self, title: str, prop: str, values: list[str]) -> str | None:
        fixed = V16_ENUM_NAMES.get(f"{title}.{prop}")
        if fixed is not None:
            return fixed
        candidates = self.enums.get(frozenset(values), [])
        if len(candidates) == 1:
            return candidates[0]
        action = title.removesuffix("Request").removesuffix("Response")
        own = [c for c in candidates if c.startswith(action)]
        if len(own) == 1:
            return own[0]
        return "GenericStatus" if "GenericStatus" in candidates else None

    def extract(self, schema: dict[str, Any]) -> None:
        """Move named inline objects and enums into `definitions` (refs in their place)."""
        definitions: dict[str, Any] = schema.setdefault("definitions", {})
        title = schema["title"]

        def name_of(prop: str, node: dict[str, Any]) -> str | None:
            if "enum" in node:
                return self.enum_name(title, prop, node["enum"])
            if node.get("type") == "object":
                return V16_OBJECT_NAMES.get(prop)
            return None

        def visit(node: Any, prop: str) -> Any:
            if not isinstance(node, dict):
                return node
            for key, sub in list(node.get("properties", {}).items()):
                node["properties"][key] = visit(sub, key)
            if isinstance(node.get("items"), dict):
                node["items"] = visit(node["items"], prop)
            name = name_of(prop, node) if prop else None
            if name is None or definitions.get(name, node) != node:
                return node
            definitions[name] = node
            return {"$ref": f"#/definitions/{name}"}

        for key, sub in list(schema.get("properties", {}).items()):
            schema["properties"][key] = visit(sub, key)
        if not definitions:
            del schema["definitions"]


def _refs(node: Any) -> set[str]:
    """Names of the local definitions a schema node refers to."""
    if isinstance(node, dict):
        found = set()
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/definitions/"):
            found.add(ref.removeprefix("#/definitions/"))
        for value in node.values():
            found |= _refs(value)
        return found
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node)) if node else set()
    return set()


def _point_to_common(node: Any, shared: set[str]) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.removeprefix("#/definitions/") in shared:
            return {**node, "$ref": f"{COMMON}.json{ref}"}
        return {k: _point_to_common(v, shared) for k, v in node.items()}
    if isinstance(node, list):
        return [_point_to_common(v, shared) for v in node]
    return node


COMMON: Final = "common"


def hoist(schemas: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Move the definitions that are the same in every schema using them to one `common`.

    A name defined differently by two schemas stays local to each (1.6 `SampledValue`:
    StopTransaction's has no `Hertz` unit). Returns the definitions of `common`.
    """
    seen: dict[str, Any] = {}
    clash: set[str] = set()
    for schema in schemas.values():
        for name, definition in schema.get("definitions", {}).items():
            if seen.setdefault(name, definition) != definition:
                clash.add(name)
    shared = set(seen) - clash
    # A shared definition may only refer to shared ones.
    while True:
        local_refs = {n for n in shared if _refs(seen[n]) - shared}
        if not local_refs:
            break
        shared -= local_refs
    for schema in schemas.values():
        definitions = schema.get("definitions", {})
        for name in shared & set(definitions):
            del definitions[name]
        if "definitions" in schema and not definitions:
            del schema["definitions"]
        schema.update(_point_to_common(schema, shared))
    return {name: seen[name] for name in sorted(shared)}


def prepare(source: VersionSource, work: Path) -> tuple[dict[str, str], dict[str, str]]:
    """Write the edited schemas of a version to `work`; return the request/response index."""
    folder = resources.files("ocpp").joinpath(source.schema_dir)
    requests: dict[str, str] = {}
    responses: dict[str, str] = {}
    schemas: dict[str, dict[str, Any]] = {}
    namer = _V16Namer() if source.package == "v16" else None
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        stem = entry.name.removesuffix(".json")
        if stem == entry.name:
            continue
        if stem.endswith("Response"):
            action, direction, index = stem.removesuffix("Response"), "Response", responses
        else:
            action, direction, index = stem.removesuffix(source.request_suffix), "Request", requests
        module = f"{snake(action)}_{direction.lower()}"
        schema = _clean(json.loads(entry.read_text(encoding="utf-8")))
        schema["title"] = f"{action}{direction}"
        if namer is not None:
            namer.extract(schema)
        schemas[module] = schema
        index[action] = module
    common = hoist(schemas)
    # 2.0.1 CustomDataType: "can be extended with arbitrary JSON properties" (its schema).
    if "CustomDataType" in common:
        common["CustomDataType"]["additionalProperties"] = True
    schemas[COMMON] = {"title": "Common", "definitions": common}
    for module, schema in schemas.items():
        (work / f"{module}.json").write_text(json.dumps(schema, indent=2), encoding="utf-8")
    return requests, responses


def _index_module(
    source: VersionSource, requests: dict[str, str], responses: dict[str, str]
) -> str:
    version = metadata.version("ocpp")

    def table(name: str, index: dict[str, str], suffix: str) -> list[str]:
        rows = [f"{name}: Final[dict[str, tuple[str, str]]] = {{"]
        rows += [f'    "{a}": ("{m}", "{a}{suffix}"),' for a, m in sorted(index.items())]
        return [*rows, "}"]

    lines = [
        f'"""OCPP models of `ocpp` {version} `{source.schema_dir}`: generated by',
        "`python -m shared.ocpp.generate`; do not edit (regenerate instead).",
        "",
        "REQUESTS / RESPONSES: action -> (module of this package, class).",
        '"""',
        "",
        "from typing import Final",
        "",
        *table("REQUESTS", requests, "Request"),
        "",
        *table("RESPONSES", responses, "Response"),
        "",
    ]
    return "\n".join(lines)


FUTURE: Final = "from __future__ import annotations\n"
HEADER: Final = (
    "# Generated by `python -m shared.ocpp.generate` from the `ocpp` package's JSON schemas.\n"
    "# Do not edit: regenerate (`make gen-ocpp-models`).\n"
)


def generate_version(source: VersionSource, out: Path) -> None:
    """Generate one version's package into `out` (created; must not exist)."""
    with tempfile.TemporaryDirectory(prefix="ocpp-schemas-") as tmp:
        work = Path(tmp) / "schemas"
        work.mkdir()
        requests, responses = prepare(source, work)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "datamodel_code_generator",
                f"--input={work}",
                f"--output={out}",
                *CODEGEN_OPTIONS,
            ],
            check=True,
            cwd=tmp,
        )
    for path in out.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        text = re.sub(r"\A(# generated by datamodel-codegen:\n(#  .*\n)*)", "", text)
        # `common` is a bag of definitions: no root model (ruff then drops unused imports).
        text = re.sub(r"\nclass Common\(RootModel\[Any\]\):\n(    .*\n)+", "", text)
        # `multipleOf` on a Decimal: the bound must be a Decimal too (Decimal % float fails).
        if "multiple_of=" in text:
            text = re.sub(r"multiple_of=([0-9.]+)", r'multiple_of=decimal.Decimal("\1")', text)
            text = text.replace(FUTURE, f"{FUTURE}\nimport decimal\n", 1)
        path.write_text(HEADER + "\n" + text, encoding="utf-8")
    (out / "__init__.py").write_text(_index_module(source, requests, responses), encoding="utf-8")
    ruff = [sys.executable, "-m", "ruff"]
    config = f"--config={REPO_ROOT / 'pyproject.toml'}"
    subprocess.run([*ruff, "check", config, "--fix-only", "--quiet", str(out)], check=True)
    subprocess.run([*ruff, "format", config, "--quiet", str(out)], check=True)


def generate_all(root: Path) -> list[Path]:
    """Generate every version's package under `root`; return the package folders."""
    done = []
    for source in VERSIONS:
        target = root / source.package
        generate_version(source, target)
        done.append(target)
    return done


def differences(generated: Path, committed: Path) -> list[str]:
    """Files that differ (or exist on one side only) between two package folders."""

    def files(folder: Path) -> dict[str, bytes]:
        return {p.name: p.read_bytes() for p in folder.glob("*.py")} if folder.is_dir() else {}

    new, old = files(generated), files(committed)
    out = [f"{n} (missing)" for n in sorted(set(new) - set(old))]
    out += [f"{n} (not generated)" for n in sorted(set(old) - set(new))]
    out += [n for n in sorted(set(new) & set(old)) if new[n] != old[n]]
    return out


def main(argv: list[str] | None = None) -> int:
    """Write the generated packages, or with `--check` compare them with the committed ones."""
    parser = argparse.ArgumentParser(prog="python -m shared.ocpp.generate")
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="ocpp-models-") as tmp:
        packages = generate_all(Path(tmp))
        if args.check:
            problems = [
                f"{p.name}/{d}" for p in packages for d in differences(p, PACKAGE_DIR / p.name)
            ]
            for problem in problems:
                print(f"differs from the schemas: shared/ocpp/{problem}", file=sys.stderr)
            return 1 if problems else 0
        for package in packages:
            target = PACKAGE_DIR / package.name
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(package, target)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
