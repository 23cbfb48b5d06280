"""console accounts, sessions and log-in failures

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "account",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("password_hash", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"]),
        sa.PrimaryKeyConstraint("user_id"),
    )
    op.create_table(
        "consolesession",
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("csrf_token", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("expires_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"]),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    with op.batch_alter_table("consolesession", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_consolesession_user_id"), ["user_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_consolesession_expires_at"), ["expires_at"], unique=False)
    op.create_table(
        "loginfailure",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("loginfailure", schema=None) as batch_op:
        batch_op.create_index("ix_loginfailure_account_at", ["account", "at"], unique=False)
        batch_op.create_index("ix_loginfailure_address_at", ["address", "at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("loginfailure", schema=None) as batch_op:
        batch_op.drop_index("ix_loginfailure_address_at")
        batch_op.drop_index("ix_loginfailure_account_at")
    op.drop_table("loginfailure")
    with op.batch_alter_table("consolesession", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consolesession_expires_at"))
        batch_op.drop_index(batch_op.f("ix_consolesession_user_id"))
    op.drop_table("consolesession")
    op.drop_table("account")
