"""Secrets inside OCPP commands, kept out of the command log and log lines.

Commands that carry a charge point's credentials: 1.6 ChangeConfiguration of `AuthorizationKey`
(security whitepaper), 2.0.1 SetVariables of SecurityCtrlr `BasicAuthPassword`, and 2.0.1
SetNetworkProfile's `connectionData.basicAuthPassword`. `redact_command` returns the payload
with those values replaced; the charge point still gets the real one.
"""

from __future__ import annotations

import copy
from typing import Any, Final

REDACTED: Final = "<redacted>"
SECRET_KEYS_16: Final = frozenset({"authorizationkey"})
SECRET_VARIABLES_201: Final = frozenset({"basicauthpassword"})


def redact_command(action: str, payload: dict[str, Any]) -> dict[str, Any]:
    """`payload` with the credentials it carries replaced by `<redacted>` (a copy)."""
    if action == "ChangeConfiguration":
        key = payload.get("key")
        if isinstance(key, str) and key.lower() in SECRET_KEYS_16 and "value" in payload:
            return {**payload, "value": REDACTED}
        return payload
    if action == "SetVariables":
        data = payload.get("setVariableData")
        if not isinstance(data, list):
            return payload
        out = copy.deepcopy(payload)
        for item in out["setVariableData"]:
            variable = item.get("variable") if isinstance(item, dict) else None
            name = variable.get("name") if isinstance(variable, dict) else None
            if isinstance(name, str) and name.lower() in SECRET_VARIABLES_201:
                item["attributeValue"] = REDACTED
        return out
    if action == "SetNetworkProfile":
        connection = payload.get("connectionData")
        if isinstance(connection, dict) and "basicAuthPassword" in connection:
            out = copy.deepcopy(payload)
            out["connectionData"]["basicAuthPassword"] = REDACTED
            return out
    return payload
