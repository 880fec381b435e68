"""User mistakes on the command line end in one line on stderr and a non-zero exit, never a traceback."""
import subprocess
import sys
from pathlib import Path

import msgpack
import pytest
import torch

from worldsim.cli import main
from worldsim.runtime.play import PlayOptions, play

ROOT = Path(__file__).resolve().parents[2]


def run_cli(capsys, *argv):
    code = main(list(argv))
    err = capsys.readouterr().err
    return code, err


def assert_one_line_error(code, err, *words):
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("worldsim: error:"), err
    for word in words:
        assert word in lines[0]


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    """A short headless testpattern play, recorded: run.mp4 + run.ctl.msgpack."""
    out = tmp_path_factory.mktemp("rec") / "run.mp4"
    play(PlayOptions(renderer="testpattern", in_process=True, headless=True, ticks=9, realtime=False,
                     record=str(out), renderer_options={"width": 64, "height": 48}))
    return out.with_name("run.ctl.msgpack")


def test_replay_of_a_missing_file(capsys, tmp_path):
    code, err = run_cli(capsys, "replay", str(tmp_path / "nope.ctl.msgpack"))
    assert_one_line_error(code, err, "no control log")


def test_replay_of_a_video_given_by_mistake(capsys, tmp_path):
    video = tmp_path / "run.mp4"
    video.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(64))
    code, err = run_cli(capsys, "replay", str(video))
    assert_one_line_error(code, err, "not a worldsim control log")


def test_a_truncated_log_names_the_flag_that_replays_it(capsys, tmp_path, recording):
    data = recording.read_bytes()
    end = msgpack.packb({"kind": "end", "ticks": 9, "frames": 9})
    cut = tmp_path / "cut.ctl.msgpack"
    cut.write_bytes(data[:data.rindex(end[:8])])                     # the recording was never closed
    code, err = run_cli(capsys, "replay", str(cut), "--in-process")
    assert_one_line_error(code, err, "--allow-truncated")
    assert "allow_truncated=True" not in err

    assert main(["replay", str(cut), "--in-process", "--allow-truncated"]) == 0
    out = capsys.readouterr()
    assert "frames identical" in out.out and "cut short" in out.err


