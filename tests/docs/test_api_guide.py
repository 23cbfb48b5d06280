"""docs/api.md shows a curl example for every operation of the server's OpenAPI document, and
every curl example in it and in the README names an operation the server has."""

import re
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from serve_app.api.main import create_app
from serve_app.api.state import AppState
from serve_app.config import parse_app_config
from tests.factories import app_args

ROOT = Path(__file__).resolve().parents[2]
API_GUIDE = ROOT / "docs" / "api.md"
README = ROOT / "README.md"
METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture
async def operations(tmp_path) -> AsyncIterator[set[tuple[str, str]]]:
    """(METHOD, path template) of every operation in the app's OpenAPI document."""
    config = parse_app_config(app_args(tmp_dir=str(tmp_path), model_cache_dir=str(tmp_path)))
    state = AppState.build(config, model_handles={})
    document = create_app(state).openapi()
    yield {(method.upper(), path) for path, item in document["paths"].items() for method in item if method in METHODS}
    await state.shutdown()


def curl_examples(markdown: str) -> list[tuple[str, str]]:
    """(METHOD, URL path) of every curl command in the fenced code blocks of `markdown`."""
    examples = []
    for block in re.findall(r"^```[^\n]*\n(.*?)^```", markdown, flags=re.S | re.M):
        for line in block.replace("\\\n", " ").splitlines():
            if line.lstrip().startswith("#"):
                continue  # a response shown as a comment
            # `$(curl ...)` nests one command in another: each part up to the next `curl` is one.
            for command in re.split(r"\bcurl\b", line)[1:]:
                url = re.search(r"https?://[^\s'\"]+", command)
                if url is not None:
                    examples.append((_method(command), urlsplit(url.group()).path))
    return examples


def _method(command: str) -> str:
    explicit = re.search(r"(?:-X|--request)\s*([A-Z]+)", command)
    if explicit:
        return explicit.group(1)
    sends_a_body = re.search(r"(?:^|\s)(?:-d|--data\S*|-F|--form|--json)\s", command)
    return "POST" if sends_a_body else "GET"


def names(template: str, path: str) -> bool:
    """Whether `path` is one of the template's URLs. A trailing parameter takes the rest of the
    path, as `/files/{key}` takes keys with slashes."""
    pattern = re.sub(r"\\\{[^/]+?\\\}$", ".+", re.escape(template))
    pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", pattern)
    return re.fullmatch(pattern, path) is not None


def test_the_example_parser_reads_methods_paths_and_nested_commands():
    markdown = (
        "```bash\n"
        "curl -s -o out.png \"$(curl -s http://h:8000/api/v1/generate -H 'A: b' \\\n"
        "  -d '{}' | jq -r .data.image)\"\n"
        "curl -s -D - 'http://h/p/demo/image?prompt=a'\n"
        "# curl http://h/commented-out\n"
        'curl -s -X DELETE http://h/api/v1/images/img_1 -H "Authorization: Bearer $KEY"\n'
        "```\n"
        "curl http://h/outside/a/block\n"
    )
    assert curl_examples(markdown) == [
        ("POST", "/api/v1/generate"),
        ("GET", "/p/demo/image"),
        ("DELETE", "/api/v1/images/img_1"),
    ]


def test_a_path_names_its_template_and_no_other():
    assert names("/api/v1/images/{image_id}", "/api/v1/images/img_5f0c...")
    assert names("/files/{key}", "/files/images/2026/11/Xq.png")
    assert names("/img/{url_id}/", "/img/url_3kTq/")
    assert not names("/api/v1/images/{image_id}", "/api/v1/images")
    assert not names("/api/v1/urls/{url_id}/", "/api/v1/urls/")


def test_every_operation_has_a_curl_example_in_the_api_guide(operations):
    examples = curl_examples(API_GUIDE.read_text())
    missing = sorted(
        (method, template)
        for method, template in operations
        if not any(method == used and names(template, path) for used, path in examples)
    )
    assert not missing, f"docs/api.md has no curl example for: {missing}"


@pytest.mark.parametrize("document", [API_GUIDE, README], ids=lambda path: path.name)
def test_every_curl_example_names_an_operation_of_the_api(operations, document):
    unknown = sorted(
        {
            (method, path)
            for method, path in curl_examples(document.read_text())
            if not any(method == known and names(template, path) for known, template in operations)
        }
    )
    assert not unknown, f"{document.name} has curl examples for operations the API does not have: {unknown}"
