"""Intermediate-layer token states and trainable top layers (`seg embed --tokens --layer K`,
`seg train --finetune-layers N`).

Layers K+1 .. L rebuilt from the model folder and run over the cached layer-K states give the
model's own last layer (padding masked); a run trained on them goes through segment (--evaluate
reproduces seg train, --ensemble), the Python API and report, loads without the model folder,
never lets test labels steer it, and every bad combination is one line naming the option.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from cli import app
from pipeline.dataset import load_split
from pipeline.embed import EmbedConfig, embed
from pipeline.token_states import TokenStates
from trainer.config import TrainConfig
from trainer.data import load_data
from trainer.metrics import segmentation_metrics
from trainer.train import fit, train
from tests.fixtures_prep import private_copy
from tests.reproduce import segment_reproduces_test

runner = CliRunner()
PROMPT = "passage: "


def _hf(model_dir):
    """The tiny sentence-transformers model's transformers model and tokenizer."""
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(str(model_dir), device="cpu")
    return st[0].auto_model.eval(), st[0].tokenizer


@pytest.fixture(scope="module")
def ft(small_dataset, tiny_fast_sbert, tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("finetune")
    ds = private_copy(small_dataset, root)
    model = root / "model"                       # a copy of its own: a test changes it
    shutil.copytree(tiny_fast_sbert, model)
    res = runner.invoke(app, ["embed", str(ds), "--encoder", "sbert", "--model", str(model), "--tokens", "--layer", "1",
                              "--cache", str(root / "tokens")])
    assert res.exit_code == 0, res.output
    embed(EmbedConfig(dataset=str(ds), encoder="sbert", model=str(model), cache=str(root / "vectors")), root)
    embed(EmbedConfig(dataset=str(ds), encoder="sbert", model=str(model), tokens=True, cache=str(root / "tokens")), root)
    run = train(TrainConfig(dataset=str(ds), encoder="sbert-tokens-l1", model="bilstm", finetune_layers=1,
                            features="brackets", hidden=16, epochs=2, repeats=2, seed=1, encoder_lr=1e-3,
                            warmup=0.2, accumulate=2, batch_size=64, name="ft", output=str(root / "runs")), root)
    across = train(TrainConfig(dataset=str(ds), encoder="sbert-tokens-l1", finetune_layers=1, across_gap=True,
                               features="brackets", hidden=16, epochs=2, repeats=1, seed=1, encoder_lr=1e-3,
                               batch_size=64, name="ft-across", output=str(root / "runs")), root)
    seq = train(TrainConfig(dataset=str(ds), encoder="sbert-tokens-l1", model="seq", finetune_layers=1,
                            sentence_pooling="attention", heads=1, hidden=16, chunk=16, epochs=1, repeats=1, seed=1,
                            batch_size=64, name="ft-seq", output=str(root / "runs")), root)
    return {"root": root, "dataset": ds, "model": model, "run": run, "across": across, "seq": seq,
            "embed_output": res.output}


def test_top_layers_over_layer_k_states_reproduce_the_last_layer(ft):
    """fp32, a padded batch of sentences of different lengths: layer 2 rebuilt by TopLayers over
    hidden_states[1] gives last_hidden_state at every real token."""
    from pipeline.fingerprint import hash_folder
    from trainer.models.toplayers import TopLayers, base_config

    hf, tok = _hf(ft["model"])
    texts = load_split(ft["dataset"], "dev").texts[:6]
    enc = tok([PROMPT + t for t in texts], padding=True, return_tensors="pt")
    assert len(set(enc["attention_mask"].sum(1).tolist())) > 1          # padding is there to be masked
    with torch.no_grad():
        out = hf(**enc, output_hidden_states=True)
    top = TopLayers(config=base_config(ft["model"]), layer=1, n_layers=1, base_model=str(ft["model"]),
                    base_hash=hash_folder(ft["model"]))
    top.load_pretrained()
    top.eval()
    mask = enc["attention_mask"].bool()
    with torch.no_grad():
        got = top.padded(out.hidden_states[1], mask)
        n = mask.sum(1)
        packed = torch.cat([out.hidden_states[1][b, :n[b]] for b in range(len(texts))])
        seg = torch.repeat_interleave(torch.arange(len(texts)), n)
        got_packed = top(packed, seg, n)
    want = out.last_hidden_state
    assert torch.allclose(got[mask], want[mask], atol=1e-5)
    assert torch.allclose(got_packed, want[mask], atol=1e-5)
    # the group size (32 on the CPU, 256 on CUDA) only changes padding: groups of 2 give the same rows
    import trainer.models.toplayers as tl

    old, tl.GROUP = tl.GROUP, 2
    try:
        with torch.no_grad():
            small = top(packed, seg, n)
    finally:
        tl.GROUP = old
    assert torch.allclose(small, want[mask], atol=1e-5)


def test_stored_layer_states_are_every_token_the_model_saw(ft):
    """The export holds hidden_states[1] of [CLS], the prompt, the sentence and [SEP] (fp16), the
    sentence's own tokens with their spans; layer 2 over them is the model's last layer."""
    from pipeline.fingerprint import hash_folder
    from trainer.models.toplayers import TopLayers, base_config

    hf, tok = _hf(ft["model"])
    split = load_split(ft["dataset"], "test")
    states = TokenStates.open(ft["dataset"] / "embeddings" / "sbert-tokens-l1" / "test.h5")
    assert len(states) == len(split) and states.verify()
    top = TopLayers(config=base_config(ft["model"]), layer=1, n_layers=1, base_model=str(ft["model"]),
                    base_hash=hash_folder(ft["model"]))
    top.load_pretrained()
    top.eval()
    for j in (0, 3, len(split) - 1):
        text = split.texts[j]
        enc = tok(PROMPT + text, return_tensors="pt")
        with torch.no_grad():
            out = hf(**enc, output_hidden_states=True)
        s = states.states(j).astype(np.float32)
        assert s.shape[0] == enc["input_ids"].shape[1]                      # every token, special ones included
        np.testing.assert_allclose(s, out.hidden_states[1][0].numpy(), atol=2e-3, rtol=2e-3)
        with torch.no_grad():
            last = top.padded(torch.from_numpy(s)[None], torch.ones(1, len(s), dtype=torch.bool))[0]
        np.testing.assert_allclose(last.numpy(), out.last_hidden_state[0].numpy(), atol=2e-2)
        spans = states.spans(j)
        assert (spans[0] == 0).all() and (spans[-1] == 0).all()            # [CLS], [SEP]: no characters
        assert "".join(text[a:b] for a, b in spans) == text.replace(" ", "").replace("\u3000", "")


def test_the_layer_is_in_the_fingerprint_and_the_default_keeps_todays(ft):
    from pipeline.encoders import make_encoder
    from pipeline.encoders.tokens import TokenView
    from pipeline.fingerprint import fingerprint
    from pipeline.vectors import embedding_info

    def fp(layer):
        enc = make_encoder(EmbedConfig(encoder="sbert", model=str(ft["model"]), tokens=True, layer=layer))
        return fingerprint(TokenView(enc).identity())

    enc = make_encoder(EmbedConfig(encoder="sbert", model=str(ft["model"]), tokens=True))
    before = {**enc.identity(), "output": "token states", "token_dtype": "float16", "token_version": "1"}
    assert fp(None) == fingerprint(before) == embedding_info(ft["dataset"], "sbert-tokens")["fingerprint"]
    assert len({fp(None), fp(1), fp(2)}) == 3
    m = embedding_info(ft["dataset"], "sbert-tokens-l1")
    assert m["fingerprint"] == fp(1) and m["transformer"]["layer"] == 1 and m["transformer"]["depth"] == 2
    # the size is announced before anything is written: exactly the rows the exports hold
    n_tok = sum(int(TokenStates.open(ft["dataset"] / "embeddings" / "sbert-tokens-l1" / f"{s}.h5").offsets[-1])
                for s in ("train", "dev", "test"))
    said = " ".join(ft["embed_output"].split())
    assert "the hidden states after layer 1 of 2" in said and f"; {n_tok:,} tokens (" in said, said


def test_a_finetuned_run_segments_reproduces_its_metrics_and_loads_without_the_model(ft, tmp_path):
    from trainer.run import load_run

    segment_reproduces_test(ft["dataset"], ft["run"])
    run = load_run(ft["run"])
    top = run.config["model"]["sentence_pooling"]["top"]
    assert (top["layer"], top["n_layers"]) == (1, 1) and run.config["train"]["finetune_layers"] == 1
    # the trained layer is in the run's weights, moved away from the model's own layer 2
    hf, _ = _hf(ft["model"])
    state = torch.load(ft["run"] / "repeat-0.pt", weights_only=True)
    mine = {k[len("top.body.encoder.layer.0."):]: v for k, v in state.items() if k.startswith("top.body.encoder.layer.0.")}
    theirs = hf.encoder.layer[1].state_dict()
    assert mine.keys() == theirs.keys()
    assert any(not torch.allclose(mine[k], theirs[k]) for k in mine)
    # --ensemble and the API
    test = load_split(ft["dataset"], "test")
    text = "".join(test.texts[:40])
    res = runner.invoke(app, ["segment", "-", "--run", str(ft["run"]), "--ensemble"], input=text)
    assert res.exit_code == 0, res.output
    import seg

    paragraphs = seg.load(str(ft["run"]), progress=False).segment(text)
    assert "".join(paragraphs) == text and len(paragraphs) > 1
    # the architecture is rebuilt from the run alone: the model folder is not read
    moved = tmp_path / "moved"
    shutil.move(str(ft["model"]), moved)
    try:
        models = [load_run(ft["run"]).build_model(k) for k in range(2)]
        assert all(hasattr(m, "top") for m in models)
    finally:
        shutil.move(str(moved), ft["model"])
    out = ft["root"] / "report"
    res = runner.invoke(app, ["report", str(ft["run"]), "--output", str(out), "--format", "md"])
    assert res.exit_code == 0, res.output
    assert "finetune_layers" in (out / "report.md").read_text(encoding="utf-8")


def test_seq_reads_finetuned_word_attention_and_a_mean_has_no_weights_to_show(ft):
    _, rows, _ = segment_reproduces_test(ft["dataset"], ft["seq"])
    assert all("attention" in r for r in rows[1:])                     # word attention over the trained layer
    _, rows, _ = segment_reproduces_test(ft["dataset"], ft["run"])
    assert not any("attention" in r for r in rows)                     # the mean: uniform, nothing to show
    assert (ft["seq"] / "attention-test.npz").is_file() and not (ft["run"] / "attention-test.npz").exists()


def test_test_labels_never_steer_a_finetuned_run(ft):
    data, _ = load_data(ft["dataset"], "sbert-tokens-l1", "none")
    cfg = TrainConfig(model="pool", finetune_layers=1, sentence_pooling="attention", heads=1, hidden=8, epochs=2,
                      encoder_lr=1e-3, batch_size=128, device="cpu")
    flipped = dict(data, test=data["test"].with_labels(1 - data["test"].labels))
    a, b = fit(cfg, data), fit(cfg, flipped)
    ra, rb = a.repeats[0], b.repeats[0]
    assert (ra.best_epoch, ra.threshold, ra.dev) == (rb.best_epoch, rb.threshold, rb.dev)
    assert all(torch.equal(ra.state_dict[k], rb.state_dict[k]) for k in ra.state_dict)
    assert any(k.startswith("top.") for k in ra.state_dict)
    assert np.array_equal(ra.probs["test"], rb.probs["test"])
    counts = a.sets["test"].doc_gap_counts
    pred = ra.probs["test"] >= ra.threshold
    assert rb.test == segmentation_metrics(1 - a.sets["test"].labels, pred, counts) != ra.test


def test_across_gap_reads_cls_left_sep_right_sep_from_the_cached_states(ft):
    """The sequence of a gap is [CLS] and [SEP] of the sentence before it, the sentences' own
    tokens (prompt and special tokens dropped) on each side, [SEP] of the sentence after it."""
    from trainer.models import from_spec, model_spec
    from trainer.tokendata import TokenBank
    from trainer.windows import gap_windows

    data, _ = load_data(ft["dataset"], "sbert-tokens-l1", "none")
    test = data["test"]
    spec = model_spec(TrainConfig(finetune_layers=1, across_gap=True, window="2:2"), 0, test.token_dim, test.token_model)
    model = from_spec(spec)
    gaps = gap_windows(test.spans, 2, 2)
    g = next(k for k, row in enumerate(gaps.index) if (row >= 0).all())
    x, seqs = model.sequences(TokenBank(test.tokens, test.vectors), torch.from_numpy(gaps.index[g:g + 1]))
    a, b, c, d = (test.tokens.states(int(j)).astype(np.float32) for j in gaps.index[g])
    own = [s[~(test.tokens.spans(int(j)) == 0).all(1)] for s, j in zip((a, b, c, d), gaps.index[g])]
    assert all(len(s) - len(o) >= 3 for o, s in zip(own, (a, b, c, d)))   # [CLS], [SEP] and the prompt's tokens
    want = np.concatenate([b[:1], own[0], own[1], b[-1:], own[2], own[3], c[-1:]])
    np.testing.assert_array_equal(x[seqs[0]].numpy(), want)


def test_an_across_gap_run_segments_as_it_was_trained(ft):
    from trainer.run import load_run

    segment_reproduces_test(ft["dataset"], ft["across"])
    run = load_run(ft["across"])
    assert run.spec["kind"] == "acrossgap" and run.spec["pooling"] == "cls" and run.window == (2, 2)
    state = torch.load(ft["across"] / "repeat-0.pt", weights_only=True)
    assert any(k.startswith("top.body.encoder.layer.0.") for k in state)


@pytest.mark.parametrize("args, needle", [
    (["embed", "{ds}", "--encoder", "sbert", "--model", "{model}", "--tokens", "--layer", "3"], "--layer 3: "),
    (["embed", "{ds}", "--encoder", "sbert", "--model", "{model}", "--tokens", "--layer", "0"], "--layer 0: "),
    (["embed", "{ds}", "--encoder", "sbert", "--model", "{model}", "--layer", "1"], "--layer 1 chooses the layer"),
    (["train", "{ds}", "--encoder", "sbert", "--model", "bilstm", "--finetune-layers", "1"], "holds sentence vectors"),
    (["train", "{ds}", "--encoder", "sbert-tokens", "--finetune-layers", "1"], "embedded without --layer"),
    (["train", "{ds}", "--encoder", "sbert-tokens-l1", "--finetune-layers", "2"], "--finetune-layers 2: "),
    (["train", "{ds}", "--encoder", "sbert-tokens-l1", "--encoder-lr", "1e-4"], "--encoder-lr 0.0001 applies to"),
    (["train", "{ds}", "--encoder", "sbert-tokens-l1", "--finetune-layers", "1", "--model", "crossseg"],
     "--finetune-layers 1 applies to the window models"),
    (["train", "{ds}", "--encoder", "sbert-tokens-l1", "--across-gap"], "add --finetune-layers N"),
    (["train", "{ds}", "--encoder", "sbert-tokens-l1", "--finetune-layers", "1", "--across-gap", "--model", "bilstm"],
     "leave --model bilstm out"),
])
def test_wrong_combinations_are_one_line_errors(ft, args, needle):
    argv = [a.replace("{ds}", str(ft["dataset"])).replace("{model}", str(ft["model"])) for a in args]
    if args[0] == "train":
        argv += ["--epochs", "1", "--output", str(ft["root"] / "runs-bad")]
    else:
        argv += ["--cache", str(ft["root"] / "tokens-bad")]
    res = runner.invoke(app, argv)
    assert res.exit_code == 1, res.output
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and needle in lines[0], res.output


def test_states_of_another_model_are_refused(ft, tmp_path):
    """The model folder changed after its states were cached: the layers it would give are not
    those the states came from."""
    ds = tmp_path / "ds"
    shutil.copytree(ft["dataset"], ds)
    model = tmp_path / "model"
    shutil.copytree(ft["model"], model)
    res = runner.invoke(app, ["embed", str(ds), "--encoder", "sbert", "--model", str(model), "--tokens", "--layer", "1",
                              "--name", "other", "--cache", str(ft["root"] / "tokens")])
    assert res.exit_code == 0, res.output
    weights = next(model.rglob("model.safetensors"))
    from safetensors.torch import load_file, save_file

    w = load_file(str(weights))
    k = next(k for k in w if "layer.1." in k and k.endswith("dense.bias"))
    w[k] = w[k] + 1.0
    save_file(w, str(weights), metadata={"format": "pt"})
    res = runner.invoke(app, ["train", str(ds), "--encoder", "other", "--finetune-layers", "1", "--epochs", "1",
                              "--output", str(tmp_path / "runs")])
    assert res.exit_code == 1
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and "changed since its token states were cached" in lines[0], res.output
