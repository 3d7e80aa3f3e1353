"""Discovery: serving processes announce their endpoints, models and a heartbeat.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "servers",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("http_url", sa.Text(), nullable=False),
        sa.Column("grpc_url", sa.Text(), nullable=False),
        sa.Column("host", sa.String(256), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("models", sa.JSON(), nullable=False),
        sa.Column("ready", sa.Boolean(), nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("heartbeat_at", TS, nullable=False),
    )
    op.create_index("ix_servers_heartbeat_at", "servers", ["heartbeat_at"])


def downgrade() -> None:
    op.drop_index("ix_servers_heartbeat_at", "servers")
    op.drop_table("servers")
