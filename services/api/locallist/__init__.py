"""The local authorization list of a charge point, built from the id tags."""
