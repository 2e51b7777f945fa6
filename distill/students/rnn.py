"""Recurrent students: bidirectional LSTM or GRU over WordPiece embeddings (Tang et al. 2019, BiLSTM-SOFT).

Padding never changes the answer: the backward direction runs over each sentence reversed within
its own length (a gather, not pack_padded_sequence, so it exports to ONNX / TFLite / Core ML), and
pooling is masked. The same sentence gives the same logits padded to 7 or to 128 tokens.

Sentence pairs (`siamese=True`, Tang et al. 2019's siamese BiLSTM): one shared encoder (embedding,
recurrent layers, pooling) reads each side alone, and the head reads [u; v; |u - v|; u * v] of the two
pooled vectors. The model then takes pair_input_ids / pair_attention_mask beside input_ids /
attention_mask; each side may be padded to any width.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from distill.students.pooled import TextStudent
from edgecore import ConfigError

CELLS = ("lstm", "gru")
POOLINGS = ("max", "mean", "last", "attention")


@dataclass(frozen=True)
class RNNStudentConfig:
    vocab_size: int
    num_labels: int = 2
    cell: str = "lstm"               # lstm | gru
    embed_dim: int = 384             # 384 = the MiniLM teacher's width, so its embeddings can initialise ours
    projection: int | None = None    # optional linear map of embeddings to a smaller width before the RNN
    hidden: int = 256                # per direction
    layers: int = 1
    pooling: str = "max"             # max | mean | last | attention (DeepMoji-style)
    head_hidden: int = 256           # ReLU layer between pooled features and logits; 0 for a linear head
    embed_dropout: float = 0.1       # input dropout: elementwise on the RNN's input vectors
    word_dropout: float = 0.0        # embedding dropout: whole words dropped (AWD-LSTM), training only
    dropout: float = 0.2             # between layers and before the head
    weight_drop: float = 0.0         # DropConnect on the recurrent (hidden-to-hidden) weights, training only
    freeze_embeddings: bool = False
    pad_id: int = 0
    tokenizer_vocab_size: int | None = None  # set when the vocabulary is pruned: ids are mapped to rows in-model
    siamese: bool = False            # sentence pairs: both sides through one encoder, head on [u; v; |u-v|; u*v] (8H wide)

    def __post_init__(self) -> None:
        if self.cell not in CELLS:
            raise ConfigError(f"cell {self.cell!r} is not supported; choose one of {', '.join(CELLS)}")
        if self.pooling not in POOLINGS:
            raise ConfigError(f"pooling {self.pooling!r} is not supported; choose one of {', '.join(POOLINGS)}")
        if not 1 <= self.layers <= 4:
            raise ConfigError(f"layers must be 1..4 (got {self.layers})")
        if self.vocab_size < 2 or self.embed_dim < 1 or self.hidden < 1 or self.num_labels < 2:
            raise ConfigError(f"vocab_size, embed_dim, hidden must be positive and num_labels >= 2 (got {self.vocab_size}, {self.embed_dim}, {self.hidden}, {self.num_labels})")
        if self.tokenizer_vocab_size is not None and self.tokenizer_vocab_size < self.vocab_size:
            raise ConfigError(f"tokenizer_vocab_size ({self.tokenizer_vocab_size}) must be >= vocab_size ({self.vocab_size}) when pruning")
        for name in ("embed_dropout", "word_dropout", "dropout", "weight_drop"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ConfigError(f"{name} must be in [0, 1) (got {getattr(self, name)})")

    def to_dict(self) -> dict:
        return {"kind": self.cell_kind, **asdict(self)}

    @property
    def cell_kind(self) -> str:
        return "bilstm" if self.cell == "lstm" else "gru"


def reverse_within_length(lengths: torch.Tensor, width: int) -> torch.Tensor:
    """Index (B, T) that reverses positions [0, len) of each row and leaves the padding in place.

    It is its own inverse: gathering twice with it restores the original order.
    """
    t = torch.arange(width, device=lengths.device).unsqueeze(0)  # (1, T)
    lengths = lengths.unsqueeze(1)                                 # (B, 1)
    return torch.where(t < lengths, lengths - 1 - t, t)            # (B, T)


class RNNStudent(TextStudent):
    """The embedding table (with the pruned-vocabulary `vocab_map`, saved and exported with the model: 122 KB of int32
    for a 30,522-token tokenizer), the siamese forward and the vocabulary methods come from TextStudent."""

    def __init__(self, config: RNNStudentConfig) -> None:
        super().__init__(config)
        c = config
        self.proj = nn.Linear(c.embed_dim, c.projection) if c.projection else None
        width = c.projection or c.embed_dim
        rnn = nn.LSTM if c.cell == "lstm" else nn.GRU
        self.fwd = nn.ModuleList()
        self.bwd = nn.ModuleList()
        for layer in range(c.layers):
            d_in = width if layer == 0 else 2 * c.hidden
            self.fwd.append(rnn(d_in, c.hidden, batch_first=True))
            self.bwd.append(rnn(d_in, c.hidden, batch_first=True))
        self.attn = nn.Linear(2 * c.hidden, 1) if c.pooling == "attention" else None
        self.drop_embed = nn.Dropout(c.embed_dropout)
        self.drop = nn.Dropout(c.dropout)
        self.head_dropout = self.drop
        features = (8 if c.siamese else 2) * c.hidden             # [u; v; |u-v|; u*v] of two 2H vectors, or one 2H vector
        if c.head_hidden:
            self.head = nn.Sequential(nn.Linear(features, c.head_hidden), nn.ReLU(), nn.Dropout(c.dropout), nn.Linear(c.head_hidden, c.num_labels))
        else:
            self.head = nn.Linear(features, c.num_labels)

    def encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """One text per row -> its pooled (B, 2H) vector: embedding, recurrent layers, masked pooling."""
        mask = attention_mask.to(torch.bool)                       # (B, T)
        lengths = attention_mask.to(torch.long).sum(1)             # (B,)
        rev = reverse_within_length(lengths, input_ids.shape[1])   # (B, T)
        rows = self.vocab_map[input_ids] if self.vocab_map is not None else input_ids   # (B, T)
        x = self.drop_embed(self._embed(rows))                     # (B, T, E)
        if self.proj is not None:
            x = self.proj(x)                                       # (B, T, P)
        for i, (fwd, bwd) in enumerate(zip(self.fwd, self.bwd)):
            if i:
                x = self.drop(x)
            idx = rev.unsqueeze(-1).expand(-1, -1, x.shape[-1])    # (B, T, D)
            h_f = self._run(fwd, x)                                # (B, T, H)
            h_b = self._run(bwd, x.gather(1, idx))                 # (B, T, H), reversed time
            h_b = h_b.gather(1, rev.unsqueeze(-1).expand(-1, -1, h_b.shape[-1]))
            x = torch.cat([h_f, h_b], dim=-1)                      # (B, T, 2H)
        return self.pool(x, mask, lengths)                         # (B, 2H)

    def _embed(self, rows: torch.Tensor) -> torch.Tensor:
        p = self.config.word_dropout
        if not (self.training and p):
            return self.embed(rows)
        keep = torch.empty(self.embed.num_embeddings, 1, device=rows.device).bernoulli_(1 - p) / (1 - p)
        return nn.functional.embedding(rows, self.embed.weight * keep, self.embed.padding_idx)

    def _run(self, rnn: nn.Module, x: torch.Tensor) -> torch.Tensor:
        p = self.config.weight_drop
        if not (self.training and p):
            return rnn(x)[0]
        params = dict(rnn.named_parameters())
        params["weight_hh_l0"] = nn.functional.dropout(params["weight_hh_l0"], p, training=True)
        return torch.func.functional_call(rnn, params, (x,))[0]

    def pool(self, h: torch.Tensor, mask: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        m = mask.unsqueeze(-1)                                     # (B, T, 1)
        kind = self.config.pooling
        if kind == "max":
            # -1e4, not -inf: stays finite in fp16 and never wins against a real activation
            return h.masked_fill(~m, -1e4).amax(dim=1)             # (B, 2H)
        if kind == "mean":
            return (h * m).sum(1) / lengths.clamp(min=1).unsqueeze(-1).to(h.dtype)
        if kind == "last":
            H = self.config.hidden
            last = (lengths - 1).clamp(min=0).view(-1, 1, 1).expand(-1, 1, H)
            forward_last = h[..., :H].gather(1, last).squeeze(1)   # forward state at the last real token
            return torch.cat([forward_last, h[:, 0, H:]], dim=-1)  # backward state at the first token
        scores = self.attn(h).masked_fill(~m, -1e4)                # (B, T, 1)
        return (torch.softmax(scores, dim=1) * h).sum(1)           # (B, 2H)
