"""`worldsim.open(...)`: check the arguments, start (or reach) the worker, open a `World` on it.

Re-exported by worldsim.world (and as `worldsim.open`); `renderer_parameters(name)` lists the
options a renderer's factory takes. Bad arguments raise `WorldsimUserError` with one line.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import WorldsimUserError

if TYPE_CHECKING:
    from .world import World


def open(renderer: str | None = None, checkpoint: str | None = None, model: str | None = None,
         connect: str | None = None, seed: int = 0, size: tuple[int, int] | None = None,
         device: str | None = None, in_process: bool = False, join: str | None = None,
         renderer_options: dict[str, Any] | None = None, prompt: str = "") -> "World":
    """Open a world: a renderer (default: the one `worldsim play` opens) and one session on it.

    renderer     a renderer name (`worldsim.available_renderers()`); None: the embedded model
    checkpoint   a trained checkpoint folder (played by the `aapt` renderer)
    model        a shipped model name (worldsim/assets/NAME, e.g. "pose"); not with `checkpoint`
    connect      "tcp://host:port" of a running `worldsim serve` instead of a private worker
    seed         the session's seed (the world and its start point)
    size         (width, height) of the frames, where the renderer can change it
    device       "cpu", "cuda", "cuda:1"... for renderers that take one
    in_process   render in this process (no worker process; `step` blocks while the model runs)
    join         with connect=: watch the session of this join token (`World.join_token`) as a spectator
    renderer_options  more options for the renderer's factory, e.g. {"fovy_deg": 75} for reference or
                 {"compile": "default"} for aapt (`worldsim.world.renderer_parameters(name)` lists them)
    prompt       the session's text prompt, for renderers that take one (as `worldsim play --prompt`)
    """
    from .runtime.play import PlayOptions, make_client, resolve_renderer, served_renderer
    from .world import World

    if checkpoint is not None and model is not None:
        raise WorldsimUserError("checkpoint= and model= both name a model: give one")
    if connect is not None:
        if in_process:
            raise WorldsimUserError("connect= renders on a remote worker: in_process=True contradicts it")
        if (checkpoint is not None or model is not None or size is not None or device is not None
                or renderer_options is not None):
            raise WorldsimUserError("connect= uses the remote worker's renderer as it was started: "
                                    "checkpoint=, model=, size=, device= and renderer_options= cannot change it")
        if not isinstance(connect, str) or "://" not in connect:
            raise WorldsimUserError(f"connect= takes an address like 'tcp://host:5555', got {connect!r}")
    if join is not None:
        if connect is None:
            raise WorldsimUserError("join= watches a session on a running worker: give its address as connect= too")
        if not isinstance(join, str) or renderer is not None or seed != 0:
            raise WorldsimUserError("join= takes the join token (a str) of the session to watch; its renderer "
                                    "and seed are the session's: renderer= and seed= cannot change them")
    if renderer is not None and not isinstance(renderer, str):
        raise WorldsimUserError(f"renderer= takes a renderer name, got {type(renderer).__name__}")
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise WorldsimUserError(f"seed= takes an int, got {seed!r}")
    if not isinstance(prompt, str) or (join is not None and prompt):
        raise WorldsimUserError(f"prompt= takes a str (and is the watched session's with join=), got {prompt!r}")
    if renderer_options is not None and (not isinstance(renderer_options, dict)
                                         or not all(isinstance(k, str) for k in renderer_options)):
        raise WorldsimUserError(f"renderer_options= takes a dict of option names to values, got {renderer_options!r}")
    options: dict[str, Any] = {}
    if checkpoint is not None:
        options["checkpoint"] = str(checkpoint)
        renderer = renderer or "aapt"
    if size is not None:
        try:
            width, height = (int(v) for v in size)
        except (TypeError, ValueError):
            raise WorldsimUserError(f"size= takes (width, height), got {size!r}") from None
        options.update(width=width, height=height)
    if device is not None:
        options["device"] = str(device)
    if renderer_options:
        twice = sorted(set(renderer_options) & set(options))
        if twice:
            raise WorldsimUserError(f"renderer_options= sets {', '.join(twice)}, which checkpoint=/size=/device= "
                                    "set already: give each once")
        options.update(renderer_options)
    name, options = resolve_renderer(PlayOptions(renderer=renderer, connect=connect, model=model,
                                                 renderer_options=options))
    if renderer_options:
        _check_renderer_options(name, renderer_options)
    try:
        client = make_client(name, options, connect, in_process)
    except TypeError as err:         # a renderer without a size= or device= option, in process
        raise WorldsimUserError(f"cannot start renderer {name!r}: {err}") from None
    try:
        if join is not None:
            return World(client, None, options, join=join)
        if connect is not None and renderer is None:
            name = served_renderer(client.welcome, connect)
        return World(client, name, options, seed, prompt=prompt)
    except BaseException:
        client.shutdown()
        raise


def renderer_parameters(name: str) -> list[str] | None:
    """The option names renderer `name`'s factory takes (None: it takes any, **kwargs)."""
    from .plugins import renderers
    from .runtime.registry import factory_parameters
    return factory_parameters(renderers.get(name))


def _check_renderer_options(name: str, renderer_options: dict) -> None:
    """One line naming the options `name` does not take and the ones it does, before any worker starts."""
    accepted = renderer_parameters(name)
    if accepted is None:
        return
    unknown = sorted(set(renderer_options) - set(accepted))
    if unknown:
        raise WorldsimUserError(f"renderer {name!r} takes no option {', '.join(map(repr, unknown))}; "
                                f"it takes: {', '.join(accepted) or 'none'}")
