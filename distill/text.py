"""Tokenization with the teacher's own tokenizer (Hugging Face `tokenizers`), padded per batch.

The students use the teacher's WordPiece ids, so one tokenizer.json serves teacher, student and
every exported file.

A single text longer than max_len is cut on its content ids by a truncation strategy (head, tail, head_tail:
edgecore.longtext), then wrapped with the template's special tokens; head is what `tokenizers` gives with its own
truncation. The strategy travels with the checkpoint (truncation.json beside tokenizer.json) and the bundle
(manifest tokenizer.truncation). `auto_max_len` picks a max length from the data (docs/long-documents.md).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from edgecore import CheckpointError, ConfigError

TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json")
TRUNCATION_FILE = "truncation.json"   # {"strategy", "head"} beside a checkpoint's tokenizer (absent: head, or tail for a left-truncating tokenizer)
AUTO_PERCENTILE = 95                  # max_len "auto": this percentile of the training texts' token lengths ...
AUTO_MULTIPLE = 8                     # ... rounded up to a multiple of this, capped by the model's positions and ...
AUTO_CAP = 512                        # ... by this
# model_type -> positions the model reserves before the first token (RoBERTa-like models count from padding_idx + 1)
POSITION_OFFSET = {"roberta": 2, "xlm-roberta": 2, "mpnet": 2, "camembert": 2}


@dataclass(frozen=True)
class TokenizerSettings:
    """What an app needs to tokenize like Python: read from the checkpoint's own tokenizer files, never guessed
    from BERT's token names (a RoBERTa pads with `<pad>` = 1, a BERT with `[PAD]` = 0)."""
    max_len: int
    lowercase: bool
    pad_id: int
    vocab_size: int
    cls_token: str | None = "[CLS]"     # the sequence-start token (RoBERTa's <s>); None when the tokenizer has none
    sep_token: str | None = "[SEP]"     # the sequence-end / separator token (RoBERTa's </s>)
    unk_token: str | None = "[UNK]"
    pad_token: str | None = "[PAD]"
    mask_token: str | None = "[MASK]"
    model: str = "WordPiece"            # the tokenizer.json model: WordPiece | BPE | Unigram | WordLevel
    cls_id: int | None = None
    sep_id: int | None = None
    unk_id: int | None = None
    mask_id: int | None = None
    model_inputs: tuple[str, ...] = ("input_ids", "attention_mask")   # what the exported files take, in this order
    tokenizer_class: str = "tokenizer.json"   # tokenizer_config.json's class, whose pipeline transformers runs
    normalizer: tuple[str, ...] = ()          # the pipeline in brief (the bundle's tokenizer.json has it whole)
    pre_tokenizer: tuple[str, ...] = ()
    template_single: str | None = None        # "[CLS] $A [SEP]"
    template_pair: str | None = None          # "[CLS] $A [SEP] $B:1 [SEP]:1"
    truncation_side: str = "right"
    truncation: dict | None = None            # {"strategy": head | tail | head_tail, "head": k} (edgecore.longtext)


# the names a role's token goes by in the common tokenizer families, tried when the tokenizer files name none
_ROLE_NAMES = {"cls": ("[CLS]", "<s>"), "sep": ("[SEP]", "</s>"), "unk": ("[UNK]", "<unk>"), "pad": ("[PAD]", "<pad>"),
               "mask": ("[MASK]", "<mask>")}


