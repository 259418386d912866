"""The database: models (`shared.db.models`), engine and sessions, Alembic migrations."""

from shared.db.base import NAMING_CONVENTION, Base
from shared.db.session import create_engine, create_sessionmaker

__all__ = ["NAMING_CONVENTION", "Base", "create_engine", "create_sessionmaker"]
