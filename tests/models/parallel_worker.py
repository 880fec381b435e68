"""One rank of tests/models/test_parallel.py (torchrun, gloo): sequence parallelism equals one process."""
from __future__ import annotations

import sys
from pathlib import Path

import torch
import torch.distributed as dist

sys.path.insert(0, str(Path(__file__).parent))
from test_generator import LATENT_HW, TEXT_LEN, clip_data, make_generator, rollout, teacher_forced  # noqa: E402

from worldsim.models.parallel import SequenceParallel  # noqa: E402


def expect(error, match, fn):
    try:
        fn()
    except error as e:
        assert match in str(e), str(e)
    else:
        raise AssertionError(f"no {error.__name__} ({match})")


def main() -> None:
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.set_num_threads(1)
    for dual_stream in (False, True):
        gen = make_generator(dual_stream=dual_stream)          # same seed: the same weights on every rank
        heads = gen.cfg.heads
        frames = 3 * gen.cfg.window + 2                         # past the window: sinks re-positioned
        first, text, controls, noise = clip_data(gen, 2, frames)
        gen.setup_cache(2, LATENT_HW, TEXT_LEN)
        alone = rollout(gen, first, text, controls, noise)      # one process, the reference
        alone_clip = teacher_forced(gen, alone, text, controls, noise)

        sp = SequenceParallel(gen)
        sp.setup_cache(2, LATENT_HW, TEXT_LEN)
        assert all(c.keys.shape[1] == c.values.shape[1] == c.first_keys.shape[1] == heads // world
                   for c in gen.caches), [c.keys.shape for c in gen.caches]
        latents = rollout(gen, first, text, controls, noise)
        torch.testing.assert_close(latents, alone, rtol=1e-5, atol=1e-5)
        clip = teacher_forced(gen, alone, text, controls, noise)   # ClipContext, tokens sharded
        torch.testing.assert_close(clip, alone_clip, rtol=1e-5, atol=1e-5)
        with torch.no_grad():                                   # FullContext (the bidirectional base)
            inputs, t = gen.noise_inputs(noise[:, :3]), torch.rand(2)
            full = gen.forward_clip(inputs, t, text, causal=False)
            sp.remove()
            torch.testing.assert_close(full, gen.forward_clip(inputs, t, text, causal=False), rtol=1e-5, atol=1e-5)
        print(f"rank {rank}: dual_stream={dual_stream} rollout of {frames} frames and clips equal, "
              f"cache heads {gen.caches[0].keys.shape[1]}/{heads}", flush=True)

    # Clear errors, raised on every rank before any collective.
    odd = make_generator(heads=3)
    expect(ValueError, "3 heads do not divide among 2 ranks", lambda: SequenceParallel(odd))
    sp = SequenceParallel(gen)
    first, text, controls, noise = clip_data(gen, 1, 3)
    with torch.no_grad():
        expect(ValueError, "9 tokens a frame do not divide among 2 ranks",
               lambda: gen.forward_clip(gen.clip_inputs(noise[..., :3, :3], noise[..., :3, :3], controls[..., :3, :3]),
                                        torch.ones(1), text))
    gen.setup_cache(1, LATENT_HW, TEXT_LEN)                       # all heads: not for this rank
    expect(ValueError, "set it up with SequenceParallel.setup_cache", lambda: gen.start(first, text))
    expect(NotImplementedError, "inference only",
           lambda: gen.forward_clip(gen.clip_inputs(noise, noise, controls), torch.ones(1), text))
    print(f"rank {rank}: errors ok", flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
