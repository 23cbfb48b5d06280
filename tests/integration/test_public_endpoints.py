"""Public endpoints of the running application: models, health, docs, files."""

import pytest

pytestmark = pytest.mark.serve


async def test_models_lists_the_catalog_without_a_key(api):
    response = await api.get("/api/v1/models")

    assert response.status_code == 200
    models = response.json()["data"]["models"]
    assert [m["slug"] for m in models] == [
        "tiny-sd",
        "broken-sd",
        "tiny-inpaint",
        "tiny-lora-sd",
        "tiny-upscaler",
        "tiny-block-sd",
    ]
    tiny = models[0]
    assert tiny["credits"] == {"per_image": 1, "per_megapixel": None}
    assert tiny["sizes"]["min"] == 64 and tiny["sizes"]["max"] == 256
    assert tiny["modes"] == ["text2img", "img2img"] and tiny["default"] is True


async def test_health_reports_every_component(api):
    response = await api.get("/api/v1/health")

    assert response.status_code == 200
    data = response.json()["data"]
    assert data["status"] == "healthy"
    assert set(data["components"]) == {
        "database",
        "storage",
        "model:tiny-sd",
        "model:broken-sd",
        "model:tiny-inpaint",
        "model:tiny-lora-sd",
        "model:tiny-upscaler",
        "model:tiny-block-sd",
    }
    assert all(c["status"] == "ok" for c in data["components"].values())


async def test_openapi_docs_are_served(api):
    assert (await api.get("/docs")).status_code == 200
    spec = (await api.get("/openapi.json")).json()
    assert spec["paths"]["/api/v1/generate"]["post"]["description"]


async def test_unknown_file_and_unknown_path_are_404_envelopes(api):
    for path in ("/files/images/2026/01/nope.png", "/files/../../etc/passwd", "/api/v1/nothing"):
        response = await api.get(path)
        assert response.status_code == 404, path
        assert response.json()["success"] is False


async def test_health_is_degraded_and_names_the_failing_component(serve_app, api):
    from pathlib import Path

    files = Path(serve_app.args["storage"]["local_dir"])
    aside = files.with_name("files-aside-health")
    files.rename(aside)
    files.write_text("not a directory")
    try:
        response = await api.get("/api/v1/health")
    finally:
        files.unlink()
        aside.rename(files)
    assert response.status_code == 503
    data = response.json()["data"]
    assert data["status"] == "degraded"
    assert data["components"]["storage"]["status"] == "error"
    assert data["components"]["database"]["status"] == "ok"