@pytest.fixture
def without_pillow(monkeypatch):
    for name in [m for m in sys.modules if m == "PIL" or m.startswith("PIL.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "PIL", None)                    # `import PIL` raises ImportError


def test_a_png_strip_without_pillow_names_the_install_before_rendering(capsys, tmp_path, without_pillow):
    code, err = run_cli(capsys, "world", "render", "--out", str(tmp_path / "strip.png"), "--frames", "4")
    assert_one_line_error(code, err, "pip install pillow")


def test_the_example_without_pillow_names_the_install():
    code = ("import runpy, sys; sys.modules['PIL'] = None; sys.argv = ['embed', '--frames', '4']; "
            f"runpy.run_path({str(ROOT / 'examples' / 'embed_in_your_game.py')!r}, run_name='__main__')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().endswith("pip install pillow") and "Traceback" not in done.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="this torch has CUDA")
@pytest.mark.parametrize("argv", [["play", "--renderer", "testpattern"], ["serve", "--renderer", "testpattern"],
                                  ["world", "render", "--out", "clip.mp4"],
                                  ["train", "bank", "--world-seeds", "0", "--out", "bank.safetensors"],
                                  ["bench", "world"], ["bench", "model", "--preset", "tiny"]])
def test_a_cuda_device_without_cuda_is_one_line(capsys, argv):
    code, err = run_cli(capsys, *argv, "--device", "cuda")
    assert_one_line_error(code, err, "--device cuda", "--device cpu")


def test_an_unknown_renderer_is_one_line_listing_the_available_ones(capsys):
    code, err = run_cli(capsys, "play", "--headless", "--renderer", "foo")
    assert_one_line_error(code, err, "unknown renderer 'foo'", "testpattern")


@pytest.mark.parametrize("where", [[], ["--in-process"]])
def test_a_renderer_refusing_its_options_is_one_line_without_an_exception_name(capsys, where):
    code, err = run_cli(capsys, "play", "--headless", "--renderer", "testpattern", "--size", "13x7", *where)
    assert_one_line_error(code, err, "cannot start renderer 'testpattern'", "13x7")
    assert "ValueError" not in err


def test_a_refused_worker_leaves_no_log_behind(tmp_path, monkeypatch):
    import tempfile
    from worldsim.runtime.process import WorkerProcess, WorkerStartError
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with pytest.raises(WorkerStartError, match="cannot start renderer"):
        WorkerProcess(["testpattern"], {"width": 13, "height": 7}).start()
    assert list(tmp_path.glob("worldsim-worker-*.log")) == []


def test_an_option_a_renderer_does_not_take_is_named():
    from worldsim.runtime.registry import create_renderer
    with pytest.raises(ValueError, match="takes no option checkpoint"):
        create_renderer("testpattern", checkpoint="ckpt/")


@pytest.mark.parametrize("option", [["--ticks", "0"], ["--ticks", "-5"], ["--seed", "-1"], ["--record", "run"],
                                    ["--screenshot", "shot.jpg"], ["--window", "10x10000000"],
                                    ["--curve", "keys/"]])
def test_play_options_out_of_range_are_refused_up_front(capsys, option):
    code, err = run_cli(capsys, "play", "--headless", "--renderer", "testpattern", "--in-process", *option)
    assert_one_line_error(code, err, option[0])


def test_connect_without_renderer_plays_the_one_the_worker_serves(capsys, tmp_path):
    from worldsim.runtime.process import WorkerProcess
    worker = WorkerProcess(["testpattern"], {"width": 64, "height": 48}).start()
    try:
        stats = tmp_path / "stats.json"
        assert main(["play", "--connect", worker.address, "--headless", "--ticks", "5", "--fast",
                     "--stats", str(stats)]) == 0
    finally:
        worker.stop()
    assert '"renderer": "testpattern"' in stats.read_text()


def test_connect_without_renderer_to_a_worker_of_several_lists_them():
    from worldsim.errors import WorldsimUserError
    from worldsim.runtime.play import served_renderer
    with pytest.raises(WorldsimUserError, match="serves reference, testpattern: name one with --renderer"):
        served_renderer({"renderers": ["reference", "testpattern"]}, "tcp://127.0.0.1:5555")


def test_a_model_without_weights_says_it_plays_noise():
    from worldsim.runtime.play import random_weights_note
    from worldsim.runtime.renderer import RendererSpec
    spec = RendererSpec("aapt", 64, 64, info={"checkpoint": None, "preset": "tiny"})
    assert "weights are random" in random_weights_note(spec)
    assert random_weights_note(RendererSpec("aapt", 64, 64, info={"checkpoint": "ckpt/"})) is None


def test_serve_with_a_refused_option_is_one_line(capsys):
    code, err = run_cli(capsys, "serve", "--renderer", "testpattern", "--size", "13x7", "--bind", "tcp://127.0.0.1:*")
    assert_one_line_error(code, err, "cannot start renderer 'testpattern'", "13x7")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="DISPLAY is how Linux names a screen")
def test_play_without_a_screen_says_so_before_starting_the_renderer(capsys, monkeypatch):
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "SDL_VIDEODRIVER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr("worldsim.runtime.play.make_client", lambda *a, **k: pytest.fail("the renderer started"))
    code, err = run_cli(capsys, "play", "--renderer", "testpattern")
    assert_one_line_error(code, err, "--headless", "xvfb-run")


def test_worker_options_with_connect_are_refused(capsys):
    code, err = run_cli(capsys, "play", "--connect", "tcp://127.0.0.1:5555", "--checkpoint", "ckpt/")
    assert_one_line_error(code, err, "worldsim serve")


@pytest.mark.parametrize("argv, words", [
    (["controls", "check", "foo"], ["worldsim: error: unknown control 'foo'"]),
    (["controls", "script", "--ticks", "-3"], ["--ticks"]),
    (["train", "throughput", "nope.jsonl"], ["nope.jsonl", "cannot read"]),
])
def test_other_commands_refuse_mistakes_in_one_line(capsys, argv, words):
    code, err = run_cli(capsys, *argv)
    assert_one_line_error(code, err, *words)
