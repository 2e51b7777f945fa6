"""Property-based: arbitrary unicode never crashes the data loaders or the tokenizer path."""
from __future__ import annotations

import csv
import io

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from distill.data import read_csv
from edge_runtime.bundle import pad_ids
from edgecore import DataError

text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=300)
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@SETTINGS
@given(rows=st.lists(st.tuples(text, st.sampled_from(["pos", "neg", "3"])), max_size=12))
def test_csv_loader_never_crashes(tmp_path, rows):
    buf = io.StringIO(newline="")
    w = csv.writer(buf)
    w.writerow(["text", "label"])
    w.writerows(rows)
    path = tmp_path / "d.csv"
    path.write_text(buf.getvalue(), encoding="utf-8", newline="")
    try:
        texts, labels, names = read_csv(path)
    except DataError:
        return   # a typed, explained refusal is fine; anything else fails the test
    assert len(texts) == len(labels) and all(t.strip() for t in texts)
    assert set(labels) <= set(range(len(names))) and len(names) >= 2


@SETTINGS
@given(raw=st.binary(max_size=400))
def test_csv_loader_on_arbitrary_bytes(tmp_path, raw):
    path = tmp_path / "raw.csv"
    path.write_bytes(raw)
    try:
        read_csv(path)
    except DataError:
        pass


@SETTINGS
@given(texts=st.lists(text, min_size=1, max_size=6))
def test_tokenizer_path_keeps_the_fields_the_model_needs(encoder, texts):
    ids = encoder.ids(texts)
    cls, sep = encoder.tokenizer.token_to_id("[CLS]"), encoder.tokenizer.token_to_id("[SEP]")
    for row in ids:
        assert 2 <= len(row) <= encoder.max_len
        assert row[0] == cls and row[-1] == sep
        assert all(0 <= i < encoder.settings.vocab_size for i in row)
    feeds = encoder.pad(ids)
    assert feeds["attention_mask"].sum(1).tolist() == [len(r) for r in ids]
    same = pad_ids(ids)   # the runtime's padding gives the same arrays
    assert (same["input_ids"] == feeds["input_ids"].numpy()).all()
    assert (same["attention_mask"] == feeds["attention_mask"].numpy()).all()
