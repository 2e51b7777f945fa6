"""Static-embedding student (model2vec-style): one vector per token, pooled, then a small MLP.

The table is derived from the teacher (distill.recipes.static_token_table): every kept token id is run through the
teacher's encoder alone, in the teacher's own one-text template ([CLS] tok [SEP], <s> tok </s>, ...), and the last
hidden state at the token's position becomes its vector; the vectors are PCA-reduced (default 128 columns) and
scaled by a SIF weight a / (a + p(w)) from the transfer set's token counts (a = 1e-3), folded into the table.
The sequence-template tokens (cls, sep, pad) start as zero rows: they carry no word of their own.

Model: table lookup (through the pruned-vocabulary `vocab_map`, as the recurrent student) -> masked mean over the
tokens (and, with pooling "mean_max", the masked max beside it: SWEM-concat, Shen et al. 2018) -> 0-2 ReLU layers ->
logits. No token sees another, so there is nothing sequential to run: a lookup, two reductions and a few GEMVs.
Padding never changes the answer. The whole table is fine-tuned on the teacher's logits unless frozen.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from distill.students.pooled import TextStudent, check_common
from edgecore import ConfigError

POOLINGS = ("mean", "mean_max")


@dataclass(frozen=True)
class StaticStudentConfig:
    vocab_size: int
    num_labels: int = 2
    embed_dim: int = 128             # the PCA width of the teacher-derived table
    pooling: str = "mean_max"        # mean | mean_max ([masked mean; masked max], 2 x embed_dim features)
    head_hidden: int = 256           # width of the head's ReLU layers
    head_layers: int = 1             # ReLU layers before the logits: 0 (a linear head), 1 or 2
    dropout: float = 0.1             # on the pooled vector and between head layers
    freeze_embeddings: bool = False  # keep the teacher-derived table as it is; train the head only
    pad_id: int = 0
    tokenizer_vocab_size: int | None = None  # set when the vocabulary is pruned: ids are mapped to rows in-model
    siamese: bool = False            # sentence pairs: both sides through one encoder, head on [u; v; |u-v|; u*v]

    def __post_init__(self) -> None:
        check_common(self)
        if self.pooling not in POOLINGS:
            raise ConfigError(f"pooling {self.pooling!r} is not supported by the static student; choose one of {', '.join(POOLINGS)}")
        if not 0 <= self.head_layers <= 2:
            raise ConfigError(f"head_layers must be 0, 1 or 2 (got {self.head_layers})")
        if self.head_layers and self.head_hidden < 1:
            raise ConfigError(f"head_hidden must be positive with head_layers {self.head_layers} (got {self.head_hidden})")

    @property
    def cell_kind(self) -> str:
        return "static"

    def to_dict(self) -> dict:
        return {"kind": self.cell_kind, **asdict(self)}


class StaticStudent(TextStudent):
    def __init__(self, config: StaticStudentConfig) -> None:
        super().__init__(config)
        c = config
        pooled = c.embed_dim * (2 if c.pooling == "mean_max" else 1)
        width = pooled * (4 if c.siamese else 1)
        layers: list[nn.Module] = [nn.Dropout(c.dropout)]
        for _ in range(c.head_layers):
            layers += [nn.Linear(width, c.head_hidden), nn.ReLU(), nn.Dropout(c.dropout)]
            width = c.head_hidden
        self.head = nn.Sequential(*layers, nn.Linear(width, c.num_labels))

    def encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """One text per row -> (B, E) masked mean, or (B, 2E) [mean; max]."""
        x = self.embed_tokens(input_ids, attention_mask)                       # (B, T, E), 0 at padding
        n = attention_mask.to(x.dtype).sum(1, keepdim=True).clamp(min=1.0)     # (B, 1)
        mean = x.sum(1) / n                                                    # (B, E)
        if self.config.pooling == "mean":
            return mean
        # -1e4, not -inf: stays finite in fp16 and never wins against a real vector
        top = x.masked_fill(~attention_mask.to(torch.bool).unsqueeze(-1), -1e4).amax(dim=1)   # (B, E)
        return torch.cat([mean, top], dim=-1)                                  # (B, 2E)
