"""aic_perf_model: engine speed from aiconfigurator-core, answering what a measured profile answers.

Known outputs are aiconfigurator-core 0.12's own predictions (the extra pins that minor series)."""

from __future__ import annotations

import dataclasses
import importlib
import math
from pathlib import Path
from typing import Any

import pytest

from helpers import varying_load
from planner.cli import main as cli_main
from planner.config import PlannerConfig, load_config
from planner.errors import ConfigError
from planner.sim.world import load_perf
from planner_plugins.builtins import perf_model
from planner_plugins.perf import BUNDLED_PROFILE_DIR, PerfModel, ProfileError, load_profile
from planner_plugins.perf import aic as aic_module
from planner_plugins.perf.aic import AicSpec, EngineShape, aic_perf_model, supported_models, supported_systems
from planner_plugins.perf.crosscheck import cross_check

LLAMA_H200 = AicSpec("meta-llama/Meta-Llama-3.1-8B", "h200_sxm")
QWEN_H100_TP2 = AicSpec("Qwen/Qwen3-32B", "h100_sxm", prefill_pick=EngineShape(tp=2), decode_pick=EngineShape(tp=2))
# (spec, TTFT of a lone 4,096-token prompt, decode step of 64 requests at 4,096 tokens of context, KV tokens)
KNOWN = [(LLAMA_H200, 92.825, 13.614, 882_732), (QWEN_H100_TP2, 224.114, 26.938, 301_810)]


def settings(**aic: Any) -> dict[str, Any]:
    return {
        "profile_results_dir": None,
        "environment": "kubernetes",
        "prefill_engine_num_gpu": 1,
        "decode_engine_num_gpu": 1,
        "aic_perf_model": aic,
    }


@pytest.mark.parametrize(("spec", "ttft_ms", "step_ms", "kv_tokens"), KNOWN, ids=["llama8b-h200", "qwen32b-h100-tp2"])
def test_prefill_time_is_the_librarys_prediction(spec: AicSpec, ttft_ms: float, step_ms: float, kv_tokens: int) -> None:
    assert aic_perf_model(spec).prefill.ttft_ms(4096) == pytest.approx(ttft_ms, rel=1e-3)


@pytest.mark.parametrize(("spec", "ttft_ms", "step_ms", "kv_tokens"), KNOWN, ids=["llama8b-h200", "qwen32b-h100-tp2"])
def test_decode_step_time_is_the_librarys_prediction(
    spec: AicSpec, ttft_ms: float, step_ms: float, kv_tokens: int
) -> None:
    model = aic_perf_model(spec)
    assert model.decode.max_kv_tokens == kv_tokens
    usage = 64 * 4096 / kv_tokens  # 64 requests of 4,096 tokens: between sampled batches, interpolated
    assert model.decode.itl_ms(usage, 4096) == pytest.approx(step_ms, rel=0.03)


def test_a_bigger_gpu_holds_more_and_decodes_the_same_batch_faster() -> None:
    h100 = aic_perf_model(AicSpec("meta-llama/Meta-Llama-3.1-8B", "h100_sxm"))
    h200 = aic_perf_model(LLAMA_H200)
    assert h200.decode.max_kv_tokens > h100.decode.max_kv_tokens  # 141 GB against 80 GB
    tokens = 64 * 4096
    assert h200.decode.itl_ms(tokens / h200.decode.max_kv_tokens, 4096) < h100.decode.itl_ms(
        tokens / h100.decode.max_kv_tokens, 4096
    )


