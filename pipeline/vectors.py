"""Reading sentence vectors written by `seg embed` (used by `seg train` and `seg segment`).

    embedding_info(dataset, name)              the manifest <dataset>/embeddings/<name>.json
    load_split_vectors(dataset, name, split)   float32 (n, dim) aligned with load_split(dataset, split)
    encode_texts(texts, manifest)              vectors of new text: cache hits + the rest encoded
    TextEncoder(manifest)(texts)               the same for many calls: cache and encoder kept

load_split_vectors reads the h5 export when it is current (its fingerprints match the
manifest and the dataset) and passes its fletcher32 checksums, else makes one pass over the
LMDB cache, refusing vectors that fail their checksum or have none (legacy) with the
`seg embed` command that repairs them. encode_texts, which holds the encoder and writes the
cache, repairs them itself as `seg embed` does.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .dataset import load_split, load_stats
from .embed import check_cache, config_from_dict, embed_command, fill_cache, manifest_path
from .encoders import make_encoder
from .errors import SegError
from .fingerprint import FileHashMemo, fingerprint
from .fsutil import read_json
from .progress import console
from .token_cache import TokenCache
from .token_states import TokenStates, export_is_current
from .vector_cache import CacheDamaged, VectorCache

__all__ = ["embedding_info", "load_split_vectors", "encode_texts", "TextEncoder"]


def embedding_info(dataset: Path, name: str) -> dict:
    """The manifest of embedding `name` of `dataset`."""
    p = manifest_path(dataset, name)
    if not p.is_file():
        raise SegError(f"{p}: no embedding named {name!r} for this dataset; run `seg embed {dataset} --encoder {name}` "
                       f"(or pass --name to choose among {', '.join(available(dataset)) or 'none yet'})")
    m = read_json(p, "embedding manifest")
    for k in ("fingerprint", "dim", "cache", "config"):
        if k not in m:
            raise SegError(f"{p}: embedding manifest lacks {k!r}; re-run `seg embed {dataset} --encoder {name}`")
    return m


def space_fingerprint(manifest: dict) -> str | None:
    """The fingerprint of the vector space of an embedding manifest (Encoder.space_identity: the
    model and what it reads and pools, not the engine or precision): stored by `seg embed`, or
    rebuilt from the manifest's settings for one written before it was stored; None when the
    encoder cannot be rebuilt here."""
    if manifest.get("space_fingerprint"):
        return manifest["space_fingerprint"]
    try:
        return make_encoder(config_from_dict(manifest.get("config") or {})).space_fingerprint(manifest.get("tokens"))
    except (SegError, TypeError, ValueError, OSError):
        return None


def available(dataset: Path) -> list[str]:
    d = Path(dataset) / "embeddings"
    return sorted(p.stem for p in d.glob("*.json")) if d.is_dir() else []


def _from_h5(path: str | None, manifest: dict, dataset_fp: str, n: int) -> np.ndarray | None:
    if not path or not Path(path).is_file():
        return None
    import h5py

    try:
        with h5py.File(path, "r") as f:
            if (f.attrs.get("fingerprint") != manifest["fingerprint"] or f.attrs.get("dataset_fingerprint") != dataset_fp
                    or f["vectors"].shape != (n, int(manifest["dim"]))):
                return None
            return np.asarray(f["vectors"][...], dtype=np.float32)
    except (OSError, KeyError) as e:
        # unreadable or failing its fletcher32 checksums: the checksummed cache is the source
        console.print(f"[yellow]warning:[/] {path}: unreadable h5 export ({str(e).splitlines()[0] if str(e) else type(e).__name__}); "
                      f"reading the vector cache instead", soft_wrap=True)
        return None


def load_split_vectors(dataset: Path, name: str, split: str) -> np.ndarray:
    """float32 (n_sentences, dim) of `split`, row k = vector of load_split(dataset, split).texts[k]."""
    manifest = embedding_info(dataset, name)
    sp = load_split(dataset, split)
    dataset_fp = load_stats(dataset)["fingerprint"]
    vecs = _from_h5((manifest.get("h5") or {}).get(split), manifest, dataset_fp, len(sp))
    if vecs is not None:
        return vecs
    cache = VectorCache(Path(manifest["cache"]), manifest["fingerprint"], write=False)
    found = cache.lookup(sp.texts, int(manifest["dim"]))
    cfg = dict(manifest["config"], dataset=str(dataset))
    cache.refuse_untrusted(found, f"of {len(sp)} {split} vectors", f"run `{embed_command(cfg)}`")
    vecs, missing = found.vectors, found.missing
    if missing:
        raise SegError(f"{len(missing)} of {len(sp)} {split} sentences have no vector in cache {manifest['cache']} "
                       f"(fingerprint {manifest['fingerprint']}); run `{embed_command(cfg)}`")
    return vecs


def load_split_tokens(dataset: Path, name: str, split: str) -> TokenStates:
    """The token states of `split` (a --tokens embedding), memory-mapped from its h5 export."""
    from .embed import h5_path

    manifest = embedding_info(dataset, name)
    cfg = dict(manifest["config"], dataset=str(dataset))
    if not manifest.get("tokens"):
        raise SegError(f"embedding {name!r} of {dataset} holds sentence vectors, not token states; "
                       f"embed with `seg embed {dataset} --encoder sbert --tokens` (or bert) and train with --encoder NAME-tokens")
    path = h5_path(dataset, manifest["name"], split)
    if not export_is_current(path, manifest["fingerprint"], load_stats(dataset)["fingerprint"],
                             len(load_split(dataset, split))):
        raise SegError(f"{path}: the token-state export of the {split} split is missing or out of date; run `{embed_command(cfg)}`")
    return TokenStates.open(path)


class TextEncoder:
    """Vectors of arbitrary texts with the encoder of an embedding `manifest`, for many calls:
    the vector cache is opened on the first call and kept; the encoder is rebuilt from
    manifest["config"] (and its fingerprint checked against the manifest's) the first time a
    text is not cached, and kept with its loaded model for every later call. Each call reads
    the cached vectors, encodes and caches the others (see `encode_texts`)."""

    def __init__(self, manifest: dict, cache_dir: Path | None = None, show_progress: bool = True, engine=None):
        self.engine = engine          # None: encode here; a RayEngine: on Ray actors (pipeline/ray_engine.py)
        self.manifest = manifest
        self.fp = manifest["fingerprint"]
        self.cache_dir = Path(cache_dir or manifest["cache"])
        self.dim = int(manifest["dim"])
        self.tokens = bool(manifest.get("tokens"))   # a --tokens embedding: calls return TokenStates
        if self.tokens and engine is not None:
            raise SegError(f"--engine ray encodes sentence vectors; embedding {manifest.get('name')!r} holds token states "
                           f"(a word-attention run), which are encoded in this process: leave out --engine ray")
        self.show_progress = show_progress
        self._opened = False
        self.cache: VectorCache | None = None
        self.encoder = None

    def _open(self) -> VectorCache | None:
        if not self._opened:
            try:
                self.cache = (TokenCache if self.tokens else VectorCache)(self.cache_dir, self.fp, write=True)
            except CacheDamaged:
                raise  # reported, not silently bypassed
            except SegError:
                self.cache = None  # a read-only location: encode everything, cache nothing
            self._opened = True
        return self.cache

    def _encoder(self):
        """The manifest's encoder, built and checked once (its model loads on first encode)."""
        if self.encoder is not None:
            return self.encoder
        manifest, cache, fp = self.manifest, self.cache, self.fp
        cfg = config_from_dict(manifest["config"])
        try:
            encoder = make_encoder(cfg, FileHashMemo(self.cache_dir / "file-hashes.json") if cache else None)
            if cache:
                encoder.load_state(cache)
            if self.tokens:
                from .encoders.tokens import TokenView

                encoder = TokenView(encoder)
            now = fingerprint(encoder.identity())
        except SegError as e:
            raise SegError(f"cannot rebuild the {manifest.get('encoder')} encoder of embedding {manifest.get('name')!r}: {e}") from None
        if now != fp:
            then = ((cache.meta() or {}).get("identity") or {}) if cache else {}
            ident = encoder.identity()
            diff = ", ".join(f"{k} {then.get(k)} -> {ident.get(k)}" for k in sorted(set(then) | set(ident))
                             if then and then.get(k) != ident.get(k))
            raise SegError(f"the {manifest.get('encoder')} encoder ({cfg.model or cfg.vectors or 'default'}) differs from "
                           f"`seg embed`'s (fingerprint {now} != {fp}{': ' + diff if diff else ''}); "
                           f"re-run `{embed_command(cfg)}` here and retrain")
        self.encoder = encoder
        return encoder

    def __call__(self, texts: list[str]) -> np.ndarray:
        """float32 (len(texts), dim): row k is the vector of texts[k] (a --tokens embedding:
        TokenStates of the texts, pipeline/token_states.py)."""
        texts = list(texts)
        cache = self._open()
        distinct = list(dict.fromkeys(texts))
        # like `seg embed`, a writer re-encodes corrupt vectors and adds checksums to legacy ones
        missing = check_cache(cache, distinct)[0] if cache else list(range(len(distinct)))
        if missing:
            encoder = self._encoder()
            if cache is None:
                got: dict[str, np.ndarray] = {}
                batches = (distinct[s:s + 256] for s in range(0, len(distinct), 256))
                if self.engine is None:
                    encoder.load()
                    results = encoder.encode_batches(batches)
                else:
                    results = self.engine.encode(encoder, batches)
                for batch, vecs in results:
                    got.update(zip(batch, vecs))
                if self.tokens:
                    return TokenStates.from_items([got[t] for t in texts], self.dim)
                return np.stack([got[t] for t in texts]).astype(np.float32, copy=False)
            fill_cache(encoder, cache, distinct, missing, encoder.cfg.batch_size, show_progress=self.show_progress,
                       desc="encode", engine=self.engine)
        if self.tokens:
            return TokenStates.from_items(list(cache.read(texts)), self.dim)
        vecs, still = cache.get_many(texts, self.dim)
        if still:
            raise SegError(f"{len(still)} texts could not be read back from cache {self.cache_dir}; delete it and re-run")
        return vecs


def encode_texts(texts: list[str], manifest: dict, cache_dir: Path | None = None, show_progress: bool = True) -> np.ndarray:
    """Vectors of arbitrary texts with the encoder of `manifest`: cached ones are read,
    the others encoded (by the encoder rebuilt from manifest["config"]) and cached.
    One call; a caller that encodes again and again keeps a TextEncoder instead."""
    return TextEncoder(manifest, cache_dir, show_progress)(texts)
