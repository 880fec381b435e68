"""`worldsim bench runtime | model | world`: each benchmark module adds its own subcommand."""
from __future__ import annotations

import importlib

BENCH_MODULES = ["worldsim.bench.runtime", "worldsim.bench.model", "worldsim.bench.world",
                 "worldsim.bench.controls"]


def register(sub) -> None:
    parser = sub.add_parser("bench", help="benchmarks (numbers for docs/BENCHMARKS.md)")
    bench_sub = parser.add_subparsers(dest="bench", metavar="BENCH")
    bench_sub.required = True
    for name in BENCH_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name == name:
                continue
            raise
        module.register(bench_sub)
