"""Personal API keys for the headless API (`python -m chat keys ...`).

Only a SHA-256 digest of each key is stored: the key is 256 random bits, so a fast hash
is enough (no dictionary to attack, unlike passwords) and lets every request look the
key up by its digest.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("user_identifier", sa.Text, nullable=False),
        # the Chainlit users.id: a later user given the same name is another person
        sa.Column("user_id", sa.Text, nullable=False),
        sa.Column("key_hash", sa.Text, nullable=False, unique=True),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.Column("last_used_at", sa.Text, nullable=True),
        sa.Column("revoked_at", sa.Text, nullable=True),
    )
    op.create_index("ix_api_keys_user", "api_keys", ["user_identifier"])


def downgrade() -> None:
    op.drop_index("ix_api_keys_user", table_name="api_keys")
    op.drop_table("api_keys")
