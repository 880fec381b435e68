import random

import numpy as np
import pytest
import torch

from worldsim.train.checkpoint import TrainCheckpointError, load_train_state, save_train_state


def make():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 1))
    opt = torch.optim.AdamW(net.parameters(), lr=1e-2)
    net(torch.randn(5, 3)).sum().backward()
    opt.step()
    return net, opt


def test_round_trip_restores_weights_optimiser_rng_and_position(tmp_path):
    net, opt = make()
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    save_train_state(tmp_path, 7, {"net": net}, {"opt": opt}, data={"epoch": 2, "index": 4}, config={"a": 1})
    expect = (random.random(), np.random.rand(), torch.rand(2))

    net2, opt2 = make()
    with torch.no_grad():
        net2[0].weight.add_(1.0)
    random.seed(9), np.random.seed(9), torch.manual_seed(9)
    state = load_train_state(tmp_path, {"net": net2}, {"opt": opt2})
    assert state["step"] == 7 and state["data"] == {"epoch": 2, "index": 4} and state["config"] == {"a": 1}
    assert (random.random(), np.random.rand()) == expect[:2] and torch.equal(torch.rand(2), expect[2])
    for a, b in zip(net.state_dict().values(), net2.state_dict().values()):
        assert torch.equal(a, b)
    s1, s2 = opt.state_dict(), opt2.state_dict()
    assert s1["param_groups"] == s2["param_groups"]
    for i in s1["state"]:
        for k in s1["state"][i]:
            assert torch.equal(s1["state"][i][k], s2["state"][i][k])


def test_latest_points_at_newest_and_old_ones_are_pruned(tmp_path):
    net, opt = make()
    for step in (1, 2, 3):
        save_train_state(tmp_path, step, {"net": net}, {"opt": opt}, {}, {}, keep=2)
    assert sorted(p.name for p in tmp_path.glob("step_*")) == ["step_00000002", "step_00000003"]
    (tmp_path / ".tmp_step_00000004_1").mkdir()       # a write killed half-way is never read
    assert load_train_state(tmp_path, {"net": net}, {"opt": opt})["step"] == 3
    assert not list(tmp_path.glob(".tmp_latest*"))


def test_no_checkpoint_and_broken_pointer(tmp_path):
    net, opt = make()
    assert load_train_state(tmp_path, {"net": net}, {"opt": opt}) is None
    (tmp_path / "latest").write_text("step_00000009")
    with pytest.raises(TrainCheckpointError, match="step_00000009"):
        load_train_state(tmp_path, {"net": net}, {"opt": opt})


def test_mismatched_module_is_a_clear_error(tmp_path):
    net, opt = make()
    save_train_state(tmp_path, 1, {"net": net}, {"opt": opt}, {}, {})
    other = torch.nn.Linear(3, 4)
    with pytest.raises(TrainCheckpointError, match="module 'net' does not match"):
        load_train_state(tmp_path, {"net": other}, {})
