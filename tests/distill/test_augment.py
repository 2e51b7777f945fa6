import torch

from distill.augment import AugmentConfig, Neighbours, augment
from distill.recipes import build_rnn_student, reduce_embeddings, select_vocabulary
from distill.students.rnn import RNNStudentConfig


def test_augmentation_is_deterministic_and_never_empty(sentences):
    config = AugmentConfig(per_sentence=4, p_mask=0.3, p_ngram=0.5, seed=3)
    first = augment(sentences[:30], config)
    assert first == augment(sentences[:30], config)
    assert first != augment(sentences[:30], AugmentConfig(per_sentence=4, p_mask=0.3, p_ngram=0.5, seed=4))
    assert all(s.strip() and s.replace("[MASK]", "").strip() for s in first)
    assert not set(first) & set(sentences[:30]) and len(set(first)) == len(first)
    assert 60 <= len(first) <= 120
    # even sentences of one word or of one character survive, and empty input gives nothing
    assert all(s.strip() for s in augment(["x", "", "   ", "ok"], AugmentConfig(p_mask=1.0)))


def test_masked_words_stay_single_special_tokens(encoder):
    out = augment(["a truly wonderful film"], AugmentConfig(per_sentence=3, p_mask=0.5, p_ngram=0.0, seed=1))
    mask_id = encoder.tokenizer.token_to_id("[MASK]")
    assert any("[MASK]" in s for s in out)
    for s in out:
        assert encoder.ids([s])[0].count(mask_id) == s.split().count("[MASK]")


def test_neighbour_replacement_uses_the_embedding_table():
    vocab = {"good": 0, "great": 1, "bad": 2, "awful": 3}
    emb = torch.tensor([[1.0, 0.0], [0.9, 0.1], [-1.0, 0.0], [-0.9, -0.1]])
    nb = Neighbours(vocab, emb, k=1)
    assert nb.of("good") == ["great"] and nb.of("Bad") == ["awful"] and nb.of("unknown") == []
    out = augment(["good"], AugmentConfig(per_sentence=1, p_mask=0.0, p_replace=1.0, p_ngram=0.0), nb)
    assert out == ["great"]


def test_vocabulary_pruning_keeps_logits_of_seen_tokens(encoder, sentences):
    keep = select_vocabulary(encoder, sentences[:20])
    assert 0 in keep and 100 in keep and 103 in keep and keep == sorted(keep)
    table = torch.randn(encoder.settings.vocab_size, 16)
    cfg = RNNStudentConfig(vocab_size=encoder.settings.vocab_size, embed_dim=16, hidden=8, head_hidden=8)
    full = build_rnn_student(cfg, table).eval()
    pruned = build_rnn_student(cfg, table, keep_ids=keep, unk_id=encoder.settings.unk_id).eval()
    shared = {k: v for k, v in full.state_dict().items() if not k.startswith("embed")}
    pruned.load_state_dict(shared, strict=False)
    assert pruned.embed.weight.shape[0] == len(keep) < encoder.settings.vocab_size / 5
    feeds = encoder.encode(sentences[:20])
    assert torch.allclose(full(**feeds), pruned(**feeds), atol=1e-6)
    # an unseen token reads the [UNK] row
    unseen = next(i for i in range(1000, 30000) if i not in set(keep))
    ids = torch.tensor([[101, unseen, 102]])
    unk = torch.tensor([[101, 100, 102]])
    mask = torch.ones_like(ids)
    assert torch.equal(pruned(ids, mask), pruned(unk, mask))


def test_pca_reduction_keeps_width_and_scale():
    w = torch.randn(500, 32) @ torch.randn(32, 32)
    r = reduce_embeddings(w, 8)
    assert r.shape == (500, 8) and abs(r.std().item() - w.std().item()) < 1e-4
