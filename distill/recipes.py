"""Recipes: how a teacher, a data set and a student config become a trained student."""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from distill.augment import vocab_counts
from distill.data import TextDataset
from distill.parallel import train_data_parallel
from distill.students.cnn import CNNStudent, CNNStudentConfig
from distill.students.rnn import RNNStudent, RNNStudentConfig
from distill.students.static import StaticStudent, StaticStudentConfig
from distill.text import Encoder, PairIds
from distill.trainer import TrainConfig, TrainResult, TrainSet, accuracy
from edgecore import ConfigError
from edgecore.tokenizer import RNN_INPUTS, SIAMESE_INPUTS


@dataclass
class StudentRun:
    name: str
    model: RNNStudent | StaticStudent | CNNStudent
    trained_on: str           # "teacher" | "labels"
    result: TrainResult
    test_accuracy: float


def teacher_word_embeddings(teacher_model: torch.nn.Module) -> torch.Tensor:
    """The teacher's input word-embedding matrix (vocab, hidden)."""
    return teacher_model.get_input_embeddings().weight.detach().clone()


def reduce_embeddings(weight: torch.Tensor, dim: int, rows: list[int] | None = None) -> torch.Tensor:
    """PCA of the embedding table to `dim` columns (fit on `rows`, applied to every row), rescaled to the
    original per-coordinate scale. A smaller table keeps most of the teacher's lexical geometry."""
    if not 1 <= dim <= weight.shape[1]:
        raise ConfigError(f"embedding width must be in 1..{weight.shape[1]} (got {dim})")
    if dim == weight.shape[1]:
        return weight.clone()
    fit = weight[torch.tensor(rows)] if rows is not None else weight
    mean = fit.mean(0, keepdim=True)
    _, _, v = torch.linalg.svd(fit - mean, full_matrices=False)   # v: (E, E)
    reduced = (weight - mean) @ v[:dim].T                          # (V, dim)
    return reduced * (weight.std() / reduced.std())


def select_vocabulary(encoder: Encoder, texts: list[str], min_count: int = 1) -> list[int]:
    """Sorted tokenizer ids seen at least `min_count` times in `texts`, plus every special token the tokenizer
    defines (its pad/unk/cls/sep/mask ids and added special tokens, whatever their names: RoBERTa's <unk> is 3)."""
    rows = encoder.ids(texts)   # a (text, text_pair) row counts the tokens of both sides
    counts = vocab_counts([side for row in rows for side in (row if isinstance(row, PairIds) else (row,))], encoder.settings.vocab_size)
    s = encoder.settings
    special = [s.pad_id, s.unk_id, s.cls_id, s.sep_id, s.mask_id]
    special += [i for i, tok in encoder.tokenizer.get_added_tokens_decoder().items() if tok.special]
    keep = set(np.flatnonzero(counts >= min_count).tolist()) | {i for i in special if i is not None and 0 <= i < s.vocab_size}
    return sorted(keep)


MODELS = {RNNStudentConfig: RNNStudent, StaticStudentConfig: StaticStudent, CNNStudentConfig: CNNStudent}


def build_rnn_student(config: RNNStudentConfig | StaticStudentConfig | CNNStudentConfig, embeddings: torch.Tensor | None = None,
                      keep_ids: list[int] | None = None, unk_id: int | None = None) -> RNNStudent | StaticStudent | CNNStudent:
    """The student `config` describes (RNNStudent, StaticStudent or CNNStudent), optionally with a pruned vocabulary
    (pruned ids read `unk_id`'s row: the tokenizer's unknown token, Encoder.settings.unk_id) and embeddings taken from
    a full (tokenizer-size) table (a static or CNN student also takes one holding just the `keep_ids` rows)."""
    if keep_ids is not None and unk_id is None:
        raise ConfigError("a pruned vocabulary needs the tokenizer's unknown-token id (unk_id=encoder.settings.unk_id)")
    if keep_ids is not None and config.tokenizer_vocab_size is None:
        config = replace(config, vocab_size=len(keep_ids), tokenizer_vocab_size=config.vocab_size)
    model = MODELS[type(config)](config)
    if embeddings is not None:
        model.init_embeddings(embeddings, keep_ids)
    if keep_ids is not None:
        model.prune_vocabulary(keep_ids, unk_id)
    return model


