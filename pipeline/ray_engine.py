"""`--engine ray`: encode sentence batches on Ray actors, each holding one encoder.

The driver (`seg embed`, `seg segment`) does everything it does with the local engine -
cache lookup, deduplication, length-sorted token-budget batches (pipeline/embed.py) - and
hands the batches still missing to a Ray Data pipeline, WINDOW batches at a time:

    ray.data.from_items(batches, override_num_blocks=len(batches))     # one block per batch
        .map_batches(EncodeBatch, compute=ActorPoolStrategy(size=workers), batch_size=1,
                     num_cpus=..., num_gpus=1 when the cluster has GPUs)
        .iter_rows()                                                    # streamed to the driver

Each actor rebuilds the encoder from the embedding configuration (same model path, same
encoder code), restores its dataset state (wiki2vec's SIF, sent by the driver) and encodes
one of the driver's batches per call, so every sentence is encoded in exactly the batch
the local engine would give it and the vectors are bit-identical. Each result carries the
fingerprint the actor computed from its own encoder: a node with another model file or
another torch gives another fingerprint, and the driver stops with one line instead of
caching vectors under the wrong key. The driver stays the single writer of the LMDB cache
and commits every result as it arrives, so the cache's guarantees (dedup, fingerprints,
resume after a kill, checksums) are those of the local engine.

A worker process that dies is restarted by Ray and its batch retried (Ray Data's actor
pool defaults: max_restarts=-1, max_task_retries=-1); an exception on a worker (a missing
model file, say) ends the run with its one line (worker_error). Actors are sized by `workers`: 0
(auto) = one per GPU when the cluster has GPUs, else one per node with all of the
smallest node's CPUs; N = N actors sharing the cluster's CPUs evenly.
"""

from __future__ import annotations

import os
from typing import Iterable, Iterator

import numpy as np

from .errors import SegError

ENGINES = ("local", "ray")
#: batches per Ray Data run (actors start once per run: a few seconds per ~260k e5 sentences)
WINDOW = 2048
RAY_HINT = "pip install 'seg[ray]'"
#: test hook: a marker path; the first batch an actor takes while the marker is absent creates
#: it and kills the actor's process (os._exit), as a crashed worker would
DIE_ONCE_ENV = "SEG_RAY_DIE_ONCE"


def import_ray():
    """The ray module, or the one-line error telling how to install it."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise SegError(f"--engine ray needs Ray, which is not installed here; {RAY_HINT} (or use --engine local)") from None
    return ray


def check_engine(engine: str, address: str | None, workers: int) -> None:
    """Cheap option checks, before anything loads."""
    if engine not in ENGINES:
        raise SegError(f"--engine {engine!r}: use local or ray")
    if workers < 0:
        raise SegError(f"--workers {workers}: give a number of Ray workers >= 1, or 0 for one per GPU (else per node)")
    if engine == "local" and (address is not None or workers):
        flag = "--address" if address is not None else "--workers"
        raise SegError(f"{flag} applies to --engine ray only; add --engine ray or leave it out")
    if engine == "ray":
        import_ray()


def make_engine(engine: str, address: str | None = None, workers: int = 0):
    """None for the local engine (the encoder runs in this process), else a RayEngine."""
    check_engine(engine, address, workers)
    return RayEngine(address, workers) if engine == "ray" else None


class _State:
    """The one method of VectorCache an encoder's load_state reads: the state blob."""

    def __init__(self, blob: bytes | None):
        self.blob = blob

    def get_state(self) -> bytes | None:
        return self.blob


class EncodeBatch:
    """Ray Data callable class: one encoder per actor, one driver batch per call."""

    def __init__(self, config, state: bytes | None, die_once: str | None = None):
        """`config`: the driver's EmbedConfig (pickled by Ray; the class is imported where it is unpickled)."""
        from .encoders import make_encoder
        from .fingerprint import fingerprint

        self.encoder = make_encoder(config)
        if state is not None:
            self.encoder.load_state(_State(state))
        self.fp = fingerprint(self.encoder.identity())
        self.die_once = die_once
        self.encoder.load()

    def __call__(self, batch: dict) -> dict:
        if self.die_once and not os.path.exists(self.die_once):
            open(self.die_once, "w").close()
            os._exit(1)
        keys, vectors, dims = [], [], []
        for k, texts in zip(batch["batch"], batch["texts"]):
            v = np.ascontiguousarray(self.encoder.encode([str(t) for t in texts]), dtype=np.float32)
            keys.append(int(k))
            vectors.append(v.tobytes())
            dims.append(v.shape[1] if v.ndim == 2 else -1)
        import socket

        n = len(keys)
        return {"batch": np.asarray(keys, np.int64), "dim": np.asarray(dims, np.int64),
                "vectors": np.array(vectors, dtype=object), "fp": np.array([self.fp] * n, dtype=object),
                "node": np.array([socket.gethostname()] * n, dtype=object)}


