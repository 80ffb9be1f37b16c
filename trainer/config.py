"""TrainConfig: every option of `seg train`, saved beside the run as config.json["train"]."""

from __future__ import annotations

from dataclasses import dataclass

# the models (--model), their defaults and the options each reads: catalog.py
ARCHS = ("bilstm", "transformer")   # --model seq: what reads the chunk of sentences
SENTENCE_POOLINGS = ("mean", "attention")   # --sentence-pooling: cached vectors | attention over cached token states
ATTENTION_HIDDEN = 64                       # width of the word-attention scorer (models/wordatt.py)
LOSSES = ("bce", "balanced", "focal")
DEVICES = ("auto", "cpu", "cuda")


@dataclass
class TrainConfig:
    dataset: str | None = None       # dataset directory from `seg prep`; None = <cache>/datasets/demo
    encoder: str = "e5"              # name of the cached embedding (`seg embed --encoder NAME`)
    model: str = "pool"              # a name in catalog.py: pool | bilstm | transformer | attmem (window models) | seq (whole documents) | crossseg
    window: str = "2:2"              # L:R sentences before:from the gap (window models)
    arch: str = "bilstm"             # --model seq: bilstm | transformer over the chunk of sentences
    chunk: int = 64                  # --model seq: sentences per chunk (chunks overlap by half)
    decode: str = "threshold"        # threshold | viterbi (paragraph-length prior) | crf (--model seq; CRF marginals)
    features: str = "none"           # surface features appended to each vector: none | a comma list of brackets, length, cues, tokens (features.py)
    loss: str = "bce"                # bce | balanced | focal
    gamma: float = 2.0               # focal loss focusing parameter (0 = plain BCE)
    alpha: float | None = None       # focal loss weight of the positive class (None = unweighted)
    beta: float | None = None        # balanced loss: effective-number beta (Cui et al. 2019); None = inverse frequency
    epochs: int = 15                 # at most; see patience
    patience: int = 4                # stop a repeat after this many epochs without a better dev F1 (0 = never)
    repeats: int = 1
    seed: int = 0                    # repeat k uses seed + k
    lr: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 0              # gaps per training step; 0 = the model's default (catalog.py)
    shuffle_block: int = 16          # gaps kept together when shuffling (1 = plain shuffle); see train.block_permutation
    hidden: int = 0                  # width; 0 = the model's default (catalog.py)
    dropout: float = 0.3
    layers: int = 1                  # BiLSTM layers, transformer layers, attention hops, pool MLP layers
    heads: int = 4                   # attention heads (transformer, attmem)
    memory_size: int = 0             # attmem: learned memory slots (0 = none)
    sentence_pooling: str = "mean"   # window models and seq: mean (the cached sentence vectors) | attention (learned word attention over a --tokens embedding)
    pooling: str = "auto"            # transformer: cls|sep|mean (auto = cls); pool: mean|max (auto = mean); crossseg: cls|mean (auto = cls)
    encoder_model: str | None = None # crossseg: transformers encoder to fine-tune (local folder or hub name in the local HF cache)
    finetune_layers: int = 0         # a --tokens --layer K embedding: train layers K+1 .. K+N of its model over the cached states (0 = none; models/toplayers.py)
    across_gap: bool = False         # --finetune-layers: the top layers read the window's sentences together, [CLS] left [SEP] right [SEP] (models/acrossgap.py)
    encoder_lr: float = 2e-5         # crossseg and --finetune-layers: AdamW learning rate of the encoder's (transferred) layers (--lr is the rest's)
    warmup: float = 0.1              # crossseg and --finetune-layers: fraction of the optimizer steps over which the encoder's rate rises linearly (then decays to 0)
    accumulate: int = 1              # crossseg and --finetune-layers: batches whose gradients are summed before each optimizer step
    max_length: int = 0              # crossseg: tokens per pair incl. special tokens; 0 = min(256, the model's limit)
    max_train_gaps: int = 0          # train on a sample of this many train gaps, drawn with --seed (0 = all); window models and crossseg
    max_train_works: int = 0         # train on the first N works of a --seed shuffle of the train works (0 = all; nested in N); window models and crossseg
    init_from: str | None = None     # a finished run (name under --output or a directory) whose weights start each repeat (see train.load_init)
    device: str = "auto"             # auto | cpu | cuda | cuda:N
    threads: int = 0                 # torch CPU threads (0 = 1 on a <= 2-core machine, else torch's default)
    name: str | None = None          # run directory name under output; None = <model>-w<L>x<R>-<loss>-<time>
    output: str = "runs"
    force: bool = False              # replace an existing run of the same --name
