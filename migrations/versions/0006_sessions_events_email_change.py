"""where each login came from, the authentication event trail, and email
changes waiting for confirmation

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Logins opened before this revision show no address or device.
    with op.batch_alter_table("refresh_sessions") as batch:
        batch.add_column(sa.Column("ip", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("user_agent", sa.String(length=512), nullable=True))
        batch.add_column(sa.Column("device", sa.String(length=100), nullable=True))
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("pending_email", sa.String(length=254), nullable=True))
    with op.batch_alter_table("account_tokens") as batch:
        batch.add_column(sa.Column("new_email", sa.String(length=254), nullable=True))
    op.create_table(
        "auth_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("login_id", sa.String(length=32), nullable=True),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.String(length=512), nullable=True),
        sa.Column("device", sa.String(length=100), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_events")),
    )
    op.create_index(op.f("ix_auth_events_at"), "auth_events", ["at"])
    op.create_index("ix_auth_events_user_id_id", "auth_events", ["user_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_auth_events_user_id_id", table_name="auth_events")
    op.drop_index(op.f("ix_auth_events_at"), table_name="auth_events")
    op.drop_table("auth_events")
    with op.batch_alter_table("account_tokens") as batch:
        batch.drop_column("new_email")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("pending_email")
    with op.batch_alter_table("refresh_sessions") as batch:
        batch.drop_column("device")
        batch.drop_column("user_agent")
        batch.drop_column("ip")
