"""The GPU memory a served worker holds, as `worldsim bench e2e` reports it (gpu_peak_mb)."""
from __future__ import annotations

import os
import subprocess


class GpuMemory:
    """The worker's GPU memory, sampled with nvidia-smi: its own when nvidia-smi sees its pid, else
    the GPU's used memory minus what was used before the worker started."""

    def __init__(self, device: str):
        self.on = device.startswith("cuda")
        self.peak_process = self.peak_device = None
        self.before = self._query(["--query-gpu=memory.used"])[0] if self.on else None
        self.source = None

    @staticmethod
    def _query(fields: list[str]) -> list[str]:
        index = os.environ.get("CUDA_VISIBLE_DEVICES", "0").split(",")[0] or "0"
        cmd = ["nvidia-smi", *fields, "--format=csv,noheader,nounits"]
        try:
            out = subprocess.run(cmd + ([] if "compute-apps" in fields[0] else ["-i", index]),
                                 capture_output=True, text=True, timeout=5).stdout
        except (OSError, subprocess.TimeoutExpired):
            return [""]
        return out.strip().splitlines() or [""]

    def sample(self, pid: int) -> None:
        if not self.on:
            return
        for line in self._query(["--query-compute-apps=pid,used_memory"]):
            parts = [x.strip() for x in line.split(",")]
            if len(parts) == 2 and parts[0] == str(pid) and parts[1].isdigit():
                self.peak_process = max(self.peak_process or 0, int(parts[1]))
        used = self._query(["--query-gpu=memory.used"])[0]
        if used.strip().isdigit():
            self.peak_device = max(self.peak_device or 0, int(used))

    def peak_mb(self) -> float | None:
        if self.peak_process is not None:
            self.source = "nvidia-smi: the worker process"
            return float(self.peak_process)
        if self.peak_device is not None and str(self.before).strip().isdigit():
            self.source = "nvidia-smi: GPU used memory minus before the worker started"
            return float(self.peak_device - int(self.before))
        return None
