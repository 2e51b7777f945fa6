"""Transfer-set augmentation (Tang et al. 2019, section 3.2), labelled afterwards by the teacher.

For every word of a sentence, with probability `p_mask` it becomes [MASK]; otherwise, with
probability `p_replace`, it is swapped for one of its nearest neighbours in the teacher's own input
embedding table (the paper used part-of-speech-guided swaps; a POS tagger would need a download,
the teacher's embeddings are already here). Then, with probability `p_ngram`, only a random n-gram
(n in 1..5) of the result is kept. Each sentence yields up to `per_sentence` distinct variants.

Deterministic: the same (sentence index, seed) always gives the same variants. Never returns an
empty sentence or the original sentence itself.

Sentence pairs (`augment_pairs`): each side of a pair is varied independently by the same rules, and
the new (text, text_pair) is labelled by the teacher as a pair.
"""
from __future__ import annotations

import random
from dataclasses import asdict, dataclass

import numpy as np
import torch

from edgecore import ConfigError


@dataclass(frozen=True)
class AugmentConfig:
    per_sentence: int = 4        # variants generated per training sentence (Tang et al. used 20)
    p_mask: float = 0.1
    p_replace: float = 0.1
    p_ngram: float = 0.25
    max_ngram: int = 5
    neighbours: int = 8          # replacement is drawn from this many nearest whole-word neighbours
    tries: int = 3               # attempts per wanted variant before giving up (duplicates are dropped)
    seed: int = 0
    mask_token: str = "[MASK]"

    def __post_init__(self) -> None:
        for name in ("p_mask", "p_replace", "p_ngram"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"{name} must be in [0, 1] (got {getattr(self, name)})")
        if self.per_sentence < 0 or self.max_ngram < 1 or self.neighbours < 1 or self.tries < 1:
            raise ConfigError(f"per_sentence >= 0, max_ngram >= 1, neighbours >= 1, tries >= 1 needed (got {asdict(self)})")

    def to_dict(self) -> dict:
        return asdict(self)


class Neighbours:
    """Nearest whole-word neighbours by cosine similarity in an embedding table (e.g. the teacher's)."""

    def __init__(self, vocab: dict[str, int], embeddings: torch.Tensor, k: int = 8, max_words: int = 30000) -> None:
        words = [(w, i) for w, i in vocab.items() if w.isalpha() and not w.startswith("##") and len(w) > 1 and i < len(embeddings)]
        words.sort(key=lambda wi: wi[1])
        words = words[:max_words]
        self.words = [w for w, _ in words]
        self.index = {w: j for j, w in enumerate(self.words)}
        table = embeddings[[i for _, i in words]].float()
        table = torch.nn.functional.normalize(table, dim=1)
        self._neighbours: dict[int, list[int]] = {}
        self._table = table
        self.k = k

    def of(self, word: str) -> list[str]:
        j = self.index.get(word.lower())
        if j is None:
            return []
        if j not in self._neighbours:
            sims = self._table @ self._table[j]
            sims[j] = -2.0
            self._neighbours[j] = torch.topk(sims, self.k).indices.tolist()
        return [self.words[n] for n in self._neighbours[j]]


def _variant(words: list[str], rng: random.Random, config: AugmentConfig, neighbours: Neighbours | None) -> list[str]:
    out = []
    for word in words:
        r = rng.random()
        if r < config.p_mask:
            out.append(config.mask_token)
        elif r < config.p_mask + config.p_replace and neighbours is not None and (options := neighbours.of(word)):
            out.append(rng.choice(options))
        else:
            out.append(word)
    if len(out) > 1 and rng.random() < config.p_ngram:
        n = rng.randint(1, min(config.max_ngram, len(out)))
        start = rng.randint(0, len(out) - n)
        out = out[start:start + n]
    return out


def augment(texts: list[str], config: AugmentConfig = AugmentConfig(), neighbours: Neighbours | None = None) -> list[str]:
    """New sentences derived from `texts` (originals excluded, duplicates dropped), in a fixed order.

    >>> augment(["a gorgeous, witty film"], AugmentConfig(per_sentence=2, seed=1))  # doctest: +SKIP
    ['a [MASK] witty film', 'gorgeous, witty']
    """
    seen = set(texts)
    out: list[str] = []
    for i, text in enumerate(texts):
        words = text.split()
        if not words:
            continue
        rng = random.Random(config.seed * 1_000_003 + i)
        made = 0
        for _ in range(config.per_sentence * config.tries):
            if made >= config.per_sentence:
                break
            candidate = " ".join(_variant(words, rng, config, neighbours))
            if candidate.strip() and candidate not in seen and candidate.replace(config.mask_token, "").strip():
                seen.add(candidate)
                out.append(candidate)
                made += 1
    return out


def augment_pairs(pairs: list[tuple[str, str]], config: AugmentConfig = AugmentConfig(),
                  neighbours: Neighbours | None = None) -> list[tuple[str, str]]:
    """New (text, text_pair) rows derived from `pairs`, each side varied independently (originals excluded,
    duplicates dropped), in a fixed order; deterministic per (pair index, seed).

    >>> augment_pairs([("a gorgeous, witty film", "a dull one")], AugmentConfig(per_sentence=1, seed=1))  # doctest: +SKIP
    [('a [MASK] witty film', 'dull one')]
    """
    def usable(side: str) -> bool:
        return bool(side.strip() and side.replace(config.mask_token, "").strip())

    seen = {tuple(p) for p in pairs}
    out: list[tuple[str, str]] = []
    for i, (first, second) in enumerate(pairs):
        sides = (first.split(), second.split())
        if not sides[0] or not sides[1]:
            continue
        rng = random.Random(config.seed * 1_000_003 + i)
        made = 0
        for _ in range(config.per_sentence * config.tries):
            if made >= config.per_sentence:
                break
            candidate = tuple(" ".join(_variant(words, rng, config, neighbours)) for words in sides)
            if candidate not in seen and usable(candidate[0]) and usable(candidate[1]):
                seen.add(candidate)
                out.append(candidate)
                made += 1
    return out


def vocab_counts(ids: list[list[int]], vocab_size: int) -> np.ndarray:
    counts = np.zeros(vocab_size, dtype=np.int64)
    for row in ids:
        np.add.at(counts, row, 1)
    return counts
