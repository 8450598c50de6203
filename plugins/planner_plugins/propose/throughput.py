"""builtin_throughput_propose: size prefill and decode pools from the predicted load and the perf model."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace

from planner_sdk import (
    ContextField,
    HoldPolicy,
    PluginSpec,
    ProposePlugin,
    ProposeResult,
    Role,
    Stage,
    TickContext,
    TrafficObservation,
)

from ..perf import PerfModel
from ..perf.learnt import EngineModelLearner
from .backlog import (
    backlogged_engines,
    draining_requests,
    overflow_tokens,
    queued_prompt_tokens,
    rise_overflow_tokens,
    undrained_requests,
)
from .burstiness import Burstiness, bursty_share
from .decode_context import DecodeContext
from .dynamo_sizing import MIN_REQUESTS_FOR_CORRECTION, Corrections, dynamo_decode, dynamo_prefill
from .forecast_errors import ForecastErrors
from .queueing import normal_quantile
from .sizing import (
    LengthMix,
    agg_engines,
    agg_latency_quantiles_ms,
    decode_engines,
    decode_itl_quantile_ms,
    prefill_engines,
    prefill_ttft_quantile_ms,
)
from .stabilisation import ScaleDownWindow
from .startup import StartupEstimate

__all__ = ["SizingSettings", "ThroughputPropose"]

MAX_RISE = 1.5  # the most a rise is taken to average over a start-up, times the rate now (see `_rising_rate`)


@dataclass(frozen=True)
class SizingSettings:
    interval_s: float
    ttft_ms: float
    itl_ms: float
    prefill_gpus: int = 1
    decode_gpus: int = 1
    min_endpoint: Mapping[Role, int] | None = None
    sizing: str = "queue_aware"  # or "dynamo": the mean-rate formula
    quantile: float = 0.99  # share of requests that must meet TTFT and ITL
    hysteresis: float = 0.1  # on bursty arrivals, shed only when the smaller pool meets targets this much tighter
    kv_transfer_ms_per_1k_tokens: float = 0.0  # a prompt's KV cache on its way to decode, part of its TTFT
    startup_s: float = 120.0  # from asking for an engine to it serving, until starts are observed
    refine_startup: bool = True  # False where the start-up is known (set by the user, or simulated)
    length_cv: float = 1.0  # spread of input and output lengths when the traffic does not say
    correction: bool = True
    scale_down_stabilization_s: float | None = None  # largest target of this trailing window; None: start-up + interval
    default_isl: float = 3000.0
    default_osl: float = 150.0


class ThroughputPropose(ProposePlugin):
    """Turns predictions into replica targets meeting `ttft_ms` and `itl_ms` at the fewest GPUs.

    `sizing="dynamo"` is Dynamo's mean-rate formula for the next interval. `sizing="queue_aware"`
    sizes for `quantile` of requests with the batching-aware model of `sizing.py`, and for when the
    decision takes effect: an engine asked for now serves a start-up later, so the fleet is sized
    for the forecast over the intervals from then until the next decision's engines could serve,
    and an engine is shed only if no interval before then needs it. A prefill backlog counts only
    for what the engines already serving or starting will not drain before new ones could start.
    """

    perf: PerfModel  # the engines' speed: given, or the learner's once it is trustworthy

    def __init__(
        self, perf: PerfModel | EngineModelLearner, settings: SizingSettings, roles: tuple[Role, ...], floor: bool
    ) -> None:
        self.spec = PluginSpec(
            id="builtin_throughput_propose",
            stage=Stage.PROPOSE,
            execution_interval_seconds=settings.interval_s,
            needs=frozenset(
                {ContextField.PREDICTIONS, ContextField.REPLICAS, ContextField.TRAFFIC, ContextField.WORKERS}
            ),
            requires=frozenset({ContextField.PREDICTIONS}),
            hold=HoldPolicy.HOLD_LAST if floor else HoldPolicy.NO_OPINION,
        )
        self.learner = perf if isinstance(perf, EngineModelLearner) else None
        if isinstance(perf, PerfModel):
            self.perf = perf
        self.settings, self.roles, self.floor = settings, roles, floor
        self.corrections = Corrections()  # Dynamo's observed/modelled latency factors (sizing="dynamo")
        self.startup = StartupEstimate(settings.startup_s, settings.refine_startup)
        self.z = normal_quantile(settings.quantile)
        self.isl_cv, self.osl_cv = settings.length_cv, settings.length_cv  # until the traffic says
        self.arrivals = Burstiness()
        self.decode_context = DecodeContext()
        self._spread_seen = False
        self.errors = ForecastErrors(settings.interval_s)
        self.margin = 0.0  # requests per interval the last decision added to the forecast for its misses
        self.planned: tuple[float, float, float, float] | None = None  # (decided at, count, ISL, OSL) sized for
        self.window = ScaleDownWindow()

    def _mix(self, isl: float, osl: float) -> LengthMix:
        return LengthMix(isl, osl, self.isl_cv, self.osl_cv, self.burstiness)

    @property
    def _transfer_ms_per_token(self) -> float:
        return self.settings.kv_transfer_ms_per_1k_tokens / 1000.0

    @property
    def burstiness(self) -> float:
        return self.arrivals.value

    def horizon(self) -> tuple[int, int]:
        """(first, last): the intervals ahead (1 = the next) from when an engine asked for now serves
        to when one asked for at the next decision would."""
        interval, startup = self.settings.interval_s, self.startup.seconds
        first = int(startup // interval) + 1
        return first, max(first, math.ceil((startup + interval) / interval - 1e-9))

    def _stabilised(
        self, now: float, wanted: dict[Role, int], current: Mapping[Role, int], kept: Mapping[Role, int] | None = None
    ) -> dict[Role, int]:
        """`wanted` held by the scale-down stabilisation window (see `ScaleDownWindow`)."""
        window = self.settings.scale_down_stabilization_s
        memory = window or 0.0
        if window is None:
            # An engine shed now could not be back before a start-up and the next decision: hold what
            # the recent past needed that long, or load that swings faster than that is caught cold.
            # Unless the forecasts have lately come true: then they see the swing coming, and the
            # horizon keeps what it needs (one interval still spaces scale-downs).
            memory = self.startup.seconds + self.settings.interval_s
            trusted = self.arrivals.measured and self.errors.trusted(self.burstiness)
            window = self.settings.interval_s if trusted else memory
        return self.window.hold(now, wanted, current, window, memory, kept)

    def size(self, num: float, isl: float, osl: float, tighten: float = 1.0) -> dict[Role, int]:
        """Replica targets for `num` requests in one interval, before min endpoints and safety."""
        s, perf = self.settings, self.perf
        if s.sizing == "queue_aware":
            rate, mix = num / s.interval_s, self._mix(isl, osl)
            sized = self._queue_aware(rate, mix, tighten)
            peak = self.arrivals.peak_rate
            if mix.burstiness > 1.0 and peak is not None:
                # Never more than the busiest slice seen (or the rate sized for, if higher) needs as
                # Poisson arrivals: the dispersion is not counted twice, as a rate and as bunching. At
                # the targets themselves, even for the hysteresis's tighter sizing: what the busiest
                # slice needs is held anyway (tightened, a burst's 3P 5D stayed where 2P 4D served it).
                ceiling = self._queue_aware(max(rate, peak), replace(mix, burstiness=1.0), 1.0)
                sized = {role: min(n, ceiling[role]) for role, n in sized.items()}
            return sized
        itl_target = s.itl_ms / self.corrections.decode
        prefill = dynamo_prefill(perf, num, isl, s.interval_s, self.corrections.prefill, s.prefill_gpus)
        decode = dynamo_decode(perf, num, isl, osl, s.interval_s, itl_target, s.decode_gpus)
        if Role.AGG in self.roles:
            # One engine does both: time-share its capacity between the two phases.
            prefill_share = num * isl / s.interval_s / perf.prefill.throughput_per_gpu(isl) if num else 0.0
            point = perf.decode.best_operating_point(itl_target, isl + osl / 2)
            decode_share = num * osl / s.interval_s / point.throughput_per_gpu if num else 0.0
            return {Role.AGG: math.ceil((prefill_share + decode_share) / s.decode_gpus)}
        return {role: n for role, n in ((Role.PREFILL, prefill), (Role.DECODE, decode)) if role in self.roles}

    def _queue_aware(self, rate: float, mix: LengthMix, tighten: float) -> dict[Role, int]:
        """Engines as the quantile model measures them (its latencies are a whole engine's, however many GPUs)."""
        s, perf = self.settings, self.perf
        if Role.AGG in self.roles:
            return {Role.AGG: agg_engines(perf, rate, mix, s.ttft_ms * tighten, s.itl_ms * tighten, self.z)}
        transfer = self._transfer_ms_per_token
        sized = {
            Role.PREFILL: prefill_engines(perf, rate, mix, s.ttft_ms * tighten, self.z, transfer),
            Role.DECODE: decode_engines(perf, rate, self.decode_context.mix(mix), s.itl_ms * tighten, self.z),
        }
        return {role: n for role, n in sized.items() if role in self.roles}

    def _rising_rate(self, forecast: list[float], rate: float, now_rate: float) -> float:
        """The mean arrival rate, at least `rate` (the forecast's next), from now until engines asked
        for now serve, as the forecast with its margin for misses has it: the load the engines serving
        and starting carry before they can work off a backlog.

        - The margin counts in full: on a rise, forecasts lag it by about what they lagged the last
          ones (periodic 30 min at twice the rate, SLA 91.3 -> 96.7 %).
        - The floor held at a new level does not: a count far above the last may be a burst that has
          passed (on-off bursts asked for 4P 8D as a burst ended).
        - At most `MAX_RISE` times `now_rate`: the margin lets a jump at most double the load by the
          horizon (beyond, it is as likely a burst), and a steady climb to that averages half of it
          over the start-up. (Up to the doubling, periodic 5 min at half its rate paid 1.14 -> 1.16 x
          the oracle at the same SLA, for engines that came as its first peak ended.)"""
        first, _ = self.horizon()
        ahead = self._margined(forecast)[: max(1, first - 1)]
        return max(rate, min(sum(ahead) / len(ahead) / self.settings.interval_s, MAX_RISE * now_rate))

    def _margined(self, path: list[float]) -> list[float]:
        """`path` with the margin for forecast misses (`ForecastErrors.margined`). On bursty arrivals the
        margin stands for bursts, and those seen peaked at the busiest slice: it lifts the path that
        far, not beyond (the forecast itself may go beyond). 90 s bursts of long prompts every 10 min,
        forecast with their margin at 28 requests/s where the busiest slice held 24, kept 6P 3D where
        5P 2D served them (1.62 -> 1.60 x the oracle; 45 s bursts of chat every 7.5 min 1.74 -> 1.67)."""
        share = self._bursty_share()
        margined = self.errors.margined(path, self.margin, share)
        peak = self.arrivals.peak_rate
        if peak is None:
            return margined
        busiest = peak * self.settings.interval_s
        return [m - share * max(0.0, m - max(n, busiest)) for n, m in zip(path, margined, strict=True)]

    def _undrained(self, ctx: TickContext, backlog: float, rate: float, isl: float) -> float:
        prefill = (ctx.replicas or {}).get(Role.PREFILL)
        return undrained_requests(self.perf, prefill, backlog, rate, isl, self.startup.seconds)

    def _bursty_share(self) -> float:
        """`bursty_share` of the arrivals read; all bursty until a window has said (a traffic source
        without `arrival_dispersion` is not taken for Poisson, and keeps the scale-down rules made
        for bursts)."""
        return bursty_share(self.burstiness) if self.arrivals.measured else 1.0

    def hysteresis(self) -> float:
        """How much tighter than the targets a smaller pool must meet them before engines are shed:
        the configured share on bursty arrivals, none on Poisson ones, blended between. Poisson
        noise is the quantile model's to absorb, and sized to it a pool does not flap (the
        stabilisation window already spaces scale-downs); bursts it does not see, and a pool at
        its integer boundary would shed and regrow with them (on the bursty shared traces, none
        cost them 2 to 4 points of SLA; on smooth ones it cost 0.03 to 0.07 x the oracle)."""
        return self.settings.hysteresis * self._bursty_share()

    def _horizon_targets(self, ctx: TickContext, num: float, isl: float, osl: float,
                         current: Mapping[Role, int]) -> tuple[dict[Role, int], dict[Role, int]]:  # fmt: skip
        """The decision's targets, and what of them the stabilisation window keeps."""
        s = self.settings
        first, last = self.horizon()
        forecast = ctx.predictions.requests_ahead(last) or [num]
        self.errors.remember(ctx.now, forecast)
        # Unread arrivals get the floor but keep their misses: they err towards capacity both ways.
        trust = 1.0 - bursty_share(self.burstiness)
        path = self.errors.at_least_the_new_level(ctx.now, forecast, trust, self._bursty_share())
        path = self.errors.as_the_last_rise(path, trust)
        level = self.errors.last_count
        rise = forecast[min(first, len(forecast)) - 1] - level if level is not None else 0.0
        self.margin = self.errors.margin(self.burstiness, rise)
        # Unread arrivals keep the whole margin, as bursty ones do: they err towards capacity.
        path = self._margined(path)
        backlog, rate = queued_prompt_tokens(ctx.observations.workers), num / s.interval_s
        draining = draining_requests(backlog, isl, s.interval_s, self.startup.seconds)
        # A rise counts from the rate now: the last count's, where forecasts have yet to reach it.
        now_rate = max(rate, (level or 0.0) / s.interval_s)
        rising = self._rising_rate(forecast, rate, now_rate)
        prefill = (ctx.replicas or {}).get(Role.PREFILL)
        backlog += rise_overflow_tokens(self.perf, prefill, now_rate, rising, isl, self.startup.seconds)
        path = [n + draining for n in path[: first - 1]] + path[first - 1 :]
        arrivals = self._targets_for(path, first, current, isl, osl)
        undrained = self._undrained(ctx, backlog, rising, isl)
        path[first - 1] += undrained
        self.planned = (ctx.now, max(path[first - 1 :]), isl, osl)
        targets = self._targets_for(path, first, current, isl, osl) if undrained > 0 else dict(arrivals)
        if Role.PREFILL in targets and (busy := backlogged_engines(self.perf, ctx.observations.workers, s.ttft_ms)):
            # New prompts go to the least loaded engines, so while some work off a backlog the rest carry
            # the arrivals alone: shed none of those until it has drained.
            carrying = self.size(path[0], isl, osl)[Role.PREFILL]
            targets[Role.PREFILL] = max(targets[Role.PREFILL], min(current.get(Role.PREFILL, 0), carrying + busy))
        return targets, self._kept_by_window(arrivals, targets)

    def _kept_by_window(self, arrivals: Mapping[Role, int], wanted: Mapping[Role, int]) -> dict[Role, int]:
        """What the stabilisation window remembers of a decision's targets: on smooth arrivals, what
        the arrivals alone need. Engines asked for to work off a backlog are held while it lasts
        (each decision counts what is still queued, and keeps the engines working it off), not a
        window beyond it: held, a fourfold step cost 1.09 -> 1.06 x the oracle (tight) and
        1.15 -> 1.13 (loose) at the same SLA. Bursty arrivals' backlogs come back with their
        bursts: they keep all of it (Mooncake conversation x5 lost 12 requests without)."""
        share = self._bursty_share()
        return {role: n + math.ceil(share * (wanted[role] - n)) for role, n in arrivals.items()}

    def _targets_for(
        self, path: list[float], first: int, current: Mapping[Role, int], isl: float, osl: float
    ) -> dict[Role, int]:
        """Engines for the intervals of `path` from `first` on, and none shed that an earlier one needs."""
        needs = [self.size(n, isl, osl) for n in path]
        hysteresis = self.hysteresis()
        targets: dict[Role, int] = {}
        for role in needs[0]:
            arriving = max(need[role] for need in needs[first - 1 :])
            still_needed = max(need[role] for need in needs)
            now = current.get(role, 0)
            target = max(arriving, min(now, still_needed))
            if target < now and hysteresis > 0:
                # Shed only what the horizon would not need at targets `hysteresis` tighter: no flapping
                # at an integer boundary.
                tight = max(self.size(n, isl, osl, 1 - hysteresis)[role] for n in path)
                target = max(target, min(now, tight))
            targets[role] = target
        return targets

    def short_of(self, ctx: TickContext, count: float, slack: float) -> bool:
        """Whether the fleet asked for (serving or starting) is short of what `count` requests per
        interval need at targets `slack` times looser, at the last decision's lengths."""
        assert self.planned is not None
        replicas = ctx.replicas or {}
        sized = self.size(count, self.planned[2], self.planned[3], slack)
        return any(n > (replicas[role].expected if role in replicas else 0) for role, n in sized.items())

    def size_for_surge(self, ctx: TickContext, count: float) -> dict[Role, int]:
        """Between decisions: at least the fleet `count` requests per interval need, at the last
        decision's lengths, with the prefill backlog there will be when engines asked for now serve
        (the engines serving now fall further behind until then); held by the stabilisation window
        as a decision's targets are, so the next decision does not shed them at once."""
        assert self.planned is not None
        _, planned, isl, osl = self.planned
        self.planned = (self.planned[0], max(planned, count), isl, osl)
        rate = count / self.settings.interval_s
        prefill = (ctx.replicas or {}).get(Role.PREFILL)
        backlog = queued_prompt_tokens(ctx.observations.workers)
        backlog += overflow_tokens(self.perf, prefill, rate * isl, self.startup.seconds)
        sized = self.size(count + self._undrained(ctx, backlog, rate, isl), isl, osl)
        current = {role: c.expected for role, c in (ctx.replicas or {}).items()}
        wanted = {r: max(n, current.get(r, 0)) for r, n in sized.items()}
        wanted = self._stabilised(ctx.now, wanted, current, self._kept_by_window(self.size(count, isl, osl), wanted))
        for role, n in wanted.items():
            if n > current.get(role, 0):
                self.startup.asked(role, ctx.now)
        return wanted

    def _learn_spread(self, traffic: TrafficObservation) -> None:
        """Length spread and arrival burstiness from one busy window."""
        # The spread of lengths moves slowly: blend windows, but the first replaces the guess.
        blend = 0.5 if self._spread_seen else 1.0
        self._spread_seen = True
        if traffic.isl_cv is not None:
            self.isl_cv += blend * (min(traffic.isl_cv, 5.0) - self.isl_cv)
        if traffic.osl_cv is not None:
            self.osl_cv += blend * (min(traffic.osl_cv, 5.0) - self.osl_cv)
        if traffic.arrival_dispersion is not None:
            self.arrivals.observe(traffic.arrival_dispersion, traffic.window_seconds, traffic.num_requests,
                                  traffic.busiest_slice_requests, traffic.within_slice_dispersion)  # fmt: skip

    def propose(self, ctx: TickContext) -> ProposeResult:
        s = self.settings
        if self.learner is not None:
            model = self.learner.model()
            if model is None:  # sizing with a guess would cost GPUs or the SLA: hold the fleet
                return ProposeResult.accept(f"model_not_ready: {self.learner.status}")
            self.perf = model
        predictions = ctx.predictions
        if predictions.num_requests is None:
            return ProposeResult.accept("no request forecast yet")
        num = predictions.num_requests
        isl = predictions.isl or s.default_isl
        osl = predictions.osl or s.default_osl
        replicas = ctx.replicas or {}
        self.startup.update(ctx.now, replicas)
        traffic = ctx.observations.traffic
        if traffic is not None and s.correction and s.sizing == "dynamo":
            self.corrections.update(self.perf, traffic, replicas)
        if traffic is not None and traffic.num_requests is not None and traffic.window_seconds >= s.interval_s / 2:
            first, last = self.horizon()
            count = traffic.num_requests * s.interval_s / traffic.window_seconds
            self.errors.observe(ctx.now, count, first, last)
        if traffic is not None and (traffic.num_requests or 0) >= MIN_REQUESTS_FOR_CORRECTION:
            self._learn_spread(traffic)
            if traffic.mean_isl and traffic.mean_osl and ctx.observations.workers:
                self.decode_context.observe(ctx.observations.workers, self._mix(traffic.mean_isl, traffic.mean_osl))
        current = {role: count.expected for role, count in replicas.items()}
        kept = None
        if s.sizing == "queue_aware":
            wanted, kept = self._horizon_targets(ctx, num, isl, osl, current)
        else:
            wanted = self.size(num, isl, osl)
        wanted = self._stabilised(ctx.now, wanted, current, kept)
        # The change cap and the GPU budget are safety's (recorded as cuts); the floor is applied
        # here too so a proposal never reads below what the deployment must keep.
        targets = {role: max(n, (s.min_endpoint or {}).get(role, 0)) for role, n in wanted.items()}
        for role, n in targets.items():
            if n > current.get(role, 0):
                self.startup.asked(role, ctx.now)
        first, last = self.horizon()
        reason = (
            f"{s.sizing}: {num:.0f} req/{s.interval_s:g}s, ISL {isl:.0f}, OSL {osl:.0f}; sized for intervals "
            f"{first}-{last} ahead (start-up {self.startup.seconds:.0f} s) with "
            f"{self.margin:.0f} more for forecast misses"
        )
        result = ProposeResult.at_least(targets, reason) if self.floor else ProposeResult.set(targets, reason=reason)
        return result.with_estimates(*self.estimate(num, isl, osl, targets))

    def estimate(
        self, num: float, isl: float, osl: float, targets: Mapping[Role, int]
    ) -> tuple[float | None, float | None]:
        """TTFT and ITL (ms, at the sizing quantile) the proposed fleet should give `num` requests per
        interval; None where the model does not say (Dynamo's formula) or the fleet cannot keep up."""
        if self.settings.sizing != "queue_aware":
            return None, None
        mix = self._mix(isl, osl)
        rate = num / self.settings.interval_s
        if Role.AGG in targets:
            ttft, itl = agg_latency_quantiles_ms(self.perf, rate, mix, targets[Role.AGG], self.z)
        else:
            prefill = targets.get(Role.PREFILL, 0)
            ttft = prefill_ttft_quantile_ms(self.perf, rate, mix, prefill, self.z, self._transfer_ms_per_token)
            decode_mix = self.decode_context.mix(mix)
            itl = decode_itl_quantile_ms(self.perf, rate, decode_mix, targets.get(Role.DECODE, 0), self.z)
        return (ttft if math.isfinite(ttft) else None), (itl if math.isfinite(itl) else None)