@pytest.mark.parametrize("source", ["profile", "aic", "learnt"])
def test_profile_aic_and_learnt_models_answer_the_same_questions(source: str) -> None:
    if source == "profile":
        model = PerfModel.from_profile(load_profile(BUNDLED_PROFILE_DIR))
    elif source == "aic":
        model = aic_perf_model(LLAMA_H200)
    else:
        learnt = varying_load(minutes=20)[1].model()
        assert learnt is not None
        model = learnt
    ttfts = [model.prefill.ttft_ms(isl) for isl in (500, 2000, 8000, 16000)]
    assert all(math.isfinite(t) and t > 0 for t in ttfts)
    assert ttfts == sorted(ttfts)  # a longer prompt never prefills faster
    assert model.prefill.batch_ms(30000) > model.prefill.batch_ms(8000)
    itls = [model.decode.itl_ms(kv, 3000) for kv in (0.0, 0.2, 0.5, 0.9)]
    assert itls == sorted(itls)  # a fuller cache never decodes faster
    point = model.decode.best_operating_point(25.0, 3000)
    assert point.meets_target
    assert point.itl_ms <= 25.0
    assert point.throughput_per_gpu > 0
    assert model.decode.max_kv_tokens > 100_000
    steps = [model.mixed_step_ms(chunk, 32, 3000) for chunk in (0, 512, 2048, 8192)]
    assert steps[0] == pytest.approx(model.decode.itl_ms(32 * 3000 / model.decode.max_kv_tokens, 3000), rel=0.03)
    assert steps == sorted(steps)  # a bigger prompt chunk never steps faster


def test_mixed_steps_are_the_librarys_prediction() -> None:
    # mixed_step_latency(ctx_tokens=2048, gen_tokens=32, isl=4096, osl=2) of aiconfigurator-core 0.12
    assert aic_perf_model(LLAMA_H200).mixed_step_ms(2048, 32, 4096) == pytest.approx(48.611, rel=1e-3)


def test_mixed_steps_composed_from_prefill_and_decode_come_near_the_librarys() -> None:
    aic = aic_perf_model(LLAMA_H200)
    composed = dataclasses.replace(aic, predicted_mixed_step=None)  # what a profile or a learnt model answers
    for chunk, batch, context in [(512, 8, 2048), (2048, 32, 4096), (512, 64, 4096), (8192, 64, 8192)]:
        assert composed.mixed_step_ms(chunk, batch, context) == pytest.approx(
            aic.mixed_step_ms(chunk, batch, context), rel=0.08
        )


def test_engine_gpus_follow_the_picks_and_the_budget_counts_them() -> None:
    config = PlannerConfig(
        aic_perf_model={
            "hf_id": "Qwen/Qwen3-32B",
            "system": "h100_sxm",
            "prefill_pick": {"tp": 2},
            "decode_pick": {"tp": 4},
        }
    )
    assert (config.prefill_engine_num_gpu, config.decode_engine_num_gpu) == (2, 4)
    with pytest.raises(Exception, match="max_gpu_budget=4 is below the 6 GPUs"):
        PlannerConfig(
            max_gpu_budget=4,
            aic_perf_model={"hf_id": "x/y", "system": "s", "prefill_pick": {"tp": 2}, "decode_pick": {"tp": 4}},
        )


def test_an_engine_gpu_count_that_contradicts_the_pick_is_an_error() -> None:
    with pytest.raises(ConfigError, match=r"decode_engine_num_gpu=1 but aic_perf_model.decode_pick takes 2 GPU\(s\)"):
        load_config(
            None,
            [
                "decode_engine_num_gpu=1",
                "aic_perf_model.hf_id=a/b",
                "aic_perf_model.system=h100_sxm",
                "aic_perf_model.decode_pick.tp=2",
            ],
        )


def test_the_backend_defaults_to_the_planners() -> None:
    sglang = PlannerConfig(backend="sglang", aic_perf_model={"hf_id": "a/b", "system": "s"})
    mocker = PlannerConfig(backend="mocker", aic_perf_model={"hf_id": "a/b", "system": "s"})
    assert (sglang.aic_perf_model and sglang.aic_perf_model.backend) == "sglang"
    assert (mocker.aic_perf_model and mocker.aic_perf_model.backend) == "vllm"


def test_a_bad_backend_or_pick_names_the_field() -> None:
    with pytest.raises(ConfigError, match=r"aic_perf_model.backend: 'tgi' is invalid"):
        load_config(None, ["aic_perf_model.hf_id=a/b", "aic_perf_model.system=s", "aic_perf_model.backend=tgi"])
    with pytest.raises(ConfigError, match=r"aic_perf_model.prefill_pick.tp: 0 is invalid"):
        load_config(None, ["aic_perf_model.hf_id=a/b", "aic_perf_model.system=s", "aic_perf_model.prefill_pick.tp=0"])


