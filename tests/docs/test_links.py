"""Every relative link in the README and docs/ reaches its file, and its heading when it names one."""

import re
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md"), ROOT / "k8s" / "README.md"])
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def prose(markdown: str) -> str:
    """The text outside fenced code blocks and inline code, where links are links."""
    markdown = re.sub(r"^```.*?^```", "", markdown, flags=re.S | re.M)
    return re.sub(r"`[^`\n]*`", "", markdown)


def anchors(markdown: str) -> set[str]:
    """The ids GitHub gives the headings: lowercased, punctuation dropped, spaces as hyphens, and
    `-1`, `-2`, ... on repeats."""
    seen: Counter[str] = Counter()
    ids = set()
    outside_code = re.sub(r"^```.*?^```", "", markdown, flags=re.S | re.M)
    for heading in re.findall(r"^#{1,6} +(.+?) *$", outside_code, re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        ids.add(f"{slug}-{seen[slug]}" if seen[slug] else slug)
        seen[slug] += 1
    return ids


def test_anchors_follow_githubs_rules():
    assert anchors("# `POST /api/v1/generate` (also `/api/v1/generate/`)\n## Prompt → image\n## A\n## A\n") == {
        "post-apiv1generate-also-apiv1generate", "prompt--image", "a", "a-1"
    }


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_relative_link_reaches_its_target(document):
    broken = []
    for target in LINK.findall(prose(document.read_text())):
        if re.match(r"^[a-z]+:", target):
            continue  # http(s), mailto: another site's business
        path, _, anchor = target.partition("#")
        file = (document.parent / path).resolve() if path else document
        if not file.exists():
            broken.append(target)
        elif anchor and file.suffix == ".md" and anchor not in anchors(file.read_text()):
            broken.append(target)
    assert not broken, f"{document.relative_to(ROOT)} links to what is not there: {broken}"
