"""TrainConfig: every option of `seg train`, saved beside the run as config.json["train"]."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.options import option

from . import catalog
from . import decode as decoders

# the models (--model), their defaults and the options each reads: catalog.py
ARCHS = ("bilstm", "transformer")   # --model seq: what reads the chunk of sentences
SENTENCE_POOLINGS = ("mean", "attention")   # --sentence-pooling: cached vectors | attention over cached token states
ATTENTION_HIDDEN = 64                       # width of the word-attention scorer (models/wordatt.py)
LOSSES = ("bce", "balanced", "focal")
DEVICES = ("auto", "cpu", "cuda")


@dataclass
class TrainConfig:
    dataset: str | None = option(None, "Dataset directory written by `seg prep` and embedded by `seg embed`. Default: cache/datasets/demo.", path=True, argument=True)
    encoder: str = option("e5", "Name of the cached embedding to train on (`seg embed --encoder NAME`, or its --name).", "--encoder", "-e")
    model: str = option("pool", lambda: catalog.model_help(), "--model", "-m")
    window: str = option("2:2", "Window models: L:R sentences before the gap : from the gap on, padded at document edges.", "--window", "-w")
    arch: str = option("bilstm", "seq only: what reads each chunk of sentences: bilstm or transformer (sinusoidal positions).")
    chunk: int = option(64, "seq only: sentences per chunk; chunks overlap by half and each gap is scored where it sits nearest a chunk's middle.")
    decode: str = option("threshold", lambda: decoders.help_text())
    features: str = option("none", "Surface features appended to each sentence vector: none, brackets (opens/closes with 「『/」』/（/）), length (log characters), cues (quote depth across sentences, ――, ……, position in the document, distance to the last dialogue line), tokens (first and last MeCab word, hashed one-hot), or a comma list such as brackets,cues,tokens.")
    loss: str = option("bce", "bce, balanced (inverse-frequency class weights of the train gaps; with --beta the effective-number weights of Cui et al.) or focal.")
    gamma: float = option(2.0, "focal only: focusing parameter; 0 is plain BCE.")
    alpha: float | None = option(None, "focal only: weight of the break class in [0, 1] (the other class gets 1 - alpha). Default: unweighted.")
    beta: float | None = option(None, "balanced only: effective-number beta in (0, 1), e.g. 0.9999. Default: plain inverse frequency.")
    epochs: int = option(15, "Most epochs per repeat; the epoch with the best dev F1 is kept (0 only with --init-from: no training).")
    patience: int = option(4, "Stop a repeat after this many epochs without a better dev F1; 0 = run every epoch.")
    repeats: int = option(1, "Independent trainings with seeds seed, seed+1, ...; results are reported as mean ± std.", "--repeats", "-r")
    seed: int = option(0, "Seed of repeat 0; the same seed reproduces the same run on the CPU.")
    lr: float = option(1e-3, "AdamW learning rate.")
    weight_decay: float = option(0.0, "AdamW weight decay.")
    batch_size: int = option(0, lambda: "Candidate gaps per training step (seq: that many gaps in whole chunks, at least one chunk). 0 = the model's default: " + catalog.help_list("batch") + ".")
    shuffle_block: int = option(16, "Gaps kept in document order when shuffling (batches of stretches of text share window sentences, which makes epochs faster); 1 = plain shuffle.")
    hidden: int = option(0, lambda: "Width of the input projection and the integrator. 0 = the model's default: " + catalog.help_list("hidden") + ".")
    dropout: float = option(0.3, "Dropout probability.")
    layers: int = option(1, "Depth: BiLSTM layers, transformer layers, attmem attention hops, or pool MLP hidden layers.")
    heads: int = option(4, lambda: catalog.readers("heads") + ": attention heads (must divide --hidden); --sentence-pooling attention: word-attention heads per sentence.")
    memory_size: int = option(0, "attmem: learned memory slots attended beside the window; 0 = none.")
    sentence_pooling: str = option("mean", "Window models and seq: mean (read the cached sentence vectors) or attention (build each sentence's vector by learned multi-head word attention over the cached token states of a `seg embed --tokens` embedding, --heads heads; pass --encoder sbert-tokens). The run keeps the weights per token (seg report heatmaps, seg segment --format jsonl).")
    pooling: str = option("auto", lambda: catalog.pooling_help())
    encoder_model: str | None = option(None, "crossseg only (required there, no default): the transformers encoder to fine-tune, a local folder (e.g. the one `seg convert-e5` writes) or a hub name in the local Hugging Face cache.")
    finetune_layers: int = option(0, "On a `seg embed --tokens --layer K` embedding (window models and seq): rebuild layers K+1 .. K+N of the model that produced the states (its own architecture and weights, from the model folder the embedding names; K + N <= its depth), run them over each sentence's cached states (every token the model saw, special and prompt tokens included) and train them with the rest at --encoder-lr; the sentence vector is their output's mean (--sentence-pooling mean) or word attention (attention). 0 = none: the states are read as cached.")
    across_gap: bool = option(False, "With --finetune-layers: the top layers read the window's sentences together as one sequence, [CLS] left [SEP] right [SEP], built from the cached per-sentence states (each sentence's own [CLS]/[SEP] and prompt tokens dropped; every token keeps its position within its own sentence), so tokens on both sides of the gap attend to each other; their [CLS] state (--pooling cls, auto) or mean (--pooling mean) and the window's --features columns feed an MLP head (--hidden, --layers), no integrator (leave --model at pool). Sequences are cut to --max-length tokens (0 = 256), far sentences first. Default: off (each sentence alone).")
    encoder_lr: float = option(2e-5, "crossseg and --finetune-layers only: AdamW learning rate of the encoder's (transferred) layers (--lr is the rest's, constant).")
    warmup: float = option(0.1, "crossseg and --finetune-layers only: fraction of all optimizer steps over which the encoder's learning rate rises linearly from 0; it then decays linearly to 0.")
    accumulate: int = option(1, "crossseg and --finetune-layers only: batches whose gradients are summed before each optimizer step (effective batch = --batch-size x this).")
    max_length: int = option(0, "crossseg and --across-gap only: tokens per [CLS] left [SEP] right [SEP] pair; far sentences are dropped first, then the sentences at the gap cut at their far ends. 0 = min(256, the model's limit).")
    max_train_gaps: int = option(0, "Train on a uniform sample of this many train gaps, drawn with --seed (the same sample for every repeat and every model; not seq); dev and test stay whole. 0 = all.")
    max_train_works: int = option(0, "Train on the first N works of a shuffle of the train works drawn with --seed (the same works for every repeat and every model; a larger N holds every work of a smaller one, for learning curves; not seq); dev and test stay whole. 0 = all.")
    init_from: str | None = option(None, "Start every repeat from the weights of a finished run (a name under --output or a run directory, e.g. the bundled trainer/pretrained/aozora-bilstm, trained on the shared corpus less the demo works): repeat k from its repeat k (cycling). Give the same model options it was trained with and an embedding from the same encoder (both checked). Dev chooses among the weights as they came (epoch 0) and every fine-tuned epoch; --epochs 0 only chooses the threshold on dev. Default: none (random initialisation).")
    device: str = option("auto", "auto (cuda when available), cpu, cuda or cuda:N.")
    threads: int = option(0, "CPU threads for torch. 0 = one thread on a machine of 2 cores or fewer (shared cores make more threads slower), else torch's default.")
    name: str | None = option(None, "Run directory name under --output. Default: <model>-w<L>x<R>-<loss>-<yyyymmdd-HHMMSS> (with -2, -3... if taken).")
    output: str = option("runs", "Directory holding the runs.", "--output", "-o", path=True)
    force: bool = option(False, "Replace an existing run of the same --name. Default: off.")
