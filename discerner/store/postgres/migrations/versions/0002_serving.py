"""What many servers share besides the data: the signing secret and precomputed top lists.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# `server_secrets`: the token signing secret, created once by the first server that needs it,
# so every process and host on this database accepts the others' tokens.
# `login_failures.settled`: false while a login holds its place as its password is checked.
# `top_lists`: a champion's precomputed top products per user, computed by one process and
# read by all; `top_list_builds` says which model versions' lists are complete.
TABLES = """
ALTER TABLE login_failures ADD COLUMN settled boolean NOT NULL DEFAULT true;
CREATE TABLE server_secrets (
    name text PRIMARY KEY,
    value text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE top_list_builds (
    model_version text PRIMARY KEY,
    depth integer NOT NULL,
    users bigint NOT NULL,
    seconds double precision NOT NULL,
    built_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE top_lists (
    model_version text NOT NULL,
    user_id bigint NOT NULL,
    history_version bigint NOT NULL,
    product_ids bigint[] NOT NULL,
    scores real[] NOT NULL,
    PRIMARY KEY (model_version, user_id)
);
"""


def upgrade() -> None:
    op.execute(TABLES)


def downgrade() -> None:
    op.execute(
        "DROP TABLE top_lists, top_list_builds, server_secrets;"
        " ALTER TABLE login_failures DROP COLUMN settled;"
    )
