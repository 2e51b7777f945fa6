"""A checkpoint's tokenizer exactly as `transformers.AutoTokenizer` would run it.

transformers 5 rebuilds the normaliser and pre-tokenizer of most tokenizer classes (BertTokenizer,
XLMRobertaTokenizer, AlbertTokenizer, DebertaV2Tokenizer, ...) from the class and tokenizer_config.json,
taking only the vocabulary, merges and post-processor from tokenizer.json. So the pipeline a user's
Python code runs is the loaded tokenizer's backend, not always the file on disk: this module returns that
backend (a `tokenizers.Tokenizer`), which is what the students train on and what a bundle's
tokenizer.json records, plus the inputs the tokenizer produces (`model_input_names`).

A folder without tokenizer_config.json (a bare tokenizer.json) is read as it is.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from edgecore.errors import CheckpointError

if TYPE_CHECKING:
    import numpy as np

DEFAULT_INPUTS = ("input_ids", "attention_mask")
RNN_INPUTS = DEFAULT_INPUTS   # what the recurrent students take: no token types, whatever the teacher's tokenizer returns
# a siamese recurrent student of sentence pairs (Tang et al. 2019): each side encoded alone with the single-text template
SIAMESE_INPUTS = ("input_ids", "attention_mask", "pair_input_ids", "pair_attention_mask")


@dataclass(frozen=True)
class LoadedTokenizer:
    tokenizer: object                 # tokenizers.Tokenizer: the pipeline AutoTokenizer runs
    input_names: tuple[str, ...]      # what the tokenizer returns (input_ids, attention_mask[, token_type_ids])
    tokenizer_class: str              # tokenizer_config.json's tokenizer_class, or "tokenizer.json"
    spec: dict                        # the pipeline as tokenizer.json would write it
    truncation_side: str = "right"    # which end a long text loses (tokenizer_config.json's truncation_side)


def load_tokenizer(folder: str | Path) -> LoadedTokenizer:
    """The tokenizer of a checkpoint folder (tokenizer.json [+ tokenizer_config.json]) as transformers runs it.

    >>> tok = load_tokenizer("runs/teacher")                      # doctest: +SKIP
    >>> tok.input_names, tok.tokenizer.encode("a fine film").ids  # doctest: +SKIP
    (('input_ids', 'token_type_ids', 'attention_mask'), [101, 1037, 2986, 2143, 102])
    """
    folder = Path(folder)
    path = folder / "tokenizer.json"
    if not path.is_file():
        raise CheckpointError(f"no tokenizer.json in {folder}; a checkpoint needs the tokenizer it was trained with "
                              f"(tokenizer.save_pretrained(dir) writes it)")
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path} is not valid JSON ({e}); save the tokenizer again with tokenizer.save_pretrained(dir)") from None
    if not isinstance(spec, dict) or not isinstance(spec.get("model"), dict):
        raise CheckpointError(f"{path} has no tokenizer model; save the tokenizer again with tokenizer.save_pretrained(dir)")
    config = _config(folder)
    if config is None:
        return LoadedTokenizer(_from_file(path), DEFAULT_INPUTS, "tokenizer.json", spec)
    import warnings

    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            hf = AutoTokenizer.from_pretrained(str(folder), local_files_only=True, trust_remote_code=False)
    except Exception as e:   # transformers raises ValueError, OSError, Rust exceptions, ... for a broken folder
        first = str(e).splitlines()[0][:160] if str(e) else type(e).__name__
        raise CheckpointError(f"transformers cannot load the tokenizer in {folder} ({first}); "
                              f"save it again with tokenizer.save_pretrained(dir)") from None
    finally:
        hf_logging.set_verbosity(verbosity)
    backend = getattr(hf, "backend_tokenizer", None)
    if backend is None:
        raise CheckpointError(f"{folder}'s tokenizer ({type(hf).__name__}) has no tokenizers backend; "
                              f"save a fast tokenizer (tokenizer.json) with save_pretrained")
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_str(backend.to_str())   # a copy: padding/truncation changes stay ours
    names = tuple(n for n in hf.model_input_names if n in ("input_ids", "attention_mask", "token_type_ids"))
    side = getattr(hf, "truncation_side", "right")
    return LoadedTokenizer(tokenizer, names or DEFAULT_INPUTS, str(config.get("tokenizer_class") or type(hf).__name__),
                           json.loads(tokenizer.to_str()), side if side in ("left", "right") else "right")


def pad_ids(ids: list[list[int]], pad_id: int = 0, pad_to: int | None = None, type_ids: list[list[int]] | None = None) -> dict[str, np.ndarray]:
    """Right-pad token ids into (B, T) int64 input_ids and attention_mask (+ token_type_ids when `type_ids` are given):
    the one padding the students' Encoder and the bundle reader share, so Python and the exported files see the same arrays."""
    import numpy as np

    width = pad_to or max(len(x) for x in ids)
    input_ids = np.full((len(ids), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(ids), width), dtype=np.int64)
    types = np.zeros((len(ids), width), dtype=np.int64)
    for i, row in enumerate(ids):
        row = row[:width]
        input_ids[i, : len(row)] = row
        mask[i, : len(row)] = 1
        if type_ids is not None:
            types[i, : len(row)] = type_ids[i][:width]
    out = {"input_ids": input_ids, "attention_mask": mask}
    if type_ids is not None:
        out["token_type_ids"] = types
    return out


