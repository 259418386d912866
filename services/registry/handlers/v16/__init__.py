"""OCPP 1.6 handlers of the registry."""
