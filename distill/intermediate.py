"""Intermediate-layer distillation: a declarative list of typed layer matches.

A recipe is a tuple of `Match(teacher_layer, student_layer, feature, loss, weight)`. Layer numbers
follow Hugging Face's `hidden_states` tuple: 0 is the embedding output, i >= 1 is block i (so the
attention of block i is `attentions[i - 1]`). Where a hidden width differs, a learned linear map
takes the student's vector into the teacher's space (TinyBERT's W_h, W_e); attention maps need none
(their shape is (heads, T, T)); with different head counts both sides are averaged over heads.
Attention maps are the softmax probabilities Hugging Face returns (eager attention), compared row by
row with mse, cosine or kl.

Every model speaks one schema, `Features(logits, hidden, attentions, mask)`, so a loss never knows
which model produced a tensor. The losses are pure functions `(student, teacher, mask=None) -> Tensor`.

Matches come from a preset name (`distilbert`, `tinybert`, `tinybert-hidden`, `layerwise-cosine`) or
a JSON / YAML file:

    {"matches": [{"teacher_layer": 0, "student_layer": 0, "feature": "embeddings", "loss": "mse"},
                 {"teacher_layer": 6, "student_layer": 4, "feature": "hidden", "loss": "cosine", "weight": 2.0}]}
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from edgecore import ConfigError

FEATURES = ("embeddings", "attention", "hidden")
LOSSES = ("mse", "cosine", "kl")   # kl: attention maps only


@dataclass(frozen=True)
class Match:
    teacher_layer: int
    student_layer: int
    feature: str = "hidden"     # embeddings | attention | hidden
    loss: str = "mse"           # mse | cosine | kl (attention only)
    weight: float = 1.0

    def __post_init__(self) -> None:
        if self.feature not in FEATURES:
            raise ConfigError(f"feature {self.feature!r} is not supported; choose one of {', '.join(FEATURES)}")
        if self.loss not in LOSSES:
            raise ConfigError(f"loss {self.loss!r} is not supported; choose one of {', '.join(LOSSES)}")
        if self.loss == "kl" and self.feature != "attention":
            raise ConfigError(f"loss 'kl' compares attention distributions; use mse or cosine for {self.feature}")
        if self.weight < 0:
            raise ConfigError(f"weight must be >= 0 (got {self.weight})")
        if self.feature == "embeddings" and (self.teacher_layer, self.student_layer) != (0, 0):
            raise ConfigError(f"an embeddings match is layer 0 on both sides (got teacher {self.teacher_layer}, student {self.student_layer}); "
                              f"use feature='hidden' for block outputs")
        if self.feature == "attention" and min(self.teacher_layer, self.student_layer) < 1:
            raise ConfigError(f"attention exists for blocks 1..L only (got teacher {self.teacher_layer}, student {self.student_layer})")
        if min(self.teacher_layer, self.student_layer) < 0:
            raise ConfigError(f"layers are >= 0 (0 = embeddings; got teacher {self.teacher_layer}, student {self.student_layer})")

    @property
    def name(self) -> str:
        return f"{self.feature}_t{self.teacher_layer}_s{self.student_layer}_{self.loss}"

    def to_dict(self) -> dict:
        return asdict(self)


# ---------------------------------------------------------------------------------------------
# One output schema for teacher and student

@dataclass
class Features:
    logits: torch.Tensor                          # (B, C)
    hidden: tuple[torch.Tensor, ...]              # L + 1 of (B, T, D); [0] = embedding output
    attentions: tuple[torch.Tensor, ...] | None   # L of (B, H, T, T), softmax probabilities
    mask: torch.Tensor                            # (B, T), 1 = real token


def use_eager_attention(model) -> str:
    """Attention probabilities are only returned by the eager kernel; returns the previous setting to restore."""
    previous = model.config._attn_implementation
    if previous != "eager":
        model.set_attn_implementation("eager")
    return previous


def features(model, feeds: dict[str, torch.Tensor], attentions: bool = False) -> Features:
    """Run a Hugging Face BERT-style classifier and return its logits, hidden states and (optionally) attentions."""
    out = model(**feeds, output_hidden_states=True, output_attentions=attentions)
    if attentions and not out.attentions:
        raise ConfigError("the model returned no attention maps; call use_eager_attention(model) first (sdpa does not return them)")
    return Features(out.logits, tuple(out.hidden_states), tuple(out.attentions) if attentions else None, feeds["attention_mask"])


# ---------------------------------------------------------------------------------------------
# Pure losses

def _token_mean(per_token: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    if mask is None:
        return per_token.mean()
    mask = mask.to(per_token.dtype)
    return (per_token * mask).sum() / mask.sum().clamp(min=1.0)


def hidden_mse(student: torch.Tensor, teacher: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """(B, T, D) each: squared error averaged over features, then over real tokens."""
    return _token_mean(((student - teacher) ** 2).mean(-1), mask)


def hidden_cosine(student: torch.Tensor, teacher: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """(B, T, D) each: 1 - cos(student token vector, teacher token vector), over real tokens (DistilBERT's L_cos)."""
    return _token_mean(1.0 - F.cosine_similarity(student, teacher, dim=-1, eps=1e-8), mask)


def _query_rows(mask: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor | None:
    """(B, H, T) weights of the real query rows of (B, H, T, T) attention maps."""
    if mask is None:
        return None
    return mask.to(like.dtype)[:, None, :].expand(like.shape[:3])


def _masked_keys(student: torch.Tensor, teacher: torch.Tensor, mask: torch.Tensor | None):
    if mask is None:
        return student, teacher
    keys = mask.to(student.dtype)[:, None, None, :]                                        # (B, 1, 1, T)
    return student * keys, teacher * keys


def attention_mse(student: torch.Tensor, teacher: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """(B, H, T, T) attention probabilities each: squared error summed over the real keys of a row, averaged
    over heads and real queries. (Summing over keys keeps the size independent of sentence length; a mean
    over T*T entries would shrink as 1/T next to the hidden-state terms.)"""
    student, teacher = _masked_keys(*_same_heads(student, teacher), mask)
    return _token_mean(((student - teacher) ** 2).sum(-1), _query_rows(mask, student))


def attention_cosine(student: torch.Tensor, teacher: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """(B, H, T, T) each: 1 - cos between the attention rows of each real query, per head."""
    student, teacher = _masked_keys(*_same_heads(student, teacher), mask)
    per_row = 1.0 - F.cosine_similarity(student, teacher, dim=-1, eps=1e-8)             # (B, H, T)
    return _token_mean(per_row, _query_rows(mask, student))


def attention_kl(student: torch.Tensor, teacher: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """(B, H, T, T) each: KL(teacher row || student row) over keys, averaged over heads and real queries (MiniLM)."""
    student, teacher = _same_heads(student, teacher)
    kl = teacher * (torch.log(teacher.clamp(min=1e-12)) - torch.log(student.clamp(min=1e-12)))   # masked keys: p = 0
    return _token_mean(kl.sum(-1), _query_rows(mask, student))


def _same_heads(student: torch.Tensor, teacher: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if student.shape[1] != teacher.shape[1]:   # different head counts: compare the head-averaged maps
        return student.mean(1, keepdim=True), teacher.mean(1, keepdim=True)
    return student, teacher


LOSS_FUNCTIONS = {("hidden", "mse"): hidden_mse, ("hidden", "cosine"): hidden_cosine,
                  ("embeddings", "mse"): hidden_mse, ("embeddings", "cosine"): hidden_cosine,
                  ("attention", "mse"): attention_mse, ("attention", "cosine"): attention_cosine, ("attention", "kl"): attention_kl}


# ---------------------------------------------------------------------------------------------
# Presets and files

PRESETS = ("distilbert", "tinybert", "tinybert-hidden", "layerwise-cosine", "none")


def preset(name: str, teacher_layers: int, student_layers: int) -> tuple[Match, ...]:
    """Named recipes, with student block m matched to teacher block g(m) = ceil(m * T / S).

    distilbert        cosine between the top hidden states (Sanh et al. 2019)
    tinybert          embeddings MSE + per block attention MSE and hidden MSE (Jiao et al. 2020)
    tinybert-hidden   tinybert without attention maps (cheaper: no eager attention)
    layerwise-cosine  cosine between every student block and its teacher block
    none              no intermediate matches
    """
    from distill.students.transformer import every_other_layer

    g = every_other_layer(teacher_layers, student_layers)
    if name == "distilbert":
        return (Match(teacher_layers, student_layers, "hidden", "cosine", 1.0),)
    if name in ("tinybert", "tinybert-hidden"):
        out = [Match(0, 0, "embeddings", "mse", 1.0)]
        for m in range(1, student_layers + 1):
            if name == "tinybert":
                out.append(Match(g[m - 1], m, "attention", "mse", 1.0))
            out.append(Match(g[m - 1], m, "hidden", "mse", 1.0))
        return tuple(out)
    if name == "layerwise-cosine":
        return tuple(Match(g[m - 1], m, "hidden", "cosine", 1.0) for m in range(1, student_layers + 1))
    if name == "none":
        return ()
    raise ConfigError(f"{name!r} is not a preset or an existing file; choose one of {', '.join(PRESETS)}, or give a .json/.yaml path")


def parse_matches(data, source: str = "matches") -> tuple[Match, ...]:
    """A list of match dicts (or {"matches": [...]}) -> Matches. Unknown keys are errors, never ignored."""
    if isinstance(data, dict):
        if set(data) != {"matches"}:
            raise ConfigError(f"{source}: expected a list of matches or {{\"matches\": [...]}}, got keys {sorted(data)}")
        data = data["matches"]
    if not isinstance(data, list):
        raise ConfigError(f"{source}: expected a list of matches, got {type(data).__name__}")
    allowed = {f.name for f in fields(Match)}
    out = []
    for i, item in enumerate(data):
        if not isinstance(item, dict):
            raise ConfigError(f"{source}[{i}]: expected a mapping like {{\"teacher_layer\": 6, \"student_layer\": 3, \"feature\": \"hidden\"}}")
        unknown = sorted(set(item) - allowed)
        if unknown:
            raise ConfigError(f"{source}[{i}]: unknown key(s) {unknown}; valid keys: {', '.join(sorted(allowed))}")
        missing = sorted({"teacher_layer", "student_layer"} - set(item))
        if missing:
            raise ConfigError(f"{source}[{i}]: missing {missing}")
        try:
            out.append(Match(**item))
        except ConfigError as e:
            raise ConfigError(f"{source}[{i}]: {e}") from None
        except TypeError as e:
            raise ConfigError(f"{source}[{i}]: {e}") from None
    return tuple(out)


def load_matches(spec: str | Path, teacher_layers: int, student_layers: int) -> tuple[Match, ...]:
    """A preset name or a .json / .yaml / .yml file of matches, checked against both models' depths.

    >>> load_matches("tinybert", 6, 3)[:2]  # doctest: +SKIP
    (Match(teacher_layer=0, student_layer=0, feature='embeddings', ...), Match(teacher_layer=2, student_layer=1, feature='attention', ...))
    """
    text = str(spec)
    if text in PRESETS:
        matches = preset(text, teacher_layers, student_layers)
    else:
        path = Path(text)
        if not path.is_file():
            preset(text, teacher_layers, student_layers)  # raises with the list of presets
        raw = path.read_text(encoding="utf-8")
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml  # PyYAML comes with transformers

            try:
                data = yaml.safe_load(raw)
            except yaml.YAMLError as e:
                raise ConfigError(f"{path} is not valid YAML ({str(e).splitlines()[0]})") from None
        elif path.suffix.lower() == ".json":
            try:
                data = json.loads(raw)
            except json.JSONDecodeError as e:
                raise ConfigError(f"{path} is not valid JSON ({e})") from None
        else:
            raise ConfigError(f"{path}: matches files end in .json, .yaml or .yml")
        matches = parse_matches(data, str(path))
    check_matches(matches, teacher_layers, student_layers)
    return matches


def check_matches(matches, teacher_layers: int, student_layers: int) -> None:
    names = [m.name for m in matches]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError(f"matches repeat {duplicates}; give each (feature, layers, loss) once and use weight to scale it")
    for m in matches:
        if m.teacher_layer > teacher_layers or m.student_layer > student_layers:
            raise ConfigError(f"match {m.name} names a layer past the models (teacher has {teacher_layers} blocks, "
                              f"student {student_layers}); layers are 0 (embeddings) .. L")


# ---------------------------------------------------------------------------------------------
# The loss module: matches + learned projections

class LayerMatchLoss(nn.Module):
    """Holds the matches and one learned Linear(student_width -> teacher_width) per match whose widths differ.

    Call it with the student's and the teacher's Features; it returns {match name: (weight, unweighted value)}.
    """

    def __init__(self, matches, student_width: int, teacher_width: int) -> None:
        super().__init__()
        self.matches = tuple(matches)
        self.projections = nn.ModuleDict()
        if student_width != teacher_width:
            for m in self.matches:
                if m.feature in ("hidden", "embeddings"):
                    self.projections[m.name] = nn.Linear(student_width, teacher_width)

    @property
    def needs_attentions(self) -> bool:
        return any(m.feature == "attention" and m.weight > 0 for m in self.matches)

    def project(self, match: Match, student_tensor: torch.Tensor) -> torch.Tensor:
        if match.name in self.projections:
            return self.projections[match.name](student_tensor)   # (B, T, Ds) -> (B, T, Dt)
        return student_tensor

    def forward(self, student: Features, teacher: Features) -> dict[str, tuple[float, torch.Tensor]]:
        terms = {}
        for m in self.matches:
            if m.weight == 0:
                continue
            if m.feature == "attention":
                s, t = student.attentions[m.student_layer - 1], teacher.attentions[m.teacher_layer - 1]
            else:
                s, t = self.project(m, student.hidden[m.student_layer]), teacher.hidden[m.teacher_layer]
            # in fp32 under bf16 autocast too (the width projections come out bf16; LayerNorm and softmax outputs are fp32)
            terms[m.name] = (m.weight, LOSS_FUNCTIONS[(m.feature, m.loss)](s.float(), t.detach().float(), student.mask))
        return terms
