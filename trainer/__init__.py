"""seg.trainer: cached sentence vectors -> trained sentence integrators (seg train).

    config.py    TrainConfig, the one dataclass of the stage (saved as runs/<name>/config.json)
    catalog.py   what seg knows about each model, one register(ModelInfo(...)) line each: its class,
                 family (window, seq, crossseg), default width and batch, read-outs, the options it
                 reads, whether it returns attention (train's checks, the report and --help read it)
    registry.py  the name -> entry table behind the catalog and the decoders
    data.py      a split's cached vectors, labels and document ranges (reads only the vector cache);
                 SplitSet, the interface of a split as each model family reads it:
    windowdata.py   GapSet (window models), seqdata.py ChunkSet (seq), crossdata.py CrossSet (crossseg)
    windows.py   candidate gaps and their L:R sentence windows as index tensors
    tokendata.py cached token states for word attention and --finetune-layers
    models/      one small nn.Module per model (pool, bilstm, transformer, attmem, seq, crossseg),
                 model_spec / from_spec (the architecture saved with a run)
    losses.py    bce, balanced (class-weighted) and focal losses
    decode.py    the decoders, one register(DecoderInfo(...)) line each: threshold, viterbi (with
                 the paragraph-length prior), crf; fit on train, tuned on dev, decide
    metrics.py   P/R/F1/balanced accuracy and per-document Pk/WindowDiff
    baselines.py "everywhere" and the bracket "rule"
    train.py     the protocol: repeats, per-epoch dev selection, early stopping, the table
    results.py   RepeatResult / FitResult (what training returns; metrics.json)
    rundir.py    run names, resumable .<name>.partial directories, the final run layout
    run.py       load_run(run_dir) -> Run (config, metrics, models, thresholds)
    predict.py   predict_probs(models, vectors, ranges, window) for new text and heatmaps

The later stages live beside it: report/ (`seg report`), segment/ (`seg segment`: the
segmenters, text in and out, --evaluate, --engine ray) and texttiling.py.
"""
