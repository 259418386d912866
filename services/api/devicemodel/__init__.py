"""The OCPP 2.0.1 device model of a station: variables, monitors, display messages, reports."""
