"""The encoder interface: texts in, float32 (n, dim) vectors out.

An encoder is built from an EmbedConfig without loading anything; `identity()` says
everything that changes its vectors (hashed into the cache fingerprint) and must stay
cheap (file hashes are memoised), because a fully cached run never calls `load()`.
`encode()` loads the model on first use.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from ..errors import SegError


class Encoder:
    kind: str = "?"
    #: EmbedConfig fields that do not apply to this encoder (an explicit value is an error)
    unsupported: tuple[str, ...] = ()
    #: True when fit_state computes dataset-dependent state (which needs the model loaded)
    stateful: bool = False
    #: how to get a GPU, for an encoder that runs on the CPU only ('' = this one can use a GPU)
    cpu_only: str = ""
    #: what the cache promises about re-encoding a sentence (see same_vectors, docs/reliability.md):
    #: "exact" (the same bits whatever the batch, order, thread count or resume) or "close"
    reproducible: str = "close"

    #: a torch encoder whose auto precision is bf16 on a CPU with native bf16 (see `precision`)
    cpu_bf16: bool = False
    #: a torch encoder: its forward honours --precision
    torch_forward: bool = False

    def contract(self) -> str:
        """This encoder's reproducibility contract as configured ("exact", "close" or "bf16": a
        torch encoder running under bf16/fp16 autocast)."""
        if self.torch_forward and self.forward_precision() != "fp32":
            return "bf16"
        return self.reproducible

    def forward_precision(self) -> str:
        """A torch encoder's precision on its (first) device: --precision, else auto."""
        return precision(torch_device(getattr(self.cfg, "device", None) or "auto"), getattr(self.cfg, "precision", None),
                         self.cpu_bf16)

    def __init__(self, cfg: Any, memo=None):
        self.cfg = cfg
        self.memo = memo
        #: the model as stored in the manifest's config (resolved: an absolute path for a local model)
        self.model_spec: str | None = cfg.model
        for opt in self.unsupported:
            if getattr(cfg, opt, None) is not None:
                flag = "--" + opt.replace("_", "-")
                raise SegError(f"{flag} does not apply to --encoder {self.kind}; leave it out")
        if self.cpu_only and getattr(cfg, "device", None) not in (None, "", "auto", "cpu"):
            raise SegError(f"--device {cfg.device}: --encoder {self.kind} runs on the CPU only; leave --device at auto "
                           f"or cpu{self.cpu_only}")

    # identity ----------------------------------------------------------------------
    def identity(self) -> dict:
        """Everything that changes a vector (without the sentence)."""
        raise NotImplementedError

    def describe(self) -> str:
        """Short model label for messages and cache metadata."""
        return self.kind

    def resolved(self) -> dict:
        """EmbedConfig fields whose default this encoder resolved (e.g. an auto precision), as
        stored in the embedding manifest."""
        return {"precision": self.forward_precision()} if self.torch_forward else {}

    def space_identity(self) -> dict:
        """The part of identity() that says which vector space the vectors live in: the model and
        what it reads and pools, without how the forward is computed (engine, precision, library
        versions), which moves vectors only within their contract. `seg train --init-from`
        accepts a run trained on vectors of the same space (pipeline/vectors.py: space_fingerprint)."""
        return self.identity()

    def space_fingerprint(self, tokens: bool = False) -> str:
        """The fingerprint of space_identity() (token states and sentence vectors apart)."""
        from ..fingerprint import fingerprint

        return fingerprint({**self.space_identity(), "tokens": bool(tokens)})

    # dataset-dependent state (wiki2vec's SIF) ------------------------------------------
    def prepare(self, texts: list[str], counts: list[int] | None = None) -> None:
        """See the whole dataset before fingerprinting (no-op for most encoders)."""

    def fit_state(self, cache, texts: list[str]) -> None:
        """Compute/load state that depends on the dataset, once the model is loaded."""

    def load_state(self, cache) -> None:
        """Restore dataset-dependent state from the cache (for encoding new text)."""

    def state_info(self, cache) -> dict | None:
        """What the dataset-dependent state was fitted on (for the manifest); None without state."""
        return None

    # encoding ------------------------------------------------------------------------
    @property
    def dim(self) -> int:
        """The width of a vector (loads the model)."""
        self.load()
        return int(self.loaded_dim())

    def loaded_dim(self) -> int:
        """The width of a vector, read from the loaded model."""
        raise NotImplementedError

    def load(self) -> None:
        """Load the model (idempotent)."""

    def encode(self, texts: list[str]) -> np.ndarray:
        """float32 (len(texts), dim) vectors of one batch."""
        raise NotImplementedError

    def encode_batches(self, batches: Iterable[list[str]]) -> Iterator[tuple[list[str], np.ndarray]]:
        """(batch, vectors) for each batch, in order; the batches are read one at a time (an
        encoder with several devices overrides this to run batches side by side)."""
        for batch in batches:
            yield batch, self.encode(batch)

    def costs(self, texts: list[str]) -> list[int]:
        """Tokens of each text as the model reads it, for sorting and token-budget batching:
        approximated from the characters unless the encoder can count exactly (the torch
        encoders count with their tokenizer)."""
        return [len(t) + 2 for t in texts]

    def batch_token_budget(self) -> int:
        """Cap of a batch's size in tokens (see `padded`) on this encoder's device."""
        return self.token_budget

    #: default cap of a batch's size in approximate tokens (see `padded`)
    token_budget: int = 8192
    #: True: a batch is padded to its longest text (cost = count x longest);
    #: False: texts are packed without padding (cost = sum of lengths)
    padded: bool = True
    #: default max sentences per batch
    batch_size: int = 64

    def default_batch_size(self) -> int:
        """Max sentences per batch when --batch-size is not given."""
        return self.batch_size


