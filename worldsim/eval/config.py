"""What an evaluation runs: held-out world seeds, lengths, and how the seeds are written.

Training uses world seeds 0..999 (clip banks); evaluation uses held-out seeds from 100000 up
(default 100000-100003). Every figure in the summary says which seeds it used.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from ..errors import WorldsimUserError

TRAINING_SEEDS = range(0, 1000)
DEFAULT_SEEDS = (100000, 100001, 100002, 100003)


@dataclass(frozen=True)
class EvalConfig:
    seeds: tuple[int, ...] = DEFAULT_SEEDS
    seconds: float = 10.0            # length of the walk/yaw/strafe/still trajectories (AR over 1, 5, 10 s)
    drift_seconds: float = 60.0      # the walk is rolled out this long for the drift measure
    teacher_seconds: float = 4.0     # teacher-forced runs cover the first seconds of walk and yaw
    video_seconds: float = 10.0      # side-by-side mp4 per seed (0: none)
    prompt: str = ""                 # the subject's text prompt; "auto": each seed's place in the training
                                     # captions' words, "walks forward through a pine forest at dawn"

    def __post_init__(self):
        if not self.seeds:
            raise WorldsimUserError("eval needs at least one world seed")
        for name in ("seconds", "drift_seconds", "teacher_seconds"):
            if not getattr(self, name) > 0:
                raise WorldsimUserError(f"eval: {name} must be > 0, got {getattr(self, name)}")
        if self.drift_seconds < self.seconds:
            raise WorldsimUserError(f"eval: drift_seconds ({self.drift_seconds}) must be >= seconds ({self.seconds})")
        bad = [s for s in self.seeds if s in TRAINING_SEEDS]
        if bad:
            raise WorldsimUserError(f"eval: seeds {bad} are training world seeds (0..999); "
                                    f"use held-out seeds, e.g. 100000-100003")

    def to_dict(self) -> dict:
        return asdict(self)

    def prompts(self) -> list[str]:
        """The prompt each seed's sessions open with."""
        if self.prompt != "auto":
            return [self.prompt] * len(self.seeds)
        from ..worlds.world import build_world
        out = []
        for seed in self.seeds:
            world = build_world(seed)
            out.append(f"walks forward {world.describe(*world.spawn_point())}")
        return out


def parse_seeds(text: str) -> tuple[int, ...]:
    """'100000-100003' or '100000,100005,100009' (or a mix) -> the seeds, in order, without repeats."""
    from ..worlds.seeds import parse_seed_list
    try:
        seeds = parse_seed_list(text)
    except ValueError:
        raise WorldsimUserError(f"--seeds must look like 100000-100003 or 100000,100007, got {text!r}") from None
    if len(seeds) > 64:
        raise WorldsimUserError(f"--seeds names {len(seeds)} worlds; at most 64")
    return tuple(seeds)
