"""Activity types: a `type` column (existing rows read "score") and its index.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# A constant default is stored in the catalogue (PostgreSQL 11+): adding the column rewrites no
# row. The index serves `GET /activities?type=…` pages and the snapshot's list of types.
TABLES = """
ALTER TABLE activities ADD COLUMN type text NOT NULL DEFAULT 'score';
CREATE INDEX activities_type ON activities (type, id);
"""


def upgrade() -> None:
    op.execute(TABLES)


def downgrade() -> None:
    op.execute("DROP INDEX activities_type; ALTER TABLE activities DROP COLUMN type;")
