import httpx

from benchmarks.common import completions_between, server_timing


def waves(*, size: int, period: float, count: int, offset: float = 0.0) -> list[float]:
    return sorted(offset + period * (wave + 1) + 0.001 * i for wave in range(count) for i in range(size))


def test_waves_of_batched_answers_give_the_true_rate_wherever_the_window_falls():
    answers = waves(size=8, period=5.0, count=12)
    for start in (4.0, 5.5, 7.9, 9.99):
        completed, seconds = completions_between(answers, start, start + 20.0)
        assert abs(completed / seconds - 8 / 5.0) < 0.01


def test_a_steady_stream_gives_its_rate():
    answers = [0.1 * i for i in range(1, 1000)]
    completed, seconds = completions_between(answers, 10.0, 30.0)
    assert abs(completed / seconds - 10.0) < 0.01


def test_too_few_answers_fall_back_to_the_fixed_window():
    assert completions_between([12.0], 10.0, 30.0) == (1, 20.0)
    assert completions_between([], 10.0, 30.0) == (0, 20.0)


def test_the_stages_are_read_from_server_timing():
    response = httpx.Response(200, headers={"Server-Timing": "admit;dur=2, model;dur=262.5"})
    assert server_timing(response) == {"admit": 0.002, "model": 0.2625}
    assert server_timing(httpx.Response(200)) == {}
