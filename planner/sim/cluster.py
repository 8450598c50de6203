"""A discrete-event simulation of a disaggregated deployment: prefill and decode engines from a profile.

Prefill engines take requests from their own FIFO queue in chunked batches (up to a token
budget per pass, time from the profile's TTFT curve). A finished prompt's KV cache moves to a
decode engine (transfer time per token); decode engines run continuous batches whose step time
is the profile's ITL at their current KV usage and mean context, admitting a request only
while its input and output fit in the KV cache. Routing joins the least-loaded ready engine.

Engines start `startup_delay_s` after they are asked for; a removed engine stops taking work
and leaves once it has drained. GPU time counts from the request for an engine until it is gone.
Time only moves when `advance_to` is called, so the simulation runs as fast as its events.

The simulation streams: requests are taken from the trace as they arrive, a finished request
leaves only its TTFT and ITL behind (`outcomes`), logs keep hours, and engines that are gone
leave only their GPU time, so a run of days holds what is in flight, not what has been.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from planner_plugins.perf import PerfModel
from planner_plugins.traces import TraceRequest
from planner_sdk import ReplicaCount, Role, WorkerLoad

from ..errors import PlannerError
from .engines import ArrivalLog, DecodeEngine, Engine, PrefillEngine, RequestOutcomes, SimLog, SimRequest
from .score import LatencyScore, score_outcomes

__all__ = ["SimSettings", "SimCluster"]

_PREFILL_DONE, _DECODE_ARRIVE, _DECODE_DONE, _READY = 0, 1, 2, 3
_E = TypeVar("_E", bound=Engine)
FORGET_AFTER_S = 4 * 3600.0  # as long as the latency logs keep their values
RECENT_WINDOW_S = 30.0  # what an engine's "recent" latency covers, like a rate() over 30 s


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000.0


@dataclass(frozen=True)
class SimSettings:
    startup_delay_s: float = 120.0
    prefill_chunk_tokens: int = 16384
    kv_transfer_ms_per_1k_tokens: float = 2.4  # ~128 KiB of KV per token over ~50 GB/s
    max_decode_batch: int = 512
    prefill_gpus_per_engine: int = 1
    decode_gpus_per_engine: int = 1


def _progress_tolerance(progress: float) -> float:
    """How near its last step a request counts as done: a few units in the last place of the
    engine's step count (which grows for as long as the engine runs), never less than 1e-9."""
    return max(1e-9, 8.0 * math.ulp(progress))