def pad_pair_ids(first: list[list[int]], second: list[list[int]], pad_id: int = 0, pad_to: int | None = None) -> dict[str, np.ndarray]:
    """Siamese pairs: each side right-padded like `pad_ids`, both to one width (the longest side of any row, or `pad_to`),
    as (B, T) int64 input_ids / attention_mask (first texts) and pair_input_ids / pair_attention_mask (second texts)."""
    width = pad_to or max(1, max((len(x) for x in (*first, *second)), default=1))
    a, b = pad_ids(first, pad_id, width), pad_ids(second, pad_id, width)
    return {"input_ids": a["input_ids"], "attention_mask": a["attention_mask"],
            "pair_input_ids": b["input_ids"], "pair_attention_mask": b["attention_mask"]}


def describe_pipeline(spec: dict) -> dict:
    """The pipeline in a few words for a manifest: normaliser and pre-tokenizer steps, and the post-processor's
    single and pair templates ("[CLS] $A [SEP]", "[CLS] $A [SEP] $B:1 [SEP]:1"), as tokenizer.json defines them."""
    def steps(node, key) -> list[str]:
        if not isinstance(node, dict):
            return []
        if node.get("type") == "Sequence":
            return [s for child in node.get(key) or [] for s in steps(child, key)]
        return [str(node.get("type"))]

    def template(post, which: str) -> str | None:
        if not isinstance(post, dict):
            return None
        kind = post.get("type")
        if kind == "Sequence":
            return next((t for p in post.get("processors") or [] if (t := template(p, which))), None)
        if kind == "TemplateProcessing":
            parts = []
            for piece in post.get(which) or []:
                (what, body), = piece.items()
                name = body["id"] if what == "SpecialToken" else f"${body['id']}"
                parts.append(name if not body.get("type_id") else f"{name}:{body['type_id']}")
            return " ".join(parts)
        if kind in ("BertProcessing", "RobertaProcessing"):
            cls, sep = post["cls"][0], post["sep"][0]
            if which == "single":
                return f"{cls} $A {sep}"
            return f"{cls} $A {sep} $B:1 {sep}:1" if kind == "BertProcessing" else f"{cls} $A {sep} {sep} $B {sep}"
        return None

    return {"normalizer": steps(spec.get("normalizer"), "normalizers"), "pre_tokenizer": steps(spec.get("pre_tokenizer"), "pretokenizers"),
            "template_single": template(spec.get("post_processor"), "single"), "template_pair": template(spec.get("post_processor"), "pair")}


def _config(folder: Path) -> dict | None:
    path = folder / "tokenizer_config.json"
    if not path.is_file():
        return None
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path} is not valid JSON ({e}); save the tokenizer again with save_pretrained") from None
    if not isinstance(config, dict):
        raise CheckpointError(f"{path} is not a JSON object; save the tokenizer again with save_pretrained")
    return config


def _from_file(path: Path):
    from tokenizers import Tokenizer

    try:
        return Tokenizer.from_file(str(path))
    except Exception as e:   # the Rust side raises a bare Exception for a malformed file
        raise CheckpointError(f"{path} is not a tokenizer the tokenizers library can read ({str(e)[:160]}); "
                              f"save it again with tokenizer.save_pretrained(dir)") from None
