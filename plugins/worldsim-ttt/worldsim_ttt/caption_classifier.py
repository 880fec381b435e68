"""Caption agreement: a small CNN, trained on reference-world clips, that reads a clip's biome,
time of day and action, so a generated film's segments can be checked against their storyboard.

    clips = reference_clips(range(200))                   # frames (N, T, H, W, 3) uint8, labels (N, 3)
    model = train_classifier(clips, minutes=5)
    save_classifier(model, "runs/cls"); model = load_classifier("runs/cls")
    evaluate(model, reference_clips(range(10_000, 10_050)))   # per-head accuracy vs majority baseline
    agreement(model, frames_per_segment, captions_or_labels)  # per segment and mean, per head

Labels come from the reference world itself, not from caption text: the biome under the camera
at the clip's first frame (`world.terrain.biome_at`), the world's `sky.time_of_day`, and the
stochastic player's first manoeuvre collapsed to ACTIONS (walk / run / turn / look / stand).
A clip is `CLIP_FRAMES` frames (the shortest manoeuvre is 0.5 s = 12 frames at 24 fps, so the whole
clip lies inside the first move), of which every `stride`-th is the network's input.
Generated segments are judged on their first frames the same way; their intended labels come from
dicts, or are read back from caption-style text (`labels_from_text`) where only text exists.
"""
from __future__ import annotations

import json
import math
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

HEADS = ("biome", "time_of_day", "action")
BIOMES = ("water", "sand", "grass", "forest", "rock", "snow")           # worldsim.worlds.terrain.BIOMES
TIMES = ("dawn", "morning", "noon", "afternoon", "dusk")                 # worldsim.worlds.world.TIMES_OF_DAY
ACTIONS = ("walk", "run", "turn", "look", "stand")
CLASSES = {"biome": BIOMES, "time_of_day": TIMES, "action": ACTIONS}
MOVE_ACTION = {                                                         # player.CAMERA_MOVES -> ACTIONS
    "walk": "walk", "veer_left": "walk", "veer_right": "walk", "strafe_left": "walk",
    "strafe_right": "walk", "back": "walk", "run": "run", "turn_left": "turn", "turn_right": "turn",
    "look_around": "look", "look_up": "look", "look_down": "look", "stop": "stand",
}
CLIP_FRAMES = 12
WEIGHTS, CONFIG = "classifier.safetensors", "classifier.json"
# The classifier `worldsim ttt agreement` reads by default: one judge for every film and session (docs/ttt.md, where its
# training command and held-out accuracy are).
SHIPPED = Path(__file__).parent / "assets" / "caption_classifier"


@dataclass
class LabelledClips:
    frames: Tensor                # uint8 (N, T, H, W, 3), T = CLIP_FRAMES
    labels: Tensor                # int64 (N, 3): indices into CLASSES[h] for h in HEADS
    world_seeds: list[int]        # per clip
    player_seeds: list[int]       # per clip
    starts: Tensor                # float64 (N, 2): the camera's x, z at the first frame
    moves: list[str]              # per clip: the player's first manoeuvre (player.CAMERA_MOVES)
    captions: list[str]           # per clip: the reference world's caption (captions.py)

    def __len__(self) -> int:
        return self.frames.shape[0]


def clip_labels(world, first_move: str, c2w0) -> dict[str, str]:
    """The reference world's own labels for a clip starting at camera c2w0 (4, 4)."""
    x, z = float(c2w0[0, 3]), float(c2w0[2, 3])
    return {"biome": world.terrain.biome_at(x, z), "time_of_day": world.sky.time_of_day,
            "action": MOVE_ACTION[first_move]}


def encode_labels(labels: dict[str, str | None]) -> list[int]:
    """{'biome': 'forest', ...} -> class indices per head (-1 for a missing head)."""
    return [CLASSES[h].index(labels[h]) if labels.get(h) is not None else -1 for h in HEADS]


