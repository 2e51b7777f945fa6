"""Recipes: how a teacher, a data set and a student config become a trained student."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from distill.data import TextDataset
from distill.students.rnn import RNNStudent, RNNStudentConfig
from distill.text import Encoder
from distill.trainer import TrainConfig, TrainResult, TrainSet, accuracy, train


@dataclass
class StudentRun:
    name: str
    model: RNNStudent
    trained_on: str           # "teacher" | "labels"
    result: TrainResult
    test_accuracy: float


def teacher_word_embeddings(teacher_model: torch.nn.Module) -> torch.Tensor:
    """The teacher's input word-embedding matrix (vocab, hidden)."""
    return teacher_model.get_input_embeddings().weight.detach().clone()


def train_rnn_student(name: str, dataset: TextDataset, encoder: Encoder, student: RNNStudentConfig, config: TrainConfig,
                      teacher_logits: np.ndarray | None = None, init_embeddings: torch.Tensor | None = None,
                      checkpoint_dir: str | Path | None = None) -> StudentRun:
    """Train one BiLSTM/GRU student on `dataset.train` (teacher logits for distillation, labels for the baseline).

    >>> run = train_rnn_student("bilstm", ds, teacher.encoder, RNNStudentConfig(30522), TrainConfig(loss="mse"),
    ...                         teacher_logits=logits)  # doctest: +SKIP
    """
    torch.manual_seed(config.seed)
    model = RNNStudent(student)
    if init_embeddings is not None:
        model.init_embeddings(init_embeddings)
    train_set = TrainSet(encoder.ids(dataset.train.texts), torch.tensor(dataset.train.labels),
                         torch.from_numpy(teacher_logits) if teacher_logits is not None and config.uses_teacher else None)
    dev_ids = encoder.ids(dataset.dev.texts)
    result = train(model, train_set, dev_ids, dataset.dev.labels, encoder.pad, config, checkpoint_dir, description=f"training {name}")
    test_acc = accuracy(model, encoder.ids(dataset.test.texts), dataset.test.labels, encoder.pad)
    return StudentRun(name, model, "teacher" if config.uses_teacher else "labels", result, test_acc)
