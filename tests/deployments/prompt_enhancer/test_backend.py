"""The causal-LM backend over builtin:tiny-lm: loaded by from_pretrained, chat template applied,
output bounded, seeded requests reproducible wherever they sit in a batch."""

import pytest

from deployments.protocol import EnhanceParams


@pytest.fixture(scope="module")
def backend(model_cache_dir):
    from deployments.prompt_enhancer.backend import PromptEnhancerBackend
    from deployments.prompt_enhancer.config import PromptEnhancerConfig

    return PromptEnhancerBackend(
        PromptEnhancerConfig(
            source="builtin:tiny-lm", cache_dir=str(model_cache_dir), device="cpu", num_threads=1, max_new_tokens=16
        )
    )


def test_the_chat_template_renders_the_system_and_user_turns(backend):
    rendered = backend.render(EnhanceParams(prompt="a red fox", tone="cinematic"))

    assert backend.uses_chat_template
    assert "<|system|>" in rendered and "cinematic tone" in rendered
    assert "<|user|>\na red fox" in rendered and rendered.endswith("<|assistant|>\n")


def test_output_is_bounded_by_max_new_tokens(backend):
    [text] = backend.enhance([EnhanceParams(prompt="a red fox", tone="dark")])
    # Byte-level tokens: one token writes at most one byte.
    assert isinstance(text, str) and len(text.encode("utf-8", "surrogatepass")) <= 16 * 3


def test_a_seeded_request_gives_the_same_text_alone_and_in_any_batch_position(backend):
    seeded = EnhanceParams(prompt="a red fox", tone="dark", seed=7)
    [alone] = backend.enhance([seeded])
    for position in range(3):
        batch = [EnhanceParams(prompt=f"idea {i}", tone="vintage") for i in range(3)]
        batch[position] = seeded
        assert backend.enhance(batch)[position] == alone


def test_different_seeds_give_different_text(backend):
    first, second = backend.enhance(
        [EnhanceParams(prompt="a red fox", tone="dark", seed=1), EnhanceParams(prompt="a red fox", tone="dark", seed=2)]
    )
    assert first != second


def test_unseeded_requests_share_one_batch_and_each_gets_text(backend):
    texts = backend.enhance([EnhanceParams(prompt=f"idea {i}", tone="artistic") for i in range(4)])
    assert len(texts) == 4 and all(isinstance(text, str) for text in texts)