def reference_clips(world_seeds, clips_per_world: int = 2, width: int = 64, height: int = 64,
                    frames: int = CLIP_FRAMES, chunk: int = 4, progress=None) -> LabelledClips:
    """Labelled walks through each world seed: player seed `world_seed * 1009 + k`, k < clips_per_world.
    Rendered on CPU in batched calls of `chunk` worlds (a world costs ~1 s to build)."""
    from worldsim.worlds.dataset import camera_clips
    from worldsim.worlds.raymarch import cpu_threads
    from worldsim.worlds.world import build_world

    seeds = [int(s) for s in world_seeds]
    video, labels, walks_all, starts, moves, captions = [], [], [], [], [], []
    with cpu_threads(1):
        for i in range(0, len(seeds), chunk):
            walks = [(w, w * 1009 + k) for w in seeds[i:i + chunk] for k in range(clips_per_world)]
            for walk, clip in zip(walks, camera_clips(walks, frames, width, height, "cpu", max_batch=64)):
                world, move, c2w0 = build_world(clip.seed), clip.segments[0]["move"], clip.c2w[0]
                video.append(clip.frames.cpu())
                labels.append(encode_labels(clip_labels(world, move, c2w0.numpy())))
                walks_all.append(walk)
                starts.append((float(c2w0[0, 3]), float(c2w0[2, 3])))
                moves.append(move)
                captions.append(clip.caption)
            if progress:
                progress(min(i + chunk, len(seeds)), len(seeds))
    return LabelledClips(torch.stack(video), torch.tensor(labels, dtype=torch.long), [w for w, _ in walks_all],
                         [p for _, p in walks_all], torch.tensor(starts, dtype=torch.float64), moves, captions)


# --- labels from caption text (for storyboards, whose segments have only text) -----------------------

_PLACES = (("across a lake", "water"), ("sandy shore", "sand"), ("meadows", "grass"), ("grassland", "grass"),
           ("forest", "forest"), ("rocky slopes", "rock"), ("snowy peaks", "snow"))


def labels_from_text(text: str) -> dict[str, str | None]:
    """What a caption in the reference world's words (captions.py, world.describe) says: the first
    move's action, the place's biome, the time of day; None for what it does not say."""
    from worldsim.worlds.player import CAMERA_MOVES

    t = " ".join(text.lower().split())
    first = t.split(", then ")[0]
    tod = re.search(r"\bat (" + "|".join(TIMES) + r")\b", t)
    biome = next((b for phrase, b in _PLACES if phrase in first), None)
    action = None
    if first.startswith("looks around"):
        action = "look"
    else:
        for name, (phrase, *_rest) in sorted(CAMERA_MOVES.items(), key=lambda kv: -len(kv[1][0])):
            if first.startswith(phrase):
                action = MOVE_ACTION[name]
                break
    return {"biome": biome, "time_of_day": tod.group(1) if tod else None, "action": action}


# --- the network ----------------------------------------------------------------------------------

@dataclass
class ClassifierConfig:
    width: int = 64
    height: int = 64
    frames: int = CLIP_FRAMES       # frames of a clip
    stride: int = 2                 # every stride-th frame is read: (frames + stride - 1) // stride inputs
    channels: tuple[int, ...] = (32, 64, 96, 128)
    classes: dict = field(default_factory=lambda: {h: list(CLASSES[h]) for h in HEADS})
    trained: dict = field(default_factory=dict)    # what it was trained on, and the held-out accuracy

    @property
    def inputs(self) -> int:
        return len(range(0, self.frames, self.stride))


