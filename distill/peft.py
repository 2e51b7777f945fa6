"""Parameter-efficient fine-tuning of BERT-family classifiers (teachers and Transformer students).

    full        every parameter trains
    freeze:K    the embeddings and the first K blocks are frozen; the rest trains
    bitfit      only bias terms and the classifier head train (Ben Zaken et al. 2021)
    adapter:R   a bottleneck adapter (down-project to R, GELU, up-project, residual) sits after each
                block's feed-forward output projection, before its residual LayerNorm (Houlsby et al.
                2019, the feed-forward placement of Pfeiffer et al. 2020); adapters, LayerNorms and
                the head train. The up-projection starts at zero, so a fresh adapter is the identity.

`apply_peft(model, "adapter:64")` changes the model in place and returns how many parameters train.
An adapter model saves with save_pretrained under model_type `edgedistill-adapter-bert`; call
`register_auto_classes()` once before `AutoModelForSequenceClassification.from_pretrained` so it loads
with its adapters (plain transformers refuses the unknown model_type instead of silently dropping them).

Why not the `peft` / `adapters` libraries: `adapters` 1.3.0 requires transformers~=4.57.6 (we pin
5.23.0), and `peft` 0.21.2 has no bottleneck (Houlsby) adapter and no BitFit, so these ~150 lines are
smaller than the glue either would need.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from edgecore import ConfigError, UnsupportedError

METHODS = ("full", "freeze", "bitfit", "adapter")
HEAD_PREFIXES = ("classifier.", "score.")
ADAPTER_MODEL_TYPE = "edgedistill-adapter-bert"


@dataclass(frozen=True)
class PeftConfig:
    method: str = "full"        # full | freeze | bitfit | adapter
    freeze_layers: int = 0      # freeze: how many blocks (from the bottom) freeze with the embeddings
    adapter_size: int = 64      # adapter: bottleneck width R

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(f"peft method {self.method!r} is not supported; choose one of full, freeze:K, bitfit, adapter:R")
        if self.method == "freeze" and self.freeze_layers < 0:
            raise ConfigError(f"freeze:K needs K >= 0 (got {self.freeze_layers}); e.g. freeze:4")
        if self.method == "adapter" and self.adapter_size < 1:
            raise ConfigError(f"adapter:R needs R >= 1 (got {self.adapter_size}); e.g. adapter:64")

    @classmethod
    def parse(cls, spec: str | PeftConfig | None) -> PeftConfig:
        """`None`/"full", "freeze:K", "bitfit", "adapter:R" (R defaults to 64) -> PeftConfig."""
        if isinstance(spec, PeftConfig):
            return spec
        if spec is None or str(spec).strip() in ("", "full"):
            return cls("full")
        text = str(spec).strip().lower()
        name, _, arg = text.partition(":")
        try:
            if name == "freeze":
                if not arg:
                    raise ValueError
                return cls("freeze", freeze_layers=int(arg))
            if name == "bitfit" and not arg:
                return cls("bitfit")
            if name == "adapter":
                return cls("adapter", adapter_size=int(arg) if arg else 64)
        except ValueError:
            pass
        raise ConfigError(f"--peft {spec!r} is not understood; use one of full, freeze:K (e.g. freeze:4), bitfit, adapter:R (e.g. adapter:64)")

    @property
    def spec(self) -> str:
        return {"full": "full", "bitfit": "bitfit", "freeze": f"freeze:{self.freeze_layers}",
                "adapter": f"adapter:{self.adapter_size}"}[self.method]


@dataclass(frozen=True)
class PeftReport:
    method: str
    trainable: int
    total: int

    @property
    def percent(self) -> float:
        return 100.0 * self.trainable / max(1, self.total)

    def to_dict(self) -> dict:
        return {**asdict(self), "percent": round(self.percent, 4)}


def trainable_report(model: nn.Module, method: str = "") -> PeftReport:
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return PeftReport(method, trainable, total)


# ---------------------------------------------------------------------------------------------
# Adapters

class BottleneckAdapter(nn.Module):
    """x + up(gelu(down(x))), (B, T, D) -> (B, T, D); `up` starts at zero so the adapter starts as the identity."""

    def __init__(self, width: int, size: int) -> None:
        super().__init__()
        self.down = nn.Linear(width, size)
        self.up = nn.Linear(size, width)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.normal_(self.down.weight, std=0.02)
        nn.init.zeros_(self.down.bias)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.up(F.gelu(self.down(x)))


class AdapterOutput(nn.Module):
    """A BERT block's feed-forward output (dense -> dropout -> + residual -> LayerNorm) with an adapter
    before the residual. It keeps the original submodules under their names, so checkpoint keys
    (`output.dense.weight`, `output.LayerNorm.weight`) do not change; the adapter adds `output.adapter.*`."""

    def __init__(self, dense: nn.Linear, dropout: nn.Module, layer_norm: nn.LayerNorm, size: int) -> None:
        super().__init__()
        self.dense, self.dropout, self.LayerNorm = dense, dropout, layer_norm
        self.adapter = BottleneckAdapter(dense.out_features, size)

    def forward(self, hidden_states: torch.Tensor, input_tensor: torch.Tensor) -> torch.Tensor:
        h = self.dropout(self.dense(hidden_states))        # (B, T, D)
        return self.LayerNorm(self.adapter(h) + input_tensor)


def _blocks(model: nn.Module) -> tuple[nn.Module, nn.ModuleList]:
    base = getattr(model, "base_model", model)
    embeddings, encoder = getattr(base, "embeddings", None), getattr(base, "encoder", None)
    layers = getattr(encoder, "layer", None)
    if embeddings is None or layers is None:
        raise UnsupportedError(f"{type(model).__name__} is not a BERT-style encoder (no embeddings / encoder.layer); "
                               f"PEFT here supports BERT-family classifiers such as the built-in minilm-l6")
    return embeddings, layers


def insert_adapters(model: nn.Module, size: int) -> int:
    """Put an identity-initialised adapter into every block's feed-forward output; returns how many."""
    _, layers = _blocks(model)
    for layer in layers:
        out = layer.output
        if isinstance(out, AdapterOutput):
            raise ConfigError("this model already has adapters; apply adapter:R once")
        if not all(hasattr(out, n) for n in ("dense", "dropout", "LayerNorm")):
            raise UnsupportedError(f"block output {type(out).__name__} is not BERT-shaped (dense, dropout, LayerNorm)")
        new = AdapterOutput(out.dense, out.dropout, out.LayerNorm, size)
        new.adapter.to(device=out.dense.weight.device, dtype=out.dense.weight.dtype)
        layer.output = new
    return len(layers)


