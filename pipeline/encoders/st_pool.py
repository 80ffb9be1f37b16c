"""Several devices in one machine for `--encoder sbert --device cuda:0,cuda:1`: a
SentenceTransformer whose multi-process pool workers (`start_multi_process_pool`) run under
the autocast SBertEncoder.encode uses on one device, so a batch gives the same vectors on
any of the devices as it does alone. Imported only when several devices are asked for
(sentence-transformers is slow to import)."""

from __future__ import annotations

from sentence_transformers import SentenceTransformer

from .base import autocast


class AutocastSentenceTransformer(SentenceTransformer):
    """A SentenceTransformer whose forward pass (in this process or a pool worker) runs under
    seg's autocast for the device it runs on (pipeline/encoders/base.py: precision)."""

    def _inference(self, inputs, *args, device=None, **kwargs):
        with autocast(str(device if device is not None else self.device)):
            return super()._inference(inputs, *args, device=device, **kwargs)
