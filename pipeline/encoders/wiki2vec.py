"""Wikipedia2Vec (or any word2vec-format) word vectors pooled into sentence vectors by SIF.

Sentences are split by MeCab (fugashi + ipadic). A sentence vector is the average of its
known words' vectors weighted by a / (a + p(w)), a = 1e-3, p(w) the word's frequency in
the train split of the dataset being embedded (Arora et al. 2017); then the first principal
component of the train split's (distinct) sentence vectors is removed. Both are fitted on
train text only, so dev and test text never shape the transform they are scored with. The
word-frequency table is hashed into the fingerprint (with "sif_fit": "train"); the table
and the component are stored in the cache under that fingerprint, so later runs, the dev
and test splits and new text (`seg segment`) use exactly the same transform.
"""

from __future__ import annotations

import io
from collections import Counter
from pathlib import Path

import numpy as np

from ..errors import SegError
from ..fingerprint import ENCODING_VERSION, hash_file, hash_strings_counts
from .base import Encoder

SIF_A = 1e-3
#: the split the SIF frequencies and component are fitted on (`seg embed` passes only its text)
SIF_FIT = "train"
_TAGGER = None


def words(text: str) -> list[str]:
    """The words of a sentence as the encoder looks them up: MeCab (fugashi + ipadic) surfaces."""
    global _TAGGER
    if _TAGGER is None:
        import fugashi
        import ipadic

        _TAGGER = fugashi.GenericTagger(ipadic.MECAB_ARGS)
    return [w.surface for w in _TAGGER(text)]


def is_binary_w2v(path: Path) -> bool:
    """word2vec binary or text format: by extension, else by sniffing the bytes after the header."""
    if path.suffix in (".bin",):
        return True
    if path.suffix in (".txt", ".vec", ".w2v"):
        return False
    with open(path, "rb") as fh:
        fh.readline()
        head = fh.read(4096)
    if b"\x00" in head:
        return True
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as e:
        return e.start < len(head) - 4  # a multibyte char cut at the end of the sample is still text
    return False


