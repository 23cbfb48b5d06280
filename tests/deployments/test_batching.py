"""Batch size bounded by pixels as well as by count, the Serve limits batching implies, and
when a partial batch waits for company."""

import pytest
from pydantic import ValidationError

from deployments.batching import Arrivals, BatchedDeploymentConfig, BatchingConfig
from deployments.serve_options import DeploymentOptions


@pytest.fixture
def batching() -> BatchingConfig:
    return BatchingConfig(max_batch_size=8, max_batch_pixels=8 * 512 * 512)


def fits(batching: BatchingConfig, side: int) -> int:
    """How many side×side images one batch may hold."""
    count = 0
    while batching.batch_size([(side, side)] * (count + 1)) <= batching.max_batch_size:
        count += 1
    return count


def test_a_batch_of_large_images_holds_fewer_than_one_of_small_images(batching):
    assert (fits(batching, 1024), fits(batching, 512), fits(batching, 256), fits(batching, 64)) == (2, 8, 8, 8)


def test_small_images_are_bounded_by_count(batching):
    assert batching.batch_size([(64, 64)] * 5) == 5


def test_an_image_larger_than_a_whole_batch_counts_as_exactly_one_full_batch(batching):
    assert batching.batch_size([(4096, 4096)]) == batching.max_batch_size


def test_mixed_sizes_add_their_pixels(batching):
    assert batching.batch_size([(1024, 1024), (512, 512)]) == 5


def test_a_batched_deployment_derives_only_the_limits_its_options_leave_unset():
    config = BatchedDeploymentConfig(
        batching=BatchingConfig(max_batch_size=6),
        deployment=DeploymentOptions(autoscaling_config={"max_replicas": 3}, max_queued_requests=10),
    )
    options = config.serve_options()
    assert (options["max_ongoing_requests"], options["max_queued_requests"]) == (12, 10)
    assert options["autoscaling_config"]["target_ongoing_requests"] == 6
    assert config.serve_options() == options


def test_a_batched_deployment_that_could_never_fill_a_batch_says_what_to_set():
    with pytest.raises(ValidationError, match="set it to at least 32"):
        BatchedDeploymentConfig(
            batching=BatchingConfig(max_batch_size=16), deployment=DeploymentOptions(max_ongoing_requests=8)
        )


WAIT = 0.005


def arrivals_at(times: list[float]) -> Arrivals:
    arrivals = Arrivals()
    for at in times:
        arrivals.arrived(at, wait_s=WAIT)
    return arrivals


def test_a_lone_caller_soon_stops_waiting_for_company():
    # One closed-loop client: each request comes a whole image after the last.
    arrivals = arrivals_at([0.7 * n for n in range(4)])
    assert not arrivals.company_likely()


def test_requests_that_come_in_bursts_keep_waiting_for_each_other():
    # Four clients answered by one batch send again within a few ms of each other.
    bursts = [start + 0.002 * n for start in (0.0, 0.7, 1.4, 2.1, 2.8) for n in range(4)]
    assert arrivals_at(bursts).company_likely()


def test_a_burst_after_a_quiet_spell_brings_the_wait_back():
    arrivals = arrivals_at([0.7 * n for n in range(10)])
    assert not arrivals.company_likely()
    for n in range(3):
        arrivals.arrived(10.0 + 0.001 * n, wait_s=WAIT)
    assert arrivals.company_likely()


def test_the_first_requests_wait_as_a_fixed_wait_would():
    assert Arrivals().company_likely()
