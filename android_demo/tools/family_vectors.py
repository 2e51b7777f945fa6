"""Tokenizers of every model family the Java core supports, trained at test time, with the reference's
encodings of 10,000+ texts and pairs each (never committed: the built-in sentences are research-use data).

    python android_demo/tools/family_vectors.py BUNDLE OUT_DIR

Each family is a real `tokenizers` pipeline shaped like the model family's own tokenizer.json, trained
on the test texts in a few seconds (SentencePiece for the Precompiled one, converted by transformers'
converter as a real DeBERTa-v3 checkpoint is):

| family     | like        | normalizer                                   | pre-tokenizer              | model     | post-processor |
|------------|-------------|----------------------------------------------|----------------------------|-----------|----------------|
| bert       | BERT        | BertNormalizer (the bundle's own tokenizer)  | BertPreTokenizer           | WordPiece | Template [CLS] |
| mpnet      | MPNet       | BertNormalizer                               | BertPreTokenizer           | WordPiece | Roberta <s>    |
| roberta    | RoBERTa     | none                                         | ByteLevel                  | BPE       | Roberta <s>    |
| modernbert | ModernBERT  | NFC                                          | ByteLevel (prefix space)   | BPE (ignore_merges, "a b" merges) | Sequence[ByteLevel, Template] |
| xlmr       | XLM-R       | NFKC                                         | Sequence[WhitespaceSplit, Metaspace (always)] | Unigram (byte_fallback) | Template <s> |
| albert     | ALBERT      | Replace, Replace, NFKD, StripAccents, Lowercase, Replace(regex) | Metaspace (first) | Unigram | Template [CLS] |
| deberta    | DeBERTa-v3  | Strip, Precompiled (nmt_nfkc), Replace(regex) | Sequence[Punctuation, Metaspace] | Unigram | Template [CLS] |
| bpe-variants | (options) | Strip, NFD, Lowercase, Prepend               | Sequence[WhitespaceSplit, Punctuation (contiguous), Metaspace (never, no split)] | BPE (##, </w>, byte_fallback, fused unk) | BertProcessing |
| wordlevel  | (options)   | NFKD, Lowercase                              | Sequence[Punctuation (merged_with_previous), Metaspace, ByteLevel (no regex)] | WordLevel | none |

OUT_DIR/families/NAME/ gets tokenizer.json (truncation at max_len, no padding), manifest_tokenizer.json
(the manifest's "tokenizer" block), vocab.txt for WordPiece, vectors.jsonl (text, optional pair,
max_len, the reference's ids, type ids and whether truncation cut), siamese.jsonl (every pair's two
sides encoded alone as single texts, as a siamese model takes them) and
normalized.jsonl (the reference normalizer's output for every text and for grapheme-cluster edge cases).
"""
from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SINGLE_MAX_LEN = 64
PAIR_MAX_LEN = 25          # odd after the special tokens are reserved: LongestFirst's uneven split
FAMILIES = ("bert", "mpnet", "roberta", "modernbert", "xlmr", "albert", "deberta", "bpe-variants", "wordlevel")

