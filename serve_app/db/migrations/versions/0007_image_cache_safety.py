"""image cache: the safety verdict of each cached image

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cachedimage", schema=None) as batch_op:
        batch_op.add_column(sa.Column("nsfw", sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column("blocked", sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("cachedimage", schema=None) as batch_op:
        batch_op.drop_column("blocked")
        batch_op.drop_column("nsfw")
