"""--shard K/N: whole variants per runner, balanced, deterministic, covering the selection once."""

import pytest

from quantgate.run.shard import Shard, assign, case_cost


def test_shard_parsing_refuses_nonsense():
    assert Shard.parse("2/4") == Shard(2, 4)
    for bad in ("0/2", "3/2", "1", "a/b"):
        with pytest.raises(ValueError, match="--shard takes K/N"):
            Shard.parse(bad)


def test_dearest_variants_spread_first_and_the_result_is_deterministic():
    costs = [("a", 10.0), ("b", 9.0), ("c", 5.0), ("d", 4.0), ("e", 1.0)]
    placed = assign(costs, 2)
    assert placed == {"a": 1, "b": 2, "c": 2, "d": 1, "e": 1}  # loads 15 and 14
    assert assign(reversed(costs), 2) == placed


def test_limits_scale_the_cost_and_generation_weighs_more():
    assert case_cost("mmlu", 100) == 100.0
    assert case_cost("gsm8k", None) > case_cost("mmlu", 1319)


def test_every_benchmark_declares_its_split_size_and_cost():
    from quantgate.benchmarks import REGISTRY, get_benchmark

    undeclared = [task for task in REGISTRY if "test_items" not in vars(type(get_benchmark(task)))]
    assert undeclared == []
    assert case_cost("gsm8k", None) == 1319 * 20.0 and case_cost("gsm8k", 50) == 50 * 20.0
