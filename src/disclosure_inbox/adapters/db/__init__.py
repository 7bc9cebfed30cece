"""The store: SQLAlchemy 2 models and the engine; Alembic (``migrations/``) owns the schema."""
