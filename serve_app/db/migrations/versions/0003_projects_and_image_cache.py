"""projects and the GET-image cache

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "project",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sqlmodel.sql.sqltypes.AutoString(length=63), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("allowed_origins", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
        sa.Column("require_signature", sa.Boolean(), nullable=False),
        sa.Column("secret", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("project", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_project_slug"), ["slug"], unique=True)
        batch_op.create_index(batch_op.f("ix_project_user_id"), ["user_id"], unique=False)

    op.create_table(
        "cachedimage",
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("lease_expires_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("storage_key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("content_type", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("etag", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True),
        sa.Column("model", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("seed", sa.BigInteger(), nullable=True),
        sa.Column("generation_ms", sa.Integer(), nullable=True),
        sa.Column("error", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["project.id"]),
        sa.PrimaryKeyConstraint("key"),
    )
    with op.batch_alter_table("cachedimage", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cachedimage_project_id"), ["project_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("cachedimage", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cachedimage_project_id"))
    op.drop_table("cachedimage")
    with op.batch_alter_table("project", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_project_user_id"))
        batch_op.drop_index(batch_op.f("ix_project_slug"))
    op.drop_table("project")
