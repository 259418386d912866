"""Alembic migrations of the CSMS schema (run through shared.db.migrate)."""