# ---------------------------------------------------------------------------------
# helpers shared by the torch encoders (bert, sbert)
# ---------------------------------------------------------------------------------

HF_IGNORE = ["*.onnx", "onnx/*", "openvino/*", "*.h5", "*.msgpack", "*.ot", "*.tflite", "flax_model*",
             "tf_model*", "rust_model*", "coreml/*", "*.mlmodel"]


def _looks_like_path(spec: str) -> bool:
    return spec.startswith(("/", ".", "~")) or spec.count("/") > 1 or spec.endswith("/") or "\\" in spec


def _online(timeout: float = 3.0) -> bool:
    """Whether the hub endpoint answers a TCP connect within `timeout` (DNS included)."""
    import os
    import socket
    import threading
    from urllib.parse import urlparse

    host = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname or "huggingface.co"
    ok: list[bool] = []

    def probe():
        try:
            socket.create_connection((host, 443), timeout=timeout).close()
            ok.append(True)
        except OSError:
            pass

    t = threading.Thread(target=probe, daemon=True)
    t.start()
    t.join(timeout)
    return bool(ok)


def resolve_model(spec: str) -> tuple[Path, str | None]:
    """(local folder, hub name or None) of a --model value: a local folder, or a hub name
    found in the local Hugging Face cache, or downloaded when the hub is reachable."""
    import os

    p = Path(spec).expanduser()
    if p.exists():
        if not p.is_dir():
            raise SegError(f"--model {spec}: not a folder; give a model folder (config.json and weights) or a hub name")
        return p.resolve(), None
    if _looks_like_path(spec):
        raise SegError(f"--model {spec}: no such folder; check the path")
    try:
        from huggingface_hub import snapshot_download
    except ImportError:  # pragma: no cover - a dependency of transformers
        raise SegError(f"--model {spec}: not a local folder and huggingface_hub is not installed") from None
    try:
        return Path(snapshot_download(spec, local_files_only=True, ignore_patterns=HF_IGNORE)), spec
    except Exception:
        pass
    hint = "pass --model PATH (a local model folder)"
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        raise SegError(f"--model {spec}: not in the local Hugging Face cache and HF_HUB_OFFLINE is set; {hint} or connect and unset HF_HUB_OFFLINE")
    if not _online():
        raise SegError(f"--model {spec}: not in the local Hugging Face cache and the hub is unreachable; {hint} or connect to the network")
    try:
        return Path(snapshot_download(spec, ignore_patterns=HF_IGNORE, etag_timeout=10)), spec
    except Exception as e:
        raise SegError(f"--model {spec}: download failed ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}); {hint}") from None


