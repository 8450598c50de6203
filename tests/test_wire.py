"""The wire contract: stubs are generated, never edited; every value survives a round trip."""

from __future__ import annotations

import filecmp
import sys
from pathlib import Path

import pytest

from planner_sdk import (
    ApplyAck,
    Bound,
    ContextField,
    Decision,
    HoldPolicy,
    Observations,
    OnError,
    PlannerView,
    PluginDeclarationError,
    PluginSpec,
    Predictions,
    PredictResult,
    ProposeResult,
    ReplicaCount,
    ReplicaTarget,
    Role,
    Stage,
    TickContext,
    TrafficObservation,
    Verdict,
    WorkerLoad,
)
from planner_sdk import _wire as wire
from planner_sdk._proto.planner.v1 import types_pb2 as pb

ROOT = Path(__file__).resolve().parents[1]
P, D = Role.PREFILL, Role.DECODE


def test_the_committed_stubs_are_what_the_generator_writes(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT / "protos"))
    try:
        import generate
    finally:
        sys.path.pop(0)
    generate.generate(tmp_path)
    committed = ROOT / "sdk" / "planner_sdk" / "_proto" / "planner" / "v1"
    fresh = tmp_path / "planner" / "v1"
    names = sorted(p.name for p in fresh.iterdir() if p.suffix in (".py", ".pyi"))
    assert names == sorted(p.name for p in committed.iterdir() if p.suffix in (".py", ".pyi"))
    _, mismatch, errors = filecmp.cmpfiles(committed, fresh, names, shallow=False)
    assert mismatch == [], "stubs differ from protos/: run `make protos`"
    assert errors == []


def test_a_declaration_round_trips() -> None:
    spec = PluginSpec(
        id="floor", stage=Stage.CLAMP, execution_interval_seconds=0.5, priority=-3, hold=HoldPolicy.HOLD_LAST,
        needs=frozenset({ContextField.TRAFFIC}), requires=frozenset({ContextField.PROPOSAL}), timeout_seconds=0.2,
        on_error=OnError.REJECT_TICK,
    )  # fmt: skip
    assert wire.declaration_from_proto(wire.declaration_to_proto(spec)) == spec


def test_an_unset_timeout_stays_unset() -> None:
    spec = PluginSpec(id="x", stage=Stage.OBSERVE, execution_interval_seconds=5)
    assert wire.declaration_from_proto(wire.declaration_to_proto(spec)).timeout_seconds is None


@pytest.mark.parametrize(
    ("message", "field"),
    [
        (pb.PluginDeclaration(id="x", stage=pb.STAGE_UNSPECIFIED, execution_interval_seconds=5), "stage"),
        (
            pb.PluginDeclaration(id="x", stage=pb.STAGE_PROPOSE, execution_interval_seconds=0),
            "execution_interval_seconds",
        ),
        (pb.PluginDeclaration(id="Not OK", stage=pb.STAGE_PROPOSE, execution_interval_seconds=5), "id"),
        (pb.PluginDeclaration(id="x", stage=pb.STAGE_PROPOSE, execution_interval_seconds=5, needs=[99]), "needs"),
    ],
)
def test_a_bad_declaration_names_its_field(message: pb.PluginDeclaration, field: str) -> None:
    with pytest.raises(PluginDeclarationError, match=f"invalid_declaration: {field}"):
        wire.declaration_from_proto(message)


def full_context() -> TickContext:
    return TickContext(
        tick_id=7, decision_id=3, now=1_700_000_123.5,
        planner=PlannerView("disagg", (P, D), "sla", 500.0, 25.0, 16, {P: 1, D: 2}, {P: 1, D: 1}),
        replicas={P: ReplicaCount(2, 3), D: ReplicaCount(4, 4)},
        observations=Observations(
            traffic=TrafficObservation(60.0, 120.0, 3000.0, None, 250.0, None),
            workers=(
                WorkerLoad("p0", P, queued_prefill_tokens=1024.0, forward_pass_ms=90.0, forward_pass_tokens=4096.0),
                WorkerLoad("d0", D, missing=True),
            ),
        ),
        predictions=Predictions(num_requests=130.0, isl=None, osl=150.0),
        proposal={P: 3, D: 5},
    )  # fmt: skip


def test_a_full_context_round_trips_with_unset_fields_unset() -> None:
    ctx = full_context()
    assert wire.context_from_proto(wire.context_to_proto(ctx)) == ctx


def test_a_trimmed_context_round_trips() -> None:
    ctx = full_context().trimmed([])
    back = wire.context_from_proto(wire.context_to_proto(ctx))
    assert back == ctx
    assert back.replicas is None
    assert back.observations.workers is None
    assert back.proposal is None


def test_an_empty_worker_list_is_not_no_workers() -> None:
    obs = Observations(workers=())
    assert wire.observations_from_proto(wire.observations_to_proto(obs)).workers == ()


def test_results_round_trip() -> None:
    predict = PredictResult(Predictions(1.0, None, 3.0), final=True, note="warm")
    assert wire.predict_result_from_proto(wire.predict_result_to_proto(predict)) == predict
    propose = ProposeResult(
        Verdict.OVERRIDE, (ReplicaTarget(P, Bound.AT_LEAST, 2), ReplicaTarget(D, Bound.SET, 0)), final=True, reason="r"
    )
    assert wire.propose_result_from_proto(wire.propose_result_to_proto(propose)) == propose
    decision = Decision(9, {P: 2, D: 3}, advisory=False, reasons=("a", "b"))
    assert wire.decision_from_proto(wire.decision_to_proto(decision)) == decision
    ack = ApplyAck(9, accepted=False, message="busy")
    assert wire.ack_from_proto(wire.ack_to_proto(ack)) == ack


def test_a_forecast_path_and_the_traffic_spread_recent_count_and_busiest_slice_round_trip() -> None:
    predict = PredictResult(Predictions(10.0, 3000.0, 150.0, num_requests_ahead=(10.0, 12.0, 15.5)))
    assert wire.predict_result_from_proto(wire.predict_result_to_proto(predict)) == predict
    traffic = TrafficObservation(
        60.0, 600.0, 3000.0, 150.0, isl_cv=0.5, osl_cv=0.7, arrival_dispersion=4.0,
        recent_window_seconds=10.0, recent_num_requests=130.0, busiest_slice_requests=140.0,
        within_slice_dispersion=1.3,
    )  # fmt: skip
    obs = Observations(traffic=traffic)
    assert wire.observations_from_proto(wire.observations_to_proto(obs)) == obs


def test_an_unknown_bound_or_role_in_a_result_is_refused() -> None:
    bad_bound = pb.ProposeResult(verdict=pb.VERDICT_OVERRIDE, targets=[pb.ReplicaTarget(role=pb.ROLE_PREFILL, bound=0)])
    with pytest.raises(ValueError, match="bound"):
        wire.propose_result_from_proto(bad_bound)
    bad_role = pb.ProposeResult(verdict=pb.VERDICT_OVERRIDE, targets=[pb.ReplicaTarget(role=42, bound=pb.BOUND_SET)])
    with pytest.raises(ValueError, match="role 42"):
        wire.propose_result_from_proto(bad_role)
