"""FrameLoop with an injected clock: fixed ticks, clamp, pipelining, latest-wins, resets, record/replay."""
from __future__ import annotations

import numpy as np
import pytest

from worldsim.controls import PacketBuilder, ScriptedInput
from worldsim.runtime.inprocess import LocalClient
from worldsim.runtime.loop import FrameLoop
from worldsim.runtime.play import PlayOptions, play
from worldsim.runtime.replay import replay
from worldsim.runtime.testpattern import TestPatternRenderer


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 1e-4)


class SlowRenderer(TestPatternRenderer):
    """Test pattern whose steps take `delay` seconds of fake time."""

    def __init__(self, clock: FakeClock, delay: float):
        super().__init__(32, 24)
        self.clock, self.delay = clock, delay

    def step(self, states, packets):
        self.clock.now += self.delay
        return super().step(states, packets)


def make_loop(clock, renderer=None, script="", **kwargs):
    renderer = renderer or TestPatternRenderer(32, 24)
    client = LocalClient(renderer)
    session = client.open("testpattern", controls=["camera"])
    source = ScriptedInput.loads(script) if script else ScriptedInput()
    return FrameLoop(client, session, source, PacketBuilder(["camera"], mode="fly"), clock=clock,
                     sleep=clock.sleep, **kwargs)


def test_ticks_follow_the_clock_not_the_loop_speed():
    clock = FakeClock()
    loop = make_loop(clock)
    stats = loop.run(ticks=49)                             # 1 + 12 steps of 4 frames
    assert stats.ticks == 49
    assert clock.now == pytest.approx(49 / 24, abs=0.05)    # 49 ticks at 24 fps of game time
    assert stats.frames_shown == 49 and stats.frames_dropped == 0
    assert stats.stalls == 0                               # a step is read and sent on its first tick


def test_a_stall_is_clamped_instead_of_spiralling():
    clock = FakeClock()
    loop = make_loop(clock, max_frame_time=0.25)
    loop.run(ticks=4)
    clock.now += 10.0                                      # the process was suspended for 10 s
    loop.run(ticks=loop.tick + 12)
    # after the stall at most max_frame_time worth of ticks ran back to back
    assert loop.tick == 16


def test_slow_renderer_slows_the_world_but_renders_every_packet():
    clock = FakeClock()
    loop = make_loop(clock, renderer=SlowRenderer(clock, delay=0.5))   # 0.5 s per 4-frame step: 8 fps
    stats = loop.run(ticks=41)
    assert stats.frames_received == 41                    # nothing sampled was skipped
    assert max(stats.latency_ms) < 2000                    # bounded: no input queue builds up


def test_latest_wins_drops_a_backlog():
    clock = FakeClock()
    loop = make_loop(clock)
    loop.run(ticks=9)
    backlog = loop.client.step(loop.session, 9, [loop.packets.tick({})] * 4)
    loop._sent[backlog.rid] = [(9 + i, clock.now) for i in range(4)]
    loop.client._done.append(backlog)                     # a burst: frames arrive faster than shown
    loop.client._done.append(loop.client.step(loop.session, 13, [loop.packets.tick({})] * 4))
    loop._sent[loop.client._done[-1].rid] = [(13 + i, clock.now) for i in range(4)]
    loop._receive(0.0)
    assert len(loop._frames) == loop.spec.frames_per_step + 1
    assert loop.stats.frames_dropped > 0


def test_turning_moves_the_picture_and_reset_returns_to_start():
    clock = FakeClock()
    loop = make_loop(clock, script='[[segment]]\nticks = [0, 24]\nhold = ["turn_right"]\n'
                                   '[[trigger]]\ntick = 30\naction = "reset"\n')
    loop.run(ticks=25)
    turned = loop.last_frame.copy()
    first = TestPatternRenderer(32, 24)
    start = first.step([first.open(0)], [[{"camera": {"c2w": np.diag([1.0, -1, -1, 1]).ravel().tolist()}}]])[0][0]
    assert not np.array_equal(turned, start)
    loop.run(ticks=40)                                     # reset fires at tick 30: back at the start pose
    assert loop.stats.errors == 0
    np.testing.assert_array_equal(loop.last_frame, start)


@pytest.mark.parametrize("in_process", [True, False], ids=["in-process", "worker"])
def test_record_then_replay_reproduces_every_frame(tmp_path, in_process):
    script = tmp_path / "walk.toml"
    script.write_text('[[segment]]\nticks = [0, 30]\nhold = ["move_forward", "turn_left"]\n'
                      '[[segment]]\nticks = [20, 45]\nhold = ["look_up"]\naxes = { look_dx = 6.0 }\n')
    video = tmp_path / "run.mp4"
    summary = play(PlayOptions(renderer="testpattern", in_process=in_process, headless=True, ticks=45,
                               input_script=str(script), record=str(video), renderer_options={"width": 64, "height": 48},
                               seed=7, realtime=False))
    assert summary["frames_shown"] == 45 and video.stat().st_size > 0
    result = replay(str(video.with_suffix(".ctl.msgpack")), in_process=in_process)
    assert result["exact"] and result["identical"] == 45


