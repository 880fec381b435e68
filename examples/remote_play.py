"""Remote play: render on a `worldsim serve` worker (this machine or another), play from here.

    worldsim serve --renderer reference --size 128x128 --bind tcp://127.0.0.1:5555   # in one shell
    python examples/remote_play.py --connect tcp://127.0.0.1:5555                   # in another
    python examples/remote_play.py                   # starts `worldsim serve` itself, on a free port

`worldsim.open(connect=...)` speaks the worker protocol over ZMQ (docs/protocol.md); the World
is the same as with a private worker: step, snapshot, record. Beyond loopback, serve with
`--curve DIR` (docs/RELIABILITY.md).
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import threading
import time

import worldsim


def start_server(renderer: str, size: str) -> tuple[subprocess.Popen, str]:
    """`worldsim serve` on a free loopback port (`*`); its address from the line it logs when ready."""
    server = subprocess.Popen([sys.executable, "-m", "worldsim.cli", "serve", "--renderer", renderer,
                               "--size", size, "--bind", "tcp://127.0.0.1:*"], stderr=subprocess.PIPE, text=True)
    for line in server.stderr:                                  # "... serving reference on tcp://127.0.0.1:PORT"
        if " serving " in line:
            threading.Thread(target=server.stderr.read, daemon=True).start()    # keep the pipe drained
            return server, line.rsplit(" on ", 1)[1].strip()
    raise SystemExit(f"worldsim serve exited with code {server.wait()} before serving")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--connect", help="tcp://host:port of a running `worldsim serve` (default: start one here)")
    p.add_argument("--renderer", default="reference", help="what the started server renders")
    p.add_argument("--size", default="128x128", help="WIDTHxHEIGHT the started server renders")
    p.add_argument("--steps", type=int, default=12, help="steps to play")
    args = p.parse_args()

    server, address = (None, args.connect) if args.connect else start_server(args.renderer, args.size)
    try:
        with worldsim.open(connect=address, seed=4) as world:   # a World as any other
            print(f"connected to {address}: {world.spec.name} {world.spec.width}x{world.spec.height}, "
                  f"worker {world.client.welcome.get('worker')}")
            t0, frames = time.perf_counter(), 0
            for i in range(args.steps):
                frames += len(world.step({"move_forward": 1.0, "look_dx": 3.0 if i % 2 else -3.0}))
            took = time.perf_counter() - t0
            x, _, z = world.last_packets[-1]["camera"]["c2w"][3::4][:3]
            print(f"{args.steps} steps, {frames} frames in {took:.2f} s ({frames / took:.0f} fps over the wire); "
                  f"camera at x={x:.2f} z={z:.2f}")
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
