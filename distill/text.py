"""Tokenization with the teacher's own tokenizer (Hugging Face `tokenizers`), padded per batch.

The students use the teacher's WordPiece ids, so one tokenizer.json serves teacher, student and
every exported file.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from edgecore import CheckpointError

TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json")


@dataclass(frozen=True)
class TokenizerSettings:
    max_len: int
    lowercase: bool
    pad_id: int
    vocab_size: int
    cls_token: str = "[CLS]"
    sep_token: str = "[SEP]"
    unk_token: str = "[UNK]"
    pad_token: str = "[PAD]"
    mask_token: str = "[MASK]"


class Encoder:
    """`tokenizer.json` + a max length. `encode(texts)` gives int64 tensors padded to the longest text."""

    def __init__(self, tokenizer_dir: str | Path, max_len: int = 64) -> None:
        from tokenizers import Tokenizer

        self.dir = Path(tokenizer_dir)
        path = self.dir / "tokenizer.json"
        if not path.is_file():
            raise CheckpointError(f"no tokenizer.json in {self.dir}; a checkpoint needs the tokenizer it was trained with (tokenizer.json + vocab.txt)")
        self.tokenizer = Tokenizer.from_file(str(path))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_len)
        self.max_len = max_len
        normalizer = json.loads(path.read_text(encoding="utf-8")).get("normalizer") or {}
        pad_token = "[PAD]"
        self.settings = TokenizerSettings(
            max_len=max_len, lowercase=bool(normalizer.get("lowercase", False)),
            pad_id=self.tokenizer.token_to_id(pad_token) or 0, vocab_size=self.tokenizer.get_vocab_size())

    def ids(self, texts: list[str]) -> list[list[int]]:
        """Token ids per text, truncated to max_len (with [CLS] ... [SEP]), unpadded."""
        return [e.ids for e in self.tokenizer.encode_batch(list(texts))]

    def pad(self, ids: list[list[int]], to: int | None = None) -> dict[str, torch.Tensor]:
        """Right-pad to the longest (or to `to`): input_ids and attention_mask, int64, (B, T)."""
        width = to or max(len(x) for x in ids)
        input_ids = np.full((len(ids), width), self.settings.pad_id, dtype=np.int64)
        mask = np.zeros((len(ids), width), dtype=np.int64)
        for i, row in enumerate(ids):
            input_ids[i, : len(row)] = row
            mask[i, : len(row)] = 1
        return {"input_ids": torch.from_numpy(input_ids), "attention_mask": torch.from_numpy(mask)}

    def encode(self, texts: list[str], pad_to: int | None = None) -> dict[str, torch.Tensor]:
        return self.pad(self.ids(texts), pad_to)

    def encode_np(self, texts: list[str], pad_to: int | None = None) -> dict[str, np.ndarray]:
        """`encode` as numpy arrays: the feeds ONNX Runtime, LiteRT and Core ML runners take."""
        return {k: v.numpy() for k, v in self.encode(texts, pad_to).items()}

    def save(self, out_dir: str | Path) -> None:
        """Copy the tokenizer files into `out_dir` (the ones that exist)."""
        out = Path(out_dir)
        for name in TOKENIZER_FILES:
            src = self.dir / name
            if src.is_file():
                (out / name).write_bytes(src.read_bytes())
