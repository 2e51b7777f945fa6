"""Tiny random-init classifiers of every common encoder family, each with its own kind of tokenizer trained here
by the `tokenizers` library, saved the ordinary transformers-5 way (model.save_pretrained + tokenizer.save_pretrained:
config.json, model.safetensors, tokenizer.json, tokenizer_config.json; no vocab.txt, merges or spm file).

    model, tokenizer = build("roberta", tmp_path / "roberta", texts)
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch


@dataclass(frozen=True)
class Family:
    tokenizer: str          # wordpiece | mpnet-wordpiece | bytelevel-bpe | unigram
    tokenizer_class: str    # the transformers tokenizer class save_pretrained records
    specials: tuple[str, ...]  # in id order from 0
    names: dict             # role -> token, as the tokenizer class is given them
    template: tuple[str, str]  # post-processor single / pair templates
    token_types: bool       # whether the tokenizer returns token_type_ids and the model takes them


_BERT_NAMES = dict(cls_token="[CLS]", sep_token="[SEP]", unk_token="[UNK]", pad_token="[PAD]", mask_token="[MASK]")
_ROBERTA_NAMES = dict(bos_token="<s>", eos_token="</s>", cls_token="<s>", sep_token="</s>", unk_token="<unk>", pad_token="<pad>", mask_token="<mask>")
_BERT_TEMPLATE = ("[CLS] $A [SEP]", "[CLS] $A [SEP] $B:1 [SEP]:1")
_ROBERTA_TEMPLATE = ("<s> $A </s>", "<s> $A </s> </s> $B </s>")

FAMILIES = {
    "bert": Family("wordpiece", "BertTokenizer", ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"), _BERT_NAMES, _BERT_TEMPLATE, True),
    "electra": Family("wordpiece", "ElectraTokenizer", ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"), _BERT_NAMES, _BERT_TEMPLATE, True),
    "distilbert": Family("wordpiece", "DistilBertTokenizer", ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"), _BERT_NAMES, _BERT_TEMPLATE, False),
    "mpnet": Family("wordpiece", "MPNetTokenizer", ("<s>", "<pad>", "</s>", "<unk>", "<mask>"), _ROBERTA_NAMES, _ROBERTA_TEMPLATE, False),
    "roberta": Family("bytelevel-bpe", "RobertaTokenizer", ("<s>", "<pad>", "</s>", "<unk>", "<mask>"), _ROBERTA_NAMES, _ROBERTA_TEMPLATE, False),
    "modernbert": Family("bytelevel-bpe", "PreTrainedTokenizerFast", ("[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"), _BERT_NAMES,
                         _BERT_TEMPLATE, False),
    "xlm-roberta": Family("unigram", "XLMRobertaTokenizer", ("<s>", "<pad>", "</s>", "<unk>", "<mask>"), _ROBERTA_NAMES, _ROBERTA_TEMPLATE, False),
    "albert": Family("unigram", "AlbertTokenizer", ("<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]"),
                     dict(cls_token="[CLS]", sep_token="[SEP]", unk_token="<unk>", pad_token="<pad>", mask_token="[MASK]"), _BERT_TEMPLATE, False),
    "deberta-v2": Family("unigram", "DebertaV2Tokenizer", ("[PAD]", "[CLS]", "[SEP]", "[UNK]", "[MASK]"), _BERT_NAMES, _BERT_TEMPLATE, True),
}


def train_tokenizer(family: Family, texts: list[str], vocab_size: int = 400):
    """A `transformers` tokenizer of the family's class around a tokenizers pipeline trained on `texts`."""
    import transformers
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    specials = list(family.specials)
    unk = family.names["unk_token"]
    if family.tokenizer == "wordpiece":
        tok = Tokenizer(models.WordPiece(unk_token=unk))
        tok.normalizer = normalizers.BertNormalizer(lowercase=True)
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tok.train_from_iterator(texts, trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=specials))
        tok.decoder = decoders.WordPiece()
    elif family.tokenizer == "bytelevel-bpe":
        tok = Tokenizer(models.BPE(unk_token=unk))
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials,
                                                           initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
        tok.decoder = decoders.ByteLevel()
    else:
        tok = Tokenizer(models.Unigram())
        tok.normalizer = normalizers.NFKC()
        tok.pre_tokenizer = pre_tokenizers.Metaspace()
        tok.train_from_iterator(texts, trainers.UnigramTrainer(vocab_size=vocab_size, special_tokens=specials, unk_token=unk))
        tok.decoder = decoders.Metaspace()
    single, pair = family.template
    cls_tok, sep_tok = family.names["cls_token"], family.names["sep_token"]
    tok.post_processor = processors.TemplateProcessing(single=single, pair=pair, special_tokens=[(cls_tok, tok.token_to_id(cls_tok)),
                                                                                                  (sep_tok, tok.token_to_id(sep_tok))])
    return getattr(transformers, family.tokenizer_class)(tokenizer_object=tok, **family.names)


