"""An index on the activities' time, for reads of the activities since a moment.

Revision ID: 0005
Revises: 0004
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# `activities_since` (an experiment's outcomes since its start, polled by the admin page) and
# `activities_per_day` with a recent day read only the index's newest entries instead of
# scanning the table. New activities mostly carry the current time, so each insert goes to
# the index's right edge (cheap); big imports drop and rebuild it (`bulk._CREATE_INDEXES`).
INDEXES = "CREATE INDEX activities_timestamp ON activities (timestamp);"


def upgrade() -> None:
    op.execute(INDEXES)


def downgrade() -> None:
    op.execute("DROP INDEX activities_timestamp;")
