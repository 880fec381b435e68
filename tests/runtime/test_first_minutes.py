"""User mistakes on the command line end in one line on stderr and a non-zero exit, never a traceback."""
import msgpack
import pytest

from worldsim.cli import main
from worldsim.runtime.play import PlayOptions, play


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
