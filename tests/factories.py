"""Test data builders: catalog entries, app args and users with keys."""

import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import col, func, select

from serve_app.config import AppConfig, parse_app_config
from serve_app.db.models import CreditEntry, Image, Project, User
from serve_app.db.session import Database
from serve_app.services.users import create_user

PLANS = [
    {
        "slug": "test",
        "name": "Test",
        "requests_per_minute": None,
        "max_concurrent": None,
        "max_images_per_request": 4,
        "initial_credits": 1000,
    },
    {
        "slug": "per-minute",
        "name": "Per minute",
        "requests_per_minute": 60,
        "max_concurrent": None,
        "initial_credits": 1000,
    },
    {
        "slug": "daily",
        "name": "Daily",
        "requests_per_minute": None,
        "requests_per_day": 5,
        "images_per_day": 100,
        "max_concurrent": None,
        "initial_credits": 1000,
    },
    {"slug": "broke", "name": "Broke", "requests_per_minute": None, "max_concurrent": None, "initial_credits": 0},
    {"slug": "no-api", "name": "No API", "api_access": False},
    {
        "slug": "four-at-once",
        "name": "Four at once",
        "requests_per_minute": None,
        "max_concurrent": 4,
        "initial_credits": 1000,
    },
]

# `broken-sd` loads but fails every generation: a chain that starts with it must fall back.
# `quality/high` is what the OpenAI endpoint picks for quality="hd": its failure test needs it broken.
TEST_CHAINS = {
    "quality/fast": ["tiny-sd"],
    "quality/high": ["broken-sd"],
    "test/fallback": ["broken-sd", "tiny-sd"],
    "test/all-broken": ["broken-sd"],
}


def tiny_model_entry(slug: str = "tiny-sd", **overrides: Any) -> dict[str, Any]:
    entry = {
        "slug": slug,
        "name": "Tiny SD",
        "source": "builtin:tiny-sd",
        "modes": ["text2img", "img2img"],
        "default_steps": 2,
        "default_guidance_scale": 5.0,
        "min_size": 64,
        "max_size": 256,
        "default_width": 64,
        "default_height": 64,
        "device": "cpu",
        "num_threads": 1,
        "batching": {"max_batch_size": 8, "batch_wait_timeout_s": 0.1},
        "deployment": {
            "num_replicas": 1,
            "max_ongoing_requests": 32,
            "ray_actor_options": {"num_cpus": 0},
        },
    }
    entry.update(overrides)
    return entry


def tiny_lm_enhancer(**overrides: Any) -> dict[str, Any]:
    """The LLM enhancer on builtin:tiny-lm, light enough for CI: its gibberish exercises the guard."""
    entry = {
        "backend": "llm",
        "source": "builtin:tiny-lm",
        "max_new_tokens": 24,
        "device": "cpu",
        "num_threads": 1,
        "batching": {"max_batch_size": 8, "batch_wait_timeout_s": 0.05},
        "deployment": {"num_replicas": 1, "max_ongoing_requests": 32, "ray_actor_options": {"num_cpus": 0}},
    }
    entry.update(overrides)
    return entry


def app_args(*, tmp_dir: str, model_cache_dir: str, **overrides: Any) -> dict[str, Any]:
    args = {
        "database_url": f"sqlite:///{tmp_dir}/pixelray.db",
        "public_base_url": "http://127.0.0.1:8000",
        "model_cache_dir": model_cache_dir,
        "storage": {"enabled": True, "backend": "local", "local_dir": f"{tmp_dir}/files"},
        "models": [tiny_model_entry()],
        "plans": PLANS,
        "ingress": {"num_replicas": 1, "max_ongoing_requests": 256, "ray_actor_options": {"num_cpus": 0}},
    }
    args.update(overrides)
    return args


def make_config(**overrides: Any) -> AppConfig:
    """A validated config for service-level tests (no Serve, no model files needed)."""
    values = {"models": [tiny_model_entry()], "plans": PLANS}
    values.update(overrides)
    return parse_app_config(values)


async def user_with_key(
    db: Database, name: str | None = None, *, plan: str = "test", config: AppConfig | None = None
) -> tuple[int, str]:
    """Creates a user on `plan`; returns (user id, plaintext API key)."""
    created = await create_user(
        db=db, config=config or make_config(), name=name or f"user-{secrets.token_hex(4)}", plan=plan
    )
    return created.user.id, created.key


