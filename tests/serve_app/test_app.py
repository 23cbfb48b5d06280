"""build_app: the Serve options each deployment is actually bound with."""

from ray.serve import Application

from deployments.diffusion.config import DiffusionConfig
from serve_app.app import build_app
from tests.factories import app_args, tiny_model_entry


def bound_deployments(app: Application) -> dict:
    """Every deployment reachable from `app`, by name."""
    found = {}
    pending = [app]
    while pending:
        deployment = pending.pop()._bound_deployment
        found[deployment.name] = deployment
        arguments = [*deployment.init_args, *deployment.init_kwargs.values()]
        nested = [value for arg in arguments for value in (arg.values() if isinstance(arg, dict) else [arg])]
        pending.extend(value for value in nested if isinstance(value, Application))
    return found


def built(tmp_path, **overrides) -> dict:
    args = app_args(
        tmp_dir=str(tmp_path),
        model_cache_dir=str(tmp_path),
        public_base_url="http://127.0.0.1:8000",
        models=[tiny_model_entry(batching={"max_batch_size": 8}, deployment={})],
        **overrides,
    )
    return bound_deployments(build_app(args))


def test_an_llm_enhancer_gets_room_for_a_running_and_a_filling_batch_and_a_bounded_queue(tmp_path):
    enhancer = built(tmp_path, enhancer={"backend": "llm", "batching": {"max_batch_size": 32}})["prompt-enhancer"]
    assert (enhancer.max_ongoing_requests, enhancer.max_queued_requests) == (64, 256)


def test_an_llm_enhancer_keeps_the_limits_its_config_sets(tmp_path):
    enhancer = built(
        tmp_path,
        enhancer={
            "backend": "llm",
            "batching": {"max_batch_size": 4},
            "deployment": {"max_ongoing_requests": 12, "max_queued_requests": 20},
        },
    )["prompt-enhancer"]
    assert (enhancer.max_ongoing_requests, enhancer.max_queued_requests) == (12, 20)


def test_a_model_and_the_enhancer_derive_their_limits_the_same_way(tmp_path):
    deployments = built(tmp_path, enhancer={"backend": "llm", "batching": {"max_batch_size": 8}})
    model, enhancer = deployments["tiny-sd"], deployments["prompt-enhancer"]
    assert (model.max_ongoing_requests, model.max_queued_requests) == (16, 64)
    assert (enhancer.max_ongoing_requests, enhancer.max_queued_requests) == (16, 64)


def test_the_scraper_is_bound_with_the_options_of_its_config_section(tmp_path):
    scraper = built(tmp_path, scraper={"allow_list": ["10.0.0.0/8"], "deployment": {"num_replicas": 2}})["scraper"]
    assert (scraper.num_replicas, scraper.ray_actor_options["num_cpus"]) == (2, 1.0)
    assert scraper.init_args[0].allow_list == ("10.0.0.0/8",)


def test_a_models_replicas_are_bound_with_its_deployment_settings_and_not_its_prices(tmp_path):
    model = built(tmp_path)["tiny-sd"]
    bound = model.init_args[0]
    assert type(bound) is DiffusionConfig
    assert bound.cache_dir == str(tmp_path) and bound.batching.max_batch_size == 8