# Sentences in many scripts; recombined at random below.
MULTILINGUAL = [
    "这部电影很好看，我非常喜欢。", "北京是中国的首都，人口很多。", "我今天不想去上班。",
    "日本語の文章を書くのは難しいです。", "東京タワーに行きました！", "ｶﾞｷﾞｸﾞ ﾊﾟﾋﾟﾌﾟ ﾎﾞｰﾙ", "カタカナとひらがなと漢字",
    "한국어 문장을 토큰화합니다.", "서울은 대한민국의 수도입니다", "안녕하세요 여러분",
    "هذا الفيلم رائع جدا وأنا أحبه.", "اللغة العربية جميلة", "مَرْحَبًا بِكُمْ فِي البَيْتِ",
    "यह फ़िल्म बहुत अच्छी है।", "हिन्दी भाषा में लिखा गया वाक्य", "क्षत्रिय स्त्री द्वार",
    "ภาษาไทยไม่มีการเว้นวรรคระหว่างคำ", "สวัสดีครับ ยินดีต้อนรับ", "กำลังทำงานอยู่",
    "Это очень хороший фильм, мне понравилось.", "МОСКВА — столица России", "Ελληνικά: Ο Οδυσσέας ΣΊΣΥΦΟΣ",
    "Tiếng Việt có nhiều dấu: Cụ thể, bạn sẽ tham gia.", "עִבְרִית וְעוֹד טֶקְסְט", "বাংলা ভাষা সুন্দর", "தமிழ் மொழி",
    "ქართული ენა", "Հայերեն լեզու", "አማርኛ ቋንቋ", "Ñandú, pingüino, ¿qué tal? ¡Olé!", "Straße, Größe, Ærø, Øre, İstanbul",
    "café résumé naïve coöperate", "cafe\u0301 re\u0301sume\u0301 nai\u0308ve", "ﬁnancial ﬂow ﬀ Ⅻ ① ㎏ ℃ ½",
    "ＡＢＣ ａｂｃ １２３ （全角）", "𝐀𝐁𝐂 𝓐𝓑𝓒 𝔄𝔅", "I love it 😍😍😍", "👍🏽 thumbs 👍🏿👋🏻", "👨‍👩‍👧‍👦 family 👩🏽‍💻 coder",
    "🏳️‍🌈 flag 🇫🇷🇩🇪🇯🇵 🏴󠁧󠁢󠁳󠁣󠁴󠁿", "1️⃣ #️⃣ *️⃣ ❤️ ☺️", "🤷‍♀️🤷🏻‍♂️ 🧑🏾‍🤝‍🧑🏼", "zero\u200bwidth\u200cjoin\u200dhere\ufeff",
    "control\x00\x01\x07\x1b\x7f\x85chars", "tabs\tand\nnewlines\r\n\x0bmixed", "runs   of    spaces\t\t\tand\n\n\nlines",
    "\u00a0nbsp\u2009thin\u3000ideographic\u2028line\u2029para", "e\u0301\u0302\u0303\u0304 a\u0323\u0307 a\u0307\u0323",
    "``quoted'' and ``more''", "don't can't won't I'm you're we've they'll he'd", "$100 100% 1,234.56 3.14159 ٣٤٥ ४५६",
    "https://example.com/a?b=c&d=e#f name@example.com", "C++ and C# and F#", "<html>&amp;</html>",
    "supercalifragilisticexpialidocious" * 3, "x" * 300, "中" * 120, "ab" * 200, "😀" * 80,
    "\u0301leading mark", "\u0e33\u0e19\u0e49\u0e33 3\u0e25\u0e33", "ﾟﾞ ｶﾞ ｶ\u3099 か\u3099", "Å Å Å ǅ ǆ",
    "\u1100\u1161\u11a8 \u1100\u1161 각 한글 \u3131\u314f", "\U0001f1e6\U0001f1e8\U0001f1e6 RI RI RI",
    "क्‍ष क्‌ष \u0915\u094d\u0937", "\u0600\u0661 prepend \u0605x", "Ǆemal ǅ ǆ ῼ ᾳ ΐ",
]


def multilingual(rng: random.Random, n: int) -> list[str]:
    """Random recombinations of the sentences above: words of several scripts, separators, lengths."""
    words = [w for s in MULTILINGUAL for w in s.replace("\n", " ").split(" ") if w]
    seps = [" ", " ", " ", "  ", "\t", "\n", "", "\u3000", "\u200b", " \u0301", "\r\n", "   \t "]
    out = list(MULTILINGUAL)
    while len(out) < n:
        k = rng.choice([1, 2, 3, 5, 8, 13, 30, 60])
        out.append("".join(rng.choice(words) + rng.choice(seps) for _ in range(k)).strip(rng.choice(["", " ", "x"])))
    return out


