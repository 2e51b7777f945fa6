"""Convolutional student (Kim 2014): parallel 1-D convolutions over the token embeddings, max over time, a linear head.

Embeddings are the teacher's word embeddings (optionally PCA-reduced, as for the recurrent student). Each width k's
convolution is stored as the Linear of its im2col: the k token vectors of a window stacked into one k*E vector,
then one (k*E -> filters) GEMM over all positions. That is a 1-D convolution with the same weights (a Conv1d weight
(F, E, k) is this Linear's weight reshaped), and it exports as Slice/Concat + MatMul: ONNX dynamic int8, TFLite's
FULLY_CONNECTED and Core ML's linear quantize and run it like any other GEMM (onnxruntime's ConvInteger takes no
int8 weights, and Core ML's evaluator here has no conv kernel).

Padding never changes the answer: embeddings are zeroed at padded positions, the sequence is padded inside the
model with k-1 zero vectors, and only windows that start at one of the first max(len - k + 1, 1) positions count
in the max, so a text shorter than a kernel still has one window (its tokens, then zeros), whatever the padding.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from distill.students.pooled import TextStudent, check_common
from edgecore import ConfigError


@dataclass(frozen=True)
class CNNStudentConfig:
    vocab_size: int
    num_labels: int = 2
    embed_dim: int = 384             # the MiniLM teacher's width, so its embeddings can initialise ours
    widths: tuple[int, ...] = (2, 3, 4)   # kernel widths in tokens (WordPiece: "not good" is 2 tokens)
    filters: int = 128               # feature maps per width
    dropout: float = 0.5             # on the pooled features, before the head (Kim 2014)
    freeze_embeddings: bool = False
    pad_id: int = 0
    tokenizer_vocab_size: int | None = None  # set when the vocabulary is pruned: ids are mapped to rows in-model
    siamese: bool = False            # sentence pairs: both sides through one encoder, head on [u; v; |u-v|; u*v]

    def __post_init__(self) -> None:
        check_common(self)
        widths = tuple(self.widths) if isinstance(self.widths, (list, tuple)) else ()
        if not widths or not all(isinstance(k, int) and not isinstance(k, bool) and 1 <= k <= 16 for k in widths) or len(set(widths)) != len(widths):
            raise ConfigError(f"widths must be distinct kernel widths in 1..16, e.g. (2, 3, 4); got {self.widths!r}")
        object.__setattr__(self, "widths", widths)   # JSON gives a list
        if self.filters < 1:
            raise ConfigError(f"filters must be positive (got {self.filters})")

    @property
    def cell_kind(self) -> str:
        return "cnn"

    def to_dict(self) -> dict:
        return {"kind": self.cell_kind, **asdict(self), "widths": list(self.widths)}


class CNNStudent(TextStudent):
    def __init__(self, config: CNNStudentConfig) -> None:
        super().__init__(config)
        c = config
        self.convs = nn.ModuleList(nn.Linear(k * c.embed_dim, c.filters) for k in c.widths)
        features = len(c.widths) * c.filters * (4 if c.siamese else 1)
        self.head = nn.Sequential(nn.Dropout(c.dropout), nn.Linear(features, c.num_labels))

    def encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """One text per row -> (B, len(widths) * filters): ReLU(conv) max-pooled over the windows inside the text."""
        x = self.embed_tokens(input_ids, attention_mask)                 # (B, T, E), 0 at padding
        T = x.shape[1]
        lengths = attention_mask.to(torch.long).sum(1, keepdim=True)     # (B, 1)
        t = torch.arange(T, device=x.device).unsqueeze(0)                # (1, T)
        pooled = []
        for k, conv in zip(self.config.widths, self.convs):
            padded = nn.functional.pad(x, (0, 0, 0, k - 1))              # (B, T + k - 1, E)
            windows = torch.cat([padded[:, j:j + T] for j in range(k)], dim=-1) if k > 1 else x   # (B, T, k*E)
            h = torch.relu(conv(windows))                                # (B, T, F), >= 0
            valid = (t < (lengths - k + 1).clamp(min=1)).unsqueeze(-1)   # (B, T, 1)
            # h >= 0 and every text has a valid window, so zeroing the others leaves the max of the valid ones
            pooled.append((h * valid.to(h.dtype)).amax(dim=1))          # (B, F)
        return torch.cat(pooled, dim=-1)

    def conv1d_weight(self, i: int) -> torch.Tensor:
        """Width `widths[i]`'s weights as an nn.Conv1d holds them, (filters, embed_dim, k)."""
        k, E = self.config.widths[i], self.config.embed_dim
        return self.convs[i].weight.view(-1, k, E).permute(0, 2, 1)
