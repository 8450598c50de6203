"""Config: Dynamo's names and defaults, old aliases, precedence, and errors that name the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from planner.config import PlannerConfig, load_config
from planner.errors import ConfigError
from planner_sdk import Role


def write(tmp_path: Path, text: str, name: str = "planner.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_defaults_follow_dynamo() -> None:
    config = load_config()
    assert config.mode == "disagg"
    assert config.optimization_target == "throughput"
    assert config.throughput_adjustment_interval_seconds == 180
    assert config.load_adjustment_interval_seconds == 5
    assert (config.ttft_ms, config.itl_ms) == (500.0, 50.0)
    assert config.max_gpu_budget == 8
    assert config.scheduling.tick_max_duration_seconds == 30.0
    assert config.plugin_registration.transport.request_timeout_seconds == 5.0
    assert config.roles == (Role.PREFILL, Role.DECODE)


def test_yaml_and_json_files_load(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "ttft_ms: 250\n")).ttft_ms == 250
    assert load_config(write(tmp_path, json.dumps({"itl_ms": 20}), "c.json")).itl_ms == 20


def test_dynamo_aliases_are_accepted(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "ttft: 200\nitl: 10\nadjustment-interval: 60\nno-operation: true\n"))
    assert (config.ttft_ms, config.itl_ms) == (200, 10)
    assert config.throughput_adjustment_interval_seconds == 60
    assert config.advisory is True


def test_an_alias_and_its_canonical_name_together_are_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="'ttft' and 'ttft_ms' set the same field"):
        load_config(write(tmp_path, "ttft: 200\nttft_ms: 300\n"))


def test_precedence_is_cli_over_environment_over_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "ttft_ms: 100\nitl_ms: 11\nscheduling:\n  tick_max_duration_seconds: 7\n")
    monkeypatch.setenv("PLANNER_TTFT_MS", "200")
    monkeypatch.setenv("PLANNER_SCHEDULING__TICK_MAX_DURATION_SECONDS", "8")
    config = load_config(path, ["ttft_ms=300"])
    assert config.ttft_ms == 300  # CLI
    assert config.scheduling.tick_max_duration_seconds == 8  # environment over file
    assert config.itl_ms == 11  # file
    assert load_config(path).ttft_ms == 200


def test_nested_cli_override_keeps_sibling_file_settings(tmp_path: Path) -> None:
    path = write(tmp_path, "scheduling:\n  tick_max_duration_seconds: 7\n  scale_interval_seconds: 5\n")
    config = load_config(path, ["scheduling.tick_max_duration_seconds=9"])
    assert config.scheduling.scale_interval_seconds == 5
    assert config.scheduling.tick_max_duration_seconds == 9


def test_unknown_keys_are_errors_naming_the_full_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, "scheduling:\n  tick_max_seconds: 3\n"))
    assert "scheduling.tick_max_seconds: unknown setting (value 3)" in str(err.value)


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("max_gpu_budget=-5", "max_gpu_budget: -5 is invalid: Input should be greater than or equal to -1"),
        ("ttft_ms=0", "ttft_ms: 0 is invalid: Input should be greater than 0"),
        ("mode=hybrid", "mode: 'hybrid' is invalid: Input should be 'disagg', 'prefill', 'decode' or 'agg'"),
        ("scheduling.tick_max_duration_seconds=nan", "scheduling.tick_max_duration_seconds"),
        (
            "plugin_registration.transport.request_timeout_seconds=-1",
            "plugin_registration.transport.request_timeout_seconds: -1",
        ),
        ("load_scaling_down_sensitivity=101", "load_scaling_down_sensitivity: 101 is invalid"),
        ("fpm_sample_bucket_size=15", "fpm_sample_bucket_size: 15 is invalid: must be a perfect square"),
        ("plugins=[{factory: 'not a path'}]", "plugins.0.factory: 'not a path' is invalid"),
    ],
)
def test_each_bad_value_names_field_value_and_rule(override: str, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(overrides=[override])
    assert expected in str(err.value)


def test_every_error_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as err:
        load_config(overrides=["ttft_ms=-1", "itl_ms=-1", "bogus=1"])
    assert len(err.value.problems) == 3


def test_a_budget_below_the_min_endpoints_is_an_error() -> None:
    with pytest.raises(ConfigError, match="max_gpu_budget=2 is below the 4 GPUs the min endpoints need"):
        load_config(overrides=["max_gpu_budget=2", "min_endpoint=2"])


def test_load_interval_must_be_shorter_than_throughput_interval_when_both_run() -> None:
    with pytest.raises(ConfigError, match="load_adjustment_interval_seconds=200 must be shorter"):
        load_config(
            overrides=["optimization_target=sla", "enable_load_scaling=true", "load_adjustment_interval_seconds=200"]
        )


def test_observations_default_to_the_fastest_loop_reading_them() -> None:
    assert PlannerConfig().observe_interval_effective == 5  # the load loop
    sla = PlannerConfig(optimization_target="sla")
    assert sla.observe_interval_effective == 10  # the throughput loop's surge check
    assert sla.model_copy(update={"surge_check_interval_seconds": 0}).observe_interval_effective == 180  # the loop
    assert sla.model_copy(update={"engine_model": "learnt"}).observe_interval_effective == 5  # the model's samples
    assert PlannerConfig(optimization_target="sla", observe_interval_seconds=20).observe_interval_effective == 20


def test_observing_less_often_than_a_loop_reads_is_an_error() -> None:
    with pytest.raises(ConfigError, match="observe_interval_seconds=300 is longer than the 180 s loop"):
        load_config(overrides=["optimization_target=sla", "observe_interval_seconds=300"])


def test_aggregated_engines_cannot_be_simulated_and_say_so() -> None:
    with pytest.raises(ConfigError, match="mode='agg' with environment 'embedded': the simulator models disagg"):
        load_config(overrides=["mode=agg"])


def test_role_specific_min_endpoints_override_the_shared_one() -> None:
    config = PlannerConfig(min_endpoint=1, decode_min_endpoint=2)
    assert config.min_endpoint_for(Role.PREFILL) == 1
    assert config.min_endpoint_for(Role.DECODE) == 2


def test_unreadable_and_malformed_files_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot be read"):
        load_config(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(write(tmp_path, "ttft_ms: [1,\n"))
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(write(tmp_path, "- 1\n- 2\n"))


def test_a_bad_override_says_how_to_write_one() -> None:
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        load_config(overrides=["ttft_ms"])


def test_latency_targets_without_an_optimization_target_select_sla() -> None:
    config = PlannerConfig(ttft_ms=300, max_gpu_budget=-1)
    assert config.optimization_target == "sla"
    assert config.notices() == [
        ("info", "optimization_target: sla, because ttft_ms=300 is set: the fleet is sized to meet it")
    ]


def test_latency_targets_beside_another_target_are_warned_about() -> None:
    config = PlannerConfig(itl_ms=20, optimization_target="throughput")
    assert config.optimization_target == "throughput"
    [(level, message)] = config.notices()
    assert level == "warning"
    assert "itl_ms=20" in message
    assert "'throughput'" in message


def test_the_default_gpu_budget_is_warned_about_when_it_caps_a_latency_target() -> None:
    notices = PlannerConfig(ttft_ms=300).notices()
    assert ("warning", notices[1][1]) in notices
    assert "max_gpu_budget=8 (the default)" in notices[1][1]


def test_a_config_without_targets_says_nothing() -> None:
    assert PlannerConfig().notices() == []
    assert PlannerConfig().optimization_target == "throughput"


def test_validate_config_prints_the_notices(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from planner.cli import main

    (tmp_path / "new.yaml").write_text("ttft_ms: 300\nitl_ms: 20\n")
    assert main(["validate-config", str(tmp_path / "new.yaml")]) == 0
    captured = capsys.readouterr()
    assert "optimization_target: sla" in captured.out
    assert "planner: info: optimization_target: sla, because ttft_ms=300, itl_ms=20 is set" in captured.err


@pytest.mark.parametrize("text", ["? \n", "1: 2\n", "plugins:\n  - factory: a.b:C\n    kwargs: {null: 3}\n"])
def test_a_key_that_is_no_name_is_an_error_naming_its_place(tmp_path: Path, text: str) -> None:
    with pytest.raises(ConfigError, match="setting names are text"):
        load_config(write(tmp_path, text))