def train_rnn_student(name: str, dataset: TextDataset, encoder: Encoder, student: RNNStudentConfig | StaticStudentConfig | CNNStudentConfig,
                      config: TrainConfig,
                      teacher_logits: np.ndarray | None = None, init_embeddings: torch.Tensor | None = None,
                      checkpoint_dir: str | Path | None = None, keep_ids: list[int] | None = None,
                      extra_texts: list[str] | None = None, extra_logits: np.ndarray | None = None) -> StudentRun:
    """Train one BiLSTM/GRU, static or CNN student on `dataset.train` (+ `extra_texts` labelled only by the teacher).

    `teacher_logits` rows follow `dataset.train.inputs`; `extra_logits` rows follow `extra_texts`
    (augmented or unlabelled sentences, or (text, text_pair) rows). A label-only config (`loss="ce"`) ignores both
    extras. Sentence-pair data needs a siamese student (`student.siamese`): each side is encoded alone.

    >>> run = train_rnn_student("bilstm", ds, teacher.encoder, RNNStudentConfig(30522), TrainConfig(loss="mse"),
    ...                         teacher_logits=logits)  # doctest: +SKIP
    """
    torch.manual_seed(config.seed)
    if dataset.has_pairs != student.siamese:
        raise ConfigError(f"{dataset.name} holds {'sentence pairs' if dataset.has_pairs else 'single texts'}; build the student with "
                          f"{type(student).__name__}(siamese={dataset.has_pairs})")
    # a BERT teacher's token types mean nothing to a recurrent student; a siamese one reads each side of a pair alone
    encoder = encoder.with_inputs(SIAMESE_INPUTS if student.siamese else RNN_INPUTS)
    model = build_rnn_student(student, init_embeddings, keep_ids, encoder.settings.unk_id if encoder.settings.unk_id is not None else encoder.settings.pad_id)
    extra = encoder.ids(extra_texts) if config.uses_teacher and extra_texts else []
    train_set = TrainSet.with_extra(encoder.ids(dataset.train.inputs), dataset.train.targets(len(dataset.label_names)),
                                    teacher_logits if config.uses_teacher else None, extra, extra_logits)
    dev_ids = encoder.ids(dataset.dev.inputs)
    # one process: distill.trainer.train itself; under torchrun: DDP over shards of the transfer set
    result = train_data_parallel(model, train_set, dev_ids, dataset.dev.targets(len(dataset.label_names)), encoder.pad, config, checkpoint_dir, description=f"training {name}")
    test_acc = accuracy(model, encoder.ids(dataset.test.inputs), dataset.test.targets(len(dataset.label_names)), encoder.pad)
    return StudentRun(name, model, "teacher" if config.uses_teacher else "labels", result, test_acc)


train_student = train_rnn_student   # the same recipe for every student that reads token ids alone (bilstm, gru, static, cnn)


