"""Every relative link in the README and docs/ reaches its file, and its heading when it names one;
every repository path they name in code exists, so that a rename cannot leave them behind."""

import re
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = sorted(
    [ROOT / "README.md", *(ROOT / "docs").glob("*.md"), ROOT / "k8s" / "README.md", ROOT / "benchmarks" / "README.md"]
)
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
REPOSITORY_PATH = re.compile(r"(?:serve_app|deployments|tests|configs|benchmarks|k8s|scripts|docs)/[\w./*-]*")
# Outputs of runs (test artifacts, benchmark results) that a clone does not hold.
IGNORED = [line for line in (ROOT / ".gitignore").read_text().splitlines() if line.endswith("/") and "*" not in line]


def without_code_blocks(markdown: str) -> str:
    return re.sub(r"^```.*?^```", "", markdown, flags=re.S | re.M)


def prose(markdown: str) -> str:
    """The text outside fenced code blocks and inline code, where links are links."""
    return re.sub(r"`[^`\n]*`", "", without_code_blocks(markdown))


def named_paths(markdown: str) -> set[str]:
    """Repository paths named in inline code, e.g. `serve_app/app.py` or `tests/k8s`."""
    spans = re.findall(r"`([^`\n]+)`", without_code_blocks(markdown))
    words = (word.rstrip(".,;:)") for span in spans for word in span.split())
    return {word for word in words if REPOSITORY_PATH.fullmatch(word)}


def anchors(markdown: str) -> set[str]:
    """The ids GitHub gives the headings: lowercased, punctuation dropped, spaces as hyphens, and
    `-1`, `-2`, ... on repeats."""
    seen: Counter[str] = Counter()
    ids = set()
    for heading in re.findall(r"^#{1,6} +(.+?) *$", without_code_blocks(markdown), re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        ids.add(f"{slug}-{seen[slug]}" if seen[slug] else slug)
        seen[slug] += 1
    return ids


def test_anchors_follow_githubs_rules():
    assert anchors("# `POST /api/v1/generate` (also `/api/v1/generate/`)\n## Prompt → image\n## A\n## A\n") == {
        "post-apiv1generate-also-apiv1generate",
        "prompt--image",
        "a",
        "a-1",
    }


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_relative_link_reaches_its_target(document):
    broken = []
    for target in LINK.findall(prose(document.read_text())):
        if re.match(r"^[a-z]+:", target):
            continue  # http(s), mailto: another site's business
        path, _, anchor = target.partition("#")
        file = (document.parent / path).resolve() if path else document
        missing_heading = anchor and file.suffix == ".md" and anchor not in anchors(file.read_text())
        if not file.exists() or missing_heading:
            broken.append(target)
    assert not broken, f"{document.relative_to(ROOT)} links to what is not there: {broken}"


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_repository_path_named_in_code_exists(document):
    missing = sorted(
        path
        for path in named_paths(document.read_text())
        if not any(ROOT.glob(path)) and not path.startswith(tuple(IGNORED))
    )
    assert not missing, f"{document.relative_to(ROOT)} names paths the repository does not have: {missing}"
