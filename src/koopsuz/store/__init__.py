"""SQLAlchemy 2 tables and repositories; SQLite (embedded) or PostgreSQL (scale-out)."""
