import os

import seg

# `make demo` prepared cache/datasets/demo and embedded it with e5 (SEG_ENCODER: another embedding)
encoder = os.environ.get("SEG_ENCODER", "e5")
reference = "\n".join([     # 走れメロス, one paragraph per line
    "メロスは激怒した。必ず、かの邪智暴虐の王を除かなければならぬと決意した。メロスには政治がわからぬ。"
    "メロスは、村の牧人である。笛を吹き、羊と遊んで暮して来た。けれども邪悪に対しては、人一倍に敏感であった。",
    "「王は、人を殺します。」",
    "「なぜ殺すのだ。」",
    "「悪心を抱いている、というのですが、誰もそんな、悪心を持っては居りませぬ。」",
])
text = reference.replace("\n", "")          # the same text without its paragraph breaks

# the bracket rule needs no model: a paragraph starts at each line of dialogue
print(seg.load("rule").segment(text))

# train two integrators on the demo dataset and compare them
runs = {}
for model in ("pool", "bilstm"):
    run = seg.train(encoder=encoder, model=model, epochs=5, name=f"api-{model}", force=True, progress=False)
    test = run.metrics["summary"]["test"]
    print(f"{model}: test F1 {test['f1']['mean']:.3f}, Pk {test['pk']['mean']:.3f}  ({run.path})")
    runs[model] = run

# segment with the better one on dev; its model, encoder and vector cache load once for every call
best = max(runs.values(), key=lambda run: run.metrics["summary"]["dev"]["f1"]["mean"])
segmenter = seg.load(best.path, progress=False)
paragraphs = segmenter.segment(text)
assert "".join(paragraphs) == text          # only the paragraph breaks are new
print("\n".join(paragraphs))
for sentence, probability, decision in segmenter.predict(text)[:4]:
    print(decision, probability, sentence)  # probability of a break before the sentence (None: the first)
print(segmenter.evaluate(reference)["overall"])   # precision ... windowdiff against the true breaks

try:
    seg.load("no-such-run")
except seg.SegError as e:                   # one line: what is wrong and how to fix it
    print(e)
