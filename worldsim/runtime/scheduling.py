"""Fair scheduling between clients: per-client inbox quotas, round-robin slices, slow sessions apart.

The IO thread puts each decoded request into the queue of the client that sent it; a client with
`quota` requests already waiting is answered `overloaded` by the IO thread at once (the request
never reaches the main thread). The main thread takes bounded slices, one request per client in
turn, and runs a batch of steps between slices, so a client that floods the worker delays only
itself.
"""
from __future__ import annotations

import collections
import gc
import inspect
import sys
import threading
import time
from typing import Any, Hashable

INBOX_QUOTA = 32          # requests of one client waiting for the main thread
CONTROL_SLICE = 16        # requests the main thread handles between two batches of steps (at least one per session)
STEP_DEADLINE_S = 0.5     # a session whose step took longer is slow: stepped alone, after the others


class FairInbox:
    """Thread-safe per-client queues with a quota, drained round-robin."""

    def __init__(self, quota: int = INBOX_QUOTA):
        self.quota = quota
        self._queues: dict[Hashable, collections.deque] = {}
        self._order: collections.deque = collections.deque()     # clients with something queued, in turn
        self._cond = threading.Condition()
        self._size = 0
        self.peak = 0                                             # the most requests ever waiting at once

    def put(self, client: Hashable, item: Any) -> bool:
        """Queue `item` for `client`; False (nothing queued) when the client is over its quota."""
        with self._cond:
            q = self._queues.get(client)
            if q is None:
                q = self._queues[client] = collections.deque()
            if len(q) >= self.quota:
                return False
            if not q:
                self._order.append(client)
            q.append(item)
            self._size += 1
            self.peak = max(self.peak, self._size)
            self._cond.notify()
            return True

    def put_control(self, item: Any) -> None:
        """A message from the worker itself (stop, a client gone): no quota, served first."""
        self.put_front(None, item)

    def put_front(self, client: Hashable, item: Any) -> None:
        with self._cond:
            q = self._queues.setdefault(client, collections.deque())
            if not q:
                self._order.appendleft(client)
            q.appendleft(item)
            self._size += 1
            self._cond.notify()

    def take(self, limit: int = CONTROL_SLICE) -> list:
        """Up to `limit` items, one per client in turn (round-robin across calls too)."""
        out = []
        with self._cond:
            while self._order and len(out) < limit:
                client = self._order.popleft()
                q = self._queues[client]
                out.append(q.popleft())
                self._size -= 1
                if q:
                    self._order.append(client)
                else:
                    del self._queues[client]
        return out

    def wait(self, timeout: float) -> bool:
        """Block until something is queued (True) or `timeout` passes (False)."""
        with self._cond:
            if self._size:
                return True
            return self._cond.wait_for(lambda: self._size > 0, timeout)

    def drop(self, client: Hashable) -> int:
        """Forget everything queued by `client` (it is gone); returns how many were dropped."""
        with self._cond:
            q = self._queues.pop(client, None)
            if not q:
                return 0
            self._order.remove(client)
            self._size -= len(q)
            return len(q)

    def __len__(self) -> int:
        return self._size

    def queued(self, client: Hashable) -> int:
        with self._cond:
            q = self._queues.get(client)
            return len(q) if q else 0


# ---- static batch buckets -------------------------------------------------------------------
# The batch sizes a renderer is stepped with: a compiled or CUDA-graph-captured step
# (RendererSpec.static_batches) runs only in these sizes, so it sees a bounded set of shapes. Pending
# sessions are cut into batches that are each a bucket size or a little below one (`split_padded`);
# the renderer pads a batch up to its bucket itself (AaptRenderer: by repeating its last session),
# so the worker hands it only real sessions. An eager renderer gets batches of any size up to the
# largest.
DEFAULT_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)


def parse_buckets(text: str | tuple | list) -> tuple[int, ...]:
    """"1,2,4,8" (or a sequence of ints) -> (1, 2, 4, 8); ValueError (one line) unless the sizes are
    positive integers that include 1 (so any number of sessions can be split into them)."""
    try:
        sizes = sorted({int(v) for v in (text.split(",") if isinstance(text, str) else text)})
    except (TypeError, ValueError):
        sizes = []
    if not sizes or sizes[0] != 1:
        raise ValueError(f"batch buckets must be comma-separated positive integers including 1 "
                         f"(e.g. 1,2,4,8), got {text!r}")
    return tuple(sizes)


def buckets_for(buckets: tuple[int, ...], max_sessions: int) -> tuple[int, ...]:
    """The buckets a worker of at most `max_sessions` sessions can ever step: those up to the smallest
    bucket >= max_sessions (a batch is never padded past that one; all when none is that large).
    The batches cut with them are the same as with all of `buckets` (tests/runtime/test_batch_buckets.py);
    what it saves is the warm-up: a worker for 4 sessions of 1.3b at 832x480 traced 8 bucket sizes,
    the largest 128 rows, and did not finish in 410 s on an H200 (docs/BENCHMARKS.md)."""
    top = min((b for b in buckets if b >= max_sessions), default=max(buckets))
    return tuple(b for b in buckets if b <= top)


