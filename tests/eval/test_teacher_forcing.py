"""AaptRenderer.step_teacher_forced: the ground truth replaces the model's own recycled latent."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from worldsim.controls.packets import PacketBuilder
from worldsim.models.renderer import AaptRenderer
from worldsim.runtime.renderer import RendererError


def test_teacher_forcing_recycles_the_true_latent():
    r = AaptRenderer(preset="tiny", max_sessions=2)
    gen = torch.Generator().manual_seed(0)
    for p in r.model.generator.parameters():          # zero-initialised outputs would ignore the input
        p.data += 0.1 * torch.randn(p.shape, generator=gen)
    rng = np.random.default_rng(0)
    video = rng.integers(0, 256, (9, 32, 32, 3), dtype=np.uint8)             # 1 + 4 * 2 true frames
    builder = PacketBuilder(["camera"])
    packets = [[builder.tick({})]] + [[builder.tick({"turn_left": 1.0}) for _ in range(4)] for _ in range(2)]
    own, forced = r.open(1, first_frame=video[0]), r.open(1, first_frame=video[0])
    out = [r.step([own, forced], [p, p]) if k == 0 else
           [r.step([own], [p])[0], r.step_teacher_forced([forced], [p], [video])[0]]
           for k, p in enumerate(packets)]
    np.testing.assert_array_equal(out[0][0], out[0][1])
    np.testing.assert_array_equal(out[1][0], out[1][1])      # step 1 recycles latent 0 = encode(frame 0) either way
    assert not np.array_equal(out[2][0], out[2][1])           # step 2 recycles the true latent 1, not its own
    with pytest.raises(RendererError, match="needs >= 9 true frames"):
        r.step_teacher_forced([forced], [packets[1]], [video[:5]])
