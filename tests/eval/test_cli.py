"""`worldsim eval` end to end: a tiny random aapt checkpoint against the reference world on CPU."""
from __future__ import annotations

import json

import pytest
import torch

from worldsim.cli import main
from worldsim.config import model_preset, replace_generator
from worldsim.controls.encoding import control_channels
from worldsim.models.checkpoint import save_checkpoint
from worldsim.models.model import build_model

SHORT = ["--seeds", "100000", "--seconds", "1", "--drift-seconds", "1", "--teacher-seconds", "1"]


@pytest.fixture(autouse=True)
def _threads():
    threads = torch.get_num_threads()                # the aapt renderer sets one thread
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def tiny_checkpoint(tmp_path):
    controls = {"camera": {"kind": "od"}}
    cfg = replace_generator(model_preset("tiny"), control_channels=control_channels(list(controls), controls))
    save_checkpoint(build_model(cfg, seed=0), tmp_path / "ckpt", controls=controls)
    return tmp_path / "ckpt"


def test_eval_of_a_tiny_checkpoint(tiny_checkpoint, tmp_path, capsys):
    out = tmp_path / "eval"
    assert main(["eval", "--renderer", "aapt", "--checkpoint", str(tiny_checkpoint), *SHORT,
                 "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out, parse_constant=lambda c: pytest.fail(f"not strict JSON: {c}"))
    assert summary == json.loads((out / "summary.json").read_text())
    assert summary["seeds"] == [100000] and summary["subject"]["width"] == 32
    assert summary["teacher_forced"]["model"]["psnr"] is not None           # aapt has step_teacher_forced
    assert summary["yaw"]["teacher_forced"]["by_position"][0]["positions"] == "1-4"
    assert "error_least_squares_pct" in summary["yaw"]["teacher_forced"]["by_position"][0]
    assert summary["speed"]["frames_per_s"] > 0
    assert (out / "walk-seed-100000.mp4").stat().st_size > 0
    for name in summary.get("plots", []):
        assert (out / name).stat().st_size > 0

    assert main(["eval", "--compare", str(out / "summary.json"), str(out / "summary.json")]) == 0
    text = capsys.readouterr().out
    assert "B - A" in text and "yaw following" in text


@pytest.mark.parametrize("argv,message", [
    (["--renderer", "aapt", "--checkpoint", "/nonexistent"], "no checkpoint there"),
    (["--seeds", "100000-99"], "--seeds must look like"),
    (["--seeds", "7"], "training world seeds"),
    (["--renderer", "nosuch"], "unknown renderer 'nosuch'"),
    (["--compare", "/nonexistent.json", "/nonexistent.json"], "no such file"),
    (["--window", "8"], "--window is the aapt renderer's attention window"),
    (["--renderer", "aapt", "--preset", "tiny", "--window", "0"], "a positive number of latent frames"),
    (["--renderer", "aapt", "--preset", "tiny", "--renderer-option", "fp8"], "must look like KEY=VALUE"),
    (["--renderer", "aapt", "--preset", "tiny", "--renderer-option", "preset=default"], "which eval sets itself"),
    (["--renderer", "aapt", "--preset", "tiny", "--renderer-option", "max_sessions=9"], "which eval sets itself"),
    (["--renderer", "aapt", "--preset", "tiny", "--renderer-option", "fp8=yes"], "aapt fp8 must be true or false"),
    (["--renderer", "aapt", "--preset", "tiny", "--renderer-option", "kv_splits=1.5"], "aapt kv_splits must be a whole"),
    (["--renderer", "aapt", "--preset", "tiny", "--renderer-option", "warp_speed=3"], "cannot build the aapt renderer"),
])
def test_user_mistakes_are_one_line_errors(argv, message, capsys):
    assert main(["eval", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_eval_plays_the_checkpoint_with_another_attention_window(tiny_checkpoint, capsys):
    assert main(["eval", "--renderer", "aapt", "--checkpoint", str(tiny_checkpoint), *SHORT, "--window", "2",
                 "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["subject"]["info"]["window"] == 2 != model_preset("tiny").generator.window


def test_renderer_options_reach_the_subject(tiny_checkpoint, capsys):
    """--renderer-option passes a constructor option the eval has no flag for (here the fp8 linears,
    which on the CPU only check the error) and the summary names it, in the label and the subject's info."""
    assert main(["eval", "--renderer", "aapt", "--checkpoint", str(tiny_checkpoint), *SHORT,
                 "--renderer-option", "fp8=true", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["subject"]["info"]["fp8"] is True and summary["subject"]["info"]["fp8_linears"] > 0
    assert "fp8=true" in summary["label"]


def test_the_prompt_reaches_the_subject(tmp_path, capsys):
    """--prompt auto opens each seed's sessions with its place in the training captions' words; a
    tiny model whose text layers are not zero reads its prompt, so its rollout changes."""
    from worldsim.eval.config import EvalConfig
    assert EvalConfig(seeds=(100000,), prompt="auto").prompts() == ["walks forward over rocky slopes at dawn"]
    assert EvalConfig(seeds=(100000, 100001), prompt="a field").prompts() == ["a field", "a field"]
    controls = {"camera": {"kind": "od"}}
    cfg = replace_generator(model_preset("tiny"), control_channels=control_channels(list(controls), controls))
    save_checkpoint(build_model(cfg, seed=0, zero_init=False), tmp_path / "ckpt", controls=controls)
    runs = {}
    for prompt in ("", "auto"):
        assert main(["eval", "--renderer", "aapt", "--checkpoint", str(tmp_path / "ckpt"), *SHORT, "--prompt", prompt,
                     "--json"]) == 0
        runs[prompt] = json.loads(capsys.readouterr().out)
    assert runs["auto"]["config"]["prompt"] == "auto" and runs[""]["config"]["prompt"] == ""
    assert runs["auto"]["autoregressive"]["horizons"] != runs[""]["autoregressive"]["horizons"]
