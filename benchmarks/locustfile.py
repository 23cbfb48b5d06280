"""A realistic traffic mix against a running pixelray (`make load` runs it headless).

Keys come from PIXELRAY_LOAD_KEYS (comma-separated; each locust user takes the next one), the GET
image project from PIXELRAY_LOAD_PROJECT, the page hero jobs fetch from PIXELRAY_LOAD_PAGE_URL.
Families the server does not offer (read from its OpenAPI document at start), or that lack their
project or page, are left out of the mix and listed once on stderr.

Request names start with `generate:` when the request runs a model and `read:` otherwise;
benchmarks/check_load.py holds `read:` requests to the latency threshold. Intended refusals
(402 out of credits, 429 over a limit) count as successes: they are the plan working.
"""

import itertools
import os
import random
import sys
import uuid

from locust import HttpUser, between, events, task

INTENDED = {402, 429}
SUBJECTS = ["a lighthouse", "a red fox", "a teapot", "a mountain lake", "a city at night", "a sailboat"]
CACHED_PROMPTS = [f"{s}, watercolor" for s in SUBJECTS]
_keys = itertools.cycle([k for k in os.environ.get("PIXELRAY_LOAD_KEYS", "").split(",") if k])
_features: dict[str, bool] = {}


def _body_fields(spec: dict, schema: dict) -> set[str]:
    """Property names a request body schema accepts, through $ref and anyOf/oneOf/allOf."""
    if "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    fields = set(schema.get("properties", {}))
    for key in ("anyOf", "oneOf", "allOf"):
        for option in schema.get(key, []):
            fields |= _body_fields(spec, option)
    return fields


@events.init.add_listener
def _detect_features(environment, **_kwargs) -> None:
    """Reads the server's OpenAPI document once to see which families of the mix it serves,
    and warms the image cache so that `(cached)` requests are hits. On `init`, before the run's
    clock starts."""
    import httpx

    spec = httpx.get(f"{environment.host}/openapi.json", timeout=10).json()
    body = spec["paths"]["/api/v1/generate"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    fields = _body_fields(spec, body)
    project = os.environ.get("PIXELRAY_LOAD_PROJECT", "")
    _features.update(
        batch="items" in fields,
        hero="url" in fields and bool(os.environ.get("PIXELRAY_LOAD_PAGE_URL")),
        image_url=bool(project) and any(p.startswith("/p/") for p in spec["paths"]),
    )
    missing = sorted(name for name, present in _features.items() if not present)
    if missing:
        print(f"locustfile: left out of the mix (no endpoint, project or page): {', '.join(missing)}", file=sys.stderr)
    if _features["image_url"]:
        from gevent.pool import Pool

        Pool(len(CACHED_PROMPTS)).map(
            lambda prompt: httpx.get(
                f"{environment.host}/p/{project}/image", params={"prompt": prompt, "seed": 1}, timeout=120
            ),
            CACHED_PROMPTS,
        )


class ApiUser(HttpUser):
    """One API client: mostly reads, with prompt generations, batches, hero jobs and image URLs."""

    wait_time = between(0.5, 2.0)

    def on_start(self) -> None:
        key = next(_keys, None)
        if key is None:
            raise RuntimeError("set PIXELRAY_LOAD_KEYS to one or more API keys")
        self.client.headers["Authorization"] = f"Bearer {key}"
        self.images: list[str] = []

    def _post_generation(self, name: str, body: dict):
        with self.client.post("/api/v1/generate", json=body, name=name, catch_response=True) as response:
            if response.status_code in INTENDED:
                response.success()
            return response

    @task(4)
    def generate_prompt(self) -> None:
        body = {
            "prompt": f"{random.choice(SUBJECTS)}, {uuid.uuid4().hex[:6]}",
            "width": 64,
            "height": 64,
            "num_inference_steps": 2,
        }
        response = self._post_generation("generate: POST /api/v1/generate", body)
        if response.status_code == 200:
            image = response.json()["data"]["image"]
            if image.startswith("http"):
                self.images = [*self.images, image][-5:]

    @task(1)
    def generate_batch(self) -> None:
        if _features.get("batch"):
            items = [
                {"prompt": f"{random.choice(SUBJECTS)}, item {i}", "width": 64, "height": 64, "num_inference_steps": 2}
                for i in range(2)
            ]
            self._post_generation("generate: POST /api/v1/generate (batch)", {"items": items})

    @task(1)
    def hero_job(self) -> None:
        if not _features.get("hero"):
            return
        # A fresh query string each time: a new page URL, so a new job.
        page = f"{os.environ['PIXELRAY_LOAD_PAGE_URL']}?v={uuid.uuid4().hex[:8]}"
        with self.client.post(
            "/api/v1/generate", json={"url": page}, name="read: POST /api/v1/generate (hero url)", catch_response=True
        ) as response:
            if response.status_code in INTENDED:
                response.success()
                return
            if response.status_code >= 400:
                return
            image_url = response.json().get("image_url", "")
        if image_url:
            # 404 until the job finishes is the contract, not an error.
            with self.client.get(
                image_url, name="read: GET /img/[id]/", allow_redirects=False, catch_response=True
            ) as poll:
                if poll.status_code in (302, 404):
                    poll.success()

    @task(3)
    def image_url(self) -> None:
        if not _features.get("image_url"):
            return
        project = os.environ["PIXELRAY_LOAD_PROJECT"]
        if random.random() < 0.7:
            params, name = {"prompt": random.choice(CACHED_PROMPTS), "seed": 1}, "read: GET /p/[project]/image (cached)"
        else:
            params, name = (
                {"prompt": f"{random.choice(SUBJECTS)} {uuid.uuid4().hex[:6]}"},
                "generate: GET /p/[project]/image (new)",
            )
        with self.client.get(f"/p/{project}/image", params=params, name=name, catch_response=True) as response:
            if response.status_code in INTENDED:
                response.success()

    @task(3)
    def download_image(self) -> None:
        if self.images:
            self.client.get(random.choice(self.images), name="read: GET /files/[key]")

    @task(3)
    def models(self) -> None:
        self.client.get("/api/v1/models", name="read: GET /api/v1/models")

    @task(2)
    def usage(self) -> None:
        self.client.get("/api/v1/usage", name="read: GET /api/v1/usage")

    @task(2)
    def balance(self) -> None:
        self.client.get("/api/v1/balance", name="read: GET /api/v1/balance")