class CaptionClassifier(nn.Module):
    """Frames (B, T, H, W, 3) uint8 -> logits per head. Input: the first read frame plus the
    differences between consecutive read frames (motion), stacked as channels; four stride-2 convs,
    global average pool, one linear head per label."""

    def __init__(self, cfg: ClassifierConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or ClassifierConfig()
        layers, c_in = [], 3 * cfg.inputs
        for c in cfg.channels:
            layers += [nn.Conv2d(c_in, c, 3, stride=2, padding=1), nn.GroupNorm(8, c), nn.SiLU()]
            c_in = c
        self.body = nn.Sequential(*layers)
        self.heads = nn.ModuleDict({h: nn.Linear(c_in, len(cfg.classes[h])) for h in HEADS})

    def prepare(self, frames) -> Tensor:
        """(B, T', H', W', 3) uint8 (or float in [0, 1]) -> (B, C, H, W) float: the first `frames`
        frames, every `stride`-th, resized to the classifier's size."""
        x = torch.as_tensor(frames)
        x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
        cfg = self.cfg
        if x.shape[1] < cfg.frames:
            raise ValueError(f"clips need at least {cfg.frames} frames, got {x.shape[1]}")
        x = x[:, :cfg.frames:cfg.stride]                                        # (B, n, H, W, 3)
        b, n, h, w, _ = x.shape
        x = x.permute(0, 1, 4, 2, 3).reshape(b * n, 3, h, w)
        if (h, w) != (cfg.height, cfg.width):
            x = F.interpolate(x, size=(cfg.height, cfg.width), mode="bilinear", antialias=True, align_corners=False)
        x = x.reshape(b, n, 3, cfg.height, cfg.width)
        x = torch.cat([x[:, :1] - 0.5, 4.0 * (x[:, 1:] - x[:, :-1])], dim=1)   # appearance + motion
        return x.flatten(1, 2)

    def forward(self, frames) -> dict[str, Tensor]:
        p = next(self.parameters())
        z = self.body(self.prepare(frames).to(p.device, p.dtype)).mean(dim=(2, 3))
        return {h: head(z) for h, head in self.heads.items()}

    @torch.no_grad()
    def predict(self, frames, batch: int = 64) -> Tensor:
        """(B, T, H, W, 3) -> int64 (B, 3) class indices per head."""
        was = self.training
        self.eval()
        out = []
        for i in range(0, len(frames), batch):
            logits = self(frames[i:i + batch])
            out.append(torch.stack([logits[h].argmax(-1) for h in HEADS], dim=1).cpu())
        self.train(was)
        return torch.cat(out)


def save_classifier(model: CaptionClassifier, out: str | Path) -> Path:
    from safetensors.torch import save_file

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, str(out / WEIGHTS))
    (out / CONFIG).write_text(json.dumps(asdict(model.cfg), indent=2) + "\n")
    return out


def load_classifier(path: str | Path) -> CaptionClassifier:
    from safetensors import SafetensorError
    from safetensors.torch import load_file
    from worldsim.errors import WorldsimUserError

    path = Path(path)
    if not (path / CONFIG).is_file() or not (path / WEIGHTS).is_file():
        raise WorldsimUserError(f"{path}: not a caption classifier (needs {CONFIG} and {WEIGHTS})")
    try:
        data = json.loads((path / CONFIG).read_text())
        data["channels"] = tuple(data["channels"])
        model = CaptionClassifier(ClassifierConfig(**data))
        model.load_state_dict(load_file(str(path / WEIGHTS)))
    except (ValueError, TypeError, KeyError, RuntimeError, SafetensorError) as err:
        raise WorldsimUserError(f"{path}: unreadable caption classifier ({' '.join(str(err).split())[:200]})") from None
    return model.eval()


# --- training and evaluation ----------------------------------------------------------------------

