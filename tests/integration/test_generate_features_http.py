"""The full prompt -> image API on the real Serve application over HTTP: count, batches,
product/logo, img2img, storage on/off, the gallery, CORS and the catalog."""

import asyncio
import base64
import io

import httpx
import pytest
from PIL import Image

from serve_app.services.users import KEY_CACHE_TTL_S
from tests.factories import user_with_key

pytestmark = pytest.mark.serve


@pytest.fixture
async def key(serve_app) -> str:
    _, plaintext = await user_with_key(serve_app.db)
    return plaintext


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def balance(api: httpx.AsyncClient, key: str) -> int:
    return (await api.get("/api/v1/balance", headers=auth(key))).json()["data"]["balance"]


async def test_count_returns_that_many_images_with_consecutive_seeds(api, key):
    response = await api.post("/api/v1/generate", json={"prompt": "a fox", "count": 3, "seed": 10}, headers=auth(key))

    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert [image["seed"] for image in data["images"]] == [10, 11, 12]
    assert len({image["image"] for image in data["images"]}) == 3
    assert data["image"] == data["images"][0]["image"]
    assert await balance(api, key) == 1000 - 3


async def test_count_above_the_max_is_a_400_and_charges_nothing(api, key):
    response = await api.post("/api/v1/generate", json={"prompt": "a fox", "count": 5}, headers=auth(key))

    assert response.status_code == 400 and response.json()["error"]["field"] == "count"
    assert await balance(api, key) == 1000


async def test_a_batch_with_one_invalid_item_charges_only_the_others(api, key):
    items = [{"prompt": "a fox", "seed": 1}, {"prompt": "a fox", "colour": "red"}, {"prompt": "an owl", "seed": 2}]
    response = await api.post("/api/v1/generate", json={"items": items}, headers=auth(key))

    assert response.status_code == 200, response.text
    body = response.json()
    results = body["data"]["results"]
    assert [result["success"] for result in results] == [True, False, True]
    assert results[1]["error"]["field"] == "items.1.colour"
    assert (results[0]["seed"], results[2]["seed"], results[0]["model"]) == (1, 2, "tiny-sd")
    assert results[0]["storage"]["stored"] is True
    assert (await api.get(results[2]["image"])).status_code == 200
    assert await balance(api, key) == 1000 - 2


async def test_a_batch_over_the_plans_size_is_a_400(api, key):
    response = await api.post("/api/v1/generate", json={"items": [{"prompt": "a"}] * 11}, headers=auth(key))

    assert response.status_code == 400 and response.json()["error"]["field"] == "items"
    assert await balance(api, key) == 1000


@pytest.mark.parametrize(("path", "landscape"), [("/api/v1/generate/product", True), ("/api/v1/generate/logo", False)])
async def test_product_and_logo_apply_their_own_shape(api, key, path, landscape):
    response = await api.post(path, json={"prompt": "a ceramic mug", "seed": 3}, headers=auth(key))

    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert (data["width"] > data["height"]) is landscape
    assert (data["width"] == data["height"]) is not landscape


async def test_img2img_from_a_data_url(api, key):
    buffer = io.BytesIO()
    Image.new("RGB", (80, 80), "orange").save(buffer, format="JPEG")
    image = "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()
    response = await api.post(
        "/api/v1/generate",
        json={"prompt": "a fox", "mode": "img2img", "image": image, "strength": 0.5, "output_format": "jpeg"},
        headers=auth(key),
    )

    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["mode"] == "img2img"
    download = await api.get(data["image"])
    assert download.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(download.content)).size == (64, 64)


async def test_a_pdf_as_img2img_input_is_a_400_and_charges_nothing(api, key):
    image = "data:image/png;base64," + base64.b64encode(b"%PDF-1.7 not an image").decode()
    response = await api.post(
        "/api/v1/generate", json={"prompt": "a fox", "mode": "img2img", "image": image}, headers=auth(key)
    )

    assert response.status_code == 400 and response.json()["error"]["field"] == "image"
    assert await balance(api, key) == 1000


async def test_storage_off_gives_data_urls_and_on_gives_a_hosted_url_of_the_same_bytes(api, key):
    request = {"prompt": "a heron", "seed": 77}
    off = await api.patch("/api/v1/settings", json={"storage_enabled": False}, headers=auth(key))
    assert off.json()["data"] == {
        "storage_enabled": False,
        "storage": {"enabled": False, "stored": False, "plan": "test"},
    }
    # The other ingress replica sees the preference once its copy of the key's user lapses.
    await asyncio.sleep(KEY_CACHE_TTL_S)
    inline = (await api.post("/api/v1/generate", json=request, headers=auth(key))).json()["data"]

    await api.patch("/api/v1/settings", json={"storage_enabled": True}, headers=auth(key))
    await asyncio.sleep(KEY_CACHE_TTL_S)
    hosted = (await api.post("/api/v1/generate", json=request, headers=auth(key))).json()["data"]

    assert inline["image"].startswith("data:image/png;base64,") and inline["storage"]["stored"] is False
    assert hosted["storage"] == {"enabled": True, "stored": True, "plan": "test"}
    downloaded = (await api.get(hosted["image"])).content
    assert downloaded == base64.b64decode(inline["image"].split(",", 1)[1])
    gallery = (await api.get("/api/v1/images", headers=auth(key))).json()["data"]
    assert [image["id"] for image in gallery["images"]] == [hosted["images"][0]["id"]]


