"""`worldsim bench e2e`: a real worker process serving aapt, real clients stepping in real time."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from worldsim.cli import main


def test_e2e_tiny_two_sessions_reports_sane_figures():
    out = subprocess.run([sys.executable, "-m", "worldsim.cli", "bench", "e2e", "--preset", "tiny", "--seconds", "2",
                          "--sessions", "2", "--json"], capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout)
    assert (r["preset"], r["res"], r["window"], r["device"], r["sessions"]) == ("tiny", "32x32", 3, "cpu", 2)
    assert len(r["per_session"]) == 2
    for s in [r, *r["per_session"]]:
        assert s["fps"] > 0 and s["errors"] == 0
        assert s["steps_asked"] >= 6 and s["steps_answered"] == s["steps_asked"]       # 2 s at 6 steps/s
        assert 0 < s["step_ms_p50"] <= s["step_ms_p99"]
        assert 0 < s["latency_ms_p50"] <= s["latency_ms_p99"]
        assert 0 <= s["stall_pct"] <= 100
    assert r["fps_min"] <= r["fps"] and r["fps"] < 30                  # paced at 24 fps, not flat out
    assert r["steps_answered"] == sum(s["steps_answered"] for s in r["per_session"])
    assert sum(r["batch_sizes"].values()) == r["steps_answered"]
    assert set(r["batch_sizes"]) <= {"1", "2"}
    seconds = [b["second"] for b in r["timeline"]]                    # by the second of the scheduled read
    assert seconds == sorted(set(seconds)) and seconds[0] == 0 and seconds[-1] <= 2
    assert sum(b["steps"] for b in r["timeline"]) == r["steps_answered"]
    stalls = sum(b["stalls"] for b in r["timeline"])
    assert stalls == round(r["stall_pct"] * r["steps_answered"] / 100)
    assert all(b["render_ms_max"] > 0 for b in r["timeline"])
    assert max(b["render_ms_max"] for b in r["timeline"]) >= r["step_ms_p99"] - 0.1    # the slowest batch is in it
    assert r["tflops"] > 0 and r["tflops_delivered"] > 0 and r["gflop_per_step"] > 0
    assert r["worker_rss_mb"] > 50 and r["gpu_peak_mb"] is None        # CPU: no GPU memory
    assert r["compile_s"] is None and r["compile"] is False


def test_e2e_compiled_reports_the_warm_up_apart_from_real_time(tmp_path):
    """--compile: the worker traces every step graph (buckets 1, 2 x both ring phases) before READY;
    compile_s says how long, apart from the real-time figures. --worker-log keeps what the worker printed."""
    log = tmp_path / "worker.log"
    out = subprocess.run([sys.executable, "-m", "worldsim.cli", "bench", "e2e", "--preset", "tiny", "--seconds", "2",
                          "--sessions", "2", "--compile", "eager", "--json", "--worker-log", str(log)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "compiling renderer 'aapt'" in log.read_text()
    r = json.loads(out.stdout)
    assert r["compile"] == "eager" and r["compile_s"] > 0
    assert r["errors"] == 0 and r["steps_answered"] == r["steps_asked"] > 0
    assert set(r["batch_sizes"]) <= {"1", "2"}


def test_a_time_limit_stops_the_run_with_one_line_and_keeps_the_worker_log(tmp_path):
    """`timeout` (SIGTERM) cut a compiled 1.3b run with no output at all (docs/BENCHMARKS.md): now the progress is on
    stderr as it happens, and SIGTERM stops the worker, keeps its log and says where the run was, in one line."""
    import os
    import signal
    import time

    log = tmp_path / "worker.log"
    proc = subprocess.Popen([sys.executable, "-m", "worldsim.cli", "bench", "e2e", "--preset", "tiny", "--seconds", "60",
                             "--sessions", "1", "--json", "--worker-log", str(log)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    lines = []
    while time.monotonic() < deadline:                  # wait until it plays, then cut it as `timeout` would
        lines.append(proc.stderr.readline())
        if "worker ready in" in lines[-1]:
            break
    assert "worker ready in" in lines[-1], lines
    assert lines[0].startswith("worldsim bench e2e: starting the worker")
    time.sleep(2)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and out == ""
    assert err.startswith("worldsim: error: stopped by SIGTERM") and "while playing 1 session(s)" in err
    assert err.count("\n") == 1 and str(log) in err
    assert "serving aapt" in log.read_text()
    for p in (p for p in os.listdir("/proc") if p.isdigit()):           # no worker of this run is left serving
        try:
            cmd = open(f"/proc/{p}/cmdline").read()
        except OSError:
            continue
        assert not ("serve_main" in cmd and "--parent-pid" in cmd and f"--parent-pid\x00{proc.pid}\x00" in cmd)


@pytest.mark.parametrize("argv, message", [
    (["--sessions", "0"], "--sessions must be 1..1024, got 0"),
    (["--sessions", "1025"], "--sessions must be 1..1024, got 1025"),
    (["--seconds", "-1"], "--seconds must be in (0, 3600], got -1"),
    (["--preset", "huge"], "unknown model preset 'huge'"),
    (["--preset", "tiny", "--res", "30x32"], "--res 30x32: sizes must be multiples of 8"),
    (["--res", "big"], "--res: size must look like 736x416"),
    (["--device", "tpu"], "--device must be cpu or cuda[:N]"),
    (["--checkpoint", "/no/such/dir"], "no checkpoint at /no/such/dir"),
    (["--batch-buckets", "2,4"], "--batch-buckets: batch buckets must be comma-separated"),
    (["--preset", "tiny", "--fp8", "--gpus", "2"], "--fp8 runs on one GPU"),
    (["--preset", "tiny", "--worker-log", "/no/such/dir/w.log"], "--worker-log /no/such/dir/w.log: no such folder"),
])
def test_bad_options_are_one_line_errors(capsys, argv, message):
    assert main(["bench", "e2e", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("worldsim: error: ") and message in err and err.count("\n") == 1


def test_many_sessions_are_accepted_and_the_worker_is_started_for_them(monkeypatch):
    """128 sessions (the GPU target) pass the argument check and reach a worker started with
    --max-sessions 128 whose aapt renderer holds 128 (no worker is started here)."""
    import worldsim.runtime.process as process

    started = {}

    class Started(Exception):
        pass

    class FakeWorker:
        log_path = None

        def __init__(self, renderers, options, **kwargs):
            started.update(renderers=renderers, options=options, **kwargs)

        def start(self):
            raise Started

        def stop(self):
            pass

    monkeypatch.setattr(process, "WorkerProcess", FakeWorker)
    with pytest.raises(Started):
        main(["bench", "e2e", "--preset", "tiny", "--sessions", "128", "--seconds", "1"])
    assert started["renderers"] == ["aapt"]
    assert started["max_sessions"] == 128 and started["options"]["max_sessions"] == 128