def special_tokens(tokenizer_dir: Path, spec: dict, tokenizer) -> dict[str, str | None]:
    """Each role's token (cls, sep, unk, pad, mask) as the checkpoint's tokenizer defines it: tokenizer_config.json
    (what `save_pretrained` writes), then tokenizer.json's post-processor, model and padding, then the usual names."""
    config_path = tokenizer_dir / "tokenizer_config.json"
    config = {}
    if config_path.is_file():
        try:
            config = json.loads(config_path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise CheckpointError(f"{config_path} is not valid JSON ({e}); save the tokenizer again with save_pretrained") from None
    found: dict[str, str | None] = {}
    for role in _ROLE_NAMES:
        value = config.get(f"{role}_token") if isinstance(config, dict) else None
        if isinstance(value, dict):
            value = value.get("content")
        found[role] = value if isinstance(value, str) and tokenizer.token_to_id(value) is not None else None
    post = spec.get("post_processor") or {}
    for role in ("cls", "sep"):
        if found[role] is None and isinstance(post.get(role), list) and post[role]:
            found[role] = post[role][0]   # BertProcessing / RobertaProcessing: [token, id]
    if found["unk"] is None and isinstance((spec.get("model") or {}).get("unk_token"), str):
        found["unk"] = spec["model"]["unk_token"]
    if found["pad"] is None and isinstance(spec.get("padding"), dict):
        found["pad"] = spec["padding"].get("pad_token")
    for role, names in _ROLE_NAMES.items():
        if found[role] is None:
            found[role] = next((n for n in names if tokenizer.token_to_id(n) is not None), None)
    return found


MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids", "pair_input_ids", "pair_attention_mask")

TextInput = str | tuple[str, str]   # one sentence, or a sentence pair (text, text_pair) encoded with the pair template


class TokenIds(list):
    """A row of token ids that remembers its token types (a sentence pair's second segment is type 1)."""

    type_ids: list[int]

    def __init__(self, ids, type_ids) -> None:
        super().__init__(ids)
        self.type_ids = list(type_ids)


class PairIds(tuple):
    """A siamese row: (ids of the text, ids of the text pair), each side encoded alone with the single-text template.
    len() is the longer side's, so length bucketing and length-sorted batches see the padding a row needs."""

    def __new__(cls, first, second) -> PairIds:
        return super().__new__(cls, (list(first), list(second)))

    def __len__(self) -> int:
        return max(len(self[0]), len(self[1]))


def as_text(item: TextInput) -> str:
    """How a row reads in a report: the text, or "text || text_pair"."""
    return item if isinstance(item, str) else f"{item[0]} || {item[1]}"


class Encoder:
    """A checkpoint's tokenizer (as transformers runs it, edgecore.tokenizer) + a max length. `encode(texts)` gives
    int64 tensors padded to the longest text: input_ids, attention_mask and, when `inputs` names it, token_type_ids.

    `inputs` are the tensors the model takes; the default, input_ids + attention_mask, is what the recurrent
    students take. Given `model` (a Hugging Face classifier), they are what the tokenizer returns
    (its model_input_names) and the model's forward accepts, as Optimum's exports do: BERT, ELECTRA and
    DeBERTa take token_type_ids, RoBERTa, DistilBERT and MPNet do not.

    With pair_input_ids + pair_attention_mask among `inputs` (edgecore.tokenizer.SIAMESE_INPUTS: a siamese recurrent
    student) a (text, text_pair) row is encoded as two single texts, each truncated to max_len, and `encode` gives
    the four tensors, both sides padded to one width; a single text is read as the pair (text, text).
    """

    def __init__(self, tokenizer_dir: str | Path, max_len: int = 64, inputs: tuple[str, ...] = ("input_ids", "attention_mask"),
                 model: torch.nn.Module | None = None, truncation=None) -> None:
        from tokenizers import Tokenizer

        from edgecore.longtext import template_of
        from edgecore.tokenizer import describe_pipeline, load_tokenizer

        self.dir = Path(tokenizer_dir)
        loaded = load_tokenizer(self.dir)
        if model is not None:
            import inspect

            accepted = inspect.signature(model.forward).parameters
            inputs = tuple(n for n in loaded.input_names if n in accepted)
        _check_inputs(inputs)
        self.tokenizer = loaded.tokenizer
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_len, direction=loaded.truncation_side)
        self.full = Tokenizer.from_str(self.tokenizer.to_str())   # no truncation: the content ids that strategies cut
        self.full.no_truncation()
        self.template = template_of(loaded.spec)
        self.truncation = truncation if truncation is not None else read_truncation(self.dir, loaded.truncation_side)
        self.max_len = max_len
        self.inputs = tuple(n for n in MODEL_INPUTS if n in inputs)
        spec = loaded.spec
        normalizer = spec.get("normalizer") or {}
        tokens = special_tokens(self.dir, spec, self.tokenizer)
        ids = {role: (self.tokenizer.token_to_id(tok) if tok is not None else None) for role, tok in tokens.items()}
        self.settings = TokenizerSettings(
            max_len=max_len, lowercase=_lowercases(normalizer), pad_id=ids["pad"] if ids["pad"] is not None else 0,
            vocab_size=self.tokenizer.get_vocab_size(), cls_token=tokens["cls"], sep_token=tokens["sep"], unk_token=tokens["unk"],
            pad_token=tokens["pad"], mask_token=tokens["mask"], model=str((spec.get("model") or {}).get("type", "WordPiece")),
            cls_id=ids["cls"], sep_id=ids["sep"], unk_id=ids["unk"], mask_id=ids["mask"], model_inputs=self.inputs,
            tokenizer_class=loaded.tokenizer_class, truncation_side=loaded.truncation_side,
            truncation=self.truncation.to_dict(self.content_len),
            **{k: tuple(v) if isinstance(v, list) else v for k, v in describe_pipeline(spec).items()})

    @property
    def content_len(self) -> int:
        """Content tokens one sequence holds: max_len less the single-text template's special tokens."""
        return self.template.content_len(self.max_len)

    def content_ids(self, texts: list[str]) -> list[list[int]]:
        """Each text's token ids without special tokens and without truncation (a 1 MB text gives all of its tokens)."""
        return [e.ids for e in self.full.encode_batch(list(texts), add_special_tokens=False)]

    def _singles(self, texts: list[str]) -> list[list[int]]:
        """Single texts: content ids cut by the truncation strategy, then wrapped with the template's special tokens."""
        from edgecore.longtext import cut

        rows = []
        for content in self.content_ids(texts):
            ids, types = self.template.wrap(cut(content, self.content_len, self.truncation))
            rows.append(TokenIds(ids, types) if any(types) else ids)
        return rows

    def windows(self, texts: list[str], long_text) -> tuple[list[list[int]], list[int]]:
        """(rows, owners): each text read as windows of content ids (edgecore.longtext.windows, `long_text` a LongText),
        each wrapped with the template; owners[i] is the index of the text row i came from. Single texts only."""
        from edgecore.longtext import windows

        if self.siamese or any(isinstance(t, tuple) for t in texts):
            raise ConfigError("long_text windows read single texts; sentence pairs are cut (--long-text truncate)")
        rows, owners = [], []
        stride = long_text.stride_tokens(self.content_len)
        for i, content in enumerate(self.content_ids(texts)):
            for part in windows(content, self.content_len, stride, long_text.max_windows):
                ids, types = self.template.wrap(part)
                rows.append(TokenIds(ids, types) if any(types) else ids)
                owners.append(i)
        return rows, owners

    def with_inputs(self, inputs: tuple[str, ...]) -> Encoder:
        """The same tokenizer feeding a model that takes `inputs` (a recurrent student of a BERT teacher: no token types)."""
        import copy
        from dataclasses import replace

        _check_inputs(inputs)
        other = copy.copy(self)
        other.inputs = tuple(n for n in MODEL_INPUTS if n in inputs)
        other.settings = replace(self.settings, model_inputs=other.inputs)
        return other

    @property
    def siamese(self) -> bool:
        """Whether a sentence pair is encoded as two single texts (the model takes pair_input_ids), not as one sequence."""
        return "pair_input_ids" in self.inputs

    def ids(self, texts: list[TextInput]) -> list[list[int]]:
        """Token ids per text (or per (text, text_pair): the tokenizer's pair template, rows that keep their token types),
        truncated to max_len with the special tokens, unpadded. Siamese: a PairIds per row, each side encoded alone."""
        texts = list(texts)
        if self.siamese:
            sides = [t if isinstance(t, tuple) else (t, t) for t in texts]
            first, second = self._singles([a for a, _ in sides]), self._singles([b for _, b in sides])
            return [PairIds(a, b) for a, b in zip(first, second)]
        if any(isinstance(t, tuple) for t in texts):
            if self.truncation.strategy != ("tail" if self.settings.truncation_side == "left" else "head"):
                raise ConfigError(f"truncation {self.truncation.strategy} cuts single texts; a sentence pair read as one sequence "
                                  f"is cut longest-first by the tokenizer: use truncation head")
            return [TokenIds(e.ids, e.type_ids) for e in self.tokenizer.encode_batch(texts)]
        return self._singles(texts)

    def pad(self, ids: list[list[int]], to: int | None = None, type_ids: list[list[int]] | None = None) -> dict[str, torch.Tensor]:
        """Right-pad to the longest (or to `to`): input_ids and attention_mask, int64, (B, T), and token_type_ids
        (0 where `type_ids` gives none) when the model takes them."""
        from edgecore.tokenizer import pad_ids, pad_pair_ids

        if self.siamese:   # a plain row (no pair) is read as the pair (row, row)
            pairs = [row if isinstance(row, PairIds) else (row, row) for row in ids]
            padded = pad_pair_ids([a for a, _ in pairs], [b for _, b in pairs], self.settings.pad_id, to)
            return {k: torch.from_numpy(v) for k, v in padded.items()}
        takes_types = "token_type_ids" in self.inputs
        if takes_types and type_ids is None:
            type_ids = [getattr(row, "type_ids", [0] * len(row)) for row in ids]   # TokenIds rows carry theirs
        padded = pad_ids(ids, self.settings.pad_id, to, type_ids if takes_types else None)
        return {k: torch.from_numpy(v) for k, v in padded.items()}

    def encode(self, texts: list[TextInput], pad_to: int | None = None) -> dict[str, torch.Tensor]:
        return self.pad(self.ids(texts), pad_to)

    def encode_np(self, texts: list[TextInput], pad_to: int | None = None) -> dict[str, np.ndarray]:
        """`encode` as numpy arrays: the feeds ONNX Runtime, LiteRT and Core ML runners take."""
        return {k: v.numpy() for k, v in self.encode(texts, pad_to).items()}

    def wordpiece_vocab(self) -> list[str] | None:
        """The WordPiece vocabulary in id order (what vocab.txt holds), None for other tokenizer models."""
        if self.settings.model != "WordPiece":
            return None
        by_id = sorted(self.tokenizer.get_vocab(with_added_tokens=True).items(), key=lambda kv: kv[1])
        return [tok for tok, _ in by_id]

    def save(self, out_dir: str | Path) -> None:
        """Copy the tokenizer files into `out_dir` (the ones that exist); a WordPiece vocab.txt is derived from
        tokenizer.json when the checkpoint has none (transformers 5 writes none)."""
        out = Path(out_dir)
        for name in TOKENIZER_FILES:
            src = self.dir / name
            if src.is_file():
                (out / name).write_bytes(src.read_bytes())
        vocab = self.wordpiece_vocab()
        if vocab is not None and not (out / "vocab.txt").is_file():
            (out / "vocab.txt").write_text("".join(f"{t}\n" for t in vocab), encoding="utf-8")
        (out / TRUNCATION_FILE).write_text(json.dumps({"strategy": self.truncation.strategy, "head": self.truncation.head}), encoding="utf-8")


