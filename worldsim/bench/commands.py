"""`worldsim bench runtime | model | e2e | world | controls | load | fuzz | recover`: each benchmark module adds its own subcommand."""
from __future__ import annotations

BENCH_MODULES = ["worldsim.bench.runtime", "worldsim.bench.model", "worldsim.bench.e2e",
                 "worldsim.bench.world",
                 "worldsim.bench.controls", "worldsim.bench.load", "worldsim.bench.fuzz",
                 "worldsim.bench.recover"]


def register(sub) -> None:
    from worldsim.cli import register_commands
    parser = sub.add_parser("bench", help="benchmarks (numbers for docs/BENCHMARKS.md)")
    bench_sub = parser.add_subparsers(dest="bench", metavar="BENCH")
    bench_sub.required = True
    register_commands(bench_sub, BENCH_MODULES)
