"""A Hugging Face checkpoint folder checked in about a second, before any weights load or any conversion starts.

What is checked: config.json is JSON and names a supported encoder family; a classifier folder's architecture is a
sequence classifier; model.safetensors' header (read without loading a tensor) agrees with the architecture the
config describes, name by name, in shape and in kind (a float weight stored as integers is a quantized or broken
file); the tokenizer loads and fits the model's embedding table.
"""
from __future__ import annotations

import json
from pathlib import Path

from edgecore import CheckpointError

# config.json model_type -> the family's name in messages; each is built tiny and exported in the tests (tests/families.py)
SUPPORTED = {"bert": "BERT", "electra": "ELECTRA", "distilbert": "DistilBERT", "roberta": "RoBERTa", "xlm-roberta": "XLM-RoBERTa",
             "albert": "ALBERT", "deberta-v2": "DeBERTa-v2/v3", "mpnet": "MPNet", "modernbert": "ModernBERT",
             "edgedistill-adapter-bert": "BERT with adapters (edgedistill teacher finetune --peft adapter:R)"}
_INTEGER = ("I8", "U8", "I16", "U16", "I32", "U32", "I64", "U64", "BOOL")


def read_config(path: Path) -> dict:
    file = path / "config.json"
    try:
        config = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{path} has no config.json; give a Hugging Face model folder saved with save_pretrained") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{file} is not valid JSON ({e}); save the model again with save_pretrained") from None
    if not isinstance(config, dict):
        raise CheckpointError(f"{file} is not a JSON object; save the model again with save_pretrained")
    return config


def check_family(path: Path, config: dict, classifier: bool) -> str:
    """The config's model_type if supported; for a classifier folder, its architecture must be a sequence classifier."""
    model_type = config.get("model_type")
    architectures = [a for a in config.get("architectures") or [] if isinstance(a, str)]
    if model_type not in SUPPORTED:
        arch = architectures[0] if architectures else "no architectures entry"
        raise CheckpointError(f"{path}: architecture {arch} (model_type {model_type!r}) is not supported; supported encoder families: "
                              f"{', '.join(v for k, v in SUPPORTED.items() if not k.startswith('edgedistill-'))}")
    if classifier and architectures and not any(a.endswith("ForSequenceClassification") for a in architectures):
        raise CheckpointError(f"{path} is a {architectures[0]}, not a fine-tuned classifier (no *ForSequenceClassification head); "
                              f"fine-tune it first: edgedistill teacher finetune --base {path}")
    return model_type


def check_weights(path: Path, model, prefix: str = "", name: str | None = None) -> None:
    """model.safetensors' header against `model` (built on the meta device from config.json): same names, shapes, kinds.
    A base model's weights are named without the classifier's `prefix` (roberta., mpnet., ...), as transformers loads them."""
    from safetensors import SafetensorError, safe_open

    file = path / "model.safetensors"
    try:
        with safe_open(str(file), framework="pt") as f:
            stored = {k: (f.get_slice(k).get_dtype(), tuple(f.get_slice(k).get_shape())) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{file} is not a readable safetensors file ({str(e)[:160]}); save the model again with save_pretrained") from None
    expected = {k: (str(v.dtype), tuple(v.shape)) for k, v in model.state_dict().items()}
    if prefix and not any(k in expected for k in stored):
        stored = {f"{prefix}.{k}": v for k, v in stored.items()}
    common = [k for k in stored if k in expected]
    if not common:
        raise CheckpointError(f"{file} holds no weight of a {name or type(model).__name__} (its first names: {sorted(stored)[:3]}); "
                              f"config.json and the weights come from different models")
    for key in common:
        dtype, shape = stored[key]
        if shape != expected[key][1]:
            raise CheckpointError(f"{file}: {key} has shape {list(shape)} but config.json describes {list(expected[key][1])}; "
                                  f"config.json and the weights come from different models")
        if dtype in _INTEGER and expected[key][0].startswith("torch.float"):
            raise CheckpointError(f"{file}: {key} is stored as {dtype}, a float weight as integers (a quantized or broken file); "
                                  f"give the float checkpoint (export quantizes it)")


def check_tokenizer_fits(path: Path, tokenizer_vocab: int, model_vocab: int) -> None:
    if tokenizer_vocab > model_vocab:
        raise CheckpointError(f"{path}/tokenizer.json has {tokenizer_vocab} tokens but the model embeds only {model_vocab}; "
                              f"put the tokenizer the model was trained with beside it")
