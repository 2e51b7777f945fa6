import numpy as np
import pytest
import torch

from distill import RNNStudent, RNNStudentConfig, TrainConfig
from distill.trainer import TrainSet, train
from edgecore import ConfigError


def _setup(encoder, sentences, teacher=True):
    texts = sentences[:48]
    ids = encoder.ids(texts)
    labels = torch.tensor([len(t) % 2 for t in texts])
    logits = torch.randn(len(texts), 2, generator=torch.Generator().manual_seed(1)) if teacher else None
    return TrainSet(ids, labels, logits), ids[:16], labels[:16].tolist()


def _model(encoder):
    torch.manual_seed(0)
    return RNNStudent(RNNStudentConfig(vocab_size=encoder.settings.vocab_size, embed_dim=16, hidden=8, head_hidden=8))


class Interrupt(Exception):
    pass


def test_resume_after_interruption_gives_the_same_weights(encoder, sentences, tmp_path):
    train_set, dev_ids, dev_labels = _setup(encoder, sentences)
    config = TrainConfig(loss="mse", epochs=3, batch_size=8, patience=0)
    reference = _model(encoder)
    train(reference, train_set, dev_ids, dev_labels, encoder.pad, config)

    calls = {"n": 0}

    def crashing_pad(ids):
        calls["n"] += 1
        if calls["n"] == 6 + 1 + 3:  # epoch 1 (6 batches + 1 dev pass) done, then die inside epoch 2
            raise Interrupt
        return encoder.pad(ids)

    interrupted = _model(encoder)
    with pytest.raises(Interrupt):
        train(interrupted, train_set, dev_ids, dev_labels, crashing_pad, config, checkpoint_dir=tmp_path)
    assert (tmp_path / "trainer_state.safetensors").is_file()
    resumed = _model(encoder)
    result = train(resumed, train_set, dev_ids, dev_labels, encoder.pad, config, checkpoint_dir=tmp_path)
    assert result.epochs_run == 3
    for (name, a), b in zip(reference.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name


def test_label_only_ignores_teacher_and_logs_each_term(encoder, sentences):
    train_set, dev_ids, dev_labels = _setup(encoder, sentences)
    result = train(_model(encoder), train_set, dev_ids, dev_labels, encoder.pad, TrainConfig(loss="kl", alpha=0.5, epochs=1, batch_size=16))
    assert {"loss_kl", "loss_ce"} <= set(result.history[0])
    result = train(_model(encoder), train_set, dev_ids, dev_labels, encoder.pad, TrainConfig(loss="ce", epochs=1, batch_size=16))
    assert "loss_kl" not in result.history[0] and "loss_ce" in result.history[0]


def test_distillation_without_teacher_logits_is_refused(encoder, sentences):
    train_set, dev_ids, dev_labels = _setup(encoder, sentences, teacher=False)
    with pytest.raises(ConfigError, match="needs teacher logits"):
        train(_model(encoder), train_set, dev_ids, dev_labels, encoder.pad, TrainConfig(loss="mse", epochs=1))


def test_nan_teacher_logits_are_refused(encoder, sentences):
    with pytest.raises(ConfigError, match="NaN"):
        TrainSet(encoder.ids(sentences[:2]), torch.tensor([0, 1]), torch.tensor([[0.0, float("nan")], [1.0, 0.0]]))


def test_max_steps_caps_optimizer_steps(encoder, sentences):
    train_set, dev_ids, dev_labels = _setup(encoder, sentences)
    result = train(_model(encoder), train_set, dev_ids, dev_labels, encoder.pad, TrainConfig(loss="mse", epochs=10, batch_size=8, max_steps=7, patience=0))
    assert result.steps == 7 and result.epochs_run == 2


def test_train_set_with_extra_rows_has_no_gold_labels_for_them():
    logits, extra_logits = np.ones((2, 2), np.float32), np.full((3, 2), 2.0, np.float32)
    ts = TrainSet.with_extra([[1], [2]], [0, 1], logits, [[3], [4], [5]], extra_logits)
    assert ts.ids == [[1], [2], [3], [4], [5]] and ts.labels.tolist() == [0, 1, -1, -1, -1]
    assert ts.teacher_logits.dtype == torch.float32 and ts.teacher_logits[2:].eq(2.0).all()
    assert TrainSet.with_extra([[1]], [1], None).teacher_logits is None          # label-only
    with pytest.raises(ConfigError, match="3 extra transfer sentences"):
        TrainSet.with_extra([[1], [2]], [0, 1], logits, [[3], [4], [5]], extra_logits[:2])
    with pytest.raises(ConfigError, match="extra transfer sentences"):
        TrainSet.with_extra([[1], [2]], [0, 1], None, [[3]], extra_logits[:1])


def test_bf16_autocast_trains_an_fp32_model(encoder, sentences):
    train_set, dev_ids, dev_labels = _setup(encoder, sentences)
    runs = {}
    for bf16 in (False, True):
        model = _model(encoder)
        result = train(model, train_set, dev_ids, dev_labels, encoder.pad, TrainConfig(loss="mse", epochs=8, batch_size=8, lr=1e-2, patience=0, bf16=bf16))
        runs[bf16] = model, [h["loss_mse"] for h in result.history]
    model, curve = runs[True]
    assert all(p.dtype == torch.float32 for p in model.parameters())   # master weights and the saved model stay fp32
    assert curve[-1] < 0.9 * curve[0], curve
    assert curve[-1] < 1.2 * runs[False][1][-1], (curve, runs[False][1])   # and about as well as fp32
    # autocast really ran: the same seed and batches give different weights than the fp32 run
    assert not torch.equal(model.head[-1].weight, runs[False][0].head[-1].weight)
