"""OCPP 2.0.1 handlers of the transactions service."""
