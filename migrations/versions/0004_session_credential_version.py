"""the credential version a login session was opened under

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("refresh_sessions") as batch:
        batch.add_column(
            sa.Column("credential_version", sa.Integer(), server_default="0", nullable=False)
        )
    # Live sessions were opened under their user's current version, or revoked since.
    op.execute(
        "UPDATE refresh_sessions SET credential_version = "
        "(SELECT users.credential_version FROM users WHERE users.id = refresh_sessions.user_id)"
    )


def downgrade() -> None:
    with op.batch_alter_table("refresh_sessions") as batch:
        batch.drop_column("credential_version")
