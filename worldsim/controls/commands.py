"""`worldsim controls list | check | bindings | script | measure-scales`."""
from __future__ import annotations

import json
import sys


def register(sub) -> None:
    parser = sub.add_parser("controls", help="control kinds, bindings, input scripts, camera scales")
    csub = parser.add_subparsers(dest="controls", metavar="ACTION")
    csub.required = True

    p = csub.add_parser("list", help="the control kinds (built-in and plugins) with their channels")
    p.set_defaults(func=_list)

    p = csub.add_parser("check", help="run the control contract checker on a control")
    p.add_argument("control", help="a registered kind (e.g. camera) or module:attr of a Control")
    p.set_defaults(func=_check)

    p = csub.add_parser("bindings", help="print the default bindings, save them to edit, or check a file")
    p.add_argument("--save", metavar="FILE.toml", help="write the default bindings to FILE")
    p.add_argument("--check", metavar="FILE.toml", help="load FILE and report errors")
    p.set_defaults(func=_bindings)

    p = csub.add_parser("script", help="write a seeded random-walk input script (for tests and data)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random walk")
    p.add_argument("--ticks", type=int, default=240, help="script length in ticks (default 240: 10 s)")
    p.add_argument("-o", "--output", metavar="FILE.toml", help="write here instead of printing")
    p.set_defaults(func=_script)

    p = csub.add_parser("measure-scales", help="measure camera-encoding scale constants on trajectories")
    p.add_argument("scripts", nargs="*", metavar="SCRIPT.toml", help="input scripts that drive a CameraRig")
    p.add_argument("--random", type=int, default=0, metavar="N", help="also N seeded random walks")
    p.add_argument("--ticks", type=int, default=1441, help="ticks of each random walk")
    p.add_argument("--kind", choices=["od", "plucker"], default="od", help="camera encoding to measure")
    p.add_argument("--fovy", type=float, default=60.0, help="vertical field of view, degrees")
    p.add_argument("--fly", action="store_true", help="fly mode instead of walking")
    p.set_defaults(func=_measure)


def _user_error(err: Exception):
    from worldsim.errors import WorldsimUserError
    return WorldsimUserError(err.args[0] if isinstance(err, KeyError) and err.args else str(err))  # no repr quotes


def _list(args) -> int:
    from .encoding import control_channels
    from .registry import available_controls, get_control
    for name in available_controls():
        control = get_control(name)
        print(f"{name:10s} {control_channels([name]):4d} channels  {getattr(control, 'doc', '')}")
    return 0


def _check(args) -> int:
    from .control import check_control
    from .registry import _load, get_control
    from .schema import ControlError
    try:
        control = _load(args.control) if ":" in args.control else get_control(args.control)
        check_control(control)
    except (KeyError, ImportError, AttributeError, ControlError) as err:
        raise _user_error(err) from err
    print(f"{control.name}: ok (rig, schema, msgpack round trip, encoder shape and determinism)")
    return 0


def _bindings(args) -> int:
    from .bindings import Bindings, BindingsError
    try:
        if args.check:
            Bindings.load(args.check)
            print(f"{args.check}: ok")
        elif args.save:
            Bindings.default().save(args.save)
            print(f"default bindings written to {args.save}; play with `worldsim play --bindings {args.save}`")
        else:
            sys.stdout.write(Bindings.default().dumps())
    except BindingsError as err:
        raise _user_error(err) from err
    return 0


def _script(args) -> int:
    from .script import wander_script
    if args.ticks < 1:
        raise _user_error(ValueError(f"--ticks must be at least 1, got {args.ticks}"))
    text = wander_script(args.seed, args.ticks).dumps()
    if args.output:
        with open(args.output, "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0


def _measure(args) -> int:
    import numpy as np

    from .camera import measure_scales
    from .camera_rig import CameraRig
    from .script import ScriptedInput, ScriptError, wander_script
    try:
        sources = [ScriptedInput.load(p) for p in args.scripts]
    except ScriptError as err:
        raise _user_error(err) from err
    sources += [wander_script(seed, args.ticks) for seed in range(args.random)]
    if not sources:
        raise _user_error(ValueError("give input scripts and/or --random N"))
    trajectories = []
    for script in sources:
        rig = CameraRig(fovy_deg=args.fovy, mode="fly" if args.fly else "walk")
        trajectories.append(np.stack([rig.c2w] + [rig.step(script.sample()) for _ in range(script.length)]))
    try:
        scales = measure_scales(trajectories, kind=args.kind, fovy_deg=args.fovy)
    except ValueError as err:
        raise _user_error(err) from err
    print(json.dumps({"kind": args.kind, "fovy_deg": args.fovy, "scales": [round(s, 6) for s in scales],
                      "trajectories": len(trajectories), "frames": int(sum(len(t) for t in trajectories))}))
    return 0
