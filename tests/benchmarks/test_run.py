"""The benchmark report's arithmetic."""

from benchmarks.run import stage_split


def test_the_low_load_split_gives_each_stage_and_what_the_stack_spent_outside_them():
    rounds = [
        (0.400, {"admit": 0.004, "model": 0.350, "store": 0.002, "settle": 0.004}, 0.340),
        (0.500, {"admit": 0.006, "model": 0.450, "store": 0.002, "settle": 0.002}, 0.440),
        (0.300, {"admit": 0.002, "model": 0.250, "store": 0.002, "settle": 0.006}, 0.240),
    ]
    assert stage_split(rounds) == "admit 4 ms, model 350 ms, store 2 ms, settle 4 ms, rest 40 ms"
