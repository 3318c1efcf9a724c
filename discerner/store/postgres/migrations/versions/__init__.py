"""Alembic revisions, oldest first: `<number>_<what>.py`."""
