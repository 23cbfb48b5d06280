"""What a web page is about: title, description, site, tags and the first paragraphs of its text.

Meta tags and JSON-LD are read with lxml (fast and exact); the main text comes from trafilatura,
which knows to skip navigation, footers and comments. Each part falls back to the next source
that has it, so a bare page still yields a title and a paragraph.
"""

import json
from collections.abc import Iterator
from urllib.parse import urljoin

import trafilatura
from lxml import etree
from lxml import html as lxml_html

from deployments.protocol import PageInfo

MAX_PARAGRAPHS = 5
MAX_PARAGRAPH_CHARS = 500
MAX_KEYWORDS = 12


def extract_page(html: str, url: str) -> PageInfo:
    """Returns what `html` (fetched from `url`) is about; empty fields where the page says nothing."""
    try:
        tree = lxml_html.document_fromstring(html)
    except (etree.ParserError, ValueError):
        return PageInfo(url=url)
    meta = _meta(tree)
    ld = list(_json_ld_objects(tree))
    headline = _first(_text(o.get("headline") or o.get("name")) for o in ld if _is_article(o))
    title = _first([meta.get("og:title"), meta.get("twitter:title"), headline, _title_tag(tree)])
    keywords = [*meta.get_all("article:tag"), *(k for o in ld for k in _keyword_list(o.get("keywords")))]
    keywords += _split_keywords(meta.get("keywords"))
    image = _first([meta.get("og:image"), meta.get("twitter:image")])
    return PageInfo(
        url=url,
        title=title,
        description=_first([meta.get("og:description"), meta.get("twitter:description"), meta.get("description")]),
        site_name=_first([meta.get("og:site_name"), *(_publisher(o) for o in ld), meta.get("application-name")]),
        image=urljoin(url, image) if image else "",
        headline=headline,
        keywords=tuple(dict.fromkeys(k.strip() for k in keywords if k.strip()))[:MAX_KEYWORDS],
        paragraphs=_paragraphs(html, tree),
        lang=(tree.get("lang") or "").strip()[:16],
    )


class _Meta:
    def __init__(self) -> None:
        self._values: dict[str, list[str]] = {}

    def add(self, key: str, value: str) -> None:
        self._values.setdefault(key.lower(), []).append(" ".join(value.split()))

    def get(self, key: str) -> str:
        return next(iter(self._values.get(key, [])), "")

    def get_all(self, key: str) -> list[str]:
        return self._values.get(key, [])


def _meta(tree: lxml_html.HtmlElement) -> _Meta:
    meta = _Meta()
    for element in tree.iter("meta"):
        key = element.get("property") or element.get("name")
        content = element.get("content")
        if key and content:
            meta.add(key.strip(), content)
    return meta


def _json_ld_objects(tree: lxml_html.HtmlElement) -> Iterator[dict]:
    """Every JSON object in the page's JSON-LD blocks, `@graph` members included."""
    for script in tree.iter("script"):
        if (script.get("type") or "").strip().lower() != "application/ld+json" or not script.text:
            continue
        try:
            document = json.loads(script.text)
        except ValueError:
            continue
        pending = document if isinstance(document, list) else [document]
        while pending:
            item = pending.pop(0)
            if isinstance(item, dict):
                yield item
                pending.extend(g for g in item.get("@graph", []) if isinstance(g, dict))


def _is_article(item: dict) -> bool:
    kinds = item.get("@type")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    return any(isinstance(k, str) and ("Article" in k or "Posting" in k or k == "WebPage") for k in kinds)


def _publisher(item: dict) -> str:
    publisher = item.get("publisher")
    return _text(publisher.get("name")) if isinstance(publisher, dict) else ""


def _keyword_list(value: object) -> list[str]:
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return _split_keywords(value if isinstance(value, str) else "")


def _split_keywords(value: str) -> list[str]:
    return [part for part in value.split(",") if part.strip()]


def _title_tag(tree: lxml_html.HtmlElement) -> str:
    element = tree.find(".//title")
    return " ".join((element.text_content() if element is not None else "").split())


def _paragraphs(html: str, tree: lxml_html.HtmlElement) -> tuple[str, ...]:
    text = trafilatura.extract(html, include_comments=False, include_tables=False, favor_precision=True) or ""
    lines = [" ".join(line.split()) for line in text.splitlines()]
    if not any(lines):
        lines = [" ".join(p.text_content().split()) for p in tree.iter("p")]
    return tuple(line[:MAX_PARAGRAPH_CHARS] for line in lines if line)[:MAX_PARAGRAPHS]


def _text(value: object) -> str:
    return " ".join(value.split()) if isinstance(value, str) else ""


def _first(values) -> str:
    return next((v for v in values if v), "")
