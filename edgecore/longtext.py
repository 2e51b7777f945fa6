"""Long documents: which tokens of a text longer than the model a classifier reads, in one place for training, export,
parity, the bundle reader and (ported token for token) the Java core.

Everything works on *content ids*: the text's token ids without special tokens (the tokenizer run without truncation
and without its post-processor). `cut` keeps max_len - specials of them, `wrap` adds the single-text template's
special tokens around them (`Template`, read from tokenizer.json's post-processor), and the result equals what the
`tokenizers` library gives with its own truncation for the head strategy, so nothing changes by default.

- Truncation (`Truncation`): head (the first tokens; the default), tail (the last), head_tail (the first `head`
  and the last content - head: Sun et al. 2019's best on IMDb, 128 + 382 of 512; `head` defaults to a quarter of
  the content length).
- Windows (`LongText` mode "windows"): a document longer than the content length is read as windows of content
  tokens starting every `stride` tokens (default half the content length), the last one ending at the document's
  end; each is wrapped with the template and run alone, and the windows' logits are aggregated: "mean" (the mean of
  the logits) or "max" (the window whose top softmax probability is highest, first on ties; for a multi-label model
  the highest logit per label, i.e. the max of the sigmoid per label). More than `max_windows` windows (default 16):
  evenly spaced ones are kept, first and last included (`pick_windows`).

Bad input: an empty document (or one the tokenizer reads as no tokens) is the template's special tokens alone, one
window. numpy is imported inside the functions: `import edgecore` stays light.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from edgecore.errors import ConfigError

STRATEGIES = ("head", "tail", "head_tail")
MODES = ("truncate", "windows")
AGGREGATES = ("mean", "max")
MAX_WINDOWS = 16


@dataclass(frozen=True)
class Truncation:
    """Which content tokens a text longer than the model keeps. `head` is for head_tail only (None: a quarter of
    the content length)."""

    strategy: str = "head"
    head: int | None = None

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ConfigError(f"truncation {self.strategy!r} is unknown; choose one of {', '.join(STRATEGIES)}")
        if self.head is not None and (not isinstance(self.head, int) or isinstance(self.head, bool) or self.head < 0):
            raise ConfigError(f"truncation head must be a whole number of tokens >= 0 (got {self.head!r}), e.g. 128")
        if self.head is not None and self.strategy != "head_tail":
            raise ConfigError(f"truncation head ({self.head}) applies to head_tail only (got strategy {self.strategy}); "
                              f"drop it or use head_tail")

    def head_tokens(self, content: int) -> int:
        """Content tokens kept from the start (head_tail): `head`, at most `content`, or a quarter of `content`."""
        return min(content, self.head) if self.head is not None else content // 4

    def to_dict(self, content: int) -> dict:
        """The manifest's tokenizer.truncation: {"strategy", "head"}; head is the resolved count (0 unless head_tail)."""
        return {"strategy": self.strategy, "head": self.head_tokens(content) if self.strategy == "head_tail" else 0}

    @classmethod
    def from_dict(cls, d: dict | None) -> Truncation:
        if not d:
            return cls()
        if not isinstance(d, dict):
            raise ConfigError(f"a truncation record must be an object {{\"strategy\", \"head\"}} (got {d!r})")
        strategy = d.get("strategy", "head")
        return cls(strategy, int(d["head"]) if strategy == "head_tail" and d.get("head") is not None else None)