async def project_with_owner(
    db: Database, *, plan: str = "test", origins: tuple[str, ...] = (), require_signature: bool = False
) -> Project:
    """A project owned by a new user on `plan`; returns the Project row."""
    from serve_app.services.projects import create_project
    from serve_app.services.users import find_user

    user_id, _ = await user_with_key(db, plan=plan)
    owner = await find_user(db=db, name_or_id=str(user_id))
    return await create_project(
        db=db, slug=f"p-{secrets.token_hex(5)}", user=owner, origins=origins, require_signature=require_signature
    )


class ManualClock:
    """A clock the test moves by hand (UTC)."""

    def __init__(self, start: datetime):
        self.moment = start

    def now(self) -> datetime:
        return self.moment

    def advance(self, **delta) -> None:
        self.moment += timedelta(**delta)


def tiny_inpaint_entry(slug: str = "tiny-inpaint", **overrides: Any) -> dict[str, Any]:
    """The built-in 9-channel inpainting model, like the tiny model otherwise."""
    return tiny_model_entry(slug, name="Tiny inpainting", source="builtin:tiny-inpaint", modes=["inpaint"], **overrides)


TINY_ADAPTER = {"slug": "tiny-style", "name": "Tiny style", "source": "builtin:tiny-lora", "credits_per_image": 1}


def tiny_lora_entry(slug: str = "tiny-lora-sd", **overrides: Any) -> dict[str, Any]:
    """The tiny model with the built-in adapter on two replicas: multiplexed routing has a choice."""
    # `tiny-routing` is the same adapter under a name only the routing test uses.
    adapters = [TINY_ADAPTER, {**TINY_ADAPTER, "slug": "tiny-routing", "credits_per_image": 0}]
    entry = tiny_model_entry(slug, adapters=adapters, max_loaded_adapter_sets=2)
    entry["deployment"] = {**entry["deployment"], "num_replicas": 2}
    entry.update(overrides)
    return entry


STAND_IN_SAFETY = "builtin:stand-in-safety"


def tiny_safety_entry(slug: str, policy: str, **overrides: Any) -> dict[str, Any]:
    """The tiny model under a safety `policy`, judged by the stand-in checker: a prompt holding
    `[unsafe]` is flagged, any other is not. Its queue is short, so that the shared test app's
    ingress (512 requests per replica) still covers every model."""
    entry = tiny_model_entry(slug, safety={"policy": policy, "checker": STAND_IN_SAFETY}, **overrides)
    entry["deployment"] = {**entry["deployment"], "max_ongoing_requests": 8, "max_queued_requests": 16}
    return entry


def tiny_upscaler_entry(slug: str = "tiny-upscaler", **overrides: Any) -> dict[str, Any]:
    """The built-in x4 upscaler: sizes bound its output, 64–256 px like the tiny model's."""
    entry = tiny_model_entry(
        slug, name="Tiny upscaler", source="builtin:tiny-upscaler", modes=["upscale"], credits_per_megapixel=100
    )
    entry.update(overrides)
    return entry


def image_row(*, user_id: int, **overrides: Any) -> Image:
    """A stored 64x64 tiny-sd image's row; tests override what they look at."""
    fields: dict[str, Any] = {
        "id": f"img_{secrets.token_hex(12)}",
        "request_id": "req_test",
        "user_id": user_id,
        "model": "tiny-sd",
        "prompt": "a fox",
        "width": 64,
        "height": 64,
        "num_inference_steps": 2,
        "guidance_scale": 5.0,
        "seed": 1,
        "content_type": "image/png",
        "size_bytes": 1,
        "storage_key": "test/fox.png",
        "inference_ms": 1,
    }
    return Image(**{**fields, **overrides})


async def checked_balance(db: Database, user_id: int) -> int:
    """The user's balance, asserted equal to the sum of their ledger. One statement, so both come
    from one snapshot on SQLite and PostgreSQL alike: a refund that commits while a test reads
    (a hang-up unwinding, say) can never split them."""
    ledger = (
        select(func.coalesce(func.sum(CreditEntry.amount), 0))
        .where(col(CreditEntry.user_id) == user_id)
        .scalar_subquery()
    )
    async with db.read() as session:
        balance, total = (await session.exec(select(User.balance, ledger).where(col(User.id) == user_id))).one()
    assert balance == total, f"balance {balance} is not the ledger's sum {total}"
    return balance
