"""Prefill sizing for long prompts: a request's TTFT is its wait plus its own pass and KV transfer."""

from __future__ import annotations

import math

import pytest
from test_horizon_sizing import PERF, TRANSFER, Z99, simulated_p99

from planner_plugins.propose.queueing import normal_quantile, wait_at_quantile
from planner_plugins.propose.sizing import LengthMix, _service_s, prefill_engines, prefill_ttft_quantile_ms

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
