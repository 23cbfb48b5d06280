"""The configuration reference: a row per key, nested models walked, every key described."""

from typing import Literal

import pytest
from pydantic import BaseModel, Field

from serve_app.config import AppConfig
from serve_app.config_reference import Row, reference_rows, render_reference
from tests.conftest import run_cli


class Limits(BaseModel):
    """How far a pool may grow."""

    size: int = Field(default=8, ge=1, le=64, description="Most members.")


class Pool(BaseModel):
    limits: Limits = Field(default_factory=lambda: Limits(size=4))
    extra: Limits | None = Field(default=None, description="Limits of the overflow pool.")
    members: list[Limits] = Field(default_factory=list, description="One entry per member.")
    mode: Literal["fast", "safe"] | None = Field(default=None, description="How it runs.")
    name: str = Field(description="What it is called.")


def rows_by_path(model: type[BaseModel]) -> dict[str, Row]:
    return {row.path: row for row in reference_rows(model)}


def test_nested_models_and_lists_of_them_are_walked_with_full_paths():
    assert list(rows_by_path(Pool)) == [
        "limits",
        "limits.size",
        "extra",
        "extra.size",
        "members",
        "members[].size",
        "mode",
        "name",
    ]


def test_a_row_gives_the_type_with_its_bounds_the_default_and_the_description():
    assert rows_by_path(Pool)["limits.size"] == Row("limits.size", "`int`, ≥ 1, ≤ 64", "`8`", "Most members.")
    assert rows_by_path(Pool)["mode"].type == '`"fast" | "safe" | null`'
    assert rows_by_path(Pool)["name"].default == "required"


def test_a_models_default_shows_the_keys_its_factory_sets():
    rows = rows_by_path(Pool)
    assert rows["limits"].default == "`{size: 4}`"
    assert rows["extra"].default == "`null`" and rows["members"].default == "`[]`"


def test_a_model_field_without_a_description_is_described_by_the_models_docstring():
    assert rows_by_path(Pool)["limits"].description == "How far a pool may grow."


def test_a_key_without_a_description_stops_the_reference_naming_the_key():
    class Undescribed(BaseModel):
        retries: int = 3

    with pytest.raises(ValueError, match="config key retries has no description"):
        reference_rows(Undescribed)


def test_every_key_of_the_app_config_is_in_the_rendered_reference():
    rendered = render_reference(AppConfig)
    for row in reference_rows(AppConfig):
        assert f"| `{row.path}` |" in rendered or f"| [`{row.path}`](#{row.path}) |" in rendered


def test_the_cli_prints_the_reference_without_reading_a_config_or_a_database(tmp_path):
    output = run_cli("--config", str(tmp_path / "absent.yaml"), "config", "reference")
    assert output == render_reference(AppConfig)