def split_for_step(items: list, buckets: tuple[int, ...], static: bool) -> list[list]:
    """The batches a renderer steps `items` in: for a static (compiled) step, batches a renderer pads
    up to a bucket size with little waste (`split_padded`); else consecutive batches of at most the
    largest bucket: an eager step takes any batch size, and on a GPU a step of 127 sessions costs
    about what one of 64 does, so 64+32+...+1 would cost 7 steps."""
    if static:
        return split_padded(items, buckets)
    cap = max(buckets)
    return [items[i:i + cap] for i in range(0, len(items), cap)]


MAX_PAD_FRACTION = 0.25   # the most of a padded batch's bucket that may be padding


def padded_size(n: int, buckets: tuple[int, ...]) -> int | None:
    """The bucket a batch of `n` items is padded up to: the smallest bucket b >= n, if its padding
    b - n is at most a quarter of b; else None (`n` is cut smaller)."""
    above = [b for b in buckets if b >= n]
    if not above:
        return None
    b = min(above)
    return b if b - n <= MAX_PAD_FRACTION * b else None


def split_padded(items: list, buckets: tuple[int, ...] = DEFAULT_BATCH_BUCKETS) -> list[list]:
    """`items` in order, cut into consecutive batches for a static step: batches of the largest
    bucket while that many are left; then the rest, n items, is one batch if the smallest bucket
    b >= n wastes at most a quarter of itself on padding (`padded_size`), else a batch of the
    largest bucket <= n, and the rest again. With buckets 1, 2, 4, ..., 128: 127 or 100 -> one
    batch (padded to 128), 65 -> 64 + 1 (63 of 128 would be padding), 95 -> 64 + 31 (padded to
    32), 7 -> 7 (8), 6 -> 6 (8: 2 of 8), 5 -> 4 + 1 (3 of 8 would be padding), 3 -> 3 (4: 1 of 4,
    exactly a quarter, allowed); 1 and 2 are buckets themselves, never padded.

    Why pad: at launch-bound sizes (a small model, or any model at small batches, on a GPU) a step
    costs about the same whatever its batch, so a padded row is nearly free while a second launch
    is not (127 as 64+32+16+8+4+2+1 is 7 steps of about one step's time each). At compute-bound
    sizes (an 8b model at large batches) a padded row costs its share of compute, so the padding
    is capped at a quarter of the batch: at most 1/3 more compute than the real rows need, in
    exchange for at least one launch fewer. The renderer pads a batch up to the bucket itself
    (the worker hands it only real sessions)."""
    cap = max(buckets)
    out, i = [], 0
    while i < len(items):
        n = len(items) - i
        if n >= cap:
            size = cap
        elif padded_size(n, buckets) is not None:
            size = n
        else:
            size = max(b for b in buckets if b <= n)
        out.append(items[i:i + size])
        i += size
    return out


def warm_up_static(renderers: dict, buckets: tuple[int, ...]) -> dict[str, float]:
    """Trace every step graph of each compiled renderer (`spec.static_batches` and a `warm_up`
    method: aapt) for these bucket sizes before the worker serves, so no session stalls mid-play
    on a compile; prints how long each took. Returns {name: seconds}."""
    took = {}
    for name, renderer in renderers.items():
        warm_up = getattr(renderer, "warm_up", None)
        if not getattr(renderer.spec, "static_batches", False) or not callable(warm_up):
            continue
        print(f"worldsim worker: compiling renderer {name!r}'s step for batch sizes "
              f"{','.join(map(str, buckets))} before serving ...", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        if "progress" in inspect.signature(warm_up).parameters:
            warm_up(buckets, progress=_graph_printer(name))
        else:
            warm_up(buckets)
        took[name] = time.perf_counter() - t0
        graphs = renderer.spec.info.get("compiled_graphs") if isinstance(renderer.spec.info, dict) else None
        print(f"worldsim worker: renderer {name!r} compiled in {took[name]:.1f} s"
              + (f" ({graphs} graphs)" if graphs else ""), file=sys.stderr, flush=True)
    if took:
        freeze_heap()
    return took


def _graph_printer(name: str):
    """A warm-up `progress` callback: one stderr line a traced graph, so a log cut mid-warm-up says how far it got."""
    def progress(done: int, total: int, rows: int, full: bool, seconds: float) -> None:
        print(f"worldsim worker: {name!r} graph {done}/{total} ({rows} row{'s' * (rows != 1)}, ring "
              f"{'full' if full else 'filling'}) in {seconds:.1f} s", file=sys.stderr, flush=True)
    return progress


def freeze_heap() -> tuple[int, float]:
    """Collect once, then move every object alive into the collector's permanent generation
    (gc.freeze), so no collection during play walks them. Compiling leaves hundreds of thousands of
    long-lived objects (graphs, guards, symbolic shapes: 676k after the `default` step for 4 batch
    sizes, whose full collection took 0.36 s on the 2-core CPU), and the first full collection after
    the warm-up came in play: one batch of ~0.8 s in the compiled 128-session `bench e2e` (H200,
    2026-11-30), every session late at once. Returns (objects frozen, seconds the collection took)."""
    t0 = time.perf_counter()
    gc.collect()
    seconds = time.perf_counter() - t0
    gc.freeze()
    frozen = gc.get_freeze_count()
    print(f"worldsim worker: {frozen} objects kept out of garbage collection during play "
          f"(a full collection of them took {seconds:.2f} s)", file=sys.stderr, flush=True)
    return frozen, seconds