class RayEngine:
    """The Ray side of `--engine ray`: connects (or starts a local Ray) on first use."""

    def __init__(self, address: str | None, workers: int):
        self.address = address
        self.workers = workers
        self.ray = import_ray()

    def connect(self) -> None:
        """Join the cluster at --address (auto: the one `ray start` runs here; RAY_ADDRESS when
        unset), or start a local one; an already initialised Ray (tests, notebooks) is kept."""
        ray = self.ray
        if ray.is_initialized():
            return
        self._reachable()
        try:
            ray.init(address=self.address, include_dashboard=False, log_to_driver=False, logging_level="error",
                     configure_logging=True)
        except (ConnectionError, RuntimeError, ValueError) as e:
            first = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise SegError(f"--address {self.address}: cannot connect to a Ray cluster ({first}); start one with "
                           f"`ray start --head` or leave --address out to start a local Ray") from None

    def _reachable(self, timeout: float = 5.0) -> None:
        """A HOST:PORT that does not answer fails in seconds (ray.init would retry for minutes)."""
        import socket

        addr = self.address or os.environ.get("RAY_ADDRESS")
        if not addr or addr == "auto" or "://" in addr or ":" not in addr:
            return
        host, _, port = addr.rpartition(":")
        try:
            socket.create_connection((host, int(port)), timeout=timeout).close()
        except (OSError, ValueError) as e:
            raise SegError(f"--address {addr}: no Ray cluster answers there ({getattr(e, 'strerror', None) or e}); "
                           f"start one with `ray start --head` (it prints the address) or check the host and port") from None

    def sizing(self) -> tuple[int, float, float]:
        """(actors, CPUs per actor, GPUs per actor) for --workers on this cluster."""
        ray = self.ray
        total = ray.cluster_resources()
        nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
        gpus = int(total.get("GPU", 0))
        node_cpus = [int(r.get("CPU", 0)) for r in nodes if r.get("CPU", 0) >= 1] or [1]
        if gpus:
            workers = self.workers or gpus
            return workers, 1.0, 1.0
        workers = self.workers or len(node_cpus)
        per = max(1, min(min(node_cpus) if not self.workers else max(node_cpus), int(total.get("CPU", 1)) // workers))
        return workers, float(per), 0.0

    def encode(self, encoder, batches: Iterable[list[str]], state: bytes | None = None) -> Iterator[tuple[list[str], np.ndarray]]:
        """(batch, float32 vectors) for every batch, in the order the actors finish them. The
        batches are taken WINDOW at a time (one Ray Data run each), so the driver holds a
        window's texts, not the corpus's."""
        from itertools import islice

        it = iter(batches)
        while window := list(islice(it, WINDOW)):
            yield from self._run(encoder, window, state)

    def _run(self, encoder, batches: list[list[str]], state: bytes | None) -> Iterator[tuple[list[str], np.ndarray]]:
        from .fingerprint import fingerprint

        self.connect()
        ray = self.ray
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False
        ctx.execution_options.preserve_order = False
        ctx.print_on_execution_start = False
        import logging

        logging.getLogger("ray.data").setLevel(logging.ERROR)
        want = fingerprint(encoder.identity())
        workers, cpus, gpus = self.sizing()
        workers = min(workers, len(batches))
        # one block per batch: a block's results reach the driver when its task ends, and each
        # batch must be committed as soon as it is encoded
        ds = ray.data.from_items([{"batch": k, "texts": b} for k, b in enumerate(batches)],
                                 override_num_blocks=len(batches))
        args = {"config": encoder.cfg, "state": state, "die_once": os.environ.get(DIE_ONCE_ENV) or None}
        out = ds.map_batches(EncodeBatch, fn_constructor_kwargs=args, compute=ray.data.ActorPoolStrategy(size=workers),
                             batch_size=1, num_cpus=cpus, num_gpus=gpus or None, batch_format="numpy",
                             zero_copy_batch=True)
        try:
            for row in out.iter_rows():
                batch = batches[int(row["batch"])]
                if row["fp"] != want:
                    raise SegError(f"Ray worker on {row['node']} built the encoder with fingerprint {row['fp']}, not this "
                                   f"machine's {want}: install the same seg, libraries and model files (same paths) on "
                                   f"every node")
                dim = int(row["dim"])
                vecs = np.frombuffer(row["vectors"], dtype=np.float32)
                if dim < 1 or vecs.size != len(batch) * dim:
                    raise SegError(f"encoder {encoder.describe()} on Ray worker {row['node']} returned {vecs.size} floats "
                                   f"for {len(batch)} texts")
                yield batch, vecs.reshape(len(batch), dim).copy()
        except SegError:
            raise
        except Exception as e:  # a worker's exception, re-raised by Ray (Data) in its own wrappers
            raise worker_error(e) from None


def worker_error(e: BaseException) -> SegError:
    """The one line of an exception raised on a Ray worker: a SegError's own message (Ray
    wraps it, traceback included, in ActorDiedError, RayTaskError or Ray Data's exceptions),
    else the last `Type: message` line of the remote traceback."""
    import re

    chain, seen = [], set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        chain.append(e)
        e = getattr(e, "cause", None) or e.__cause__
    for x in chain:
        if isinstance(x, SegError) and type(x).__module__.startswith("pipeline"):
            return SegError(f"on a Ray worker: {x}")
    text = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(str(x) for x in chain))
    own = re.findall(r"SegError: (.+)", text)
    if own:
        return SegError(f"on a Ray worker: {own[-1].strip()}")
    lines = re.findall(r"^\s*(\w+(?:Error|Exception): .+)$", text, re.M)
    what = lines[-1].strip() if lines else f"{type(chain[-1]).__name__}"
    return SegError(f"--engine ray: a Ray worker failed ({what[:300]}); re-run to resume (finished batches are kept), "
                    f"or use --engine local to see the error here")
