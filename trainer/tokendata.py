"""A split's token states as the word-attention models read them (--sentence-pooling attention).

    TokenBank(states, features, device)
        bank.tokens(sentences)   the token states of these sentence indices only (-1 = padding: no
                                 tokens), read from the memory-mapped export, packed without padding
        bank.features            (n + 1, k) float32 --features columns, last row zero (padding)

A TokenBank stands where window models otherwise get the padded vector tensor (GapSet.vectors),
so training, scoring and prediction run the same code (TokenPooled.forward_indexed).
"""

from __future__ import annotations

import numpy as np
import torch

from pipeline.token_states import TokenStates

from .windows import padded

#: tokens of a sentence the attention reads (its first ones): a long sentence pads the whole batch to its length
MAX_TOKENS = 128


def model_inputs(vectors: "np.ndarray | TokenBank", tokens: TokenStates | None, device) -> "torch.Tensor | TokenBank":
    """What a model reads for a split's sentences: the vectors padded with a zero row (index -1)
    on the device, or, for token states (--sentence-pooling attention), a TokenBank over them
    whose --features columns are `vectors` (a TokenBank already built, as predict gets from
    Run.inputs, is moved to the device as it is)."""
    if isinstance(vectors, TokenBank):
        return vectors.to(device)
    if tokens is not None:
        return TokenBank(tokens, vectors, device)
    return padded(torch.from_numpy(np.asarray(vectors, dtype=np.float32))).to(device)


class TokenBank:
    def __init__(self, states: TokenStates, features: np.ndarray, device: torch.device | str = "cpu"):
        self.states = states
        self.device = torch.device(device)
        self.features = padded(torch.as_tensor(np.asarray(features, dtype=np.float32))).to(self.device)

    def __len__(self) -> int:
        return len(self.states)

    @property
    def token_dim(self) -> int:
        return self.states.dim

    def tokens(self, sentences: torch.Tensor, max_tokens: int = MAX_TOKENS) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(states (total, token_dim) float32, sentence (total,) long, lengths (U,) long) on the
        device: the token rows of these sentences packed one sentence after another."""
        x, seg, n = self.states.batch(sentences.cpu().numpy(), max_tokens)
        return (torch.from_numpy(x).to(self.device), torch.from_numpy(seg).to(self.device),
                torch.from_numpy(n).to(self.device))

    def to(self, device) -> "TokenBank":
        out = TokenBank.__new__(TokenBank)
        out.states, out.device, out.features = self.states, torch.device(device), self.features.to(device)
        return out