def test_replay_reports_the_first_frame_that_differs(tmp_path):
    import msgpack
    from worldsim.cli import main
    video = tmp_path / "run.mp4"
    script = tmp_path / "s.toml"
    script.write_text('[[segment]]\nticks = [0, 9]\nhold = ["turn_left"]\n')
    play(PlayOptions(renderer="testpattern", in_process=True, headless=True, ticks=9, record=str(video),
                     input_script=str(script), renderer_options={"width": 64, "height": 48}, seed=1, realtime=False))
    log_path = video.with_suffix(".ctl.msgpack")
    assert main(["replay", str(log_path), "--in-process"]) == 0
    records = list(msgpack.Unpacker(open(log_path, "rb"), raw=False))
    ticks = [r for r in records if r["kind"] == "tick"]
    ticks[5]["data"]["packet"] = ticks[0]["data"]["packet"]        # tamper with what the player did at tick 5
    with open(log_path, "wb") as f:
        for record in records:
            f.write(msgpack.packb(record))
    result = replay(str(log_path), in_process=True)
    assert not result["exact"] and result["first_difference"] == 5
    assert main(["replay", str(log_path), "--in-process"]) == 1


class DelayedClient(LocalClient):
    """A worker whose steps take `delay` seconds of fake time: a result is polled only once it is
    due, and a poll with a timeout waits (advances the fake clock) up to it, as a real client does."""

    def __init__(self, clock: FakeClock, delay: float):
        super().__init__(TestPatternRenderer(32, 24))
        self.clock, self.delay = clock, delay
        self.due: dict[int, float] = {}
        self.sent: list[tuple[int, float]] = []               # (first tick of the step, time sent)

    def submit_step(self, session, tick, packets):
        rid = super().submit_step(session, tick, packets)
        self.due[rid] = self.clock.now + self.delay
        self.sent.append((tick, self.clock.now))
        return rid

    def poll(self, timeout=0.0):
        if self._done and timeout > 0:
            self.clock.now = max(self.clock.now, min(self.clock.now + timeout, min(self.due[r.rid] for r in self._done)))
        ready = [r for r in self._done if self.due[r.rid] <= self.clock.now + 1e-12]
        self._done = [r for r in self._done if r not in ready]
        return ready


def delayed_loop(clock, delay, script=""):
    client = DelayedClient(clock, delay)
    session = client.open("testpattern", controls=["camera"])
    source = ScriptedInput.loads(script) if script else ScriptedInput()
    return FrameLoop(client, session, source, PacketBuilder(["camera"], mode="fly"), clock=clock, sleep=clock.sleep)


def test_the_step_for_frames_k_to_k3_is_sent_on_tick_k():
    clock = FakeClock()
    loop = delayed_loop(clock, delay=0.07)
    loop.run(ticks=49)
    dt = 1 / 24
    firsts = [tick for tick, _ in loop.client.sent]
    assert firsts == [0] + list(range(1, 49, 4))              # 1 frame, then 4 per step
    tick_times = {}                                           # the step is sent on its first tick,
    for tick, sent_at in loop.client.sent[2:]:                # the moment its controls are read
        tick_times[tick] = sent_at
    steps = sorted(tick_times)
    for a, b in zip(steps, steps[1:]):
        assert tick_times[b] - tick_times[a] == pytest.approx(4 * dt, abs=1e-3)   # the fake sleep's grain
    # the frames of a step carry the time its controls were read: the time it was sent
    assert [sampled for tick, sampled in loop.client.sent] == sorted(sampled for tick, sampled in loop.client.sent)
    assert loop.stats.frames_dropped == 0 and loop.stats.frames_shown == 49


@pytest.mark.parametrize("delay, ticks_to_photon", [(0.07, 2), (0.115, 3)])
def test_latency_is_the_step_time_rounded_up_to_the_tick(delay, ticks_to_photon):
    # read at tick k, sent at once, back after `delay`, shown on the first tick after that
    # (0.07 s = 1.7 ticks -> 2 ticks = 83 ms; 0.115 s = 2.76 ticks -> 3 ticks = 125 ms); before, a
    # step waited for its 4th tick: 3 ticks more
    clock = FakeClock()
    loop = delayed_loop(clock, delay, script='[[segment]]\nticks = [0, 97]\nhold = ["move_forward"]\n')
    stats = loop.run(ticks=97)
    steady = stats.latency_ms[3:]
    assert steady and all(ms == pytest.approx(ticks_to_photon * 1000 / 24, abs=0.5) for ms in steady)   # 0.5 ms: the fake sleep grain
    # the 4 frames of a step are shown on 4 ticks in a row: their controls are 0..3 ticks older
    assert stats.input_age_ms[5:9] == pytest.approx([(ticks_to_photon + i) * 1000 / 24 for i in range(4)], abs=2)
    assert stats.frames_dropped == 0 and stats.frames_received == 97
    summary = stats.summary()
    assert summary["latency_ms_p99"] == pytest.approx(ticks_to_photon * 1000 / 24, abs=0.5)
    assert "p99" in stats.hud()["latency"]


def test_a_live_input_is_held_for_the_step_and_its_mouse_spread():
    from worldsim.controls.actions import idle_actions, sample_step

    class Live:
        def sample(self):
            return {**idle_actions(), "move_forward": 1.0, "look_dx": 8.0}

    step = sample_step(Live(), 4)
    assert [a["move_forward"] for a in step] == [1.0] * 4
    assert [a["look_dx"] for a in step] == [2.0] * 4           # 8 px since the last read, over 4 frames
    script = ScriptedInput.loads('[[segment]]\nticks = [1, 2]\nhold = ["jump"]\n')
    assert [a["jump"] for a in sample_step(script, 4)] == [0.0, 1.0, 0.0, 0.0]   # a script: each tick's own


def test_the_hud_says_no_frame_yet_instead_of_nan_before_the_first_latency():
    from worldsim.runtime.stats import LoopStats

    hud = LoopStats().hud()
    assert "nan" not in " ".join(str(v) for v in hud.values()).lower()
    assert "no frame yet" in hud["latency"]
