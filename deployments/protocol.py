"""Types that cross a deployment handle: plain, picklable, free of torch and FastAPI."""

from dataclasses import dataclass

# The longest prompt a generation takes: requests are held to it and an enhancer's output is cut to it.
PROMPT_MAX_CHARS = 2000


@dataclass(frozen=True)
class GenerationParams:
    """One image to generate. Requests that agree on `batch_key` can share one pipeline call."""

    prompt: str
    width: int
    height: int
    num_inference_steps: int
    guidance_scale: float
    seed: int
    negative_prompt: str | None = None
    output_format: str = "png"
    # "text2img" | "img2img" | "inpaint" | "upscale".
    mode: str = "text2img"
    # The already validated input image (PNG/JPEG/WebP bytes, decoded by the replica).
    init_image: bytes | None = None
    # img2img and inpaint: how far the init image is noised (0 keeps it, 1 ignores it).
    strength: float = 0.8
    # inpaint only: a PNG the size of `init_image` whose white area is redrawn; black is kept.
    mask_image: bytes | None = None
    # LoRA adapters as (catalog slug, weight), sorted by slug; empty draws with the base model.
    adapters: tuple[tuple[str, float], ...] = ()
    # upscale only: width and height ÷ the input's (2 or 4); the input is `init_image`.
    scale: int = 1
    # Through `generate_stream`: a preview image every this many denoising steps (0: none).
    preview_every: int = 0

    @property
    def batch_key(self) -> tuple:
        strength = self.strength if self.mode in ("img2img", "inpaint") else None
        return (
            self.mode,
            self.width,
            self.height,
            self.num_inference_steps,
            self.guidance_scale,
            strength,
            self.adapters,
            self.scale,
        )

    @property
    def adapter_set(self) -> str:
        """The adapters to have loaded, as one Serve multiplexed model id ("" for none)."""
        return adapter_set_id(slug for slug, _ in self.adapters)


def adapter_set_id(slugs) -> str:
    return "+".join(sorted(set(slugs)))


@dataclass(frozen=True)
class GenerationResult:
    """One encoded image and what produced it."""

    image: bytes
    content_type: str
    width: int
    height: int
    seed: int
    inference_seconds: float
    # How many images shared the pipeline call that drew this one.
    batch_size: int = 1
    # The model's safety checker's verdict; None when the model runs none.
    nsfw: bool | None = None
    # Seconds the request spent on the model's replica, from its arrival (queueing included) to its
    # encoded image: what the ingress reports as Server-Timing, so that a client (and the
    # benchmark) can tell the model's time from the serving stack's.
    model_seconds: float = 0.0


@dataclass(frozen=True)
class GenerationProgress:
    """One denoising step of a request done; `preview` (encoded like its result) when due."""

    step: int
    total: int
    preview: bytes | None = None


@dataclass(frozen=True)
class EnhanceParams:
    """One idea to turn into a richer image prompt. `seed` set: the same inputs give the same text."""

    prompt: str
    tone: str
    seed: int | None = None


@dataclass(frozen=True)
class EnhanceResult:
    """The prompt, and which enhancer wrote it: `llm`, or `rules` when the model's text was unusable."""

    prompt: str
    enhancer: str


class GenerationError(RuntimeError):
    """The model could not produce this request's image; other requests are unaffected."""


class GenerationAbandoned(GenerationError):
    """Every caller of this work left, so it stopped (queued, or at its next denoising step).
    Only the replica sees it: the callers it would answer are gone."""


@dataclass(frozen=True)
class PageInfo:
    """What the scraper learned about a web page; everything but `url` may be empty."""

    url: str
    title: str = ""
    description: str = ""
    site_name: str = ""
    image: str = ""
    headline: str = ""
    keywords: tuple[str, ...] = ()
    paragraphs: tuple[str, ...] = ()
    lang: str = ""


class FetchError(Exception):
    """A user-supplied URL could not be fetched safely. `reason` is a stable code
    (e.g. `blocked_address`, `too_large`), `message` says what to fix."""

    def __init__(self, reason: str, message: str):
        super().__init__(reason, message)
        self.reason = reason
        self.message = message

    def __str__(self) -> str:
        return self.message
