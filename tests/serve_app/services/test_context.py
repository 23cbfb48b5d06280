"""The per-request facts rendered as response headers."""

import time

from serve_app.services.context import RequestContext


def test_no_timings_mean_no_server_timing_header():
    assert "Server-Timing" not in RequestContext("req_1").response_headers()


def test_stage_times_add_up_over_passes_and_render_in_milliseconds_in_the_order_they_ran():
    context = RequestContext("req_1")
    context.add_time("admit", 0.004)
    context.add_time("model", 0.25)
    context.add_time("model", 0.0125)
    assert context.response_headers()["Server-Timing"] == "admit;dur=4.0, model;dur=262.5"


def test_a_timed_stage_counts_even_when_it_raises():
    context = RequestContext("req_1")
    try:
        with context.timed("admit"):
            time.sleep(0.01)
            raise RuntimeError("credits short")
    except RuntimeError:
        pass
    assert context.timings["admit"] >= 0.01
