"""examples/clients/c: built with its Makefile, run against a real `worldsim serve` process.

Skipped where no C compiler, make or libzmq / msgpack-c headers are found, except under CI
(CI=true), where .ci/run installs them and a skip would hide a broken client: there it fails.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from worldsim.controls.camera_rig import look_rotation
from worldsim.runtime.testpattern import TestPatternRenderer

from .serving import serve_testpattern

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "examples" / "clients" / "c"
W, H, STEPS, TURN_DEG, EYE_M = 64, 48, 3, 3.0, 1.7     # as in worldsim_client.c


def unavailable(reason: str):
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}: .ci/run installs the C client's packages, so CI must run this test")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def client(tmp_path_factory) -> Path:
    if not shutil.which(os.environ.get("CC", "cc")) or not shutil.which("make"):
        unavailable("no C compiler (cc) or make")
    binary = tmp_path_factory.mktemp("c-client") / "worldsim_client"
    out = subprocess.run(["make", "-s", "-C", str(SRC), f"BIN={binary}"], capture_output=True, text=True,
                         timeout=120)
    missing = re.search(r"(zmq|msgpack)\.h: No such file", out.stderr)
    if missing:
        unavailable(f"{missing.group(1)}.h not found: apt-get install libzmq3-dev libmsgpack-dev")
    assert out.returncode == 0, out.stderr
    return binary


def serving(*options: str):
    """`worldsim serve` of the testpattern renderer on a free loopback port; yields its address."""
    return serve_testpattern("tcp://127.0.0.1:*", f"{W}x{H}", *options)


@pytest.fixture(scope="module")
def worker():
    with serving() as address:
        yield address


def read_ppm(path: Path) -> np.ndarray:
    data = path.read_bytes()
    header = f"P6\n{W} {H}\n255\n".encode()
    assert data.startswith(header), data[:20]
    assert len(data) == len(header) + W * H * 3, f"{path.name}: {len(data)} bytes"
    return np.frombuffer(data, np.uint8, offset=len(header)).reshape(H, W, 3)


def expected_frames(count: int) -> list[np.ndarray]:
    """The same steps rendered in this process: seed 1, the camera turning right TURN_DEG a frame."""
    renderer = TestPatternRenderer(W, H)
    state = renderer.open(1, controls=["camera"])
    frames, tick = [], 0
    while len(frames) < count:
        packets = []
        for i in range(renderer.spec.frames_for_step(state.steps)):
            c2w = np.eye(4)
            c2w[:3, :3] = look_rotation(-(tick + i) * TURN_DEG, 0.0)
            c2w[1, 3] = EYE_M
            packets.append({"camera": {"c2w": c2w.ravel().tolist()}})
        frames += list(renderer.step([state], [packets])[0])
        tick += len(packets)
    return frames


def test_the_c_client_speaks_this_protocol_version_and_numbers_every_type():
    """Needs no compiler: the constants of worldsim_client.c are the protocol's."""
    from worldsim.runtime import protocol as P
    source = (SRC / "worldsim_client.c").read_text()
    assert re.search(r"^#define PROTOCOL_VERSION (\d+)$", source, re.M).group(1) == str(P.PROTOCOL_VERSION)
    enum = re.search(r"^enum \{ HELLO = 1,([^}]*)\};", source, re.M | re.S)
    names = ["HELLO", *(n.strip() for n in enum.group(1).split(","))]
    assert [n.replace("ERROR_MSG", "ERROR") for n in names] == [t.name for t in sorted(P.MsgType)]
    assert [t.value for t in sorted(P.MsgType)] == list(range(1, len(P.MsgType) + 1))   # as C counts them


def test_the_c_client_steps_a_session_and_writes_its_frames(client, worker, tmp_path):
    out = subprocess.run([str(client), worker, "testpattern", str(STEPS), str(tmp_path)],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    count = 1 + 4 * (STEPS - 1)                       # testpattern: 1 frame on step 0, 4 after
    assert f"wrote {count} frames" in out.stdout, out.stdout
    frames = [read_ppm(tmp_path / f"frame_{i:04d}.ppm") for i in range(count)]
    assert not (tmp_path / f"frame_{count:04d}.ppm").exists()
    for frame in frames:
        assert len(np.unique(frame.reshape(-1, 3), axis=0)) > 4, "a blank frame"
    assert not np.array_equal(frames[0], frames[-1]), "the camera did not turn"
    for i, (got, want) in enumerate(zip(frames, expected_frames(count))):
        assert np.array_equal(got, want), f"frame {i} differs from the renderer's own"


def test_a_worker_error_is_one_line_and_exit_status_1(client, worker, tmp_path):
    out = subprocess.run([str(client), worker, "no-such-renderer", "1", str(tmp_path)],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 1
    assert out.stderr.count("\n") == 1 and "ERROR [bad_request]" in out.stderr, out.stderr


def test_the_c_client_speaks_curve_to_a_worker_that_allows_its_key(client, tmp_path):
    from worldsim.runtime.security import make_keys
    keys = tmp_path / "keys"
    make_keys(keys, "server")
    public, _ = make_keys(keys, "alice")
    (keys / "clients").mkdir()
    shutil.copy(public, keys / "clients")
    with serving("--curve", str(keys)) as address:
        out = subprocess.run([str(client), address, "testpattern", "1", str(tmp_path), str(keys), "alice"],
                             capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert read_ppm(tmp_path / "frame_0000.ppm").any()