def teacher_token_vectors(teacher_model: torch.nn.Module, encoder: Encoder, token_ids: list[int], batch_size: int = 512) -> np.ndarray:
    """(len(token_ids), hidden) float32: each token run through the teacher's encoder alone, in the teacher's own one-text
    template ([CLS] tok [SEP], <s> tok </s>, ...), and the last hidden state at the token's position.

    The token's own position, not a mean over the sequence: with one token between the specials the mean over the
    non-special positions is that position anyway, and the specials' states carry what every such sequence shares
    (which PCA's centring would remove again). `encoder` is the teacher's (token types where the teacher takes them).
    """
    probe = _one_token_template(encoder)
    template, position = torch.tensor(probe.ids), probe.special_tokens_mask.index(0)
    base = teacher_model.base_model.eval()
    out = np.zeros((len(token_ids), base.config.hidden_size), np.float32)
    ids = torch.tensor(token_ids, dtype=torch.long)
    with torch.no_grad():
        for start in range(0, len(token_ids), batch_size):
            chunk = ids[start:start + batch_size]
            rows = template.repeat(len(chunk), 1)
            rows[:, position] = chunk
            feeds = {"input_ids": rows, "attention_mask": torch.ones_like(rows)}
            if "token_type_ids" in encoder.inputs:
                feeds["token_type_ids"] = torch.tensor(probe.type_ids).repeat(len(chunk), 1)
            out[start:start + len(chunk)] = base(**feeds).last_hidden_state[:, position].float().numpy()
    return out


def _one_token_template(encoder: Encoder):
    """An encoding of a text that is exactly one non-special token, so its ids are the template with one slot."""
    for text in ("a", "the", "x", "1", ".", "i", "is"):
        enc = encoder.tokenizer.encode(text)
        if enc.special_tokens_mask.count(0) == 1:
            return enc
    raise ConfigError(f"{encoder.dir}'s tokenizer splits every probe word into several tokens; a static student needs a "
                      f"one-token text to find the teacher's template")


def pca(vectors: np.ndarray, width: int) -> np.ndarray:
    """The rows of `vectors` centred and projected on their first `width` principal axes (numpy SVD)."""
    if not 1 <= width <= min(vectors.shape):
        raise ConfigError(f"PCA width must be in 1..{min(vectors.shape)} (rows x columns {vectors.shape}); got {width}")
    centred = vectors - vectors.mean(0, keepdims=True)
    _, _, vt = np.linalg.svd(centred.astype(np.float64), full_matrices=False)
    return (centred @ vt[:width].T).astype(np.float32)


def sif_weights(counts: np.ndarray, a: float = 1e-3) -> np.ndarray:
    """a / (a + p(w)) per token (Arora et al. 2017's smooth inverse frequency), p(w) = count / all tokens counted:
    frequent tokens ("the", ",") weigh little, a token seen once in 100k ~0.99, an unseen one 1."""
    total = max(int(counts.sum()), 1)
    return (a / (a + counts.astype(np.float64) / total)).astype(np.float32)


def static_token_table(teacher_model: torch.nn.Module, encoder: Encoder, texts: list, width: int = 128,
                       keep_ids: list[int] | None = None, sif: float = 1e-3, batch_size: int = 512) -> torch.Tensor:
    """The static student's table, (len(keep_ids) or vocab, width): teacher_token_vectors of every kept token, PCA to
    `width` (fit on those rows), each row scaled by sif_weights of its count in `texts` (the transfer set); the
    template tokens (cls, sep, pad) get zero rows. Rows follow `keep_ids` (all tokenizer ids when None).

    >>> table = static_token_table(teacher.model, teacher.encoder, ds.train.inputs, 128, keep)  # doctest: +SKIP
    """
    s = encoder.settings
    ids = list(range(s.vocab_size)) if keep_ids is None else list(keep_ids)
    template = {i for i in (s.cls_id, s.sep_id, s.pad_id) if i is not None}
    words = [i for i in ids if i not in template]
    reduced = pca(teacher_token_vectors(teacher_model, encoder, words, batch_size), width)
    rows = encoder.ids(texts)   # a pair row counts the tokens of both sides
    counts = vocab_counts([side for row in rows for side in (row if isinstance(row, PairIds) else (row,))], s.vocab_size)
    reduced *= sif_weights(counts, sif)[words][:, None]
    table = np.zeros((len(ids), width), np.float32)
    row_of = {tid: r for r, tid in enumerate(ids)}
    table[[row_of[i] for i in words]] = reduced
    return torch.from_numpy(table)
