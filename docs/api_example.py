import os

import seg

encoder = os.environ.get("SEG_ENCODER", "e5")      # `make demo` embedded cache/datasets/demo with e5
text = ("メロスは激怒した。必ず、かの邪智暴虐の王を除かなければならぬと決意した。"
        "「王は、人を殺します。」「なぜ殺すのだ。」")
print(seg.load("rule").segment(text))              # the bracket rule needs no model

runs = [seg.train(encoder=encoder, model=m, epochs=5, name=f"api-{m}", force=True, progress=False)
        for m in ("pool", "bilstm")]               # runs/api-pool, runs/api-bilstm
for run in runs:
    print(f"{run.config['train']['model']}: test F1 {run.metrics['summary']['test']['f1']['mean']:.3f}")
best = max(runs, key=lambda run: run.metrics["summary"]["dev"]["f1"]["mean"])   # chosen on dev
segmenter = seg.load(best.path, progress=False)    # model, encoder and vector cache load once
paragraphs = segmenter.segment(text)
assert "".join(paragraphs) == text                 # only the paragraph breaks are new
print(segmenter.predict(text)[:2])                 # (sentence, probability, decision) per sentence
try:
    seg.load("no-such-run")
except seg.SegError as e:                          # one line: what is wrong and how to fix it
    print(e)