def test_an_unknown_model_is_one_line_listing_the_supported_ones() -> None:
    with pytest.raises(ProfileError) as error:
        perf_model(settings(hf_id="acme/NotAModel-7B", system="h200_sxm"))
    message = str(error.value)
    assert "'acme/NotAModel-7B' is not a model aiconfigurator-core knows" in message
    assert "Qwen/Qwen3-32B" in message
    assert "meta-llama/Meta-Llama-3.1-8B" in message
    assert "\n" not in message


def test_an_unknown_system_is_one_line_listing_the_supported_ones() -> None:
    with pytest.raises(ProfileError, match=r"'h300' is not a system .* supported: .*h200_sxm"):
        perf_model(settings(hf_id="Qwen/Qwen3-32B", system="h300"))
    assert {"h100_sxm", "h200_sxm", "b200_sxm", "a100_sxm", "l40s"} <= set(supported_systems())
    assert "Qwen/Qwen3-32B" in supported_models()


def test_an_unknown_backend_version_names_the_ones_there_are() -> None:
    with pytest.raises(ProfileError, match=r"aic_perf_model Qwen/Qwen3-32B on h100_sxm \(vllm 0.1.0\): .*'current'"):
        perf_model(settings(hf_id="Qwen/Qwen3-32B", system="h100_sxm", backend="vllm", backend_version="0.1.0"))


def test_without_the_library_the_error_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.import_module

    def missing(name: str, package: str | None = None) -> Any:
        if name.startswith("aiconfigurator_core"):
            raise ImportError(name)
        return real(name, package)

    monkeypatch.setattr(aic_module.importlib, "import_module", missing)
    with pytest.raises(ProfileError, match=r"pip install 'planner\[aic\]'"):
        aic_module.aic_profile(AicSpec("Qwen/Qwen3-8B", "h200_sxm"))


def test_validate_config_refuses_an_unknown_model_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "planner.yaml"
    config.write_text("ttft_ms: 500\nenvironment: virtual\naic_perf_model: {hf_id: acme/Nope, system: h200_sxm}\n")
    code = cli_main(["validate-config", str(config)])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("planner: aic_perf_model.hf_id 'acme/Nope' is not a model")
    assert "\n" not in err


def test_the_measured_profile_stays_the_default_where_both_are_given() -> None:
    both = {**settings(hf_id="Qwen/Qwen3-32B", system="h100_sxm"), "profile_results_dir": str(BUNDLED_PROFILE_DIR)}
    assert perf_model(both).decode.max_kv_tokens == load_profile(BUNDLED_PROFILE_DIR).decode.max_kv_tokens


def test_the_throughput_proposer_and_the_simulator_use_the_aic_model() -> None:
    config = PlannerConfig(
        ttft_ms=500,
        aic_perf_model={
            "hf_id": "Qwen/Qwen3-32B",
            "system": "h100_sxm",
            "decode_pick": {"tp": 2},
            "prefill_pick": {"tp": 2},
        },
    )
    assert perf_model(settings(**config.aic_perf_model.model_dump())) is aic_perf_model(QWEN_H100_TP2)  # type: ignore[union-attr]
    assert load_perf(config) is aic_perf_model(QWEN_H100_TP2)


def test_against_the_measured_h200_profile_the_model_is_near_enough_to_plan_with() -> None:
    """The cross-check benchmarks/aic_crosscheck.py prints: Dynamo's measured Llama-3.1-8B on one H200
    against the library's model of it (with aiconfigurator-core 0.12: TTFT 18 %, ITL 7 %, KV -6.6 %)."""
    check = cross_check(load_profile(BUNDLED_PROFILE_DIR), aic_perf_model(LLAMA_H200))
    assert len(check.of("ttft")) == 17
    assert len(check.of("itl")) >= 35
    assert check.median_abs_error("ttft") < 0.25
    assert check.median_abs_error("itl") < 0.12
    assert abs(check.kv_error) < 0.10
