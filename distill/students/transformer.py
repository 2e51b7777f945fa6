"""Transformer students: shallower (DistilBERT-style) or shallower and narrower (TinyBERT-style) BERTs.

A student is a plain `transformers.BertForSequenceClassification` built from the teacher's BertConfig
(same vocabulary, positions, labels, activation), so it saves and loads with save_pretrained /
from_pretrained, `load_teacher` reads it back, and it exports like any Hugging Face checkpoint.

Initialisation:
  teacher     copy embeddings, the teacher blocks in `teacher_layers` (default: every other block,
              ending at the top one), pooler and classifier. Needs the teacher's width. A smaller
              `intermediate` keeps each block's most important feed-forward neurons (`ffn_keep`).
  embeddings  narrower students: the teacher's word/position/type embeddings projected onto the top
              `hidden` principal directions of its word-embedding matrix; blocks random.
  random      everything random (the HF initialiser).
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from edgecore import ConfigError, UnsupportedError, atomic_dir

INITS = ("teacher", "embeddings", "random")


@dataclass(frozen=True)
class TransformerStudentConfig:
    layers: int = 3
    hidden: int | None = None                     # None: the teacher's width (384 for MiniLM-L6)
    heads: int | None = None                      # None: the teacher's head count if it divides `hidden`
    intermediate: int | None = None               # None: 4 * hidden (the teacher's ratio when hidden is the teacher's);
                                                  # with init='teacher', fewer than the teacher's keeps its top neurons
    init: str = "teacher"                         # teacher | embeddings | random (module docstring)
    teacher_layers: tuple[int, ...] | None = None  # 1-based teacher blocks copied into student blocks 1..layers
    dropout: float = 0.1
    attention_dropout: float = 0.1

    def __post_init__(self) -> None:
        if not 1 <= self.layers <= 24:
            raise ConfigError(f"layers must be in 1..24 (got {self.layers}); e.g. TransformerStudentConfig(layers=3)")
        if self.init not in INITS:
            raise ConfigError(f"init {self.init!r} is not supported; choose one of {', '.join(INITS)}")
        for name in ("hidden", "heads", "intermediate"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigError(f"{name} must be >= 1 or None (got {value})")
        if self.hidden is not None and self.heads is not None and self.hidden % self.heads:
            raise ConfigError(f"hidden {self.hidden} is not a multiple of heads {self.heads}; e.g. hidden=192, heads=12")
        if self.teacher_layers is not None:
            object.__setattr__(self, "teacher_layers", tuple(int(x) for x in self.teacher_layers))
            if len(self.teacher_layers) != self.layers:
                raise ConfigError(f"teacher_layers {list(self.teacher_layers)} names {len(self.teacher_layers)} blocks for a "
                                  f"{self.layers}-layer student; give one teacher block per student block")
            if min(self.teacher_layers) < 1:
                raise ConfigError(f"teacher_layers are 1-based block numbers (got {list(self.teacher_layers)})")
        for name in ("dropout", "attention_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ConfigError(f"{name} must be in [0, 1) (got {getattr(self, name)})")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["teacher_layers"] = list(self.teacher_layers) if self.teacher_layers is not None else None
        return d


def every_other_layer(teacher_layers: int, student_layers: int) -> tuple[int, ...]:
    """Uniformly spaced 1-based teacher blocks ending at the top one: 6->3 gives (2, 4, 6), 6->2 (3, 6).

    The same map serves teacher-init and the TinyBERT layer matches (student block m <- teacher block g(m)).
    """
    if not 1 <= student_layers <= teacher_layers:
        raise ConfigError(f"a student needs 1..{teacher_layers} layers to map onto a {teacher_layers}-layer teacher (got {student_layers})")
    return tuple(math.ceil((m + 1) * teacher_layers / student_layers) for m in range(student_layers))


def _bert_config(teacher_model: torch.nn.Module):
    from transformers import BertConfig

    config = getattr(teacher_model, "config", None)
    if not isinstance(config, BertConfig):
        kind = getattr(config, "model_type", type(teacher_model).__name__)
        raise UnsupportedError(f"Transformer students are built from a BERT-family teacher; this teacher is {kind!r}. "
                               f"Use a BERT checkpoint (e.g. the built-in minilm-l6) or a bilstm/gru student")
    return config


def student_bert_config(teacher_model: torch.nn.Module, config: TransformerStudentConfig):
    """The student's BertConfig: the teacher's vocabulary, positions, labels and activation at the student's size."""
    from transformers import BertConfig

    t = _bert_config(teacher_model)
    hidden = config.hidden or t.hidden_size
    heads = config.heads or (t.num_attention_heads if hidden % t.num_attention_heads == 0 else max(1, hidden // 64))
    if hidden % heads:
        raise ConfigError(f"hidden {hidden} is not a multiple of {heads} heads; pass heads= explicitly (e.g. hidden=192, heads=12)")
    if config.init == "teacher" and hidden != t.hidden_size:
        raise ConfigError(f"init='teacher' copies teacher blocks and needs the teacher's width {t.hidden_size} (got hidden={hidden}); "
                          f"use init='embeddings' or 'random' for a narrower (TinyBERT-style) student")
    if config.init == "embeddings" and hidden > t.hidden_size:
        raise ConfigError(f"init='embeddings' projects the teacher's {t.hidden_size}-wide embeddings down; hidden={hidden} is wider")
    if config.init == "teacher" and config.layers > t.num_hidden_layers:
        raise ConfigError(f"a teacher-init student can have at most the teacher's {t.num_hidden_layers} layers (got {config.layers})")
    if config.teacher_layers is not None and max(config.teacher_layers) > t.num_hidden_layers:
        raise ConfigError(f"teacher_layers {list(config.teacher_layers)} go past the teacher's {t.num_hidden_layers} blocks")
    intermediate = config.intermediate or (t.intermediate_size if hidden == t.hidden_size else 4 * hidden)
    if config.init == "teacher" and intermediate > t.intermediate_size:
        raise ConfigError(f"init='teacher' keeps a subset of the teacher's {t.intermediate_size} feed-forward neurons; "
                          f"intermediate={intermediate} is more (use at most {t.intermediate_size})")
    return BertConfig(
        vocab_size=t.vocab_size, hidden_size=hidden, num_hidden_layers=config.layers, num_attention_heads=heads,
        intermediate_size=intermediate, hidden_act=t.hidden_act, hidden_dropout_prob=config.dropout,
        attention_probs_dropout_prob=config.attention_dropout, max_position_embeddings=t.max_position_embeddings,
        type_vocab_size=t.type_vocab_size, layer_norm_eps=t.layer_norm_eps, pad_token_id=t.pad_token_id,
        num_labels=t.num_labels, id2label=dict(t.id2label), label2id=dict(t.label2id), classifier_dropout=t.classifier_dropout,
    )


_DROPOUTS = {"hidden_dropout_prob": "dropout", "dropout": "dropout", "mlp_dropout": "dropout", "embedding_dropout": "dropout",
             "attention_probs_dropout_prob": "attention_dropout", "attention_dropout": "attention_dropout"}


def _layer_count_field(config) -> str:
    """The config.json key of the depth (DistilBERT's n_layers; `config.num_hidden_layers` reads it in every family)."""
    return "n_layers" if "n_layers" in config.to_dict() else "num_hidden_layers"


def student_config(teacher_model: torch.nn.Module, config: TransformerStudentConfig):
    """The student's config. A BERT teacher's (BertConfig) may be narrower (student_bert_config); any other family
    (DistilBERT, RoBERTa, XLM-R, ALBERT, DeBERTa-v2, MPNet, ModernBERT, ELECTRA) gives a same-family student with
    fewer layers at the teacher's width (DistilBERT-style), its blocks taken from the teacher or random.

    >>> student_config(roberta_teacher, TransformerStudentConfig(layers=2)).num_hidden_layers  # doctest: +SKIP
    2
    """
    from transformers import BertConfig, PretrainedConfig

    t = getattr(teacher_model, "config", None)
    if not isinstance(t, PretrainedConfig):
        raise UnsupportedError(f"Transformer students are built from a Hugging Face Transformer teacher; this teacher is a "
                               f"{type(teacher_model).__name__}. Use a Hugging Face classifier teacher, or a bilstm/gru student")
    if isinstance(t, BertConfig):
        return student_bert_config(teacher_model, config)
    family = getattr(t, "model_type", type(teacher_model).__name__)
    width = getattr(t, "hidden_size", None) or getattr(t, "dim", None)
    if config.init == "embeddings" or (config.hidden is not None and config.hidden != width) or config.heads is not None:
        raise ConfigError(f"narrower (TinyBERT-style) students are built for BERT teachers; a {family} teacher gives same-width students "
                          f"with fewer layers: drop hidden/heads and init='embeddings', or train a bilstm/gru student")
    intermediate = getattr(t, "intermediate_size", None) or getattr(t, "hidden_dim", None)
    if config.intermediate is not None and config.intermediate != intermediate:
        raise ConfigError(f"a {family} student keeps the teacher's feed-forward width {intermediate} (got intermediate={config.intermediate})")
    field = _layer_count_field(t)
    teacher_layers = t.num_hidden_layers
    if config.init == "teacher" and config.layers > teacher_layers:
        raise ConfigError(f"a teacher-init student can have at most the teacher's {teacher_layers} layers (got {config.layers})")
    if config.teacher_layers is not None and max(config.teacher_layers) > teacher_layers:
        raise ConfigError(f"teacher_layers {list(config.teacher_layers)} go past the teacher's {teacher_layers} blocks")
    fields = t.to_dict()
    fields[field] = config.layers
    if isinstance(fields.get("layer_types"), list):   # ModernBERT: one attention type per layer, derived again for the new depth
        fields["layer_types"] = None
    for name, source in _DROPOUTS.items():
        if isinstance(fields.get(name), float):
            fields[name] = getattr(config, source)
    return type(t).from_dict(fields)


def build_transformer_student(teacher_model: torch.nn.Module, config: TransformerStudentConfig = TransformerStudentConfig(),
                              seed: int = 0):
    """A student of the teacher's family (BertForSequenceClassification for a BERT teacher) initialised from
    `teacher_model` as `config.init` says.

    >>> student = build_transformer_student(teacher.model, TransformerStudentConfig(layers=3))  # doctest: +SKIP
    >>> student.config.num_hidden_layers                                                        # doctest: +SKIP
    3
    """
    from transformers import AutoModelForSequenceClassification, BertConfig, BertForSequenceClassification

    cfg = student_config(teacher_model, config)   # refuses a teacher that cannot lend its shape, before any weights move
    if not isinstance(cfg, BertConfig):
        torch.manual_seed(seed)
        student = AutoModelForSequenceClassification.from_config(cfg)
        if config.init == "teacher":
            layers = config.teacher_layers or every_other_layer(teacher_model.config.num_hidden_layers, config.layers)
            copy_family_layers(student, teacher_model, layers)
        return student.eval()
    torch.manual_seed(seed)
    student = BertForSequenceClassification(cfg)
    if config.init == "teacher":
        layers = config.teacher_layers or every_other_layer(teacher_model.config.num_hidden_layers, config.layers)
        copy_teacher_layers(student, teacher_model, layers)
    elif config.init == "embeddings":
        init_projected_embeddings(student, teacher_model)
    return student.eval()


@torch.no_grad()
def copy_teacher_layers(student, teacher_model, teacher_layers: tuple[int, ...]) -> None:
    """Embeddings, teacher blocks `teacher_layers` (1-based) -> student blocks 1..n, pooler and classifier.

    A teacher fine-tuned with adapters (distill.peft) lends its blocks without the adapters: the student
    is a plain BERT, and distillation trains it to make up for what the adapters did."""
    student.bert.embeddings.load_state_dict(teacher_model.bert.embeddings.state_dict())
    width = student.config.intermediate_size
    for s, t in enumerate(teacher_layers):
        block = {k: v for k, v in teacher_model.bert.encoder.layer[t - 1].state_dict().items() if ".adapter." not in f".{k}"}
        if block["intermediate.dense.weight"].shape[0] != width:
            keep = ffn_keep(block["intermediate.dense.weight"], block["output.dense.weight"], width)
            block["intermediate.dense.weight"] = block["intermediate.dense.weight"][keep]
            block["intermediate.dense.bias"] = block["intermediate.dense.bias"][keep]
            block["output.dense.weight"] = block["output.dense.weight"][:, keep]
        student.bert.encoder.layer[s].load_state_dict(block)
    if student.bert.pooler is not None and teacher_model.bert.pooler is not None:
        student.bert.pooler.load_state_dict(teacher_model.bert.pooler.state_dict())
    student.classifier.load_state_dict(teacher_model.classifier.state_dict())


def _block_list(model, count: int) -> str | None:
    """The dotted name of the model's ModuleList of `count` Transformer blocks (None when blocks are shared: ALBERT)."""
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.ModuleList) and len(module) == count and name.rsplit(".", 1)[-1] in ("layer", "layers"):
            return name
    return None


@torch.no_grad()
def copy_family_layers(student, teacher_model, teacher_layers: tuple[int, ...]) -> None:
    """Any family: every weight outside the block list copied as it is, teacher blocks `teacher_layers` (1-based) ->
    student blocks 1..n. ALBERT shares one block across depth, so its student copies everything."""
    import re

    blocks = _block_list(teacher_model, teacher_model.config.num_hidden_layers)
    teacher_state = {k: v for k, v in teacher_model.state_dict().items() if ".adapter." not in f".{k}"}
    pattern = re.compile(rf"^{re.escape(blocks)}\.(\d+)\.") if blocks else None
    state = {}
    for key in student.state_dict():
        source = key
        match = pattern.match(key) if pattern else None
        if match:
            source = f"{blocks}.{teacher_layers[int(match.group(1))] - 1}.{key[match.end():]}"
        if source not in teacher_state:
            raise ConfigError(f"the student's {key} has no counterpart {source} in the teacher; use init='random'")
        state[key] = teacher_state[source]
    student.load_state_dict(state, strict=True)


def ffn_keep(w_in: torch.Tensor, w_out: torch.Tensor, width: int) -> torch.Tensor:
    """The `width` feed-forward neurons of a block worth keeping, in their original order.

    A neuron j reads row j of `w_in` (intermediate, hidden) and writes column j of `w_out` (hidden,
    intermediate); its score is the product of the two norms, the weight-magnitude criterion of
    structured FFN pruning (as in DynaBERT's width reduction, without its data-driven importance).

    >>> ffn_keep(torch.eye(4), torch.diag(torch.tensor([1.0, 4.0, 2.0, 3.0])), 2)
    tensor([1, 3])
    """
    if not 1 <= width <= w_in.shape[0]:
        raise ConfigError(f"cannot keep {width} of {w_in.shape[0]} feed-forward neurons")
    score = w_in.norm(dim=1) * w_out.norm(dim=0)
    return torch.topk(score, width).indices.sort().values


@torch.no_grad()
def init_projected_embeddings(student, teacher_model) -> torch.Tensor:
    """Project the teacher's embeddings onto the top principal directions of its word embeddings.

    Returns the (teacher_hidden, student_hidden) projection. LayerNorm starts as the identity map
    (the projected vectors are not normalised the way the teacher's were).
    """
    t_emb, s_emb = teacher_model.bert.embeddings, student.bert.embeddings
    width = s_emb.word_embeddings.weight.shape[1]
    words = t_emb.word_embeddings.weight.float()                       # (V, Dt)
    centred = words - words.mean(0, keepdim=True)
    _, _, v = torch.linalg.svd(centred, full_matrices=False)           # v: (Dt, Dt), rows = directions
    projection = v[:width].T.contiguous()                              # (Dt, Ds)
    s_emb.word_embeddings.weight.copy_(words @ projection)
    s_emb.position_embeddings.weight.copy_(t_emb.position_embeddings.weight.float() @ projection)
    s_emb.token_type_embeddings.weight.copy_(t_emb.token_type_embeddings.weight.float() @ projection)
    return projection


def count_parameters(model: torch.nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def save_transformer_student(model, out_dir: str | Path, encoder, metrics: dict | None = None, force: bool = False) -> Path:
    """A Hugging Face folder (config.json, model.safetensors, tokenizer files, metrics.json).

    `load_teacher(out_dir)` and `edgedistill export out_dir` read it like any classifier folder; the
    max_len it was trained with goes into metrics.json["config"] where `load_teacher` looks for it.
    """
    meta = {"kind": "transformer", **(metrics or {})}
    meta["config"] = {**meta.get("config", {}), "max_len": encoder.max_len}
    with atomic_dir(out_dir, force=force) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        encoder.save(tmp)
        (tmp / "metrics.json").write_text(json.dumps(meta, indent=2, default=str))
    return Path(out_dir)
