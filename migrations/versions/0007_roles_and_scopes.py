"""roles in place of the superuser flag, and the scopes each login was granted

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Each role's whole grant as this revision knows it (a migration never imports
# the application): a login open across the upgrade keeps what it could do.
_USER_SCOPES = "events:read profile:read profile:write sessions:read sessions:write"
_ADMIN_SCOPES = (
    "events:read profile:read profile:write sessions:read sessions:write users:read users:write"
)


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column("role", sa.String(length=16), nullable=False, server_default="user")
        )
    op.execute("UPDATE users SET role = 'admin' WHERE is_superuser")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("is_superuser")
    with op.batch_alter_table("refresh_sessions") as batch:
        batch.add_column(
            sa.Column("scope", sa.String(length=1024), nullable=False, server_default="")
        )
    op.execute(
        "UPDATE refresh_sessions SET scope = CASE WHEN (SELECT role FROM users"
        f" WHERE users.id = refresh_sessions.user_id) = 'admin' THEN '{_ADMIN_SCOPES}'"
        f" ELSE '{_USER_SCOPES}' END"
    )


def downgrade() -> None:
    with op.batch_alter_table("refresh_sessions") as batch:
        batch.drop_column("scope")
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column("is_superuser", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.execute("UPDATE users SET is_superuser = (role = 'admin')")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("role")
