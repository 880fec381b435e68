"""Storyboards: a film as TOML scenes, each with its own text.

    [[segment]]
    text = "walks forward through a pine forest at dawn"
    seconds = 6                    # > 0; split into model segments of --seconds-per-segment (3 s)
    seed = 7                       # optional: the scene's noise (default: --seed + scene index)
    place = "lake"                 # optional: scenes naming one place show it (`worldsim ttt consistency`)
    camera = ["walk", "turn_left"] # optional camera path: the reference player's moves, in order

The camera path is told to the model in words, as the reference world's captions do
(worldsim/worlds/captions.py): text "through a pine forest at dawn" with that camera reads
"walks forward through a pine forest at dawn, then turns left".
Every mistake in a file is a one-line StoryboardError (a WorldsimUserError).
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from worldsim.errors import WorldsimUserError

MAX_SCENES = 64
KEYS = {"text", "seconds", "seed", "place", "camera"}


class StoryboardError(WorldsimUserError):
    pass


@dataclass(frozen=True)
class Scene:
    text: str
    seconds: float
    seed: int | None = None
    camera: tuple[str, ...] = ()
    place: str | None = None

    @property
    def prompt(self) -> str:
        """The text the model reads: the first move, the text, then the other moves (caption style)."""
        from worldsim.worlds.player import CAMERA_MOVES
        if not self.camera:
            return self.text
        first, *rest = (CAMERA_MOVES[m][0] for m in self.camera)
        return " ".join([first, self.text]) + "".join(f", then {p}" for p in rest)


def load_storyboard(path: str | Path) -> list[Scene]:
    path = Path(path)
    if not path.is_file():
        raise StoryboardError(f"{path}: no such storyboard file")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise StoryboardError(f"{path}: not valid TOML ({' '.join(str(err).split())})") from None
    return parse_storyboard(data, str(path))


def parse_storyboard(data: dict, where: str = "storyboard") -> list[Scene]:
    from worldsim.worlds.player import CAMERA_MOVES

    extra = set(data) - {"segment"}
    if extra:
        raise StoryboardError(f"{where}: unknown top-level key {sorted(extra)[0]!r} (only [[segment]] tables)")
    rows = data.get("segment")
    if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
        raise StoryboardError(f"{where}: needs at least one [[segment]] table")
    if len(rows) > MAX_SCENES:
        raise StoryboardError(f"{where}: {len(rows)} segments, at most {MAX_SCENES}")
    scenes = []
    for i, row in enumerate(rows, 1):
        at = f"{where}: segment {i}"
        unknown = set(row) - KEYS
        if unknown:
            raise StoryboardError(f"{at}: unknown key {sorted(unknown)[0]!r} (keys: {', '.join(sorted(KEYS))})")
        text = row.get("text")
        if not isinstance(text, str) or not text.strip():
            raise StoryboardError(f"{at}: missing text (text = \"what happens\")")
        seconds = row.get("seconds")
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not seconds > 0 or seconds == float("inf"):
            raise StoryboardError(f"{at}: seconds must be a positive number, got {seconds!r}")
        seed = row.get("seed")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
            raise StoryboardError(f"{at}: seed must be a non-negative integer, got {seed!r}")
        place = row.get("place")
        if place is not None and (not isinstance(place, str) or not place.strip()):
            raise StoryboardError(f"{at}: place must be a non-empty name, got {place!r}")
        camera = row.get("camera", [])
        if isinstance(camera, str):
            camera = [camera]
        if not isinstance(camera, list) or any(m not in CAMERA_MOVES for m in camera):
            bad = next((m for m in camera if m not in CAMERA_MOVES), camera) if isinstance(camera, list) else camera
            raise StoryboardError(f"{at}: unknown camera move {bad!r}; moves: {', '.join(CAMERA_MOVES)}")
        scenes.append(Scene(text.strip(), float(seconds), seed, tuple(camera), place.strip() if place else None))
    return scenes


def scene_parts(scenes: list[Scene], seconds_per_segment: float) -> list[int]:
    """Model segments per scene: a scene of d seconds is max(1, round(d / s)) segments of s seconds."""
    if not seconds_per_segment > 0:
        raise StoryboardError(f"--seconds-per-segment must be positive, got {seconds_per_segment}")
    return [max(1, round(scene.seconds / seconds_per_segment)) for scene in scenes]


def model_segments(scenes: list[Scene], seconds_per_segment: float, base_seed: int = 0) -> list[tuple[str, int]]:
    """(prompt, noise seed) per model segment, scene after scene (`scene_parts` of each)."""
    out = []
    for i, (scene, parts) in enumerate(zip(scenes, scene_parts(scenes, seconds_per_segment))):
        seed = base_seed + i if scene.seed is None else scene.seed
        out += [(scene.prompt, seed * 1000 + part) for part in range(parts)]
    return out