def _model(kind: str, vocab: int, ids: dict, num_labels: int):
    import transformers as T

    labels = dict(num_labels=num_labels, id2label={i: f"class{i}" for i in range(num_labels)},
                  label2id={f"class{i}": i for i in range(num_labels)})
    if num_labels == 2:
        labels.update(id2label={0: "negative", 1: "positive"}, label2id={"negative": 0, "positive": 1})
    shape = dict(vocab_size=vocab, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                 pad_token_id=ids["pad"], **labels)
    if kind in ("bert", "electra"):
        cfg = (T.BertConfig if kind == "bert" else T.ElectraConfig)(max_position_embeddings=128, **shape, **({"embedding_size": 32} if kind == "electra" else {}))
        return (T.BertForSequenceClassification if kind == "bert" else T.ElectraForSequenceClassification)(cfg)
    if kind == "distilbert":
        return T.DistilBertForSequenceClassification(T.DistilBertConfig(vocab_size=vocab, dim=32, n_layers=2, n_heads=4, hidden_dim=64,
                                                                        max_position_embeddings=128, pad_token_id=ids["pad"], **labels))
    if kind == "mpnet":
        return T.MPNetForSequenceClassification(T.MPNetConfig(max_position_embeddings=130, relative_attention_num_buckets=32, **shape))
    if kind in ("roberta", "xlm-roberta"):
        cfg = (T.RobertaConfig if kind == "roberta" else T.XLMRobertaConfig)(max_position_embeddings=130, bos_token_id=ids["cls"], eos_token_id=ids["sep"], **shape)
        return (T.RobertaForSequenceClassification if kind == "roberta" else T.XLMRobertaForSequenceClassification)(cfg)
    if kind == "modernbert":
        return T.ModernBertForSequenceClassification(T.ModernBertConfig(max_position_embeddings=128, global_attn_every_n_layers=2, local_attention=16,
                                                                        cls_token_id=ids["cls"], sep_token_id=ids["sep"], bos_token_id=ids["cls"],
                                                                        eos_token_id=ids["sep"], **shape))
    if kind == "albert":
        return T.AlbertForSequenceClassification(T.AlbertConfig(embedding_size=16, max_position_embeddings=128, **shape))
    if kind == "deberta-v2":
        return T.DebertaV2ForSequenceClassification(T.DebertaV2Config(max_position_embeddings=128, relative_attention=True, position_buckets=16,
                                                                      pos_att_type=["p2c", "c2p"], type_vocab_size=2, **shape))
    raise ValueError(f"unknown family {kind!r}; choose one of {', '.join(FAMILIES)}")


def build(kind: str, out: str | Path, texts: list[str], num_labels: int = 2, seed: int = 0, head_scale: float = 40.0):
    """Save a tiny random `kind` classifier with a tokenizer trained on `texts` to `out`; return (model, tokenizer).

    The head is scaled by `head_scale` and its bias centred on `texts`, so predictions split across classes (a random
    encoder maps every sentence close to one vector); scaling widens the margins and the absolute logit drift alike."""
    tokenizer = train_tokenizer(FAMILIES[kind], texts)
    ids = {role: tokenizer.convert_tokens_to_ids(getattr(tokenizer, f"{role}_token")) for role in ("pad", "cls", "sep")}
    torch.manual_seed(seed)
    model = _model(kind, len(tokenizer), ids, num_labels).eval()
    with torch.no_grad():   # a random head's logits barely differ: widen them and centre them, so predictions split across classes
        head = [m for m in model.modules() if isinstance(m, torch.nn.Linear) and m.out_features == num_labels][-1]
        head.weight.mul_(head_scale)
        logits = model(**tokenizer(texts[:128], padding=True, truncation=True, max_length=64, return_tensors="pt")).logits
        head.bias.sub_(logits.median(0).values - logits.median(0).values.mean())
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return model, tokenizer


def pairs_csv(path, movie, n=240):
    """A sentence-pair CSV (premise, hypothesis, label) of real movie sentences, labelled by whether both halves share
    a sentiment: a derived task that exercises the pair plumbing, not a benchmark."""
    import csv

    texts, labels = movie
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["premise", "hypothesis", "label"])
        for i in range(n):
            j = (i * 7 + 3) % n
            w.writerow([texts[i], texts[j], "same" if labels[i] == labels[j] else "different"])
    return path
