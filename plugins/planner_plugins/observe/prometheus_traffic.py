"""builtin_prometheus_traffic: frontend (or router) traffic over a window, from Prometheus' query API."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import anyio
import httpx

from planner_sdk import HoldPolicy, Observations, ObservePlugin, PluginSpec, Stage, TickContext, TrafficObservation

from ._spread import lognormal_cv

__all__ = ["PrometheusSettings", "PrometheusTraffic", "PrometheusQueryError", "traffic_queries", "spread_queries"]

MetricsSource = Literal["frontend", "router"]

# Dynamo's metric names: the frontend's per-model series, or a LocalRouter's per-namespace ones.
_PREFIX: Mapping[MetricsSource, str] = {"frontend": "dynamo_frontend", "router": "dynamo_component_router"}
_MEANS = {
    "mean_ttft_ms": ("time_to_first_token_seconds", 1000.0),
    "mean_itl_ms": ("inter_token_latency_seconds", 1000.0),
    "mean_isl": ("input_sequence_tokens", 1.0),
    "mean_osl": ("output_sequence_tokens", 1.0),
}


# The spread of lengths, fitted to the histograms' buckets (field: (histogram, the mean it goes with)).
_SPREADS = {"isl_cv": ("input_sequence_tokens", "mean_isl"), "osl_cv": ("output_sequence_tokens", "mean_osl")}


class PrometheusQueryError(Exception):
    """Prometheus could not answer (down, slow, refused) or answered something that is not a result."""


@dataclass(frozen=True)
class PrometheusSettings:
    """Where and how to query; `window_s` is in the planner's clock seconds."""

    endpoint: str
    window_s: float
    source: MetricsSource = "frontend"
    model_name: str | None = None
    dynamo_namespace: str | None = None
    bearer_token: str | None = None
    bearer_token_file: str | None = None
    ca_bundle: str | None = None
    tls_verify: bool = True
    timeout_s: float = 5.0
    extra_query_params: Mapping[str, str] = field(default_factory=dict)
    # Prometheus stamps samples in wall time; a simulation on a scaled clock runs faster than that.
    wall_seconds_per_second: float = 1.0
    # The window's last seconds, counted apart for the surge check (None: not counted).
    recent_s: float | None = None


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _selector(settings: PrometheusSettings) -> str:
    matchers = []
    if settings.dynamo_namespace:
        namespace = settings.dynamo_namespace
        if settings.source == "router":
            namespace = namespace.replace("-", "_")  # router series carry it with underscores
        matchers.append(f'dynamo_namespace="{_quote(namespace)}"')
    if settings.model_name and settings.source == "frontend":
        # The frontend lower-cases model names in its labels: match either spelling.
        matchers.append(f'model=~"(?i){_quote(re.escape(settings.model_name))}"')
    return "{" + ",".join(matchers) + "}" if matchers else ""


def _window(settings: PrometheusSettings, seconds: float | None = None) -> str:
    seconds = settings.window_s if seconds is None else seconds
    return f"{max(1, round(seconds * settings.wall_seconds_per_second * 1000))}ms"


def traffic_queries(settings: PrometheusSettings) -> dict[str, list[str]]:
    """PromQL per TrafficObservation field; a field's queries are tried in order until one has data."""
    prefix, sel, window = _PREFIX[settings.source], _selector(settings), _window(settings)

    def increase(metric: str, over: str = window) -> str:
        return f"sum(increase({prefix}_{metric}{sel}[{over}]))"

    queries = {"num_requests": [increase("requests_started_total"), increase("requests_total")]}
    if settings.recent_s is not None:
        # Prometheus needs two samples within it: scrape the frontend at least twice as often.
        recent = _window(settings, settings.recent_s)
        queries["recent_num_requests"] = [increase(n, recent) for n in ("requests_started_total", "requests_total")]
    for name, (metric, _) in _MEANS.items():
        queries[name] = [f"{increase(metric + '_sum')} / {increase(metric + '_count')}"]
    return queries


def spread_queries(settings: PrometheusSettings) -> dict[str, str]:
    """PromQL per spread field: the window's increase of each histogram bucket, by `le`."""
    prefix, sel, window = _PREFIX[settings.source], _selector(settings), _window(settings)
    return {
        name: f"sum by (le) (increase({prefix}_{metric}_bucket{sel}[{window}]))"
        for name, (metric, _) in _SPREADS.items()
    }


def _result(answer: Any) -> list[Any]:
    """The samples of a successful instant-query answer (a scalar as one sample)."""
    if not isinstance(answer, dict) or answer.get("status") != "success":
        error = answer.get("error") if isinstance(answer, dict) else None
        raise PrometheusQueryError(f"not a successful query answer: {error or str(answer)[:120]}")
    data = answer.get("data")
    if not isinstance(data, dict) or data.get("resultType") not in ("vector", "scalar"):
        raise PrometheusQueryError(f"unexpected result type in {str(data)[:120]}")
    result = data.get("result")
    if data["resultType"] == "scalar":
        result = [{"value": result}]
    if not isinstance(result, list):
        raise PrometheusQueryError(f"unexpected result in {str(data)[:120]}")
    return result