async def test_the_gallery_pages_and_deletes_with_the_file(api, key):
    made = (await api.post("/api/v1/generate", json={"prompt": "a fox", "count": 3}, headers=auth(key))).json()["data"]
    first = (await api.get("/api/v1/images?limit=2&offset=0", headers=auth(key))).json()["data"]
    second = (await api.get("/api/v1/images?limit=2&offset=2", headers=auth(key))).json()["data"]

    assert (first["total"], len(first["images"]), len(second["images"])) == (3, 2, 1)
    listed = {image["id"] for image in first["images"] + second["images"]}
    assert listed == {image["id"] for image in made["images"]}

    victim = made["images"][1]
    one = await api.get(f"/api/v1/images/{victim['id']}", headers=auth(key))
    assert one.json()["data"]["url"] == victim["image"]
    deleted = await api.delete(f"/api/v1/images/{victim['id']}", headers=auth(key))
    assert deleted.status_code == 200 and deleted.json()["data"] == {"id": victim["id"], "deleted": True}

    assert (await api.get(f"/api/v1/images/{victim['id']}", headers=auth(key))).status_code == 404
    assert (await api.get(victim["image"])).status_code == 404
    assert (await api.get("/api/v1/images", headers=auth(key))).json()["data"]["total"] == 2


async def test_another_users_image_is_not_found(serve_app, api, key):
    made = (await api.post("/api/v1/generate", json={"prompt": "a fox"}, headers=auth(key))).json()["data"]
    _, other = await user_with_key(serve_app.db)

    assert (await api.get(f"/api/v1/images/{made['images'][0]['id']}", headers=auth(other))).status_code == 404
    assert (await api.delete(f"/api/v1/images/{made['images'][0]['id']}", headers=auth(other))).status_code == 404
    assert (await api.get(made["image"])).status_code == 200


@pytest.mark.parametrize(("query", "field"), [("limit=0", "limit"), ("limit=101", "limit"), ("offset=-1", "offset")])
async def test_gallery_paging_bounds(api, key, query, field):
    response = await api.get(f"/api/v1/images?{query}", headers=auth(key))
    assert response.status_code == 400 and response.json()["error"]["field"] == field


async def test_a_browser_preflight_from_any_origin_is_allowed(api):
    response = await api.options(
        "/api/v1/generate",
        headers={
            "Origin": "https://example.org",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
    assert "authorization" in response.headers["access-control-allow-headers"].lower()


async def test_the_catalog_lists_modes_sizes_ratios_and_credits(api):
    models = (await api.get("/api/v1/models")).json()["data"]["models"]
    tiny = next(model for model in models if model["slug"] == "tiny-sd")

    assert tiny["modes"] == ["text2img", "img2img"]
    assert tiny["credits"] == {"per_image": 1, "per_megapixel": None}
    assert (tiny["sizes"]["min"], tiny["sizes"]["max"], tiny["max_count"]) == (64, 256, 4)
    width, height = tiny["aspect_ratios"]["16:9"]
    assert width > height and width % 8 == 0 and height % 8 == 0


@pytest.fixture
def image_server():
    """A loopback web server (allow-listed for the scraper in the test config) serving a JPEG
    that carries EXIF, and a PDF named like a PNG."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    exif = Image.Exif()
    exif[0x010F] = "SecretCam"
    buffer = io.BytesIO()
    Image.new("RGB", (120, 90), "teal").save(buffer, format="JPEG", exif=exif.tobytes())
    files = {"/photo.jpg": ("image/jpeg", buffer.getvalue()), "/doc.png": ("image/png", b"%PDF-1.7 not an image")}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:
            content_type, body = files.get(self.path, ("text/plain", b"missing"))
            self.send_response(200 if self.path in files else 404)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


async def test_img2img_from_a_url_goes_through_the_scraper(api, key, image_server):
    response = await api.post(
        "/api/v1/generate",
        json={"prompt": "a fox", "mode": "img2img", "image": f"{image_server}/photo.jpg", "strength": 0.5},
        headers=auth(key),
    )

    assert response.status_code == 200, response.text
    output = (await api.get(response.json()["data"]["image"])).content
    assert b"SecretCam" not in output and not Image.open(io.BytesIO(output)).getexif()


@pytest.mark.parametrize(
    ("path_or_url", "hint"),
    [("/doc.png", "PNG, JPEG or WebP"), ("/missing.png", "fetch"), ("http://10.1.2.3/a.png", "fetch")],
    ids=["pdf-named-png", "404", "private-address"],
)
async def test_bad_img2img_urls_are_400s_on_image_and_cost_nothing(api, key, image_server, path_or_url, hint):
    url = path_or_url if path_or_url.startswith("http") else image_server + path_or_url
    response = await api.post(
        "/api/v1/generate", json={"prompt": "a fox", "mode": "img2img", "image": url}, headers=auth(key)
    )

    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["field"] == "image" and hint in error["message"]
    assert await balance(api, key) == 1000
