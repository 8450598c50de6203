"""builtin_worker_metrics: per-engine load scraped from each worker's Prometheus `/metrics` (vLLM, SGLang)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import anyio
import httpx
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from planner_sdk import (
    HoldPolicy,
    Observations,
    ObservePlugin,
    PluginSpec,
    Role,
    Stage,
    TickContext,
    WorkerLoad,
)

__all__ = ["WorkerEndpoint", "WorkerMetricsObserve", "parse_worker_metrics", "HistogramTotals", "in_flight"]

# The first name present wins: vLLM v1, vLLM v0, then SGLang.
RUNNING = ("vllm:num_requests_running", "sglang:num_running_reqs")
WAITING = ("vllm:num_requests_waiting", "sglang:num_queue_reqs")
KV_USAGE = ("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc", "sglang:token_usage")
KV_USED = ("sglang:num_used_tokens",)
KV_CAPACITY = ("sglang:max_total_num_tokens",)
TTFT = ("vllm:time_to_first_token_seconds", "sglang:time_to_first_token_seconds")
ITL = (
    "vllm:inter_token_latency_seconds", "vllm:time_per_output_token_seconds",
    "sglang:inter_token_latency_seconds", "sglang:time_per_output_token_seconds",
)  # fmt: skip
PROMPT = ("vllm:request_prompt_tokens", "sglang:prompt_tokens_histogram")
# Time a request spent being prefilled (vLLM v1): on a prefill engine, the time of the pass it was in.
PREFILL_TIME = ("vllm:request_prefill_time_seconds",)
GENERATION = ("vllm:request_generation_tokens", "sglang:generation_tokens_histogram")
SGLANG_PROMPT_TOTAL, SGLANG_REQUESTS_TOTAL = "sglang:prompt_tokens_total", "sglang:num_requests_total"


@dataclass(frozen=True)
class WorkerEndpoint:
    worker_id: str
    role: Role
    url: str


@dataclass(frozen=True)
class HistogramTotals:
    """A histogram's running sum and count, to turn two scrapes into a recent mean."""

    total: float
    count: float


def _families(text: str) -> dict[str, Metric]:
    families: dict[str, Metric] = {}
    for family in text_string_to_metric_families(text):
        families[family.name] = family
    return families


def _gauge(families: Mapping[str, Metric], names: Iterable[str]) -> float | None:
    """Sum of the first named gauge or counter present, over all its label sets."""
    for name in names:
        for candidate in (name, name.removesuffix("_total")):
            family = families.get(candidate)
            if family is not None:
                values = [s.value for s in family.samples if s.name in (name, candidate)]
                if values:
                    return float(sum(values))
    return None


def _histogram(families: Mapping[str, Metric], names: Iterable[str]) -> HistogramTotals | None:
    for name in names:
        family = families.get(name)
        if family is None:
            continue
        total = sum(s.value for s in family.samples if s.name == f"{name}_sum")
        count = sum(s.value for s in family.samples if s.name == f"{name}_count")
        return HistogramTotals(float(total), float(count))
    return None


def _vllm_kv_capacity(families: Mapping[str, Metric]) -> float | None:
    family = families.get("vllm:cache_config_info")
    for sample in family.samples if family is not None else ():
        try:
            return float(sample.labels["num_gpu_blocks"]) * float(sample.labels["block_size"])
        except (KeyError, ValueError):
            continue
    return None


def _recent_mean(now: HistogramTotals | None, before: HistogramTotals | None) -> float | None:
    """Mean of what the histogram saw since the previous scrape (or overall on the first)."""
    if now is None:
        return None
    if before is not None and now.count > before.count and now.total >= before.total:
        return (now.total - before.total) / (now.count - before.count)
    if before is None and now.count > 0:
        return now.total / now.count
    return None


