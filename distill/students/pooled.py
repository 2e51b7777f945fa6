"""What every token-id student (bilstm/gru, static, cnn) shares: an embedding table read through the pruned-vocabulary
`vocab_map`, an `encode()` that turns one text into one pooled vector, and the forward that feeds the head one
vector, or [u; v; |u-v|; u*v] of the two sides of a sentence pair (siamese).

A subclass sets `self.head` (features -> logits), optionally `self.head_dropout`, and defines
`encode(input_ids, attention_mask) -> (B, F)`.
"""
from __future__ import annotations

import torch
from torch import nn

from edgecore import ConfigError


class TextStudent(nn.Module):
    def __init__(self, config) -> None:
        super().__init__()
        self.config = config
        c = config
        if c.tokenizer_vocab_size is not None:
            # tokenizer id -> table row; pruned ids read the [UNK] row. int32: half the bytes of int64 in the exported file
            self.register_buffer("vocab_map", torch.zeros(c.tokenizer_vocab_size, dtype=torch.int32))
        else:
            self.vocab_map = None
        self.embed = nn.Embedding(c.vocab_size, c.embed_dim, padding_idx=c.pad_id if c.pad_id < c.vocab_size else None)
        self.embed.weight.requires_grad_(not c.freeze_embeddings)
        self.head_dropout: nn.Module = nn.Identity()   # what the pooled features pass through before the head

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, pair_input_ids: torch.Tensor | None = None,
                pair_attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        u = self.encode(input_ids, attention_mask)                 # (B, F)
        if self.config.siamese:
            if pair_input_ids is None or pair_attention_mask is None:
                raise ConfigError("a siamese student reads sentence pairs: pass pair_input_ids and pair_attention_mask "
                                  "(Encoder.with_inputs(SIAMESE_INPUTS) encodes them)")
            v = self.encode(pair_input_ids, pair_attention_mask)   # (B, F), the same encoder
            u = torch.cat([u, v, (u - v).abs(), u * v], dim=-1)    # (B, 4F)
        elif pair_input_ids is not None:
            raise ConfigError(f"this student reads single texts; pair_input_ids are for a siamese student "
                              f"({type(self.config).__name__}(siamese=True))")
        return self.head(self.head_dropout(u))                     # (B, C)

    def encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def embed_tokens(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """(B, T, E) token vectors, exactly 0 at padded positions (whatever id the padding holds)."""
        rows = self.vocab_map[input_ids] if self.vocab_map is not None else input_ids
        return self.embed(rows) * attention_mask.unsqueeze(-1).to(self.embed.weight.dtype)

    def init_embeddings(self, weight: torch.Tensor, keep_ids: list[int] | None = None) -> None:
        """Copy a table into the embedding: a full (tokenizer vocab, E) matrix (only `keep_ids` rows are taken when
        pruning), or one already holding just the `keep_ids` rows in order."""
        if keep_ids is not None and weight.shape[0] != len(keep_ids):
            weight = weight[torch.tensor(keep_ids)]
        if tuple(weight.shape) != tuple(self.embed.weight.shape):
            raise ConfigError(f"embedding matrix has shape {tuple(weight.shape)}, the student needs {tuple(self.embed.weight.shape)}; "
                              f"set embed_dim/vocab_size to match the table")
        with torch.no_grad():
            self.embed.weight.copy_(weight)

    def prune_vocabulary(self, keep_ids: list[int], unk_id: int) -> None:
        """Keep only the rows of `keep_ids` (sorted tokenizer ids); every other id reads the row of `unk_id`
        (see RNNStudent.prune_vocabulary: the same mapping, in the same int32 buffer)."""
        if self.vocab_map is None or len(keep_ids) != self.config.vocab_size or unk_id not in keep_ids:
            raise ConfigError(f"prune_vocabulary needs tokenizer_vocab_size set, vocab_size == len(keep_ids) ({len(keep_ids)}) and the unknown token ({unk_id}) kept")
        row_of = {tid: row for row, tid in enumerate(keep_ids)}
        mapping = torch.full((self.config.tokenizer_vocab_size,), row_of[unk_id], dtype=torch.int32)
        mapping[torch.tensor(keep_ids)] = torch.arange(len(keep_ids), dtype=torch.int32)
        self.vocab_map.copy_(mapping)

    def num_parameters(self, include_embeddings: bool = True) -> int:
        n = sum(p.numel() for p in self.parameters())  # the vocab_map buffer is not a parameter
        return n if include_embeddings else n - self.embed.weight.numel()


def check_common(config) -> None:
    """The checks every pooled student config shares (vocabulary, labels, pruning, dropout)."""
    if config.vocab_size < 2 or config.embed_dim < 1 or config.num_labels < 2:
        raise ConfigError(f"vocab_size and embed_dim must be positive and num_labels >= 2 "
                          f"(got {config.vocab_size}, {config.embed_dim}, {config.num_labels})")
    if config.tokenizer_vocab_size is not None and config.tokenizer_vocab_size < config.vocab_size:
        raise ConfigError(f"tokenizer_vocab_size ({config.tokenizer_vocab_size}) must be >= vocab_size ({config.vocab_size}) when pruning")
    if not 0.0 <= config.dropout < 1.0:
        raise ConfigError(f"dropout must be in [0, 1) (got {config.dropout})")
