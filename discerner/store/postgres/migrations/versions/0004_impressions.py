"""Impressions of A/B experiments: one row per list served under an experiment.

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# Telemetry, appended by servers and read whole per experiment by `discerner experiment status`.
TABLES = """
CREATE TABLE impressions (
    id bigserial PRIMARY KEY,
    request_id text NOT NULL,
    experiment text NOT NULL,
    variant text NOT NULL,
    version text NOT NULL,
    user_id bigint NOT NULL,
    product_ids bigint[] NOT NULL,
    time timestamptz NOT NULL
);
CREATE INDEX impressions_experiment ON impressions (experiment, id);
"""


def upgrade() -> None:
    op.execute(TABLES)


def downgrade() -> None:
    op.execute("DROP TABLE impressions;")
