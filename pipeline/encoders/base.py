"""The encoder interface: texts in, float32 (n, dim) vectors out.

An encoder is built from an EmbedConfig without loading anything; `identity()` says
everything that changes its vectors (hashed into the cache fingerprint) and must stay
cheap (file hashes are memoised), because a fully cached run never calls `load()`.
`encode()` loads the model on first use.
"""

from __future__ import annotations

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


def count_tokens(tokenizer, texts: list[str], prefix: str, max_length: int) -> list[int]:
    """Tokens (special ones included, truncated at max_length) of prefix + each text."""
    ids = tokenizer([prefix + t for t in texts], truncation=True, max_length=max_length)["input_ids"]
    return [len(x) for x in ids]


def precision(device: str) -> str:
    """The numeric precision of the forward pass on `device` (a resolved torch device):
    bf16 autocast on a GPU that supports it, else fp16 autocast on a GPU, fp32 on the CPU.
    Part of the bert/sbert fingerprint: a GPU and a CPU run give different vectors."""
    if device.startswith("cuda"):
        import torch

        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "fp32"


def autocast(device: str):
    """bf16 (or fp16) autocast on a GPU, nothing on the CPU (see `precision`)."""
    import contextlib

    import torch

    p = precision(device)
    if p != "fp32":
        return torch.autocast("cuda", dtype=torch.bfloat16 if p == "bf16" else torch.float16)
    return contextlib.nullcontext()


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
#            batches on the same thread count and machine give the same bits).
VECTOR_ATOL = 1e-5
VECTOR_COS_EPS = 1e-6


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
    return (worst <= VECTOR_ATOL and low >= 1 - VECTOR_COS_EPS and not zero_mismatch), \
        f"max abs {worst:.2e}, min cosine 1 - {1 - low:.1e}"
