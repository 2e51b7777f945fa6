import numpy as np

from distill import SplitConfig, load_teacher, transfer_set
from distill.data import Split, TextDataset


def test_transfer_set_labels_augmented_and_unlabelled_text_with_the_cached_teacher(tiny_bert_dir, movie, movie_csv, cache):
    texts, labels = movie
    dataset = TextDataset("mini", ("negative", "positive"), Split(texts[:8], labels[:8]), Split(texts[8:12], labels[8:12]),
                          Split(texts[12:16], labels[12:16]), split=SplitConfig(test=4, dev=4))
    teacher = load_teacher(tiny_bert_dir)
    assert transfer_set(teacher, dataset, augment=0, unlabelled=()) == ([], None)

    unlabelled = movie_csv(20)   # its first 16 sentences are this data set's: dev and test ones must stay out
    extra, logits = transfer_set(teacher, dataset, augment=2, unlabelled=(str(unlabelled),), seed=1, p_replace=0.0)
    assert not set(extra) & (set(dataset.dev.texts) | set(dataset.test.texts))
    assert set(texts[16:20]) <= set(extra) and set(dataset.train.texts) <= set(extra)
    assert logits.shape == (len(extra), 2) and np.isfinite(logits).all()
    again, cached = transfer_set(teacher, dataset, augment=2, unlabelled=(str(unlabelled),), seed=1, p_replace=0.0)
    assert again == extra and np.array_equal(cached, logits)
    assert len(list((cache / "logits").glob("*.safetensors"))) == 1   # the second call read the logit cache
