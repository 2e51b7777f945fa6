"""The transfer set beyond the labelled training sentences: augmented variants and unlabelled text,
labelled by the teacher only (its logits come from the logit cache, sharded under torchrun)."""
from __future__ import annotations

import numpy as np

from distill.augment import AugmentConfig, Neighbours, augment_pairs
from distill.augment import augment as make_variants
from distill.data import TextDataset, load_texts
from distill.recipes import teacher_word_embeddings
from distill.teacher import Teacher, sharded_teacher_logits
from edgecore import ConfigError


def transfer_set(teacher: Teacher, dataset: TextDataset, augment: int, unlabelled: tuple[str, ...], seed: int = 0,
                 **augment_options) -> tuple[list, np.ndarray | None]:
    """(extra texts, their teacher logits): augmented training sentences and unlabelled text, teacher-labelled (cached).

    `augment` variants per training sentence; `unlabelled` names built-in data sets or CSV files
    (distill.load_texts) whose texts join, minus any dev/test sentence. `augment_options` override
    distill.augment.AugmentConfig fields (p_mask, p_replace, p_ngram, ...). Returns ([], None) when
    there is nothing extra. Sentence-pair data: the extras are (text, text_pair) rows, each side of a
    training pair augmented independently and the new pair labelled by the teacher; unlabelled single
    texts cannot join them (ConfigError).

    >>> ds = load_dataset("movie-snippets")                                            # doctest: +SKIP
    >>> extra, extra_logits = transfer_set(teacher, ds, augment=4, unlabelled=())      # doctest: +SKIP
    >>> run = train_rnn_student("bilstm", ds, teacher.encoder, RNNStudentConfig(30522), TrainConfig(loss="mse"),
    ...                         teacher_logits=logits, extra_texts=extra, extra_logits=extra_logits)  # doctest: +SKIP
    """
    if dataset.has_pairs and unlabelled:
        raise ConfigError(f"{dataset.name} holds sentence pairs; unlabelled single texts ({', '.join(unlabelled)}) cannot join its "
                          "transfer set: leave out --unlabelled, or use --augment N to grow it with augmented pairs")
    extra: list = []
    if augment:
        vocab = teacher.encoder.tokenizer.get_vocab()
        neighbours = Neighbours(vocab, teacher_word_embeddings(teacher.model))
        options = AugmentConfig(per_sentence=augment, seed=seed, **augment_options)
        if dataset.has_pairs:
            extra += augment_pairs(dataset.train.inputs, options, neighbours)
        else:
            extra += make_variants(dataset.train.texts, options, neighbours)
    held_out = set(dataset.dev.texts) | set(dataset.test.texts)
    for name in unlabelled:
        texts = load_texts(name)[0]
        extra += [t for t in texts if t not in held_out]
    if not extra:
        return [], None
    return extra, sharded_teacher_logits(teacher, extra, description="teacher logits (extra transfer text)")[0]