def parse_worker_metrics(
    text: str, worker_id: str, role: Role, previous: Mapping[str, HistogramTotals] | None = None
) -> tuple[WorkerLoad, dict[str, HistogramTotals]]:
    """A WorkerLoad from one scrape, and the histogram totals to pass as `previous` next time.

    ValueError if the text is not the Prometheus exposition format.
    """
    families = _families(text)
    previous = previous or {}
    running, waiting = _gauge(families, RUNNING), _gauge(families, WAITING)
    capacity = _gauge(families, KV_CAPACITY) or _vllm_kv_capacity(families)
    usage = _gauge(families, KV_USAGE)
    used = _gauge(families, KV_USED)
    if used is None and usage is not None and capacity:
        used = usage * capacity
    totals = {
        key: value
        for key, value in (
            ("ttft", _histogram(families, TTFT)), ("itl", _histogram(families, ITL)),
            ("prompt", _histogram(families, PROMPT)), ("generation", _histogram(families, GENERATION)),
            ("prefill_time", _histogram(families, PREFILL_TIME)),
        )
        if value is not None
    }  # fmt: skip
    if "prompt" not in totals:  # SGLang counts prompt tokens and requests: a histogram's sum and count
        tokens, requests = _gauge(families, (SGLANG_PROMPT_TOTAL,)), _gauge(families, (SGLANG_REQUESTS_TOTAL,))
        if tokens is not None and requests is not None:
            totals["prompt"] = HistogramTotals(tokens, requests)
    prompt = totals.get("prompt")
    mean_prompt = prompt.total / prompt.count if prompt and prompt.count else None
    generation = totals.get("generation")
    mean_generation = generation.total / generation.count if generation and generation.count else None
    queued_tokens = waiting * mean_prompt if waiting is not None and mean_prompt is not None else None
    queued_kv = None
    if waiting is not None and mean_prompt is not None:
        queued_kv = waiting * (mean_prompt + (mean_generation or 0.0))
    ttft = _recent_mean(totals.get("ttft"), previous.get("ttft"))
    itl = _recent_mean(totals.get("itl"), previous.get("itl"))
    # A prefill engine's recent passes: their mean time against the mean prompt they carried. Without
    # vLLM's prefill-time histogram, TTFT while nothing waits is the pass (and a little transfer) too.
    pass_s = None
    if role is Role.PREFILL:
        pass_s = _recent_mean(totals.get("prefill_time"), previous.get("prefill_time"))
        if pass_s is None and "prefill_time" not in totals and waiting == 0:
            pass_s = ttft
    pass_tokens = _recent_mean(totals.get("prompt"), previous.get("prompt")) if pass_s is not None else None
    forward_s = pass_s if pass_s is not None else itl if role is not Role.PREFILL else None
    load = WorkerLoad(
        worker_id, role,
        queued_prefill_requests=waiting if role is not Role.DECODE else None,
        queued_prefill_tokens=queued_tokens if role is not Role.DECODE else None,
        scheduled_kv_tokens=used,
        queued_kv_tokens=queued_kv if role is not Role.PREFILL else None,
        max_kv_tokens=capacity, running_requests=running,
        forward_pass_ms=forward_s * 1000.0 if forward_s is not None else None,
        forward_pass_tokens=pass_tokens,
        recent_ttft_ms=ttft * 1000.0 if ttft is not None else None,
        recent_itl_ms=itl * 1000.0 if itl is not None else None,
    )  # fmt: skip
    if all(v is None for v in (running, waiting, usage, used)):
        raise ValueError("no vLLM or SGLang load metrics in the scrape")
    return load, totals


def in_flight(load: WorkerLoad) -> float | None:
    """Requests an engine is running or holding in its queue; None when it did not say."""
    if load.missing or (load.running_requests is None and load.queued_prefill_requests is None):
        return None
    return (load.running_requests or 0.0) + (load.queued_prefill_requests or 0.0)


class WorkerMetricsObserve(ObservePlugin):
    """Scrapes every worker's `/metrics` at once; a worker that does not answer in time, or answers
    with something that is not engine metrics, is reported missing, never as zero load.

    The workers are a fixed list, or whatever `discover()` returns at each tick (live pods); the
    latest load of each worker is kept in `latest` for whoever chooses engines to stop.
    """

    def __init__(
        self,
        endpoints: Sequence[WorkerEndpoint],
        interval_s: float,
        scrape_timeout_s: float = 1.0,
        discover: Callable[[], Awaitable[Sequence[WorkerEndpoint]]] | None = None,
    ) -> None:
        self.spec = PluginSpec(
            id="builtin_worker_metrics",
            stage=Stage.OBSERVE,
            execution_interval_seconds=interval_s,
            hold=HoldPolicy.NO_OPINION,
            timeout_seconds=scrape_timeout_s + 1.0,
        )
        self.endpoints = list(endpoints)
        self.discover = discover
        self.latest: dict[str, WorkerLoad] = {}
        self.scrape_timeout_s = scrape_timeout_s
        self._previous: dict[str, dict[str, HistogramTotals]] = {}
        self.last_errors: dict[str, str] = {}
        self._client = httpx.AsyncClient(timeout=scrape_timeout_s)

    async def _scrape(self, endpoint: WorkerEndpoint) -> WorkerLoad:
        try:
            with anyio.fail_after(self.scrape_timeout_s):
                response = await self._client.get(endpoint.url)
            response.raise_for_status()
            load, totals = parse_worker_metrics(
                response.text, endpoint.worker_id, endpoint.role, self._previous.get(endpoint.worker_id)
            )
        except (TimeoutError, httpx.HTTPError, ValueError) as exc:
            self.last_errors[endpoint.worker_id] = f"{type(exc).__name__}: {exc}"
            return WorkerLoad(endpoint.worker_id, endpoint.role, missing=True)
        self._previous[endpoint.worker_id] = totals
        self.last_errors.pop(endpoint.worker_id, None)
        return load

    async def observe(self, ctx: TickContext) -> Observations:
        if self.discover is not None:
            self.endpoints = list(await self.discover())
        loads: list[WorkerLoad | None] = [None] * len(self.endpoints)

        async def one(index: int, endpoint: WorkerEndpoint) -> None:
            loads[index] = await self._scrape(endpoint)

        async with anyio.create_task_group() as group:
            for index, endpoint in enumerate(self.endpoints):
                group.start_soon(one, index, endpoint)
        found = tuple(load for load in loads if load is not None)
        self.latest = {load.worker_id: load for load in found}
        for gone in set(self._previous) - set(self.latest):  # workers come and go: keep no state for the gone
            del self._previous[gone]
        for gone in set(self.last_errors) - set(self.latest):
            del self.last_errors[gone]
        return Observations(workers=found)

    async def aclose(self) -> None:
        await self._client.aclose()