def train_classifier(clips: LabelledClips, cfg: ClassifierConfig | None = None, epochs: int = 40,
                     minutes: float | None = None, batch: int = 32, lr: float = 2e-3, seed: int = 0,
                     log=None) -> tuple[CaptionClassifier, list[float]]:
    """Adam on the sum of the three heads' cross-entropies, with horizontal flips of the clip
    (a flip swaps left and right, which no head distinguishes). Stops after `epochs` or `minutes`.
    -> the model (eval mode) and the mean loss of each epoch."""
    torch.manual_seed(seed)
    cfg = cfg or ClassifierConfig(width=clips.frames.shape[3], height=clips.frames.shape[2])
    model = CaptionClassifier(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * math.ceil(len(clips) / batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=max(steps, 1), pct_start=0.15)
    gen = torch.Generator().manual_seed(seed)
    losses, start = [], time.monotonic()
    model.train()
    for epoch in range(epochs):
        order, total = torch.randperm(len(clips), generator=gen), 0.0
        for i in range(0, len(clips), batch):
            idx = order[i:i + batch]
            x, y = clips.frames[idx], clips.labels[idx]
            flip = torch.rand(len(idx), generator=gen) < 0.5
            x = torch.where(flip[:, None, None, None, None], x.flip(3), x)
            logits = model(x)
            loss = sum(F.cross_entropy(logits[h], y[:, k], ignore_index=-1) for k, h in enumerate(HEADS))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        losses.append(total / len(clips))
        if log:
            log(f"epoch {epoch + 1}/{epochs} loss {losses[-1]:.3f} ({time.monotonic() - start:.0f} s)")
        if minutes is not None and time.monotonic() - start > 60 * minutes:
            break
    return model.eval(), losses


def _confusion(y: Tensor, p: Tensor, n: int) -> list[list[int]]:
    keep = y >= 0
    return torch.bincount(y[keep] * n + p[keep], minlength=n * n).reshape(n, n).tolist()


def evaluate(model: CaptionClassifier, clips: LabelledClips) -> dict[str, dict]:
    """Per head: accuracy, the majority baseline (always the set's most common class), that class,
    and the confusion matrix (rows: true class, columns: predicted, in cfg.classes order)."""
    pred = model.predict(clips.frames)
    out = {}
    for k, h in enumerate(HEADS):
        y = clips.labels[:, k]
        counts = torch.bincount(y[y >= 0], minlength=len(model.cfg.classes[h]))
        out[h] = {"accuracy": float((pred[:, k] == y).float().mean()),
                  "majority": float(counts.max() / counts.sum()),
                  "majority_class": model.cfg.classes[h][int(counts.argmax())], "clips": len(y),
                  "confusion": _confusion(y, pred[:, k], len(model.cfg.classes[h]))}
    return out


# --- agreement (what a film's quality measure calls) ---------------------------------------------

def _intended(item) -> dict[str, str | None]:
    if isinstance(item, str):
        return labels_from_text(item)
    if isinstance(item, dict):
        return {h: item.get(h) for h in HEADS}
    if isinstance(getattr(item, "prompt", None), str):          # a storyboard.Scene: what the model reads
        return labels_from_text(item.prompt)
    raise TypeError(f"intended labels are a caption, a storyboard scene or a dict of {HEADS}, "
                    f"got {type(item).__name__}")


def label_agreement(predicted, intended) -> dict:
    """Per segment, per head: 1.0 where the predicted label is the intended one, 0.0 where not,
    None where the intent does not name that head; and the mean per head over the named ones."""
    predicted, intended = [_intended(p) for p in predicted], [_intended(i) for i in intended]
    if len(predicted) != len(intended):
        raise ValueError(f"{len(predicted)} predicted segments for {len(intended)} intended")
    per = [{h: (None if want[h] is None else float(got[h] == want[h])) for h in HEADS}
           for got, want in zip(predicted, intended)]
    mean = {}
    for h in HEADS:
        vals = [s[h] for s in per if s[h] is not None]
        mean[h] = sum(vals) / len(vals) if vals else None
    return {"per_segment": per, "mean": mean}


def agreement(model: CaptionClassifier, frames_per_segment, captions_or_labels) -> dict:
    """Frames of each segment ((T, H, W, 3) uint8, T >= cfg.frames; any size, resized) -> the
    classifier's labels vs the storyboard's intended ones (captions in the reference world's words,
    storyboard.Scene objects (their prompt), or dicts of biome / time_of_day / action). -> {"per_segment": [{head: 1.0 | 0.0 | None}],
    "mean": {head: float | None}, "predicted": [{head: label}]}."""
    n = model.cfg.frames
    frames = torch.stack([torch.as_tensor(f)[:n] for f in frames_per_segment])     # segments may differ in length
    pred = model.predict(frames)
    predicted = [{h: model.cfg.classes[h][int(p[k])] for k, h in enumerate(HEADS)} for p in pred]
    return {**label_agreement(predicted, captions_or_labels), "predicted": predicted}