class SimCluster:
    """The simulated deployment. Feed it a trace; move time with `advance_to`."""

    def __init__(
        self,
        perf: PerfModel,
        requests: Iterable[TraceRequest],
        initial: Mapping[Role, int],
        settings: SimSettings = SimSettings(),
    ) -> None:
        if set(initial) != {Role.PREFILL, Role.DECODE}:
            raise PlannerError("the simulator models disaggregated deployments: give prefill and decode counts")
        self.perf = perf
        self.settings = settings
        self.now = 0.0
        self._trace = iter(requests)  # in arrival order
        self._upcoming: TraceRequest | None = next(self._trace, None)
        self.last_arrival = 0.0
        self._events: list[tuple[float, int, int, object, int]] = []
        self._seq = itertools.count()
        self.prefill: list[PrefillEngine] = []
        self.decode: list[DecodeEngine] = []
        self._unrouted_prefill: deque[SimRequest] = deque()
        self._unrouted_decode: deque[SimRequest] = deque()
        self.arrived = 0
        self.finished = 0
        self.log = SimLog()
        self.arrivals = ArrivalLog()  # what the frontend counted coming in
        self.outcomes = RequestOutcomes()  # what it measured going out
        self._names = {Role.PREFILL: itertools.count(), Role.DECODE: itertools.count()}
        self._gone_gpu_seconds = 0.0  # of engines gone and forgotten
        self._forgotten_until = 0.0  # the latest time one of them was gone
        self.scale_actions = 0
        self.scale_actions_by_role = {Role.PREFILL: 0, Role.DECODE: 0}
        self.on_complete: list[Callable[[SimRequest], None]] = []  # e.g. the frontend's /metrics
        for role, n in initial.items():
            for _ in range(n):
                self._add_engine(role, ready_at=0.0)

    # -- time ---------------------------------------------------------------------------------

    def advance_to(self, t: float) -> None:
        """Process every arrival and event up to time `t` (inclusive)."""
        events = self._events
        while True:
            next_event = events[0][0] if events else math.inf
            upcoming = self._upcoming
            next_arrival = upcoming.arrival if upcoming is not None else math.inf
            if min(next_event, next_arrival) > t:
                break
            if upcoming is not None and next_arrival <= next_event:
                self.now = self.last_arrival = next_arrival
                self._upcoming = next(self._trace, None)
                self.arrived += 1
                self.arrivals.add(next_arrival, upcoming.isl, upcoming.osl)
                self._route_prefill(SimRequest(next_arrival, upcoming.isl, upcoming.osl))
                continue
            when, _, kind, obj, version = heapq.heappop(events)
            self.now = when
            if kind == _PREFILL_DONE:
                self._prefill_done(obj)  # type: ignore[arg-type]
            elif kind == _DECODE_ARRIVE:
                self._route_decode(obj)  # type: ignore[arg-type]
            elif kind == _DECODE_DONE:
                engine: DecodeEngine = obj  # type: ignore[assignment]
                if version == engine.version:
                    self._decode_step(engine)
            else:
                self._engine_ready(obj)  # type: ignore[arg-type]
        self.now = max(self.now, t)

    def run_until_drained(self, limit_s: float = 86_400.0) -> None:
        """Let every request that has arrived (and will arrive) finish, up to `limit_s` past the last arrival."""
        while self._upcoming is not None:
            self.advance_to(self._upcoming.arrival)
        horizon = self.last_arrival + limit_s
        while self._events and self._events[0][0] <= horizon:
            self.advance_to(self._events[0][0])

    def _push(self, when: float, kind: int, obj: object, version: int = 0) -> None:
        heapq.heappush(self._events, (when, next(self._seq), kind, obj, version))

    # -- prefill ------------------------------------------------------------------------------

    def _route_prefill(self, request: SimRequest) -> None:
        best: PrefillEngine | None = None
        for engine in self.prefill:
            if engine.is_ready(self.now) and (best is None or engine.load < best.load):
                best = engine
        if best is None:
            self._unrouted_prefill.append(request)
            return
        best.queue.append(request)
        best.queued_tokens += request.isl
        if not best.batch:
            self._start_prefill(best)

    def _start_prefill(self, engine: PrefillEngine) -> None:
        budget = self.settings.prefill_chunk_tokens
        batch: list[SimRequest] = []
        tokens = 0
        queue = engine.queue
        while queue and (not batch or tokens + queue[0].isl <= budget):
            request = queue.popleft()
            batch.append(request)
            tokens += request.isl
        engine.queued_tokens -= tokens
        engine.batch, engine.batch_tokens = batch, tokens
        engine.batch_ms = self.perf.prefill.batch_ms(tokens)
        self._push(self.now + engine.batch_ms / 1000.0, _PREFILL_DONE, engine)

    def _prefill_done(self, engine: PrefillEngine) -> None:
        per_token = self.settings.kv_transfer_ms_per_1k_tokens / 1_000_000.0
        for request in engine.batch:
            request.first_token = self.now + request.isl * per_token
            self.log.ttft.add(self.now, request.first_token - request.arrival)
            engine.ttft.add(self.now, request.first_token - request.arrival)
            self._push(request.first_token, _DECODE_ARRIVE, request)
        engine.batch, engine.batch_tokens = [], 0
        if engine.queue:
            self._start_prefill(engine)
        elif engine.draining:
            engine.gone_at = self.now

    # -- decode -------------------------------------------------------------------------------

    def _route_decode(self, request: SimRequest) -> None:
        best: DecodeEngine | None = None
        for engine in self.decode:
            if engine.is_ready(self.now) and (best is None or engine.load < best.load):
                best = engine
        if best is None:
            self._unrouted_decode.append(request)
            return
        self._sync(best)
        best.waiting.append(request)
        best.waiting_tokens += request.isl + request.osl
        self._admit(best)
        self._reschedule(best)

    def _sync(self, engine: DecodeEngine) -> None:
        """Bring the engine's decode progress up to now."""
        if engine.count:
            engine.progress += (self.now - engine.last_t) / engine.itl_s
        engine.last_t = self.now

    def _admit(self, engine: DecodeEngine) -> None:
        capacity = self.perf.decode.max_kv_tokens
        limit = self.settings.max_decode_batch
        waiting = engine.waiting
        while waiting and engine.count < limit:
            request = waiting[0]
            need = request.isl + request.osl
            if engine.count and engine.reserved + need > capacity:
                break  # wait for room (a lone request larger than the cache still runs)
            waiting.popleft()
            engine.waiting_tokens -= need
            if request.osl <= 1:
                request.finish = self.now
                self._complete(request)
                continue
            engine.reserved += need
            engine.count += 1
            engine.sum_isl += request.isl
            engine.sum_start += engine.progress
            request.target_progress = engine.progress + (request.osl - 1)
            heapq.heappush(engine.finishing, (request.target_progress, next(self._seq), request))

    def _reschedule(self, engine: DecodeEngine) -> None:
        engine.version += 1
        if not engine.count:
            if engine.draining and not engine.waiting:
                engine.gone_at = self.now
            return
        used = engine.kv_used()
        model = self.perf.decode
        engine.itl_s = model.itl_ms(used / model.max_kv_tokens, used / engine.count) / 1000.0
        steps = engine.finishing[0][0] - engine.progress
        when = self.now
        if steps > _progress_tolerance(engine.progress):
            # Days into a run, a few steps' time can fall below the clock's resolution: always move
            # time on, or the engine steps at the same instant forever without progressing.
            when = max(self.now + steps * engine.itl_s, math.nextafter(self.now, math.inf))
        self._push(when, _DECODE_DONE, engine, engine.version)

    def _decode_step(self, engine: DecodeEngine) -> None:
        self._sync(engine)
        finishing = engine.finishing
        while finishing and finishing[0][0] <= engine.progress + _progress_tolerance(engine.progress):
            _, _, request = heapq.heappop(finishing)
            request.finish = self.now
            engine.count -= 1
            engine.reserved -= request.isl + request.osl
            engine.sum_isl -= request.isl
            engine.sum_start -= request.target_progress - (request.osl - 1)
            self._complete(request)
        self._admit(engine)
        self._reschedule(engine)

    def _complete(self, request: SimRequest) -> None:
        self.finished += 1
        self.outcomes.add(request)
        if request.osl > 1:
            self.log.itl.add(self.now, request.itl_s)
        for listener in self.on_complete:
            listener(request)

    def score(self, ttft_ms: float, itl_ms: float, *, finished_only: bool = False) -> LatencyScore:
        """Latency against the targets over every request that has arrived (one not finished is a
        miss on both), or over the finished ones only."""
        requests = len(self.outcomes) if finished_only else self.arrived
        return score_outcomes(self.outcomes, requests, ttft_ms, itl_ms)

    def awaiting_first_token(self) -> int:
        """Requests that have arrived and not yet had their prompt processed."""
        prefilling = sum(len(e.queue) + len(e.batch) for e in self.prefill)
        return len(self._unrouted_prefill) + prefilling

    # -- scaling ------------------------------------------------------------------------------

    def _add_engine(self, role: Role, ready_at: float) -> None:
        engine: Engine
        name = f"{role.value}-{next(self._names[role])}"
        if role is Role.PREFILL:
            engine = prefill = PrefillEngine(name, self.now, ready_at)
            self.prefill.append(prefill)
        else:
            engine = decode = DecodeEngine(name, self.now, ready_at)
            self.decode.append(decode)
        if ready_at > self.now:
            self._push(ready_at, _READY, engine)

    def _engine_ready(self, engine: Engine) -> None:
        if engine.gone_at is not None or engine.draining:
            return
        backlog = self._unrouted_prefill if isinstance(engine, PrefillEngine) else self._unrouted_decode
        route = self._route_prefill if isinstance(engine, PrefillEngine) else self._route_decode
        while backlog:
            route(backlog.popleft())

    def active_prefill(self) -> list[PrefillEngine]:
        return [e for e in self.prefill if not e.draining and e.gone_at is None]

    def active_decode(self) -> list[DecodeEngine]:
        return [e for e in self.decode if not e.draining and e.gone_at is None]

    def active(self, role: Role) -> list[Engine]:
        """Engines of the role that count as expected: starting or ready, not draining."""
        return list(self.active_prefill() if role is Role.PREFILL else self.active_decode())

    def set_replicas(self, role: Role, target: int) -> None:
        """Scale a role to `target` engines at the current time."""
        active = self.active(role)
        if target == len(active):
            return
        self._forget_gone_engines()
        self.scale_actions += 1
        self.scale_actions_by_role[role] += 1
        if target > len(active):
            for _ in range(target - len(active)):
                self._add_engine(role, self.now + self.settings.startup_delay_s)
            return
        # Remove engines still starting first (newest first), then the least loaded ready ones.
        starting = sorted((e for e in active if e.ready_at > self.now), key=lambda e: -e.requested_at)
        ready = sorted((e for e in active if e.ready_at <= self.now), key=lambda e: e.load)
        for engine in (starting + ready)[: len(active) - target]:
            engine.draining = True
            if engine.ready_at > self.now or engine.idle:
                engine.gone_at = self.now

    def replicas(self) -> dict[Role, ReplicaCount]:
        counts = {}
        for role in (Role.PREFILL, Role.DECODE):
            active = self.active(role)
            counts[role] = ReplicaCount(ready=sum(1 for e in active if e.ready_at <= self.now), expected=len(active))
        return counts

    def _forget_gone_engines(self) -> None:
        """Fold the GPU time of engines gone hours ago into one sum and let go of them (and their logs):
        GPU time until any moment of the last FORGET_AFTER_S stays exact."""
        self.prefill = self._forget(self.prefill, self.settings.prefill_gpus_per_engine)
        self.decode = self._forget(self.decode, self.settings.decode_gpus_per_engine)

    def _forget(self, engines: list[_E], gpus: int) -> list[_E]:
        kept: list[_E] = []
        for engine in engines:
            gone = engine.gone_at
            if gone is not None and gone <= self.now - FORGET_AFTER_S:
                self._gone_gpu_seconds += max(0.0, gone - engine.requested_at) * gpus
                self._forgotten_until = max(self._forgotten_until, gone)
            else:
                kept.append(engine)
        return kept

    def gpu_seconds(self, until: float | None = None) -> float:
        """GPU time from the start until `until` (default now): no earlier than the last engine
        the cluster has forgotten, whose time only counts whole."""
        end = self.now if until is None else until
        if end < self._forgotten_until:
            raise PlannerError(
                f"GPU time until {end:g} s is no longer known: engines gone at {self._forgotten_until:g} s are summed"
            )
        total = self._gone_gpu_seconds
        sized: list[tuple[list[Engine], int]] = [
            (list(self.prefill), self.settings.prefill_gpus_per_engine),
            (list(self.decode), self.settings.decode_gpus_per_engine),
        ]
        for engines, gpus in sized:
            for engine in engines:
                gone = engine.gone_at if engine.gone_at is not None else end
                total += max(0.0, min(gone, end) - engine.requested_at) * gpus
        return total

    def worker_loads(self) -> tuple[WorkerLoad, ...]:
        """Per-engine load as a real engine's /metrics would report it."""
        loads: list[WorkerLoad] = []
        for p in self.active_prefill():
            if p.ready_at <= self.now:
                loads.append(
                    WorkerLoad(
                        p.name,
                        Role.PREFILL,
                        queued_prefill_requests=float(len(p.queue)),
                        queued_prefill_tokens=float(p.queued_tokens),
                        running_requests=float(len(p.batch)),
                        forward_pass_ms=p.batch_ms if p.batch else None,
                        forward_pass_tokens=float(p.batch_tokens) if p.batch else None,
                        recent_ttft_ms=_ms(p.ttft.mean_between(self.now - RECENT_WINDOW_S, self.now)),
                    )
                )
        capacity = float(self.perf.decode.max_kv_tokens)
        for d in self.active_decode():
            if d.ready_at <= self.now:
                self._sync(d)
                loads.append(
                    WorkerLoad(
                        d.name,
                        Role.DECODE,
                        scheduled_kv_tokens=d.kv_used(),
                        queued_kv_tokens=float(d.waiting_tokens),
                        max_kv_tokens=capacity,
                        running_requests=float(d.count),
                        forward_pass_ms=d.itl_s * 1000.0 if d.count else None,
                        recent_itl_ms=d.itl_s * 1000.0 if d.count else None,
                    )
                )
        return tuple(loads)