def grapheme_cases(rng: random.Random, n: int) -> list[str]:
    """Strings built from characters whose grapheme-cluster class matters to the Precompiled normalizer."""
    groups = {
        "mapped": list("ﬁﬂ①②ＡＢａｂ１㎏℃½ｶｷｸﾊﾋﾌ\u00a0\u2009\u3000Ⅻ") + ["\u00c5", "\u212b", "A\u030a", "\u1e9b"],
        "extend": ["\u0301", "\u0308", "\u0323", "\u3099", "\u309a", "\uff9e", "\uff9f", "\u200c", "\ufe0f", "\U0001f3fd", "\u0e49", "\u094d"],
        "zwj": ["\u200d"],
        "spacing": ["\u0903", "\u093e", "\u0e33", "\u0bbe", "\u1b04"],
        "prepend": ["\u0600", "\u0605", "\u06dd", "\U000110bd"],
        "ri": ["\U0001f1e6", "\U0001f1e8", "\U0001f1fa", "\U0001f1f8"],
        "pict": ["\u2764", "\U0001f468", "\U0001f469", "\U0001f466", "\u263a", "\U0001f3f3"],
        "hangul": ["\u1100", "\u1161", "\u11a8", "\uac00", "\uac01", "\ud7b0"],
        "incb": ["\u0915", "\u0937", "\u094d", "\u0930", "\u09cd", "\u0995"],
        "control": ["\n", "\r", "\t", "\x00", "\x1f", "\x7f", "\x85"],
        "plain": list("aeio ,.!") + ["é", "中", "ß"],
    }
    names = list(groups)
    out = []
    for _ in range(n):
        out.append("".join(rng.choice(groups[rng.choice(names)]) for _ in range(rng.randint(1, 12))))
    return out


def texts(seed: int) -> tuple[list[tuple[str, str]], list[str]]:
    """(category, text) to encode, and the training texts."""
    sys.path.insert(0, str(HERE))
    try:
        import android_vectors as av
    finally:
        sys.path.remove(str(HERE))
    rng = random.Random(seed)
    items = av.corpus(seed)
    real = [t for c, t in items if c in ("movie-test", "amazon-snippets", "tweets", "nyt-snippets")]
    chosen: list[tuple[str, str]] = [("real", t) for t in rng.sample(real, 1600)]
    chosen += [(c, t) for c, t in items if c in ("handmade", "fuzz") or c.startswith("variant-")]
    chosen += [("multilingual", t) for t in multilingual(rng, 1700)]
    train = rng.sample(real, 3000) + multilingual(random.Random(seed + 7), 2000)
    return chosen, train


def special_texts(rng: random.Random, specials: list[str], base: list[str], n: int) -> list[str]:
    """Texts with the family's special tokens inside words, beside spaces (lstrip/rstrip) and lowercased."""
    out = []
    for _ in range(n):
        words = rng.choice(base).split(" ")[:12]
        for _ in range(rng.randint(1, 3)):
            tok = rng.choice(specials)
            tok = tok.lower() if rng.random() < 0.15 else tok
            glue = rng.choice(["", " ", "  ", "\t", " \n "])
            words.insert(rng.randint(0, len(words)), glue + tok + rng.choice(["", " ", "  "]))
        out.append(rng.choice([" ", ""]).join(words))
    return out


# --------------------------------------------------------------------------------------------- families

def _roles(tok, cls, sep, unk, pad, mask) -> dict:
    ids = {r: tok.token_to_id(t) if t else None for r, t in (("cls", cls), ("sep", sep), ("unk", unk), ("pad", pad), ("mask", mask))}
    return {"cls_token": cls, "sep_token": sep, "unk_token": unk, "pad_token": pad, "mask_token": mask,
            "cls_id": ids["cls"], "sep_id": ids["sep"], "unk_id": ids["unk"], "mask_id": ids["mask"], "pad_id": ids["pad"] or 0}


def _manifest(tok, lowercase: bool, roles: dict) -> dict:
    spec = json.loads(tok.to_str())
    return {"max_len": SINGLE_MAX_LEN, "lowercase": lowercase, "vocab_size": tok.get_vocab_size(),
            "model": spec["model"]["type"], **roles}


