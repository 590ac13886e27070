"""Persistence: SQLAlchemy 2 models, sessions, Alembic migrations; SQLite by default, PostgreSQL by URL."""
