"""Per-model safety policies applied to what the replicas' checkers said: `flag` reports each
image's verdict, `block` also withholds a flagged image behind a placeholder (its caller refunds
the image's credits with the request's settlement)."""

from dataclasses import dataclass, replace

from deployments.protocol import GenerationResult
from serve_app.config import ModelConfig
from serve_app.services.placeholder import render_placeholder

BLOCKED_MESSAGE = "The safety checker flagged this image, so it is withheld; its credits were refunded."


@dataclass(frozen=True)
class Verdict:
    """What the checkers that saw an image said. `nsfw` is None when none did (policy `none`)."""

    nsfw: bool | None = None
    blocked: bool = False

    @classmethod
    def of(cls, model: ModelConfig, result: GenerationResult) -> "Verdict":
        return cls(nsfw=result.nsfw, blocked=bool(result.nsfw) and model.safety.policy == "block")

    def __or__(self, later: "Verdict") -> "Verdict":
        """The verdict on an image that passed two models (drawn, then enlarged by `hires`)."""
        judged = self.nsfw is not None or later.nsfw is not None
        return Verdict(nsfw=bool(self.nsfw or later.nsfw) if judged else None, blocked=self.blocked or later.blocked)


# The verdict on an image no checker saw: a default shared by every record, as Verdict is frozen.
NOT_JUDGED = Verdict()


def withheld(result: GenerationResult) -> GenerationResult:
    """The placeholder that replaces a blocked image: a PNG of the image's size, whatever format was asked."""
    placeholder = render_placeholder("blocked", BLOCKED_MESSAGE, size=(result.width, result.height))
    return replace(result, image=placeholder, content_type="image/png")


def screen(result: GenerationResult, verdict: Verdict) -> GenerationResult:
    """The image to publish: `result`, or its placeholder when the verdict blocks it."""
    return withheld(result) if verdict.blocked else result
