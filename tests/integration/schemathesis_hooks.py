"""Schemathesis hooks for the fuzz suite (tests/integration/test_fuzz_http.py), loaded through
SCHEMATHESIS_HOOKS. They keep every request cheap on a 2-core CI machine without narrowing what
is validated: values the server would accept and then spend seconds on are scaled down just
before sending; everything it refuses goes out as generated."""

from typing import Any

import schemathesis

from tests.factories import TEST_CHAINS

# The tiny model draws 64–256 px; above 128 px or 2 steps a request only costs more time.
MAX_SIDE = 128
MAX_STEPS = 2
MAX_IMAGES = 2
# Connection refused at once: a hero job for a fuzzed page URL, or an input image URL, fails
# fast (and is refunded) instead of waiting on DNS lookups of random hosts; hero jobs would queue
# them in front of the other tests' jobs.
UNREACHABLE_PAGE = "http://127.0.0.1:9/fuzzed-page"
# The test app has a deliberately broken model (tests/factories.py), whose documented answer is
# a 502; Schemathesis learns its slug and chains (GET /api/v1/routes) from the responses, and every
# other 5xx is a failure. So requests naming it (or a chain of only it, or `quality: high|hd`, which
# the OpenAI endpoint maps to such a chain) go to the working model instead.
BROKEN_MODEL = "broken-sd"
BROKEN_CHAINS = tuple(name for name, slugs in TEST_CHAINS.items() if set(slugs) == {BROKEN_MODEL})
BROKEN_QUALITIES = ("high", "hd")
FUZZ_PROJECT = "fuzz-project"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _cheap_item(body: dict) -> None:
    for field, cap in (
        ("width", MAX_SIDE),
        ("height", MAX_SIDE),
        ("num_inference_steps", MAX_STEPS),
        ("steps", MAX_STEPS),
        ("count", MAX_IMAGES),
        ("n", MAX_IMAGES),
    ):
        # Only valid values are capped: out-of-range ones must still reach the server as sent.
        if _is_int(body.get(field)) and cap < body[field] <= 256:
            body[field] = cap
    _working_model(body)
    if body.get("quality") in BROKEN_QUALITIES:
        body["quality"] = "low"
    size = body.get("size")
    if isinstance(size, str) and "x" in size and size != "auto":
        sides = size.split("x", 1)
        if all(side.isdigit() and MAX_SIDE < int(side) <= 256 for side in sides):
            body["size"] = f"{MAX_SIDE}x{MAX_SIDE}"
    hires = body.get("hires")
    if isinstance(hires, dict) and _is_int(steps := hires.get("num_inference_steps")) and MAX_STEPS < steps <= 50:
        hires["num_inference_steps"] = MAX_STEPS
    for field in ("url", "image", "mask"):
        value = body.get(field)
        if isinstance(value, str) and value.lower().startswith(("http://", "https://")):
            body[field] = UNREACHABLE_PAGE


def _working_model(values: dict) -> None:
    if values.get("model") == BROKEN_MODEL:
        values["model"] = "tiny-sd"
    if values.get("route") in BROKEN_CHAINS:
        values["route"] = "quality/fast"


@schemathesis.hook
def before_call(context, case, kwargs) -> None:
    if isinstance(case.query, dict):
        _working_model(case.query)
    body = case.body
    if not isinstance(body, dict):
        return
    _cheap_item(body)
    items = body.get("items")
    if isinstance(items, list):
        for item in items:
            if isinstance(item, dict):
                _cheap_item(item)


def _bound(schema: dict, **limits: int) -> None:
    """Sets maximum/minimum on an integer property, or on the integer member of its anyOf."""
    for member in [schema, *schema.get("anyOf", [])]:
        if member.get("type") == "integer":
            member.update(limits)


@schemathesis.hook
def before_load_schema(context, raw_schema: dict) -> None:
    """The schema as this test app's catalog narrows it (the model draws 64–256 px, 2 steps at
    most here; the plan allows 4 images): valid requests then pass the server's model checks
    and reach the model, instead of mostly being refused for values the catalog does not offer.
    Negative cases are generated from the narrowed schema too, so the refusals are still tried."""
    schemas = raw_schema["components"]["schemas"]
    native = schemas["GenerateRequest"]["properties"]
    _bound(native["width"], minimum=64, maximum=MAX_SIDE)
    _bound(native["height"], minimum=64, maximum=MAX_SIDE)
    _bound(native["num_inference_steps"], maximum=MAX_STEPS)
    _bound(native["count"], maximum=MAX_IMAGES)
    native["model"] = {"anyOf": [{"enum": ["tiny-sd"]}, {"type": "null"}]}
    openai = schemas["ImagesGenerationRequest"]["properties"]
    _bound(openai["n"], maximum=MAX_IMAGES)
    _bound(openai["steps"], maximum=MAX_STEPS)
    openai["quality"]["enum"] = [value for value in openai["quality"]["enum"] if value not in BROKEN_QUALITIES]
    openai["size"]["enum"] = ["auto", "64x64", f"{MAX_SIDE}x{MAX_SIDE}"]
    openai["model"] = {"anyOf": [{"enum": ["tiny-sd", "dall-e-3"]}, {"type": "null"}]}
    # A real project (made by the test), so that image URLs draw images, not only 404 placeholders.
    for parameter in raw_schema["paths"]["/p/{project}/image"]["get"]["parameters"]:
        if parameter["name"] == "project":
            parameter["example"] = FUZZ_PROJECT
        if parameter["name"] == "prompt":
            parameter["example"] = "a lighthouse at dusk"