def tokenizer_kwargs(folder: Path) -> dict:
    """Extra from_pretrained kwargs for a model's tokenizer: a BertJapaneseTokenizer with
    MeCab runs through fugashi with ipadic unless the dictionary it names is installed
    (transformers defaults to unidic_lite, which seg does not install)."""
    import importlib.util
    import json

    cfg_file = Path(folder) / "tokenizer_config.json"
    try:
        cfg = json.loads(cfg_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if cfg.get("tokenizer_class") != "BertJapaneseTokenizer" or cfg.get("word_tokenizer_type", "basic") != "mecab":
        return {}
    mk = dict(cfg.get("mecab_kwargs") or {})
    dic = mk.get("mecab_dic", "unidic_lite" if "mecab_option" not in mk else None)
    if dic is not None and importlib.util.find_spec(dic) is None:
        mk["mecab_dic"] = "ipadic"
    elif dic is None:
        return {}
    return {"mecab_kwargs": mk}


def device_list(spec: str | None) -> list[str]:
    """The devices of a --device value: "cuda:0,cuda:1" -> ["cuda:0", "cuda:1"]; one device -> [it]."""
    return [d.strip() for d in (spec or "auto").split(",")]


def torch_devices(spec: str) -> list[str]:
    """The resolved torch devices of a --device value (see torch_device), one per process."""
    return [torch_device(d) for d in device_list(spec)]


def torch_device(spec: str) -> str:
    """The resolved torch device of a --device value; of a list, the first (all are checked)."""
    import torch

    if spec and "," in spec:
        return torch_devices(spec)[0]
    if spec in (None, "", "auto"):
        if torch.cuda.is_available():
            return "cuda"
        return "cpu"
    if spec.startswith("cuda") and not torch.cuda.is_available():
        raise SegError(f"--device {spec}: CUDA is not available on this machine; use --device cpu or auto")
    return spec


def torch_batch_size(device_spec: str) -> int:
    """Default most sentences per batch of the torch encoders (bert, sbert): 128 on a GPU, 64 on
    the CPU, where the padded-token budget (torch_token_budget) is what usually closes a batch."""
    return 128 if torch_device(device_spec).startswith("cuda") else 64


def torch_token_budget(device_spec: str) -> int:
    """Default padded tokens per batch (count x longest, after sorting by the tokenizer's counts)
    of the torch encoders: 16,384 on a GPU; 1,536 on the CPU, where small batches of long
    sentences and large batches of short ones ran fastest (multilingual-e5-small, 2 cores, demo
    sentences, seconds: 3,000 of them with budgets of 1,536 / 1,024 / 2,048 tokens 27.0 / 27.9 /
    28.1 against SentenceTransformer.encode's 34.7; 1,000 in fixed batches of 32 sorted by tokens
    11.6, by characters 13.2, encode 13.0 -- sorting by characters pads 36% more than the real
    tokens, by tokens 18%)."""
    return 16384 if torch_device(device_spec).startswith("cuda") else 1536


class TorchBatching:
    """Batch sizes of the transformers encoders (bert, sbert): by their device (a mixin before Encoder)."""

    def default_batch_size(self) -> int:
        return torch_batch_size(self.cfg.device)

    def batch_token_budget(self) -> int:
        return torch_token_budget(self.cfg.device)


def count_tokens(tokenizer, texts: list[str], prefix: str, max_length: int) -> list[int]:
    """Tokens (special ones included, truncated at max_length) of prefix + each text."""
    ids = tokenizer([prefix + t for t in texts], truncation=True, max_length=max_length)["input_ids"]
    return [len(x) for x in ids]


PRECISIONS = ("fp32", "bf16", "fp16")


@functools.lru_cache(maxsize=1)
def native_bf16() -> bool:
    """Whether this CPU multiplies bf16 natively (AVX512-BF16 or AMX on x86, the BF16 extension
    on Arm): there bf16 autocast is faster than fp32; elsewhere oneDNN emulates it, 2-4.5x
    slower than fp32 (measured with ONEDNN_MAX_CPU_ISA=AVX512_CORE / AVX2, bench/bench_e5_engines.py)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    flags = set()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            flags.update(line.split(":", 1)[-1].split())
    return bool(flags & {"avx512_bf16", "amx_bf16", "bf16"})


def precision(device: str, requested: str | None = None, cpu_bf16: bool = False) -> str:
    """The numeric precision of the forward pass on `device` (a resolved torch device): the
    `requested` one (--precision fp32|bf16|fp16), else bf16 autocast on a GPU that supports it,
    fp16 autocast on another GPU, and on the CPU fp32 -- or bf16 where `cpu_bf16` (the encoder's
    choice: e5, whose vectors were measured faithful at bf16) and the CPU has it natively.
    Part of the torch encoders' fingerprints: a bf16 and an fp32 run give different vectors."""
    if requested:
        if requested not in PRECISIONS:
            raise SegError(f"--precision {requested!r}: use fp32, bf16 or fp16 (or leave it out: auto)")
        if requested == "fp16" and not device.startswith("cuda"):
            raise SegError(f"--precision fp16 runs on a GPU only (this forward runs on {device}); use fp32 or bf16")
        return requested
    if device.startswith("cuda"):
        import torch

        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "bf16" if cpu_bf16 and native_bf16() else "fp32"


def autocast(device: str, prec: str | None = None):
    """The autocast of precision `prec` (default: `precision(device)`) on `device`; fp32 is none."""
    import contextlib

    import torch

    p = prec or precision(device)
    if p == "fp32":
        return contextlib.nullcontext()
    return torch.autocast("cuda" if device.startswith("cuda") else "cpu",
                          dtype=torch.bfloat16 if p == "bf16" else torch.float16)


def library_versions(*dists: str) -> dict:
    """major.minor of installed distributions whose releases may change the vectors
    (kernels, tokenisation, pooling defaults); patch releases are assumed not to."""
    from importlib import metadata

    out = {}
    for d in dists:
        try:
            out[d] = ".".join(metadata.version(d).split(".")[:2])
        except metadata.PackageNotFoundError:
            out[d] = None
    return out


def quiet_transformers() -> None:
    """No per-file "Loading weights" bars from transformers: seg shows its own progress."""
    try:
        from transformers.utils import logging as tlog

        tlog.disable_progress_bar()
        tlog.set_verbosity_error()
    except ImportError:  # pragma: no cover
        pass
    import logging

    # sentence-transformers' own notices (e.g. "Default prompt name is set to 'passage'")
    logging.getLogger("sentence_transformers").setLevel(logging.ERROR)


def load_tokenizer(folder: Path | str, what: str, kwargs_folder: Path | str | None = None):
    """A transformers tokenizer from a local folder, with tokenizer_kwargs (of `kwargs_folder`,
    default the folder itself); a one-line load_error naming `what` when it cannot load."""
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(str(folder), local_files_only=True,
                                             **tokenizer_kwargs(Path(kwargs_folder or folder)))
    except Exception as e:
        raise load_error(what, "transformers", e) from None


def load_error(what: str, library: str, e: Exception) -> SegError:
    """The one-line error for a model folder that `library` failed to load."""
    first = str(e).splitlines()[0] if str(e) else ""
    return SegError(f"--model {what}: {library} could not load it ({type(e).__name__}: {first})")


# The reproducibility contract of the vector cache. A sentence re-encoded (a resume after kill -9, a
# repaired checksum, a Ray worker, `seg segment` on new text) gets back
#   "exact": the same bits, whatever batch it shares, the order of sentences, the thread count or
#            the BLAS kernel (wiki2vec: each vector is summed on its own by numpy's loops, with the
#            dataset state stored in the cache; a fresh cache refits it from the sorted train set);
#   "close": a vector within VECTOR_ATOL of the first, at cosine >= 1 - VECTOR_COS_EPS (transformer
#            encoders: padding, GEMM blocking and thread count move the last float bits; the same
#            batches on the same thread count and machine give the same bits);
#   "bf16":  within BF16_ATOL at cosine >= 1 - BF16_COS_EPS (a torch encoder under bf16/fp16
#            autocast: each matmul's output is rounded to 8 mantissa bits, so a last-bit change of
#            the fp32 accumulation under another padding moves a vector by up to ~1e-3; measured on
#            1,000 demo sentences with e5, alone vs in sorted batches: max abs 6.2e-4, cosine
#            1 - 5.7e-6).
VECTOR_ATOL = 1e-5
VECTOR_COS_EPS = 1e-6
BF16_ATOL = 2e-3
BF16_COS_EPS = 1e-4


def same_vectors(a: np.ndarray, b: np.ndarray, reproducible: str) -> tuple[bool, str]:
    """Whether two encodings of the same sentences keep the contract, and the worst deviation."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        return False, f"shapes {a.shape} and {b.shape}"
    if reproducible == "exact":
        diff = int((a != b).sum())
        return diff == 0, f"{diff} of {a.size} floats differ"
    worst = float(np.abs(a - b).max(initial=0.0))
    na, nb = np.linalg.norm(a, axis=-1), np.linalg.norm(b, axis=-1)
    both = (na > 0) & (nb > 0)
    cos = (a * b).sum(-1)[both] / (na[both] * nb[both])
    low = float(cos.min(initial=1.0))
    zero_mismatch = bool(((na > 0) != (nb > 0)).any())
    atol, eps = (BF16_ATOL, BF16_COS_EPS) if reproducible == "bf16" else (VECTOR_ATOL, VECTOR_COS_EPS)
    return (worst <= atol and low >= 1 - eps and not zero_mismatch), \
        f"max abs {worst:.2e}, min cosine 1 - {1 - low:.1e}"
