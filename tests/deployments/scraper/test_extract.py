"""What the scraper learns from a page: meta tags, JSON-LD, main text, with fallbacks."""

from deployments.scraper.extract import MAX_PARAGRAPHS, extract_page
from tests.support.pages import BARE_PAGE, JSON_LD_POST, OG_POST

URL = "https://blog.example.com/posts/1"


def test_open_graph_tags_give_title_description_site_image_and_tags() -> None:
    page = extract_page(OG_POST, URL)
    assert page.title == "Baking sourdough at home"
    assert page.description.startswith("A slow-fermented loaf")
    assert page.site_name == "Crumb Journal"
    assert page.image == "https://blog.example.com/images/loaf.jpg"
    assert page.keywords == ("bread", "baking")
    assert page.lang == "en"
    assert any("starter" in p for p in page.paragraphs)


def test_json_ld_alone_gives_headline_keywords_and_publisher() -> None:
    page = extract_page(JSON_LD_POST, URL)
    assert page.title == page.headline == "Scaling Kubernetes clusters for AI inference"
    assert page.keywords == ("kubernetes", "gpu", "inference")
    assert page.site_name == "Infra Weekly"
    assert page.paragraphs == ("Serving models on GPUs means autoscaling on queue depth, not CPU load.",)


def test_bare_page_falls_back_to_title_tag_and_paragraphs() -> None:
    page = extract_page(BARE_PAGE, URL)
    assert page.title == "Notes on watercolor landscapes"
    assert page.paragraphs == ("Wet-on-wet washes give soft skies over the hills.",)
    assert (page.description, page.site_name, page.keywords) == ("", "", ())


def test_og_title_wins_over_the_title_tag_and_meta_keywords_are_split() -> None:
    html = """<html><head><title>Home | Site</title><meta property="og:title" content="  The  real
    title "><meta name="keywords" content="a, b ,, c"><meta name="description" content="Plain."></head></html>"""
    page = extract_page(html, URL)
    assert page.title == "The real title"
    assert page.keywords == ("a", "b", "c")
    assert page.description == "Plain."


def test_broken_json_ld_and_empty_documents_do_not_raise() -> None:
    broken = '<html><head><script type="application/ld+json">{not json</script><title>T</title></head></html>'
    assert extract_page(broken, URL).title == "T"
    assert extract_page("", URL).title == ""


def test_only_the_first_paragraphs_are_kept_and_each_is_bounded() -> None:
    body = "".join(f"<p>{'word ' * 200}paragraph {i}.</p>" for i in range(20))
    page = extract_page(f"<html><body><article>{body}</article></body></html>", URL)
    assert len(page.paragraphs) == MAX_PARAGRAPHS
    assert all(len(p) <= 500 for p in page.paragraphs)
