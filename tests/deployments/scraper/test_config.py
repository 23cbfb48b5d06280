"""The scraper deployment's config: its allow list and its Serve options."""

import pytest
from pydantic import ValidationError

from deployments.scraper.config import ScraperConfig


def test_the_scraper_runs_one_replica_that_reserves_no_cpu_unless_configured():
    assert ScraperConfig().serve_options()["num_replicas"] == 1
    assert ScraperConfig().serve_options()["ray_actor_options"]["num_cpus"] == 0
    options = ScraperConfig(deployment={"num_replicas": 3, "max_ongoing_requests": 64}).serve_options()
    assert (options["num_replicas"], options["max_ongoing_requests"]) == (3, 64)


@pytest.mark.parametrize(
    ("entry", "hint"), [("10.0.0.0/33", "not a CIDR network"), ("intranet host", "not a host name")]
)
def test_an_allow_list_entry_that_is_neither_host_nor_network_says_which_form_to_use(entry, hint):
    with pytest.raises(ValidationError, match=hint):
        ScraperConfig(allow_list=[entry])
