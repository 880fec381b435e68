"""`worldsim play | serve | replay`."""
from __future__ import annotations

import ipaddress
import json
import sys
from urllib.parse import urlparse

from worldsim.errors import WorldsimUserError


MAX_WINDOW = 8192        # pixels a side: beyond, GL framebuffers fail on common drivers


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise WorldsimUserError(f"size must look like 736x416, got {text!r}") from None
    if w <= 0 or h <= 0:
        raise WorldsimUserError(f"size must be positive, got {text!r}")
    return w, h


def parse_renderer_option(text: str) -> tuple[str, object]:
    """--renderer-option KEY=VALUE -> (KEY, VALUE): VALUE read as JSON where it is JSON (6, 0.5, true,
    null, "text", [1, 2]), else as the text itself (preset=tiny)."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip().isidentifier():
        raise WorldsimUserError(f"--renderer-option must look like KEY=VALUE (e.g. preset=tiny), got {text!r}")
    try:
        return key.strip(), json.loads(value)
    except ValueError:
        return key.strip(), value


def _renderer_options(args) -> dict:
    options = dict(parse_renderer_option(t) for t in getattr(args, "renderer_option", None) or ())
    if getattr(args, "size", None):
        options["width"], options["height"] = _size(args.size)
    if getattr(args, "checkpoint", None):
        options["checkpoint"] = args.checkpoint
    if getattr(args, "device", None):
        from worldsim.devices import require_device
        require_device(args.device)
        options["device"] = args.device
    return options


def _renderer_args(p) -> None:
    from .registry import available_renderers
    p.add_argument("--renderer", help=f"one of {', '.join(available_renderers())} (default: aapt with the embedded "
                   "model, else the reference world)")
    p.add_argument("--size", metavar="WxH", help="frame size asked of the renderer (e.g. 736x416)")
    p.add_argument("--checkpoint", metavar="DIR", help="model checkpoint folder (config.json + model.safetensors) "
                   "for the aapt renderer")
    p.add_argument("--device", help="torch device of the renderer (cpu, cuda)")
    p.add_argument("--renderer-option", action="append", metavar="KEY=VALUE",
                   help="another option of the renderer's constructor (repeatable; VALUE as JSON where it parses, "
                        "e.g. --renderer-option preset=tiny --renderer-option seconds=6)")


def register(sub) -> None:
    p = sub.add_parser("play", help="play a world in a window")
    _renderer_args(p)
    p.add_argument("--connect", metavar="ADDR", help="use a running `worldsim serve` (tcp://host:port)")
    p.add_argument("--curve", metavar="DIR", help="with --connect: CURVE keys (DIR/server.key, DIR/NAME.key_secret)")
    p.add_argument("--curve-name", default="client", help="the client key pair's NAME in --curve DIR")
    p.add_argument("--in-process", action="store_true", help="run the renderer in this process (no worker)")
    p.add_argument("--headless", action="store_true", help="no window: render offscreen (EGL)")
    p.add_argument("--ticks", type=int, help="stop after N ticks (video frames)")
    p.add_argument("--input-script", metavar="FILE", help="TOML input script instead of keyboard/gamepad")
    p.add_argument("--bindings", metavar="FILE", help="TOML key bindings")
    p.add_argument("--record", metavar="FILE.mp4", help="record video + control log (FILE.ctl.msgpack)")
    p.add_argument("--screenshot", metavar="FILE.png", help="save the last screen (and the screenshot key's)")
    p.add_argument("--stats", metavar="FILE.json", help="write fps / latency / drop statistics as JSON")
    p.add_argument("--seed", type=int, default=0, help="world / noise seed of the session (default 0)")
    p.add_argument("--prompt", default="", help="text prompt for renderers that take one (aapt)")
    p.add_argument("--window", metavar="WxH", help="window size (default: the frame scaled up)")
    p.add_argument("--fullscreen", action="store_true", help="start in fullscreen (F11 toggles)")
    p.add_argument("--fly", action="store_true", help="fly instead of walking")
    p.add_argument("--fast", action="store_true", help="do not wait for the clock (with --ticks: as fast as possible)")
    p.add_argument("--model", metavar="NAME", help="a shipped model (worldsim/assets/NAME: default, pose), "
                   "played by the aapt renderer")
    p.add_argument("--split", action="store_true", help="the reference world beside the renderer, driven by "
                   "the same input")
    p.add_argument("--image", metavar="FILE", help="start from this picture (cropped and resized to the model's size)")
    p.set_defaults(func=_play)

    p = sub.add_parser("serve", help="serve renderers to remote players")
    _renderer_args(p)
    p.add_argument("--bind", default="tcp://127.0.0.1:5555", help="ZMQ address (loopback by default)")
    p.add_argument("--curve", metavar="DIR", help="encrypt with CURVE and accept only keys in DIR/clients/ "
                   "(required beyond loopback)")
    p.add_argument("--session-idle-s", type=float, default=60.0, metavar="S",
                   help="free the sessions of a client silent for S seconds (default 60)")
    from .protocol import MAX_SESSIONS_PER_WORKER, MAX_SESSIONS_PER_WORKER_BOUND
    p.add_argument("--max-sessions", type=int, default=MAX_SESSIONS_PER_WORKER, metavar="N",
                   help=f"sessions this worker serves at once, 1..{MAX_SESSIONS_PER_WORKER_BOUND} (default "
                        "%(default)s); an OPEN past them gets `overloaded`. The aapt renderer is built to hold N "
                        "(its KV cache has N rows)")
    from .scheduling import DEFAULT_BATCH_BUCKETS
    p.add_argument("--batch-buckets", metavar="N,N,...", default=",".join(map(str, DEFAULT_BATCH_BUCKETS)),
                   help="batch sizes a renderer is stepped with: pending sessions are split into batches of "
                        "these sizes, so a compiled step sees few shapes (must include 1; default %(default)s)")
    p.add_argument("--gpus", type=int, default=1, metavar="N",
                   help="run the aapt renderer's generator sequence-parallel on N processes of this host, one GPU "
                        "each (cuda:0..N-1, NCCL; gloo with --device cpu); default 1: one process")
    p.set_defaults(func=_serve)

    p = sub.add_parser("keys", help="make a CURVE key pair for `serve --curve` / `play --curve`")
    p.add_argument("name", help="server, or a client's name")
    p.add_argument("--out", required=True, metavar="DIR", help="key folder (made private, 0700, if new)")
    p.set_defaults(func=_keys)

    p = sub.add_parser("replay", help="replay a recorded control log and check the frames")
    p.add_argument("log", help="FILE.ctl.msgpack written by `worldsim play --record`")
    p.add_argument("--window", action="store_true", help="show the replay in a window (real time)")
    p.add_argument("--record", metavar="FILE.mp4", help="write the replayed video")
    p.add_argument("--in-process", action="store_true", help="run the renderer in this process (no worker)")
    p.add_argument("--allow-truncated", action="store_true",
                   help="replay a log cut short (a crash) up to the damage, checking the frames it holds")
    p.set_defaults(func=_replay)


def _play(args) -> int:
    from .client import RequestError, WorkerDied
    from .play import PlayOptions, play
    import zmq

    from .process import WorkerStartError
    from .security import KeyFileError
    from worldsim.controls import ControlError, ScriptError
    from worldsim.render.display import DisplayUnavailableError
    from worldsim.render.headless import HeadlessUnavailableError
    if args.ticks is not None and args.ticks < 1:
        raise WorldsimUserError(f"--ticks must be at least 1, got {args.ticks}")
    if not 0 <= args.seed <= 2 ** 62:
        raise WorldsimUserError(f"--seed must be in 0..2**62, got {args.seed}")
    if args.curve and not args.connect:
        raise WorldsimUserError("--curve encrypts the link to a remote worker: use it with --connect")
    if args.connect and (args.in_process or args.checkpoint or args.size or args.device):
        raise WorldsimUserError("--connect plays on a running worker: --in-process, --checkpoint, --size and "
                                "--device belong to `worldsim serve` there")
    for option, path, suffix in (("--record", args.record, ".mp4"), ("--screenshot", args.screenshot, ".png")):
        if path and not path.lower().endswith(suffix):
            raise WorldsimUserError(f"{option} must name a {suffix} file, got {path!r}")
    if args.window and max(_size(args.window)) > MAX_WINDOW:
        raise WorldsimUserError(f"--window {args.window}: at most {MAX_WINDOW} pixels a side")
    opts = PlayOptions(renderer=args.renderer, connect=args.connect, in_process=args.in_process,
                       headless=args.headless, ticks=args.ticks, input_script=args.input_script,
                       bindings=args.bindings, record=args.record, screenshot=args.screenshot, stats=args.stats,
                       seed=args.seed, prompt=args.prompt, renderer_options=_renderer_options(args),
                       window=_size(args.window) if args.window else None, fullscreen=args.fullscreen,
                       fly=args.fly, realtime=not args.fast,
                       curve=(args.curve, args.curve_name) if args.curve else None,
                       model=args.model, split=args.split, image=args.image)
    try:
        summary = play(opts)
    except (ControlError, ScriptError, FileNotFoundError, KeyError, WorkerStartError, WorkerDied, RequestError,
            DisplayUnavailableError, HeadlessUnavailableError, KeyFileError, TimeoutError) as err:
        raise WorldsimUserError(str(err)) from err
    except zmq.ZMQError as err:                      # a malformed --connect address
        raise WorldsimUserError(f"cannot connect to {args.connect!r}: {err}") from None
    shown = {k: summary[k] for k in ("renderer", "display_fps", "latency_ms_p50", "latency_ms_p99",
                                     "frames_shown", "frames_dropped")}
    print(json.dumps({k: None if isinstance(v, float) and v != v else v for k, v in shown.items()}),  # NaN -> null
          file=sys.stderr)
    return 0


def check_bind_address(address: str, curve: str | None = None) -> None:
    """Refuse to serve in the clear on anything but loopback: beyond it, CURVE is required."""
    if address.startswith(("ipc://", "inproc://")):
        return
    try:
        parsed = urlparse(address)
        host, port = parsed.hostname or "", parsed.netloc.rpartition(":")[2]
    except ValueError as err:
        raise WorldsimUserError(f"bad bind address {address!r}: {err}") from None
    if parsed.scheme != "tcp" or not host or not (port == "*" or (port.isdigit() and 0 < int(port) < 65536)):
        raise WorldsimUserError(f"bad bind address {address!r}: use tcp://HOST:PORT (PORT 1..65535 or *) "
                                "or ipc://PATH")
    if curve:
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        raise WorldsimUserError(f"refusing to bind {address!r} in the clear: beyond loopback, serve with "
                                "`--curve DIR` (see `worldsim keys --help`) or tunnel to 127.0.0.1 over SSH.")


def _serve(args) -> int:
    from .play import PlayOptions, resolve_renderer
    from .worker_main import run_worker
    from .scheduling import parse_buckets
    from .security import KeyFileError
    from .sessions import check_max_sessions
    check_bind_address(args.bind, args.curve)
    try:
        buckets = parse_buckets(args.batch_buckets)
    except ValueError as err:
        raise WorldsimUserError(f"--batch-buckets: {err}") from None
    try:
        check_max_sessions(args.max_sessions)
    except ValueError as err:
        raise WorldsimUserError(f"--max-sessions {err}") from None
    renderer, options = resolve_renderer(PlayOptions(renderer=args.renderer, renderer_options=_renderer_options(args)))
    try:
        run_worker(args.bind, [renderer], options, curve_dir=args.curve,    # aapt: the embedded model by default
                   session_idle_s=args.session_idle_s, batch_buckets=buckets, max_sessions=args.max_sessions,
                   gpus=args.gpus)
    except (RuntimeError, KeyFileError, OSError) as err:     # bad --bind, --curve folder: one line
        raise WorldsimUserError(str(err)) from None
    return 0


def _keys(args) -> int:
    from .security import KeyFileError, make_keys
    try:
        public, secret = make_keys(args.out, args.name)
    except KeyFileError as err:
        raise WorldsimUserError(str(err)) from None
    print(f"public key {public}\nsecret key {secret} (keep it private)")
    return 0


def _replay(args) -> int:
    from .client import RequestError
    from .replay import replay
    from .process import WorkerStartError
    from worldsim.render.recorder import ControlLogError
    if args.record and not args.record.lower().endswith(".mp4"):
        raise WorldsimUserError(f"--record must name a .mp4 file, got {args.record!r}")
    try:
        result = replay(args.log, headless=not args.window, realtime=args.window, in_process=args.in_process,
                        record=args.record, allow_truncated=args.allow_truncated)
    except (FileNotFoundError, RequestError, WorkerStartError) as err:   # a log another renderer cannot play
        raise WorldsimUserError(str(err)) from None
    except ControlLogError as err:
        if err.records_before is None:
            raise WorldsimUserError(str(err)) from None
        raise WorldsimUserError(f"{err.damage}; replay it with --allow-truncated to check the "
                                f"{err.records_before} records before it") from None
    if not result["complete"]:
        print(f"{args.log}: the log was cut short; checked the frames it holds", file=sys.stderr)
    print(f"{result['identical']}/{result['frames_recorded']} frames identical "
          f"({result['frames_replayed']} replayed)" + ("" if result["exact"] else
                                                      f"; first difference at frame {result['first_difference']}"))
    return 0 if result["exact"] else 1
