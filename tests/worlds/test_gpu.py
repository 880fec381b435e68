"""The same ray-marcher on the GPU, compiled: the pictures match the CPU's."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from worldsim.controls.camera_rig import intrinsics
from worldsim.worlds.compiled import compiled_kernels
from worldsim.worlds.player import Player, walk_cameras
from worldsim.worlds.raymarch import Scene, render
from worldsim.worlds.world import build_world


@pytest.mark.gpu
def test_cuda_compiled_matches_cpu_eager():
    world = build_world(2)
    c2w = torch.from_numpy(walk_cameras(world, Player(1).plan(8).actions())).float()
    K = torch.tensor(intrinsics(64, 64, 60.0), dtype=torch.float32).expand(8, 3, 3)
    cpu = render(Scene.from_world(world), c2w, K, 64, 64).numpy().astype(int)
    gpu = render(Scene.from_world(world, "cuda"), c2w.cuda(), K.cuda(), 64, 64,
                 kernels=compiled_kernels()).cpu().numpy().astype(int)
    close = (np.abs(cpu - gpu) <= 3).all(-1)
    assert close.mean() > 0.98, f"only {close.mean():.3f} of pixels agree"
