"""Credentials in commands are redacted for the command log; other payloads pass unchanged."""

from __future__ import annotations

from shared.secrets import REDACTED, redact_command


def test_change_configuration_authorization_key() -> None:
    payload = {"key": "AuthorizationKey", "value": "s3cret-s3cret-s3cret"}
    assert redact_command("ChangeConfiguration", payload) == {
        "key": "AuthorizationKey",
        "value": REDACTED,
    }
    assert payload["value"] == "s3cret-s3cret-s3cret"  # the charge point's copy untouched
    other = {"key": "HeartbeatInterval", "value": "60"}
    assert redact_command("ChangeConfiguration", other) == other


def test_set_variables_basic_auth_password() -> None:
    payload = {
        "setVariableData": [
            {
                "attributeValue": "s3cret-s3cret-s3cret",
                "component": {"name": "SecurityCtrlr"},
                "variable": {"name": "BasicAuthPassword"},
            },
            {
                "attributeValue": "60",
                "component": {"name": "OCPPCommCtrlr"},
                "variable": {"name": "HeartbeatInterval"},
            },
        ]
    }
    redacted = redact_command("SetVariables", payload)
    assert [d["attributeValue"] for d in redacted["setVariableData"]] == [REDACTED, "60"]
    assert payload["setVariableData"][0]["attributeValue"] == "s3cret-s3cret-s3cret"


def test_set_network_profile() -> None:
    payload = {"configurationSlot": 1, "connectionData": {"basicAuthPassword": "s3cret"}}
    assert redact_command("SetNetworkProfile", payload)["connectionData"] == {
        "basicAuthPassword": REDACTED
    }
    assert redact_command("Reset", {"type": "Hard"}) == {"type": "Hard"}