def read_truncation(folder: Path, side: str = "right"):
    """A checkpoint's truncation (truncation.json), or the tokenizer's own: head, tail for a left-truncating tokenizer."""
    from edgecore.longtext import Truncation

    path = Path(folder) / TRUNCATION_FILE
    if not path.is_file():
        return Truncation("tail" if side == "left" else "head")
    try:
        return Truncation.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (json.JSONDecodeError, UnicodeDecodeError, ConfigError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path} is not a truncation record ({e}); write {{\"strategy\": \"head\", \"head\": null}} "
                              f"or delete it") from None


def position_limit(folder: str | Path) -> int | None:
    """The longest sequence a checkpoint's model embeds: config.json's max_position_embeddings less the positions
    RoBERTa-like models reserve (POSITION_OFFSET); None when config.json gives none (relative positions, no file)."""
    path = Path(folder) / "config.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    positions = config.get("max_position_embeddings") if isinstance(config, dict) else None
    if not isinstance(positions, int) or isinstance(positions, bool):
        return None
    offset = POSITION_OFFSET.get(config.get("model_type"), 0)
    if offset and isinstance(config.get("pad_token_id"), int):
        offset = config["pad_token_id"] + 1
    return positions - offset


def check_max_len(folder: str | Path, max_len: int) -> None:
    """A ConfigError naming the limit when max_len is longer than the model's positions (position_limit)."""
    limit = position_limit(folder)
    if limit is not None and max_len > limit:
        raise ConfigError(f"max_len {max_len} is longer than the model in {folder} can read: its position limit is {limit} "
                          f"tokens; use --max-len {min(limit, AUTO_CAP)} or less, or --max-len auto")


def auto_max_len(folder: str | Path, texts: list, percentile: int = AUTO_PERCENTILE) -> dict:
    """The max length "auto" picks for `texts` with the checkpoint's tokenizer (special tokens included): the
    `percentile`th token length rounded up to a multiple of AUTO_MULTIPLE, capped by the position limit and AUTO_CAP.
    Returns {"max_len", "percentile_tokens", "median_tokens", "limit", "texts"}."""
    from edgecore.tokenizer import load_tokenizer

    if not texts:
        raise ConfigError("max_len auto needs training texts to measure; give data with a training split, or a number")
    from edgecore.longtext import nearest_rank

    tok = load_tokenizer(folder).tokenizer
    tok.no_truncation()
    tok.no_padding()
    singles = [t for t in texts if isinstance(t, str)]
    pairs = [t for t in texts if isinstance(t, tuple)]
    lengths = [len(e.ids) for e in tok.encode_batch(singles)] + [len(e.ids) for e in tok.encode_batch(pairs)]
    lengths.sort()
    at = nearest_rank(lengths, percentile)
    limit = position_limit(folder)
    cap = min(AUTO_CAP, limit) if limit is not None else AUTO_CAP
    chosen = min(cap, max(AUTO_MULTIPLE, -(-at // AUTO_MULTIPLE) * AUTO_MULTIPLE))
    return {"max_len": chosen, "percentile": percentile, "percentile_tokens": at, "median_tokens": lengths[len(lengths) // 2],
            "limit": limit, "texts": len(lengths)}


def _check_inputs(inputs: tuple[str, ...]) -> None:
    pair = {"pair_input_ids", "pair_attention_mask"} & set(inputs)
    if ("input_ids" not in inputs or "attention_mask" not in inputs or set(inputs) - set(MODEL_INPUTS)
            or (pair and (len(pair) != 2 or "token_type_ids" in inputs))):
        raise CheckpointError(f"model inputs must be input_ids, attention_mask and optionally token_type_ids, or the siamese "
                              f"input_ids, attention_mask, pair_input_ids, pair_attention_mask (got {list(inputs)})")


def _lowercases(normalizer: dict) -> bool:
    """Whether the normaliser lowercases: BertNormalizer's flag, or a Lowercase step in a Sequence."""
    if normalizer.get("type") == "Sequence":
        return any(_lowercases(n) for n in normalizer.get("normalizers") or [])
    return normalizer.get("type") == "Lowercase" or bool(normalizer.get("lowercase", False))