# ---------------------------------------------------------------------------------------------
# The verb

def apply_peft(model: nn.Module, config: PeftConfig | str | None) -> PeftReport:
    """Set which parameters train (and add adapters) in place; returns trainable / total counts.

    >>> report = apply_peft(model, "bitfit")         # doctest: +SKIP
    >>> f"{report.trainable:,} ({report.percent:.2f}%)"  # doctest: +SKIP
    '103,682 (0.46%)'
    """
    config = PeftConfig.parse(config)
    embeddings, layers = _blocks(model)
    if config.method == "full":
        for p in model.parameters():
            p.requires_grad_(True)
    elif config.method == "freeze":
        if config.freeze_layers > len(layers):
            raise ConfigError(f"freeze:{config.freeze_layers} asks for more blocks than the model's {len(layers)}")
        for p in model.parameters():
            p.requires_grad_(True)
        for module in (embeddings, *layers[: config.freeze_layers]):
            for p in module.parameters():
                p.requires_grad_(False)
    elif config.method == "bitfit":
        for name, p in model.named_parameters():
            p.requires_grad_(name.endswith(".bias") or name.startswith(HEAD_PREFIXES))
    else:
        _to_adapter_model(model, config.adapter_size)
        for name, p in model.named_parameters():
            p.requires_grad_(".adapter." in name or "LayerNorm" in name or name.startswith(HEAD_PREFIXES))
    model.config.edgedistill_peft = config.spec   # provenance in config.json
    return trainable_report(model, config.spec)


def _to_adapter_model(model: nn.Module, size: int) -> None:
    """Insert adapters and turn the model into the registered adapter class, so save_pretrained writes
    a config that `register_auto_classes()` + from_pretrained load back with the adapters in place."""
    from transformers import BertForSequenceClassification

    if type(model) is not BertForSequenceClassification:
        raise UnsupportedError(f"adapter:R supports BertForSequenceClassification (got {type(model).__name__}); "
                               f"use freeze:K or bitfit for other models")
    config_cls, model_cls = adapter_classes()
    insert_adapters(model, size)
    config = config_cls(adapter_size=size, **{k: v for k, v in model.config.to_dict().items() if k not in ("model_type", "adapter_size")})
    config._attn_implementation = model.config._attn_implementation
    model.config = config
    model.bert.config = config
    model.__class__ = model_cls   # a subclass that only adds the adapters at construction


_CLASSES: tuple | None = None


def adapter_classes() -> tuple[type, type]:
    """(AdapterBertConfig, AdapterBertForSequenceClassification), created on first use (transformers loads lazily)."""
    global _CLASSES
    if _CLASSES is None:
        from transformers import BertConfig, BertForSequenceClassification

        class AdapterBertConfig(BertConfig):
            model_type = ADAPTER_MODEL_TYPE

            def __init__(self, adapter_size: int = 64, **kwargs) -> None:
                super().__init__(**kwargs)
                self.adapter_size = adapter_size

        class AdapterBertForSequenceClassification(BertForSequenceClassification):
            config_class = AdapterBertConfig

            def __init__(self, config) -> None:
                super().__init__(config)
                insert_adapters(self, config.adapter_size)

        _CLASSES = (AdapterBertConfig, AdapterBertForSequenceClassification)
    return _CLASSES


def register_auto_classes() -> None:
    """Let AutoConfig / AutoModelForSequenceClassification load adapter checkpoints. Idempotent."""
    from transformers import AutoConfig, AutoModelForSequenceClassification
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    config_cls, model_cls = adapter_classes()
    if ADAPTER_MODEL_TYPE not in CONFIG_MAPPING:
        AutoConfig.register(ADAPTER_MODEL_TYPE, config_cls)
        AutoModelForSequenceClassification.register(config_cls, model_cls)