class Wiki2VecEncoder(Encoder):
    kind = "wiki2vec"
    stateful = True
    cpu_only = " (SIF over word vectors needs no GPU)"
    reproducible = "exact"
    unsupported = ("pooling", "max_length", "model", "backend", "precision")
    token_budget = 1 << 30
    batch_size = 1024

    def __init__(self, cfg, memo=None):
        super().__init__(cfg, memo)
        if not cfg.vectors:
            raise SegError("--encoder wiki2vec needs --vectors FILE: word vectors in word2vec text or binary format "
                           "(e.g. a Wikipedia2Vec jawiki_*.txt)")
        self.path = Path(cfg.vectors).expanduser()
        if not self.path.is_file():
            raise SegError(f"--vectors {cfg.vectors}: no such file; give a word2vec text or binary file")
        self.path = self.path.resolve()
        self.model_spec = None
        self._kv = None
        self.freq: Counter | None = None
        self.pc: np.ndarray | None = None

    # tokenisation and frequencies ----------------------------------------------------
    words = staticmethod(words)

    def prepare(self, texts: list[str], counts: list[int] | None = None) -> None:
        freq: Counter = Counter()
        for k, t in enumerate(texts):
            n = counts[k] if counts else 1
            for w in self.words(t):
                freq[w] += n
        self._set_freq(freq)

    def _set_freq(self, freq: Counter) -> None:
        self.freq = freq
        self._total = max(1, sum(freq.values()))
        self._freq_hash = hash_strings_counts(freq)

    def identity(self) -> dict:
        if self.freq is None:
            raise SegError("wiki2vec: word frequencies missing; the encoder was not prepared on a dataset")
        import fugashi

        return {"kind": "wiki2vec", "vectors": hash_file(self.path, self.memo), "binary": is_binary_w2v(self.path),
                "freq": self._freq_hash, "sif_a": SIF_A, "remove_pc": 1, "sif_fit": SIF_FIT, "sums": "per sentence",
                "tokenizer": f"fugashi {getattr(fugashi, '__version__', '?')} ipadic", "encoding_version": ENCODING_VERSION}

    def describe(self) -> str:
        return f"wiki2vec:{self.path.name}"

    # model ---------------------------------------------------------------------------
    def load(self) -> None:
        if self._kv is not None:
            return
        from gensim.models import KeyedVectors

        from ..progress import console

        console.print(f"loading word vectors {self.path} ...")
        try:
            self._kv = KeyedVectors.load_word2vec_format(str(self.path), binary=is_binary_w2v(self.path), unicode_errors="ignore")
        except (ValueError, EOFError, UnicodeDecodeError, OSError) as e:
            raise SegError(f"--vectors {self.path}: not a word2vec text or binary file ({e})") from None
        self._index = self._kv.key_to_index
        self._vecs = self._kv.vectors.astype(np.float32, copy=False)

    def loaded_dim(self) -> int:
        return self._kv.vector_size

    def _raw(self, texts: list[str]) -> np.ndarray:
        """SIF-weighted average word vectors (before the component removal)."""
        self.load()
        out = np.zeros((len(texts), self.dim), np.float32)
        get, freq, total = self._index.get, self.freq, self._total
        for r, t in enumerate(texts):
            rows, weights = [], []
            for w in self.words(t):
                j = get(w)
                if j is None:
                    j = get(w.lower())
                if j is None:
                    continue
                rows.append(j)
                weights.append(SIF_A / (SIF_A + freq.get(w, 0) / total))
            if rows:
                # numpy's own loops, not BLAS: the sum of one sentence's rows depends on that
                # sentence alone (not on the batch, the thread count or the BLAS kernel)
                out[r] = (np.asarray(weights, np.float32)[:, None] * self._vecs[rows]).sum(axis=0) / len(rows)
        return out

    # dataset state: frequency table + principal component ------------------------------
    def fit_state(self, cache, texts: list[str]) -> None:
        """The principal component of `texts` (the train split's distinct sentences), stored
        with the frequency table, or the state stored under this fingerprint already."""
        blob = cache.get_state()
        if blob is not None:
            self._restore(blob)
            return
        from ..progress import progress

        # sorted: the component depends on the set of train sentences, not on the order of the
        # dataset's documents (one fingerprint, one transform)
        texts = sorted(set(texts))
        X = np.zeros((len(texts), self.dim), np.float32)
        with progress() as bar:
            task = bar.add_task("SIF component", total=len(texts), unit="sent")
            for s in range(0, len(texts), 4096):
                X[s:s + 4096] = self._raw(texts[s:s + 4096])
                bar.advance(task, len(texts[s:s + 4096]))
        pc = first_component(X)
        buf = io.BytesIO()
        words = sorted(self.freq)
        np.savez(buf, pc=pc, words=np.array(words, dtype=object).astype(str),
                 counts=np.array([self.freq[w] for w in words], dtype=np.int64),
                 fit_on=np.array(SIF_FIT), sentences=np.array(len(texts), dtype=np.int64))
        # a concurrent run may have stored its state first: everyone uses the stored one
        self._restore(cache.setdefault_state(buf.getvalue()))

    def load_state(self, cache) -> None:
        blob = cache.get_state()
        if blob is None:
            raise SegError(f"cache {cache.path} lacks the SIF weights of fingerprint {cache.fp}; re-run `seg embed` for this dataset")
        self._restore(blob)

    def state_info(self, cache) -> dict | None:
        if self.pc is None and (blob := cache.get_state()) is not None:
            self._restore(blob)
        return {"fit_on": self._fit_on, "sentences": self._fit_sentences, "words": len(self.freq or ()),
                "freq": getattr(self, "_freq_hash", None)}

    _fit_on: str | None = None
    _fit_sentences: int | None = None

    def _restore(self, blob: bytes) -> None:
        z = np.load(io.BytesIO(blob), allow_pickle=False)
        self.pc = z["pc"].astype(np.float32)
        self._fit_on = str(z["fit_on"]) if "fit_on" in z.files else None
        self._fit_sentences = int(z["sentences"]) if "sentences" in z.files else None
        self._set_freq(Counter(dict(zip(z["words"].tolist(), z["counts"].tolist()))))

    def encode(self, texts: list[str]) -> np.ndarray:
        """Each sentence's vector is computed on its own (reproducible = "exact"): the projection
        on the component is a row-wise sum, not a matrix-vector product, whose BLAS blocking
        would make a sentence's last bits depend on how many others share its batch."""
        X = self._raw(texts)
        if self.pc is not None:
            X = X - (X * self.pc).sum(axis=1, keepdims=True) * self.pc
        return X.astype(np.float32, copy=False)


def first_component(X: np.ndarray) -> np.ndarray:
    """Unit first right singular vector of X (uncentred, as in SIF)."""
    if len(X) == 0 or not np.any(X):
        return np.zeros(X.shape[1], np.float32)
    from sklearn.decomposition import TruncatedSVD

    if X.shape[1] < 2 or len(X) < 2:
        v = X.sum(0)
    else:
        v = TruncatedSVD(n_components=1, n_iter=7, random_state=0).fit(X).components_[0]
    n = np.linalg.norm(v)
    return (v / n).astype(np.float32) if n else np.zeros(X.shape[1], np.float32)
