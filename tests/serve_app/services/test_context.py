"""The per-request facts rendered as response headers."""

from serve_app.services.context import RequestContext


def test_no_model_time_means_no_server_timing_header():
    assert "Server-Timing" not in RequestContext("req_1").response_headers()


def test_model_time_adds_up_over_passes_and_renders_in_milliseconds():
    context = RequestContext("req_1")
    context.add_model_time(0.25)
    context.add_model_time(0.0125)
    assert context.response_headers()["Server-Timing"] == "model;dur=262.5"
