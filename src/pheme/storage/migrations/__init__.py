"""Pheme's Alembic migrations (``versions/``), applied by ``open_store``."""
