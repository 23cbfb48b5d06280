"""docs/configuration.md is what `pixelray config reference` writes from the config models."""

import difflib
from pathlib import Path

import pytest

from serve_app.config_reference import REGENERATE, render_reference

CONFIGURATION = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def test_the_configuration_reference_is_up_to_date():
    written, generated = CONFIGURATION.read_text(), render_reference()
    if written != generated:
        diff = difflib.unified_diff(
            written.splitlines(), generated.splitlines(), "docs/configuration.md", "generated", lineterm=""
        )
        pytest.fail(
            f"docs/configuration.md is out of date; regenerate it with `{REGENERATE}`:\n" + "\n".join(list(diff)[:40])
        )
