"""Queueing approximations for sizing a pool of servers: Erlang C and Allen-Cunneen (M/G/c)."""

from __future__ import annotations

import math

__all__ = ["erlang_c", "normal_quantile", "wait_exceeds", "wait_at_quantile", "wait_tail", "servers_for_wait"]


def erlang_c(servers: int, offered_load: float) -> float:
    """Probability an arrival waits in an M/M/c queue with `servers` and offered load a = lambda/mu."""
    if offered_load <= 0:
        return 0.0
    if servers <= offered_load:
        return 1.0
    # Erlang B by its stable recurrence, then C from B.
    b = 1.0
    for k in range(1, servers + 1):
        b = offered_load * b / (k + offered_load * b)
    rho = offered_load / servers
    return b / (1 - rho + rho * b)


def wait_tail(servers: int, arrival_rate: float, service_s: float, variability: float = 1.0) -> tuple[float, float]:
    """(P(an arrival waits), the rate its wait's tail decays at) in an M/G/c queue, Allen-Cunneen
    style: P(wait > t) = C * exp(-rate * t). The M/M/c rate c*mu - lambda is slowed by `variability`
    = (ca^2 + cs^2) / 2, the mean of the arrival and service squared coefficients of variation
    (1 for Poisson arrivals and exponential service). An unstable queue is (1, 0): every arrival
    waits without bound."""
    if arrival_rate <= 0:
        return 0.0, math.inf
    mu = 1.0 / service_s
    if servers * mu <= arrival_rate:
        return 1.0, 0.0
    return erlang_c(servers, arrival_rate / mu), (servers * mu - arrival_rate) / variability


def wait_exceeds(servers: int, arrival_rate: float, service_s: float, t: float, variability: float = 1.0) -> float:
    """P(queueing delay > t) in an M/G/c queue (`wait_tail`)."""
    waits, rate = wait_tail(servers, arrival_rate, service_s, variability)
    return waits * math.exp(-rate * t) if rate > 0 else waits


def wait_at_quantile(
    servers: int, arrival_rate: float, service_s: float, quantile: float, variability: float = 1.0
) -> float:
    """The queueing delay `quantile` of arrivals stay within: `wait_exceeds` solved for t (inf if unstable)."""
    waits, rate = wait_tail(servers, arrival_rate, service_s, variability)
    tail = 1.0 - quantile
    if waits <= tail:
        return 0.0
    return math.log(waits / tail) / rate if rate > 0 else math.inf


def servers_for_wait(
    arrival_rate: float,
    service_s: float,
    max_wait_s: float,
    quantile: float,
    variability: float = 1.0,
    limit: int = 4096,
) -> int:
    """Fewest servers with P(wait > max_wait_s) <= 1 - quantile (at least enough to be stable)."""
    if arrival_rate <= 0:
        return 0
    servers = max(1, math.floor(arrival_rate * service_s) + 1)
    while (
        servers < limit
        and wait_exceeds(servers, arrival_rate, service_s, max(0.0, max_wait_s), variability) > 1 - quantile
    ):
        servers += 1
    return servers


def normal_quantile(p: float) -> float:
    """The standard normal quantile, by bisection on erfc (sixty halvings: exact to double precision)."""
    lo, hi = -8.0, 8.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if 0.5 * math.erfc(-mid / math.sqrt(2)) < p:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2
