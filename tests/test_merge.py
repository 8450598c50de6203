"""Typed merge of propose and clamp results: REJECT > final > per-role bounds, floors beat ceilings."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from planner.pipeline import apply_clamps, merge_proposals
from planner_sdk import Bound, ProposeResult, ReplicaTarget, Role, Verdict

P, D = Role.PREFILL, Role.DECODE
CURRENT = {P: 3, D: 5}


def t(role: Role, bound: Bound, n: int) -> ReplicaTarget:
    return ReplicaTarget(role, bound, n)


def test_set_of_the_lowest_priority_number_wins_between_sets() -> None:
    merged = merge_proposals(
        [
            ("urgent", 10, ProposeResult.override(t(P, Bound.SET, 7))),
            ("casual", 50, ProposeResult.override(t(P, Bound.SET, 2))),
        ],
        CURRENT,
    )
    assert merged.targets == {P: 7}


def test_bounds_without_a_set_apply_to_the_current_count() -> None:
    merged = merge_proposals([("floor", 10, ProposeResult.at_least({D: 8}))], CURRENT)
    assert merged.targets == {D: 8}
    merged = merge_proposals([("cap", 10, ProposeResult.at_most({D: 4}))], CURRENT)
    assert merged.targets == {D: 4}


def test_a_floor_wins_over_a_conflicting_ceiling() -> None:
    merged = merge_proposals(
        [
            ("cap", 1, ProposeResult.at_most({P: 2})),
            ("floor", 99, ProposeResult.at_least({P: 6})),
        ],
        CURRENT,
    )
    assert merged.targets == {P: 6}


def test_reject_aborts_even_against_a_final_result() -> None:
    merged = merge_proposals(
        [
            ("boss", 0, ProposeResult.set({P: 9}, final=True)),
            ("veto", 99, ProposeResult.reject("maintenance window")),
        ],
        CURRENT,
    )
    assert merged.rejected_by == ("veto",)
    assert merged.targets == {}
    assert "maintenance window" in merged.reasons[0]


def test_a_final_result_of_the_lowest_priority_number_replaces_all_others() -> None:
    merged = merge_proposals(
        [
            ("final_low", 5, ProposeResult.set({P: 4}, final=True)),
            ("final_high", 20, ProposeResult.set({P: 8}, final=True)),
            ("floor", 1, ProposeResult.at_least({P: 10, D: 10})),
        ],
        CURRENT,
    )
    assert merged.final_by == "final_low"
    assert merged.targets == {P: 4}


def test_accept_contributes_nothing() -> None:
    merged = merge_proposals([("quiet", 1, ProposeResult.accept())], CURRENT)
    assert merged.targets == {}


def test_clamp_set_targets_and_final_are_dropped_and_reported() -> None:
    outcome = apply_clamps(
        {P: 5},
        [("sneaky", 1, ProposeResult.set({P: 1}, final=True)), ("cap", 2, ProposeResult.at_most({P: 4}))],
        CURRENT,
    )
    assert outcome.merged.targets == {P: 4}
    assert any("SET prefill=1 dropped" in d for d in outcome.dropped)
    assert any("final ignored" in d for d in outcome.dropped)


def test_clamp_reject_aborts() -> None:
    outcome = apply_clamps({P: 5}, [("veto", 1, ProposeResult.reject("freeze"))], CURRENT)
    assert outcome.merged.rejected_by == ("veto",)


bounds = st.sampled_from([Bound.SET, Bound.AT_LEAST, Bound.AT_MOST])
targets = st.builds(ReplicaTarget, st.sampled_from([P, D]), bounds, st.integers(0, 50))
results = st.one_of(
    st.builds(
        lambda ts, final: ProposeResult(Verdict.OVERRIDE, tuple(ts), final=final),
        st.lists(targets, max_size=4),
        st.booleans(),
    ),
    st.just(ProposeResult.accept()),
    st.just(ProposeResult.reject("no")),
)
proposers = st.lists(st.tuples(st.from_regex(r"[a-z]{3}", fullmatch=True), st.integers(0, 100), results), max_size=6)


@given(proposers)
def test_property_reject_outranks_everything(entries: list[tuple[str, int, ProposeResult]]) -> None:
    merged = merge_proposals(entries, CURRENT)
    if any(r.verdict is Verdict.REJECT for _, _, r in entries):
        assert merged.rejected_by
        assert not merged.targets
    else:
        assert not merged.rejected_by


@given(proposers)
def test_property_without_final_the_result_respects_every_floor(entries: list[tuple[str, int, ProposeResult]]) -> None:
    entries = [
        (pid, prio, ProposeResult(r.verdict, r.targets, final=False, reason=r.reason)) for pid, prio, r in entries
    ]
    merged = merge_proposals(entries, CURRENT)
    if merged.rejected_by:
        return
    for _, _, result in entries:
        for target in result.targets:
            if target.bound is Bound.AT_LEAST:
                assert merged.targets[target.role] >= target.replicas
            if target.bound is Bound.AT_MOST:
                floors = [
                    x.replicas
                    for _, _, r in entries
                    for x in r.targets
                    if x.role is target.role and x.bound is Bound.AT_LEAST
                ]
                if not floors or max(floors) <= target.replicas:
                    assert merged.targets[target.role] <= target.replicas


@given(
    st.dictionaries(st.sampled_from([P, D]), st.integers(0, 50), min_size=1),
    st.lists(
        st.tuples(st.sampled_from([P, D]), st.sampled_from([Bound.AT_LEAST, Bound.AT_MOST]), st.integers(0, 50)),
        max_size=6,
    ),
    st.tuples(st.sampled_from([P, D]), st.sampled_from([Bound.AT_LEAST, Bound.AT_MOST]), st.integers(0, 50)),
)
def test_property_clamps_never_loosen(
    proposal: dict[Role, int], bounds_list: list[tuple[Role, Bound, int]], extra: tuple[Role, Bound, int]
) -> None:
    """Adding a clamp never moves a role back across a bound the other clamps already enforced."""

    def run(bs: list[tuple[Role, Bound, int]]) -> dict[Role, int]:
        clampers = [(f"c{i}", i, ProposeResult.override(ReplicaTarget(r, b, n))) for i, (r, b, n) in enumerate(bs)]
        return apply_clamps(proposal, clampers, CURRENT).merged.targets

    before, after = run(bounds_list), run([*bounds_list, extra])
    for role in (P, D):
        floors = [n for r, b, n in [*bounds_list, extra] if r is role and b is Bound.AT_LEAST]
        ceilings = [n for r, b, n in [*bounds_list, extra] if r is role and b is Bound.AT_MOST]
        if role in after and floors:
            assert after[role] >= max(floors)
        if role in after and ceilings and (not floors or max(floors) <= min(ceilings)):
            assert after[role] <= min(ceilings)
        if role in before and role in after and role is not extra[0]:
            assert before[role] == after[role]
