"""Checkpoints saved the ordinary transformers-5 way (save_pretrained writes tokenizer.json and
tokenizer_config.json, no vocab.txt) export as they are, and the bundle's tokenizer settings come from the
tokenizer itself: a RoBERTa pads with <pad> = 1, not BERT's [PAD] = 0. Tiny random models and tokenizers
trained here on real sentences."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import edgedistill as ed


def _tokenizer(kind: str, texts: list[str]):
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    if kind == "bert":
        tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
        tok.normalizer = normalizers.BertNormalizer(lowercase=True)
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tok.train_from_iterator(texts, trainers.WordPieceTrainer(vocab_size=400, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]))
        tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
                                                           special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
        tok.decoder = decoders.WordPiece()
        names = dict(cls_token="[CLS]", sep_token="[SEP]", unk_token="[UNK]", pad_token="[PAD]", mask_token="[MASK]")
    else:
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=400, special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
                                                           initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
        tok.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
        tok.decoder = decoders.ByteLevel()
        names = dict(bos_token="<s>", eos_token="</s>", cls_token="<s>", sep_token="</s>", unk_token="<unk>", pad_token="<pad>", mask_token="<mask>")
    return PreTrainedTokenizerFast(tokenizer_object=tok, **names)


def _save(kind: str, out, texts):
    from transformers import BertConfig, BertForSequenceClassification, RobertaConfig, RobertaForSequenceClassification

    tokenizer = _tokenizer(kind, texts)
    shape = dict(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                 num_labels=2, id2label={0: "negative", 1: "positive"}, label2id={"negative": 0, "positive": 1})
    torch.manual_seed(0)
    if kind == "bert":
        model = BertForSequenceClassification(BertConfig(max_position_embeddings=128, pad_token_id=0, **shape))
    else:
        model = RobertaForSequenceClassification(RobertaConfig(max_position_embeddings=130, pad_token_id=1, bos_token_id=0,
                                                               eos_token_id=2, **shape))
    model.eval().save_pretrained(out)
    tokenizer.save_pretrained(out)
    return model, tokenizer


@pytest.mark.parametrize("kind, pad_id, cls, vocab_txt", [("bert", 0, "[CLS]", True), ("roberta", 1, "<s>", False)])
def test_save_pretrained_checkpoint_exports_with_its_own_tokenizer_settings(kind, pad_id, cls, vocab_txt, movie, movie_csv, cache, tmp_path):
    texts = movie[0][:2000]
    model, tokenizer = _save(kind, tmp_path / kind, texts)
    assert not (tmp_path / kind / "vocab.txt").exists()   # what transformers 5 writes
    result = ed.export_checkpoint(ed.ExportConfig(checkpoint=tmp_path / kind, out=tmp_path / "bundle", data=str(movie_csv(200, balanced=True)),
                                                  precisions=("fp32",)))
    assert result.check().passed
    manifest = json.loads((tmp_path / "bundle" / "manifest.json").read_text())
    settings = manifest["tokenizer"]
    assert settings["pad_id"] == pad_id == tokenizer.pad_token_id and settings["cls_token"] == cls
    assert settings["cls_id"] == tokenizer.cls_token_id and settings["sep_id"] == tokenizer.sep_token_id
    assert settings["unk_id"] == tokenizer.unk_token_id and settings["mask_id"] == tokenizer.mask_token_id
    assert (tmp_path / "bundle" / "vocab.txt").exists() == vocab_txt
    if vocab_txt:
        lines = (tmp_path / "bundle" / "vocab.txt").read_text(encoding="utf-8").splitlines()
        assert {t: i for i, t in enumerate(lines)} == tokenizer.get_vocab()
    # the bundle's own reader pads with the tokenizer's pad id and gives PyTorch's logits
    from edge_runtime import Bundle, load

    bundle = Bundle.open(tmp_path / "bundle")
    sample = ["a fine film", "an astonishingly long, dull and heartless remake of a remake"]
    feeds = bundle.encode(sample)
    assert (feeds["input_ids"][0][feeds["attention_mask"][0] == 0] == pad_id).all()
    hf = tokenizer(sample, padding=True, return_tensors="np")
    np.testing.assert_array_equal(feeds["input_ids"], hf["input_ids"])
    with torch.no_grad():
        expected = model(input_ids=torch.from_numpy(feeds["input_ids"]), attention_mask=torch.from_numpy(feeds["attention_mask"])).logits.numpy()
    np.testing.assert_allclose(load(tmp_path / "bundle")(feeds), expected, atol=1e-4)
