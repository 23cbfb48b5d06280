"""The server a user would write instead of pixelray: one uvicorn process, FastAPI, the same
diffusers pipeline called once per request behind a lock (pipelines are not thread-safe).

    PIXELRAY_BASELINE_MODEL=DIR uvicorn benchmarks.baseline_server:app --port 8001
"""

import io
import os
import threading

import torch
from diffusers import AutoPipelineForText2Image
from diffusers.utils import logging as diffusers_logging
from fastapi import FastAPI, Response
from pydantic import BaseModel

diffusers_logging.disable_progress_bar()
torch.set_num_threads(int(os.environ.get("PIXELRAY_BENCH_THREADS", os.cpu_count() or 1)))
device = os.environ.get("PIXELRAY_BENCH_DEVICE", "auto")
device = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
dtype = getattr(torch, os.environ.get("PIXELRAY_BENCH_DTYPE", "float32"))
pipeline = AutoPipelineForText2Image.from_pretrained(os.environ["PIXELRAY_BASELINE_MODEL"], dtype=dtype).to(device)
pipeline.set_progress_bar_config(disable=True)
lock = threading.Lock()
app = FastAPI()


class Generate(BaseModel):
    prompt: str
    width: int = 64
    height: int = 64
    num_inference_steps: int = 4
    guidance_scale: float = 5.0
    seed: int = 0


@app.post("/generate")
def generate(body: Generate) -> Response:
    with lock:
        image = pipeline(
            prompt=body.prompt,
            width=body.width,
            height=body.height,
            num_inference_steps=body.num_inference_steps,
            guidance_scale=body.guidance_scale,
            generator=torch.Generator().manual_seed(body.seed),
        ).images[0]
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return Response(buffer.getvalue(), media_type="image/png")
