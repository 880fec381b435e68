"""The long-form model: segment-local base with gates at 0, TTT carries information across segments."""
from __future__ import annotations

import pytest
import torch

from worldsim_ttt.longform import TTTConfig, build_longform

S, FRAMES = 3, 2


@pytest.fixture(scope="module")
def model():
    return build_longform(preset="tiny", zero_init=False, cfg=TTTConfig(mini_batch=16))   # every path live


def inputs(seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(1, S, FRAMES, 16, 4, 4, generator=g), torch.rand(1, generator=g), torch.randn(1, S, 8, 32, generator=g)


@torch.no_grad()
def test_gates_at_zero_equal_the_segment_local_base(model):
    noisy, t, text = inputs()
    gen = model.base.generator
    base = torch.stack([gen.forward_clip(gen.noise_inputs(noisy[:, i]), t, text[:, i], causal=False)
                        for i in range(S)], 1)
    assert all(torch.equal(b.alpha, torch.full_like(b.alpha, 0.1)) for b in model.ttt)   # gates start at 0.1
    assert not torch.allclose(model(noisy, t, text), base, atol=1e-3)
    model.set_gates(0.0)
    try:
        out = model(noisy, t, text)
    finally:
        model.set_gates(0.1)
    assert out.shape == noisy.shape and torch.allclose(out, base, rtol=0, atol=1e-5)


@torch.no_grad()
@pytest.mark.parametrize("gate", [0.0, 0.1])
def test_only_the_ttt_path_crosses_segments(model, gate):
    noisy, t, text = inputs()
    changed_video, changed_text = noisy.clone(), text.clone()
    changed_video[:, 1] += 1.0
    changed_text[:, 1] += 1.0
    model.set_gates(gate)
    try:
        ref, by_video, by_text = (model(n, t, x) for n, x in ((noisy, text), (changed_video, text), (noisy, changed_text)))
    finally:
        model.set_gates(0.1)
    for out in (by_video, by_text):
        assert not torch.allclose(out[:, 1], ref[:, 1])                 # segment 2 itself changed
        if gate == 0.0:
            assert torch.equal(out[:, 0], ref[:, 0]) and torch.equal(out[:, 2], ref[:, 2])
        else:   # bidirectional: both the segment before and the one after hear of it
            assert not torch.allclose(out[:, 0], ref[:, 0], atol=1e-6)
            assert not torch.allclose(out[:, 2], ref[:, 2], atol=1e-6)


def test_param_groups_give_ttt_the_higher_rate(model):
    groups = {g["name"]: g for g in model.param_groups(1e-4)}
    assert groups["ttt"]["lr"] == pytest.approx(1e-4 * model.cfg.lr_scale) and model.cfg.lr_scale > 1
    ttt_ids = {id(p) for p in model.ttt.parameters()}
    assert {id(p) for p in groups["ttt"]["params"]} == ttt_ids
    base_ids = {id(p) for p in groups["base"]["params"]}
    assert not base_ids & ttt_ids and not base_ids & {id(p) for p in model.base.vae.parameters()}
    assert {id(p) for p in model.base.generator.parameters()} <= base_ids


def test_checkpoint_round_trip(model, tmp_path):
    from worldsim.models.checkpoint import load_checkpoint

    with torch.no_grad():
        model.ttt[0].alpha.fill_(0.3)
    try:
        model.save(tmp_path / "film")
        again = build_longform(checkpoint=str(tmp_path / "film"))
        noisy, t, text = inputs(1)
        with torch.no_grad():
            assert torch.allclose(again(noisy, t, text), model(noisy, t, text), atol=1e-6)
        load_checkpoint(tmp_path / "film")                              # still a worldsim checkpoint
    finally:
        model.set_gates(0.1)
    with pytest.raises(Exception, match="preset"):
        build_longform(preset="huge")


@torch.no_grad()
def test_variants_without_ttt_and_with_film_wide_attention(model):
    from worldsim_ttt.longform import LongFormModel

    noisy, t, text = inputs(2)
    local = LongFormModel(model.base, ttt_layers=False)
    film = LongFormModel(model.base, ttt_layers=False, span="film")
    assert len(local.ttt) == 0 and len(film.ttt) == 0
    model.set_gates(0.0)
    try:
        assert torch.equal(local(noisy, t, text), model(noisy, t, text))       # no TTT = gates at 0
    finally:
        model.set_gates(0.1)
    one = (noisy[:, :1], t, text[:, :1])
    assert torch.allclose(film(*one), local(*one), atol=1e-6)                  # one segment: the same attention
    changed = noisy.clone()
    changed[:, 2] += 1.0
    assert not torch.allclose(film(changed, t, text)[:, 0], film(noisy, t, text)[:, 0], atol=1e-6)
    assert torch.equal(local(changed, t, text)[:, 0], local(noisy, t, text)[:, 0])
    with pytest.raises(ValueError, match="span"):
        LongFormModel(model.base, span="window")


@torch.no_grad()
def test_a_baseline_without_ttt_layers_saves_and_loads_as_one(model, tmp_path):
    """kind "none" (film_lease.py --kind none): the segment-local baseline, trained like the TTT model,
    is a checkpoint that loads back without TTT layers and renders as the base alone."""
    from worldsim_ttt.longform import LongFormModel

    baseline = LongFormModel(model.base, TTTConfig(kind="none"))
    assert len(baseline.ttt) == 0 and baseline.param_groups(1e-4)[1]["params"] == []
    baseline.save(tmp_path / "local")
    again = build_longform(checkpoint=str(tmp_path / "local"))
    noisy, t, text = inputs(3)
    assert again.cfg.kind == "none" and len(again.ttt) == 0
    assert torch.allclose(again(noisy, t, text), LongFormModel(model.base, ttt_layers=False)(noisy, t, text), atol=1e-6)


def test_half_precision_copy_loads_back(model, tmp_path):
    path = model.save(tmp_path / "f16", dtype="float16")
    assert list(path.glob("model-*.safetensors")) and not (path / "model.safetensors").exists()
    again = build_longform(checkpoint=str(path))
    noisy, t, text = inputs(3)
    with torch.no_grad():
        assert torch.allclose(again(noisy, t, text), model(noisy, t, text), atol=1e-2)