def _sample(answer: Any) -> float | None:
    """The value of an instant-vector answer's single sample; None when there is no series."""
    result = _result(answer)
    if not result:
        return None
    try:
        value = float(result[0]["value"][1])
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise PrometheusQueryError(f"unreadable sample {str(result[0])[:120]}") from exc
    return value if math.isfinite(value) else None


class PrometheusTraffic(ObservePlugin):
    """Traffic over the last window as Dynamo reads it: means are increase(sum)/increase(count) of the
    histograms, the request count is the increase of requests started (else completed).

    A series Prometheus does not have is unknown (unset), never zero; an idle window's means are
    unset too (0/0). Prometheus down, slow or answering garbage fails the call with the reason, so the
    tick records why and nothing is proposed from a traffic observation that was not made.
    """

    def __init__(self, settings: PrometheusSettings, interval_s: float) -> None:
        self.spec = PluginSpec(
            id="builtin_prometheus_traffic",
            stage=Stage.OBSERVE,
            execution_interval_seconds=interval_s,
            hold=HoldPolicy.NO_OPINION,
            timeout_seconds=settings.timeout_s + 1.0,
        )
        self.settings = settings
        self.queries = traffic_queries(settings)
        self.spreads = spread_queries(settings)
        verify: bool | str = settings.ca_bundle or settings.tls_verify
        self._client = httpx.AsyncClient(
            base_url=settings.endpoint.rstrip("/"), timeout=settings.timeout_s, verify=verify
        )

    def _headers(self) -> dict[str, str]:
        token = self.settings.bearer_token
        if self.settings.bearer_token_file:
            try:  # re-read each time: projected service-account tokens rotate
                token = Path(self.settings.bearer_token_file).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise PrometheusQueryError(
                    f"prometheus.bearer_token_file {self.settings.bearer_token_file!r}: {exc.strerror or exc}"
                ) from None
        return {"Authorization": f"Bearer {token}"} if token else {}

    async def query(self, promql: str) -> float | None:
        """One instant query's single value (None: no series, or NaN/Inf)."""
        return _sample(await self._answer(promql))

    async def buckets(self, promql: str) -> list[tuple[float, float]]:
        """An instant query's samples as (le, value) pairs; those without a numeric `le` are left out."""
        pairs = []
        for item in _result(await self._answer(promql)):
            try:
                pairs.append((float(item["metric"]["le"]), float(item["value"][1])))
            except (KeyError, IndexError, TypeError, ValueError):
                continue
        return pairs

    async def _answer(self, promql: str) -> Any:
        params = {**self.settings.extra_query_params, "query": promql}
        try:
            with anyio.fail_after(self.settings.timeout_s):
                response = await self._client.get("/api/v1/query", params=params, headers=self._headers())
        except TimeoutError:
            raise PrometheusQueryError(
                f"{self.settings.endpoint} did not answer within {self.settings.timeout_s:g} s"
            ) from None
        except httpx.HTTPError as exc:
            raise PrometheusQueryError(f"{self.settings.endpoint} unreachable: {type(exc).__name__}: {exc}") from None
        if response.status_code in (401, 403):
            raise PrometheusQueryError(f"{self.settings.endpoint} refused the query: HTTP {response.status_code}")
        try:
            answer = response.json()
        except ValueError:
            raise PrometheusQueryError(
                f"{self.settings.endpoint} answered HTTP {response.status_code} with no JSON: {response.text[:80]!r}"
            ) from None
        return answer

    async def _first_with_data(self, queries: list[str]) -> float | None:
        for promql in queries:
            value = await self.query(promql)
            if value is not None:
                return value
        return None

    async def observe(self, ctx: TickContext) -> Observations:
        values: dict[str, float | None] = {}
        histograms: dict[str, list[tuple[float, float]]] = {}

        async def one(name: str, queries: list[str]) -> None:
            values[name] = await self._first_with_data(queries)

        async def spread(name: str, promql: str) -> None:
            histograms[name] = await self.buckets(promql)

        try:
            async with anyio.create_task_group() as group:
                for name, queries in self.queries.items():
                    group.start_soon(one, name, queries)
                for name, promql in self.spreads.items():
                    group.start_soon(spread, name, promql)
        except BaseExceptionGroup as group_error:
            failures = [e for e in group_error.exceptions if isinstance(e, PrometheusQueryError)]
            if failures:
                raise failures[0] from None
            raise
        count, recent = values["num_requests"], values.get("recent_num_requests")
        traffic = TrafficObservation(
            window_seconds=self.settings.window_s,
            num_requests=None if count is None else max(0.0, count),
            recent_window_seconds=None if recent is None else self.settings.recent_s,
            recent_num_requests=None if recent is None else max(0.0, recent),
            **{name: _scaled(values[name], scale) for name, (_, scale) in _MEANS.items()},
            **{name: lognormal_cv(values[mean], histograms[name]) for name, (_, mean) in _SPREADS.items()},
        )
        return Observations(traffic=traffic)

    async def aclose(self) -> None:
        await self._client.aclose()


def _scaled(value: float | None, scale: float) -> float | None:
    return None if value is None or value < 0 else value * scale
