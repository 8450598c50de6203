"""Prefill sizing for long prompts: a request's TTFT is its wait plus its own pass (shared with the prompts
queued beside it, if it waited) and KV transfer."""

from __future__ import annotations

import math

import pytest
from test_horizon_sizing import PERF, TRANSFER, Z99, simulated_p99

from planner_plugins.propose import prefill_sizing
from planner_plugins.propose.prefill_sizing import (
    _OwnTime,
    _packed_tokens,
    _service_s,
    prefill_engines,
    prefill_ttft_quantile_ms,
)
from planner_plugins.propose.queueing import normal_quantile, wait_at_quantile
from planner_plugins.propose.sizing import LengthMix

LONG = LengthMix(16000, 120, 0.5, 0.5)


def test_on_poisson_arrivals_long_prompts_get_the_fewest_engines_the_simulation_says_meet_the_target() -> None:
    # Adding the wait's quantile to the prompt's read 1641 ms on 3 engines and asked for 4.
    engines = prefill_engines(PERF, 5, LONG, 1600, Z99, TRANSFER)
    assert simulated_p99(16000, 120, 5, engines, 8)[0] <= 1600 < simulated_p99(16000, 120, 5, engines - 1, 8)[0]


def test_the_ttft_quantile_of_poisson_arrivals_is_below_the_sum_of_the_waits_and_the_prompts() -> None:
    rate, engines = 5.0, 3
    quantile = 0.5 * math.erfc(-Z99 / math.sqrt(2))
    wait = wait_at_quantile(engines, rate, _service_s(PERF, rate, LONG, engines), quantile, (1 + 0.25) / 2) * 1000
    own = prefill_ttft_quantile_ms(PERF, 0.0, LONG, engines, Z99, TRANSFER)
    assert own < prefill_ttft_quantile_ms(PERF, rate, LONG, engines, Z99, TRANSFER) < wait + own


def test_on_bursty_arrivals_long_prompts_wait_behind_long_ones_the_sum_of_the_quantiles() -> None:
    rate, engines, bursty = 5.0, 4, LengthMix(16000, 120, 0.5, 0.5, burstiness=2.0)
    quantile = 0.5 * math.erfc(-Z99 / math.sqrt(2))
    service = _service_s(PERF, rate, bursty, engines)
    wait = wait_at_quantile(engines, rate, service, quantile, (2.0 + 0.25) / 2) * 1000
    own = prefill_ttft_quantile_ms(PERF, 0.0, bursty, engines, Z99, TRANSFER)
    assert prefill_ttft_quantile_ms(PERF, rate, bursty, engines, Z99, TRANSFER) == pytest.approx(wait + own)


def test_a_prompts_kv_transfer_to_decode_is_part_of_its_ttft() -> None:
    without, with_transfer = (prefill_ttft_quantile_ms(PERF, 0.0, LONG, 1, Z99, t) for t in (0.0, TRANSFER))
    assert with_transfer - without == pytest.approx(TRANSFER * LONG.isl_quantile(Z99))


def test_queued_prompts_fill_passes_whose_speed_is_below_the_profiles_peak() -> None:
    # 8k prompts run alone near the peak; queued, two share a pass of up to 16k tokens, a tenth slower.
    mix = LengthMix(8000, 200, 0.5, 0.5)
    assert _service_s(PERF, 1.0, mix, 8) < _service_s(PERF, 20.0, mix, 4)


def test_own_time_quantiles_follow_the_prompt_lengths_lognormal() -> None:
    # The p99 prompt alone on an idle engine: its length at the profile's long-prompt speed, plus the pass's fixed cost.
    idle = prefill_ttft_quantile_ms(PERF, 0.0, LONG, 1, Z99)
    long_speed = PERF.prefill.engine_throughput(PERF.prefill.max_isl)
    assert idle == pytest.approx(LONG.isl_quantile(Z99) / long_speed * 1000 + PERF.prefill.batch_ms(1.0))
    assert LONG.isl_quantile(normal_quantile(0.5)) < LONG.isl < LONG.isl_quantile(Z99)


def test_a_prompt_that_waited_is_done_when_the_pass_it_shares_is() -> None:
    mix = LengthMix(8000, 200, 0.5, 0.5)
    own = _OwnTime(PERF, mix, TRANSFER)
    alone, packed = own.points(), own.packed_points(PERF, 4000.0)
    assert all(p >= a for a, p in zip(alone, packed, strict=True))
    median = len(own.lengths) // 2
    length = own.lengths[median]
    shared = (PERF.prefill.batch_ms(length + 4000.0) + TRANSFER * length) / 1000
    assert packed[median] == pytest.approx(shared)


def test_a_prompt_longer_than_the_longest_pass_runs_alone_even_after_a_wait() -> None:
    own = _OwnTime(PERF, LONG, TRANSFER)
    longest = [i for i, length in enumerate(own.lengths) if length >= PERF.prefill.max_isl]
    assert longest
    alone, packed = own.points(), own.packed_points(PERF, 4000.0)
    assert all(packed[i] == alone[i] for i in longest)


def test_the_prompts_sharing_a_waiting_prompts_pass_grow_with_the_rate_up_to_the_longest_pass() -> None:
    mix = LengthMix(8000, 200, 0.5, 0.5)
    shared = [_packed_tokens(PERF, rate, mix) for rate in (0.0, 1.0, 3.0, 50.0)]
    assert shared[0] == 0.0
    assert shared[0] < shared[1] < shared[2] <= shared[3]
    assert shared[3] == pytest.approx(PERF.prefill.max_isl - mix.isl)


def test_near_capacity_four_engines_of_8k_prompts_read_within_a_tenth_of_the_simulated_p99() -> None:
    mix, rate, engines = LengthMix(8000, 200, 0.5, 0.5), 18.0, 4
    simulated = simulated_p99(8000, 200, rate, engines, 8)[0]
    assert prefill_ttft_quantile_ms(PERF, rate, mix, engines, Z99, TRANSFER) == pytest.approx(simulated, rel=0.1)


def test_without_the_shared_pass_four_engines_of_8k_prompts_read_low(monkeypatch: pytest.MonkeyPatch) -> None:
    mix, rate, engines = LengthMix(8000, 200, 0.5, 0.5), 18.0, 4
    monkeypatch.setattr(prefill_sizing, "_packed_tokens", lambda perf, per_engine_rate, mix: 0.0)
    simulated = simulated_p99(8000, 200, rate, engines, 8)[0]
    assert prefill_ttft_quantile_ms(PERF, rate, mix, engines, Z99, TRANSFER) < 0.9 * simulated