@dataclass(frozen=True)
class LongText:
    """How a document longer than the model is read at inference: cut once ("truncate", by the Truncation) or read as
    windows whose logits are aggregated ("windows"). `stride` None: half the content length."""

    mode: str = "truncate"
    stride: int | None = None
    aggregate: str = "mean"
    max_windows: int = MAX_WINDOWS

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"long_text {self.mode!r} is unknown; choose one of {', '.join(MODES)}")
        if self.aggregate not in AGGREGATES:
            raise ConfigError(f"aggregate {self.aggregate!r} is unknown; choose one of {', '.join(AGGREGATES)}")
        if self.stride is not None and (isinstance(self.stride, bool) or not isinstance(self.stride, int) or self.stride < 1):
            raise ConfigError(f"stride must be a whole number of tokens >= 1 (got {self.stride!r}), e.g. half the max length")
        if isinstance(self.max_windows, bool) or not isinstance(self.max_windows, int) or self.max_windows < 1:
            raise ConfigError(f"max_windows must be a whole number >= 1 (got {self.max_windows!r}), e.g. {MAX_WINDOWS}")

    @property
    def windows(self) -> bool:
        return self.mode == "windows"

    def stride_tokens(self, content: int) -> int:
        """The resolved stride: `stride`, or half the content length (at least 1)."""
        stride = self.stride if self.stride is not None else max(1, content // 2)
        if stride > content:
            raise ConfigError(f"stride {stride} is longer than a window's {content} content tokens, so tokens between windows "
                              f"would be skipped; use a stride <= {content}")
        return stride

    def to_dict(self, content: int) -> dict:
        """The manifest's task.long_text: {"mode", "stride", "aggregate", "max_windows"} (stride resolved)."""
        return {"mode": self.mode, "stride": self.stride_tokens(content), "aggregate": self.aggregate, "max_windows": self.max_windows}

    @classmethod
    def from_dict(cls, d: dict | None) -> LongText:
        if not d:
            return cls()
        if not isinstance(d, dict):
            raise ConfigError(f"a long_text record must be an object {{\"mode\", \"stride\", \"aggregate\", \"max_windows\"}} (got {d!r})")
        return cls(d.get("mode", "truncate"), d.get("stride"), d.get("aggregate", "mean"), d.get("max_windows", MAX_WINDOWS))


@dataclass(frozen=True)
class Template:
    """The single-text template's special tokens: ids (and token types) before and after the content, and the
    content's token type ("[CLS] $A [SEP]" -> prefix [cls_id], suffix [sep_id])."""

    prefix: tuple[int, ...] = ()
    suffix: tuple[int, ...] = ()
    prefix_types: tuple[int, ...] = ()
    suffix_types: tuple[int, ...] = ()
    content_type: int = 0

    @property
    def specials(self) -> int:
        return len(self.prefix) + len(self.suffix)

    def content_len(self, max_len: int) -> int:
        """Content tokens a sequence of max_len holds (at least 1)."""
        return max(1, max_len - self.specials)

    def wrap(self, content: Sequence[int]) -> tuple[list[int], list[int]]:
        """(ids, token type ids) of the content with the template's special tokens around it."""
        ids = [*self.prefix, *content, *self.suffix]
        types = [*self.prefix_types, *([self.content_type] * len(content)), *self.suffix_types]
        return ids, types

    def to_dict(self) -> dict:
        return {"prefix": list(self.prefix), "suffix": list(self.suffix)}


def template_of(spec: dict) -> Template:
    """The single-text Template of a tokenizer.json (its post_processor): TemplateProcessing, BertProcessing,
    RobertaProcessing, a Sequence of them (ByteLevel steps add no token), or none (no special tokens)."""
    post = spec.get("post_processor") if isinstance(spec, dict) else None
    return _template(post) or Template()


def _template(post) -> Template | None:
    if not isinstance(post, dict):
        return None
    kind = post.get("type")
    if kind == "Sequence":
        return next((t for p in post.get("processors") or [] if (t := _template(p)) is not None), None)
    if kind in ("BertProcessing", "RobertaProcessing"):
        return Template((int(post["cls"][1]),), (int(post["sep"][1]),), (0,), (0,), 0)
    if kind != "TemplateProcessing":
        return None
    specials = post.get("special_tokens") or {}
    before: list[tuple[int, int]] = []
    after: list[tuple[int, int]] = []
    content_type, seen = 0, False
    for piece in post.get("single") or []:
        (what, body), = piece.items()
        type_id = int(body.get("type_id", 0) or 0)
        if what == "Sequence":
            seen, content_type = True, type_id
            continue
        ids = specials.get(body["id"], {}).get("ids") or []
        (after if seen else before).extend((int(i), type_id) for i in ids)
    return Template(tuple(i for i, _ in before), tuple(i for i, _ in after), tuple(t for _, t in before),
                    tuple(t for _, t in after), content_type)


def nearest_rank(ordered: Sequence[int], percentile: int) -> int:
    """The `percentile`th (1..100) value of an ascending sequence by the nearest-rank method: the smallest value with
    at least that share of the values at or below it. Token-length percentiles (max_len auto, bench lengths) use it.

    >>> nearest_rank([3, 5, 8, 13], 50), nearest_rank([3, 5, 8, 13], 90), nearest_rank([7], 95)
    (5, 13, 7)
    """
    return int(ordered[min(len(ordered) - 1, max(1, -(-len(ordered) * percentile // 100)) - 1)])


def cut(content: Sequence[int], keep: int, truncation: Truncation) -> list[int]:
    """At most `keep` content ids by the strategy: head the first, tail the last, head_tail the first k and last keep-k."""
    content = list(content)
    if len(content) <= keep:
        return content
    if truncation.strategy == "head":
        return content[:keep]
    if truncation.strategy == "tail":
        return content[len(content) - keep:]
    head = truncation.head_tokens(keep)
    return content[:head] + content[len(content) - (keep - head):]


def window_starts(n: int, size: int, stride: int) -> list[int]:
    """Start offsets of the windows of `size` content tokens over n: 0, stride, 2*stride, ... while a window ends before
    the document does, then one ending at the document's end. A document of at most `size` tokens is one window."""
    if n <= size:
        return [0]
    starts = list(range(0, n - size, stride))
    if starts[-1] != n - size:
        starts.append(n - size)
    return starts


def pick_windows(count: int, limit: int) -> list[int]:
    """Indices of the windows kept when there are more than `limit`: evenly spaced, first and last included,
    index i*(count-1)/(limit-1) rounded half up in integers (limit 1: the first)."""
    if count <= limit:
        return list(range(count))
    if limit == 1:
        return [0]
    return [(2 * i * (count - 1) + (limit - 1)) // (2 * (limit - 1)) for i in range(limit)]


def windows(content: Sequence[int], size: int, stride: int, limit: int = MAX_WINDOWS) -> list[list[int]]:
    """The content ids of each window (see window_starts and pick_windows)."""
    content = list(content)
    starts = window_starts(len(content), size, stride)
    return [content[starts[i]:starts[i] + size] for i in pick_windows(len(starts), limit)]


def aggregate(logits, how: str = "mean", multi_label: bool = False):
    """One row of logits (C,) from the windows' (W, C): "mean" their mean; "max" the logits of the window whose top
    softmax probability is highest (first on ties), or for a multi-label model the highest logit per label."""
    import numpy as np

    x = np.asarray(logits, dtype=np.float64)
    if x.ndim != 2 or len(x) == 0:
        raise ValueError(f"aggregate needs (windows, classes) logits with at least one window (got shape {x.shape})")
    if how == "mean":
        return x.mean(0)
    if how != "max":
        raise ConfigError(f"aggregate {how!r} is unknown; choose one of {', '.join(AGGREGATES)}")
    if multi_label:
        return x.max(0)
    shifted = x - x.max(1, keepdims=True)
    top = 1.0 / np.exp(shifted).sum(1)   # the top class's softmax probability per window
    return x[int(np.argmax(top))]


def aggregate_rows(logits, owners: Sequence[int], n: int, how: str = "mean", multi_label: bool = False):
    """(n, C) float64: each document's windows' logits (rows of `logits` whose owner is that document) aggregated."""
    import numpy as np

    x = np.asarray(logits, dtype=np.float64)
    owners = np.asarray(owners)
    return np.stack([aggregate(x[owners == i], how, multi_label) for i in range(n)]) if n else np.zeros((0, x.shape[1]))