def build(name: str, bundle_dir: Path, train: list[str], work: Path):
    """(tokenizers.Tokenizer, manifest tokenizer block, special tokens) of one family."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    if name == "bert":
        tok = Tokenizer.from_file(str(bundle_dir / "tokenizer.json"))
        manifest = dict(json.loads((bundle_dir / "manifest.json").read_text())["tokenizer"])
        manifest["max_len"] = SINGLE_MAX_LEN
        return tok, manifest, ["[CLS]", "[SEP]", "[MASK]", "[PAD]", "[UNK]"]
    if name == "mpnet":
        tok = Tokenizer(models.WordPiece(unk_token="<unk>"))
        tok.normalizer = normalizers.BertNormalizer(lowercase=True)
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        specials = ["<s>", "<pad>", "</s>", "<unk>", AddedToken("<mask>", lstrip=True, special=True, normalized=False)]
        tok.train_from_iterator(train, trainers.WordPieceTrainer(vocab_size=4000, special_tokens=specials, show_progress=False))
        tok.post_processor = processors.RobertaProcessing(("</s>", tok.token_to_id("</s>")), ("<s>", tok.token_to_id("<s>")))
        return tok, _manifest(tok, True, _roles(tok, "<s>", "</s>", "<unk>", "<pad>", "<mask>")), ["<s>", "</s>", "<mask>", "<pad>", "<unk>"]
    if name == "roberta":
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        specials = ["<s>", "<pad>", "</s>", "<unk>", AddedToken("<mask>", lstrip=True, special=True, normalized=False)]
        tok.train_from_iterator(train, trainers.BpeTrainer(vocab_size=5000, special_tokens=specials, show_progress=False,
                                                           initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
        tok.post_processor = processors.RobertaProcessing(("</s>", tok.token_to_id("</s>")), ("<s>", tok.token_to_id("<s>")))
        return tok, _manifest(tok, False, _roles(tok, "<s>", "</s>", "<unk>", "<pad>", "<mask>")), ["<s>", "</s>", "<mask>", "<pad>"]
    if name == "modernbert":
        tok = Tokenizer(models.BPE(ignore_merges=True))
        tok.normalizer = normalizers.NFC()
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
        tok.decoder = decoders.ByteLevel()
        specials = ["[UNK]", "[CLS]", "[SEP]", "[PAD]", AddedToken("[MASK]", lstrip=True, special=True, normalized=False)]
        tok.train_from_iterator(train, trainers.BpeTrainer(vocab_size=5000, special_tokens=specials, show_progress=False,
                                                           initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
        # a non-special token matched after normalization (its NFC form), and one that takes the spaces after it
        tok.add_tokens([AddedToken("cafe\u0301 au lait", normalized=True), AddedToken("<|sep|>", rstrip=True, normalized=False)])
        tok.post_processor = processors.Sequence([
            processors.ByteLevel(trim_offsets=True),
            processors.TemplateProcessing(single="[CLS]:0 $A:0 [SEP]:0", pair="[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1",
                                          special_tokens=[("[CLS]", tok.token_to_id("[CLS]")), ("[SEP]", tok.token_to_id("[SEP]"))])])
        spec = json.loads(tok.to_str())
        spec["model"]["merges"] = [" ".join(m) if isinstance(m, list) else m for m in spec["model"]["merges"]]   # the legacy "a b" form
        tok = Tokenizer.from_str(json.dumps(spec))
        return tok, _manifest(tok, False, _roles(tok, "[CLS]", "[SEP]", "[UNK]", "[PAD]", "[MASK]")), \
            ["[CLS]", "[SEP]", "[MASK]", "<|sep|>", "café au lait", "cafe\u0301 au lait"]
    if name == "xlmr":
        vocab = _spm_pieces(train, 3000, bos_id=0, pad_id=1, eos_id=2, unk_id=3, bos_piece="<s>", eos_piece="</s>", pad_piece="<pad>",
                            unk_piece="<unk>")
        low = min(score for _, score in vocab)
        vocab += [(f"<0x{b:02X}>", low - 1.0) for b in range(256)] + [("<mask>", 0.0)]
        tok = Tokenizer(models.Unigram(vocab, unk_id=3, byte_fallback=True))
        tok.normalizer = normalizers.NFKC()
        tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(),       # as transformers 5 builds XLM-R's
                                                     pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")])
        tok.add_special_tokens(["<s>", "<pad>", "</s>", "<unk>", AddedToken("<mask>", lstrip=True, special=True, normalized=False)])
        tok.post_processor = processors.TemplateProcessing(
            single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>",
            special_tokens=[("<s>", tok.token_to_id("<s>")), ("</s>", tok.token_to_id("</s>"))])
        return tok, _manifest(tok, False, _roles(tok, "<s>", "</s>", "<unk>", "<pad>", "<mask>")), ["<s>", "</s>", "<mask>", "<pad>", "<unk>"]
    if name == "albert":
        vocab = _spm_pieces(train, 3000, pad_id=0, unk_id=1, bos_id=-1, eos_id=-1, pad_piece="<pad>", unk_piece="<unk>",
                            control_symbols=["[CLS]", "[SEP]", "[MASK]"])
        tok = Tokenizer(models.Unigram(vocab, unk_id=1, byte_fallback=False))
        tok.normalizer = normalizers.Sequence([
            normalizers.Replace("``", '"'), normalizers.Replace("''", '"'), normalizers.NFKD(), normalizers.StripAccents(),
            normalizers.Lowercase(), normalizers.Replace(Regex(r"\s{2,}|[\n\r\t]"), " ")])
        tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first")
        tok.add_special_tokens(["<pad>", "<unk>", "[CLS]", "[SEP]", AddedToken("[MASK]", lstrip=True, special=True, normalized=False)])
        tok.post_processor = processors.TemplateProcessing(
            single="[CLS]:0 $A:0 [SEP]:0", pair="[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1",
            special_tokens=[("[CLS]", tok.token_to_id("[CLS]")), ("[SEP]", tok.token_to_id("[SEP]"))])
        return tok, _manifest(tok, True, _roles(tok, "[CLS]", "[SEP]", "<unk>", "<pad>", "[MASK]")), ["[CLS]", "[SEP]", "[MASK]", "<pad>"]
    if name == "deberta":
        return _deberta(train, work)
    if name == "bpe-variants":
        tok = Tokenizer(models.BPE(unk_token="<unk>", continuing_subword_prefix="##", end_of_word_suffix="</w>", fuse_unk=True))
        tok.normalizer = normalizers.Sequence([normalizers.Strip(), normalizers.NFD(), normalizers.Lowercase(),
                                               normalizers.Prepend("\u2581")])
        tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation("contiguous"),
                                                     pre_tokenizers.Metaspace(prepend_scheme="never", split=False)])
        specials = ["<unk>", "[CLS]", "[SEP]", "[PAD]", "[MASK]"]
        tok.train_from_iterator(train, trainers.BpeTrainer(vocab_size=3000, special_tokens=specials, show_progress=False,
                                                           continuing_subword_prefix="##", end_of_word_suffix="</w>", limit_alphabet=300))
        spec = json.loads(tok.to_str())
        vocab = spec["model"]["vocab"]
        for b in range(0, 256, 3):          # byte fallback for about a third of the bytes: the rest stays unk
            vocab.setdefault(f"<0x{b:02X}>", len(vocab))
        spec["model"]["byte_fallback"] = True
        tok = Tokenizer.from_str(json.dumps(spec))
        tok.post_processor = processors.BertProcessing(("[SEP]", tok.token_to_id("[SEP]")), ("[CLS]", tok.token_to_id("[CLS]")))
        return tok, _manifest(tok, True, _roles(tok, "[CLS]", "[SEP]", "<unk>", "[PAD]", "[MASK]")), ["[CLS]", "[SEP]", "[MASK]"]
    if name == "wordlevel":
        tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
        tok.normalizer = normalizers.Sequence([normalizers.NFKD(), normalizers.Lowercase()])
        tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Punctuation("merged_with_previous"),
                                                     pre_tokenizers.Metaspace(prepend_scheme="always"),
                                                     pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
        tok.train_from_iterator(train, trainers.WordLevelTrainer(vocab_size=4000, special_tokens=["[UNK]", "[PAD]"], show_progress=False))
        return tok, _manifest(tok, True, _roles(tok, None, None, "[UNK]", "[PAD]", None)), ["[UNK]", "[PAD]"]
    raise ValueError(name)


def _spm_pieces(train: list[str], vocab_size: int, **options) -> list[tuple[str, float]]:
    """(piece, score) of a SentencePiece Unigram model trained on the texts (raw: no normalization rule)."""
    import io

    import sentencepiece as spm

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(train[::2]), model_writer=model, vocab_size=vocab_size, model_type="unigram",
                                   character_coverage=0.9995, normalization_rule_name="identity", num_threads=1, minloglevel=2,
                                   max_sentence_length=100000, **options)
    processor = spm.SentencePieceProcessor(model_proto=model.getvalue())
    return [(processor.id_to_piece(i), processor.get_score(i)) for i in range(processor.get_piece_size())]


def _deberta(train: list[str], work: Path):
    """A SentencePiece Unigram model (nmt_nfkc: a real precompiled_charsmap) converted as transformers converts DeBERTa-v3."""
    import io
    from types import SimpleNamespace

    import sentencepiece as spm
    from tokenizers import Tokenizer
    from transformers.convert_slow_tokenizer import DebertaV2Converter

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(train[1::2]), model_writer=model, vocab_size=3000,
        model_type="unigram", character_coverage=0.9995, pad_id=0, unk_id=1, bos_id=-1, eos_id=-1,
        pad_piece="[PAD]", unk_piece="[UNK]", control_symbols=["[CLS]", "[SEP]", "[MASK]"], num_threads=1,
        minloglevel=2, max_sentence_length=100000)
    path = work / "spm.model"
    path.write_bytes(model.getvalue())
    processor = spm.SentencePieceProcessor(model_file=str(path))
    original = SimpleNamespace(vocab_file=str(path), split_by_punct=True, do_lower_case=False, add_prefix_space=True, legacy=True,
                               convert_tokens_to_ids=lambda t: processor.piece_to_id(t))
    tok = Tokenizer.from_str(DebertaV2Converter(original).converted().to_str())
    return tok, _manifest(tok, False, _roles(tok, "[CLS]", "[SEP]", "[UNK]", "[PAD]", "[MASK]")), ["[CLS]", "[SEP]", "[MASK]", "[PAD]"]


# ----------------------------------------------------------------------------------------------- writer

def write_family(name: str, bundle_dir: Path, out: Path, items: list[tuple[str, str]], train: list[str], seed: int) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    tok, manifest, specials = build(name, bundle_dir, train, out)
    rng = random.Random(f"{seed}-{name}")
    singles = items + [("specials", t) for t in special_texts(rng, specials, [t for _, t in items[:1600]], 700)]
    texts_only = [t for _, t in singles]
    # pairs of texts up to 300 characters (still far beyond PAIR_MAX_LEN tokens): for longer ones the
    # reference builds every combination of both texts' overflowing windows, quadratic in their length
    pairable = [t for t in texts_only if len(t) <= 300]
    pairs = [(rng.choice(pairable), rng.choice(pairable)) for _ in range(4200)]
    tok.no_padding()
    tok.enable_truncation(SINGLE_MAX_LEN)
    (out / "tokenizer.json").write_text(tok.to_str(), encoding="utf-8")
    (out / "manifest_tokenizer.json").write_text(json.dumps(manifest), encoding="utf-8")
    spec = json.loads(tok.to_str())
    if spec["model"]["type"] == "WordPiece":
        by_id = sorted(spec["model"]["vocab"].items(), key=lambda kv: kv[1])
        (out / "vocab.txt").write_text("".join(f"{t}\n" for t, _ in by_id), encoding="utf-8")
    truncated = 0
    with (out / "vectors.jsonl").open("w", encoding="utf-8") as f:
        for (cat, text), e in zip(singles, tok.encode_batch(texts_only)):
            f.write(json.dumps({"cat": cat, "text": text, "max_len": SINGLE_MAX_LEN, "ids": e.ids, "type_ids": e.type_ids,
                                "truncated": bool(e.overflowing)}, ensure_ascii=True) + "\n")
            truncated += bool(e.overflowing)
        tok.enable_truncation(PAIR_MAX_LEN)
        for (a, b), e in zip(pairs, tok.encode_batch(pairs)):
            f.write(json.dumps({"cat": "pair", "text": a, "pair": b, "max_len": PAIR_MAX_LEN, "ids": e.ids, "type_ids": e.type_ids,
                                "truncated": bool(e.overflowing)}, ensure_ascii=True) + "\n")
            truncated += bool(e.overflowing)
    # the same pairs as a siamese model sees them: each side encoded alone with the single-text template,
    # truncated to max_len on its own
    sides = tok.encode_batch([t for pair in pairs for t in pair])
    siamese_truncated = 0
    with (out / "siamese.jsonl").open("w", encoding="utf-8") as f:
        for k, (a, b) in enumerate(pairs):
            ea, eb = sides[2 * k], sides[2 * k + 1]
            f.write(json.dumps({"text": a, "pair": b, "max_len": PAIR_MAX_LEN,
                                "sides": [{"ids": s.ids, "type_ids": s.type_ids, "truncated": bool(s.overflowing)} for s in (ea, eb)]},
                               ensure_ascii=True) + "\n")
            siamese_truncated += bool(ea.overflowing) + bool(eb.overflowing)
    extra = grapheme_cases(rng, 3000)
    with (out / "normalized.jsonl").open("w", encoding="utf-8") as f:
        if tok.normalizer is not None:
            for text in texts_only + extra:
                f.write(json.dumps({"text": text, "normalized": tok.normalizer.normalize_str(text)}, ensure_ascii=True) + "\n")
    return {"singles": len(singles), "pairs": len(pairs), "vectors": len(singles) + len(pairs), "truncated": truncated,
            "siamese_pairs": len(pairs), "siamese_truncated_sides": siamese_truncated,
            "vocab_size": tok.get_vocab_size(), "model": spec["model"]["type"]}


def codepoint_sweep(out: Path) -> dict:
    """Every code point through each Unicode normalizer and the ByteLevel classes of the reference."""
    from tokenizers.normalizers import NFC, NFD, NFKC, NFKD, Lowercase, StripAccents

    sys.path.insert(0, str(HERE))
    try:
        import pipeline_tables
        import unicode_tables as ut
    finally:
        sys.path.remove(str(HERE))
    cps = ut.code_points()
    changed = {}
    with (out / "codepoints_pipeline.tsv").open("w", encoding="ascii") as f:
        for name, normalizer in (("NFC", NFC()), ("NFD", NFD()), ("NFKC", NFKC()), ("NFKD", NFKD()), ("StripAccents", StripAccents()),
                                 ("Lowercase", Lowercase())):
            changed[name] = 0
            for c, s in zip(cps, ut.normalize_each(normalizer, cps)):
                if s != chr(c):
                    f.write(f"{name}\t{c:X}\t{'.'.join(f'{ord(x):X}' for x in s) or '-'}\n")
                    changed[name] += 1
        for name, group in pipeline_tables.byte_level_classes(cps).items():
            for c in group:
                f.write(f"ByteLevel\t{c:X}\t{name}\n")
            changed[f"ByteLevel-{name}"] = len(group)
    return changed


def write_family_vectors(bundle_dir: str | Path, out_dir: str | Path, seed: int = 0) -> dict:
    bundle_dir, out_dir = Path(bundle_dir), Path(out_dir)
    t0 = time.perf_counter()
    items, train = texts(seed)
    summary: dict = {"families": {}}
    for name in FAMILIES:
        t = time.perf_counter()
        summary["families"][name] = write_family(name, bundle_dir, out_dir / "families" / name, items, train, seed)
        summary["families"][name]["seconds"] = round(time.perf_counter() - t, 2)
    summary["codepoints"] = codepoint_sweep(out_dir / "families")
    summary["seconds"] = round(time.perf_counter() - t0, 2)
    (out_dir / "families" / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python android_demo/tools/family_vectors.py BUNDLE_DIR OUT_DIR")
    print(json.dumps(write_family_vectors(sys.argv[1], sys.argv[2]), indent=2))
