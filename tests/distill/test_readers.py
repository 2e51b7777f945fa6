"""Users' data files: every format, column recognition, labels, splits, label alignment, and one-line errors.

Small files are written to tmp_path; no model is trained.
"""
from __future__ import annotations

import json
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from distill import align_labels, label_mapping, load_dataset, load_texts, read_labelled
from distill.data import Split, SplitConfig, TextDataset, read_csv
from edgecore import DataError

ROWS = [("a fine film", "pos"), ("a dull film", "neg"), ("a film", "neu"), ("truly great", "pos"), ("awful", "neg"),
        ("so so", "neu"), ("loved it", "pos"), ("hated it", "neg"), ("it exists", "neu"), ("superb", "pos"),
        ("boring", "neg"), ("average", "neu")]


def write(tmp_path, name: str, content: str | bytes):
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def jsonl(records) -> str:
    return "\n".join(json.dumps(r) for r in records) + "\n"


def hf_datasets():
    datasets = pytest.importorskip("datasets")
    datasets.disable_progress_bars()
    return datasets


def error(path, **kw) -> str:
    """The one-line DataError message that reading `path` gives."""
    with pytest.raises(DataError) as info:
        read_labelled(path, **kw)
    message = str(info.value)
    assert "\n" not in message and "Traceback" not in message, message
    return message


# ---------------------------------------------------------------------------------------------
# Formats

def test_csv_three_classes_names_sorted_and_seeded_split(tmp_path):
    path = write(tmp_path, "reviews.csv", "text,label\n" + "".join(f"{t},{lab}\n" for t, lab in ROWS))
    ds = load_dataset(path, SplitConfig(test=2, dev=1))
    assert ds.label_names == ("neg", "neu", "pos") and ds.name == "reviews"
    assert ds.sizes() == {"train": 9, "dev": 1, "test": 2} and not ds.own_splits and not ds.has_pairs
    assert ds.columns == ("text", "label") and ds.describe()["splits_from"] == "seeded"
    assert ds.fingerprint() == load_dataset(path, SplitConfig(test=2, dev=1)).fingerprint()


def test_tsv_with_recognised_names(tmp_path):
    path = write(tmp_path, "d.tsv", "Sentence\tsentiment\n" + "".join(f"{t}, really\t{lab}\n" for t, lab in ROWS))
    data = read_labelled(path)
    assert data.format == "tsv" and data.columns == ("Sentence", "sentiment")
    assert data.splits["all"].texts[0] == "a fine film, really"


@pytest.mark.parametrize("delimiter, name", [(";", "d.csv"), ("|", "d.csv"), ("\t", "d.csv"), (",", "d.tsv")])
def test_delimiter_is_sniffed_from_the_header(tmp_path, delimiter, name):
    path = write(tmp_path, name, f"review{delimiter}label\n" + "".join(f"{t}{delimiter}{lab}\n" for t, lab in ROWS))
    assert read_labelled(path).splits["all"].texts == [t for t, _ in ROWS]


def test_unnamed_columns_from_an_index_or_trailing_delimiters(tmp_path):
    path = write(tmp_path, "d.csv", ",text,label,,\n" + "".join(f"{i},{t},{lab},,\n" for i, (t, lab) in enumerate(ROWS)))
    assert read_labelled(path).label_names == ("neg", "neu", "pos")


def test_given_delimiter_and_txt_extension(tmp_path):
    path = write(tmp_path, "d.txt", "text;label\n" + "".join(f"{t};{lab}\n" for t, lab in ROWS))
    assert len(read_labelled(path, delimiter=";").splits["all"].texts) == len(ROWS)


def test_jsonl_sentence_pairs_with_integer_labels(tmp_path):
    records = [{"premise": t, "hypothesis": f"{t}?", "label": i % 3, "idx": i} for i, (t, _) in enumerate(ROWS)]
    path = write(tmp_path, "nli.jsonl", jsonl(records[:6]) + "\n" + jsonl(records[6:]))   # a blank line is fine
    ds = load_dataset(path, SplitConfig(test=2, dev=2))
    assert ds.has_pairs and ds.columns == ("premise", "hypothesis", "label") and ds.label_names == ("0", "1", "2")
    for part in (ds.train, ds.dev, ds.test):
        assert len(part.pairs) == len(part.texts) and all(p == f"{t}?" for t, p in zip(part.texts, part.pairs))
    # the fingerprint covers the second texts
    records[0]["hypothesis"] = "changed"
    other = load_dataset(write(tmp_path, "nli2.jsonl", jsonl(records)), SplitConfig(test=2, dev=2))
    assert other.fingerprint() != ds.fingerprint()


def test_jsonl_dates_stay_text(tmp_path):
    records = [{"text": f"2020-01-{i + 1:02d}", "label": "2021-05-01 10:00:00" if i % 2 else "x"} for i in range(6)]
    data = read_labelled(write(tmp_path, "d.jsonl", jsonl(records)))
    assert data.splits["all"].texts[0] == "2020-01-01" and data.label_names == ("2021-05-01 10:00:00", "x")


@pytest.mark.parametrize("pair", [("sentence1", "sentence2"), ("question1", "question2"), ("text", "text_pair"),
                                  ("text_a", "text_b"), ("question", "sentence")])
def test_pair_columns_are_recognised(tmp_path, pair):
    records = [{pair[0]: t, pair[1]: "x", "label": lab} for t, lab in ROWS]
    data = read_labelled(write(tmp_path, "p.jsonl", jsonl(records)))
    assert (data.text_column, data.text_pair_column) == pair


@pytest.mark.parametrize("shape", ["list", "data", "columns", "lines"])
def test_json_shapes(tmp_path, shape):
    records = [{"text": t, "label": lab} for t, lab in ROWS]
    content = {"list": json.dumps(records), "data": json.dumps({"version": 1, "data": records}),
               "columns": json.dumps({"text": [t for t, _ in ROWS], "label": [lab for _, lab in ROWS]}),
               "lines": jsonl(records)}[shape]
    data = read_labelled(write(tmp_path, "d.json", content))
    assert data.label_names == ("neg", "neu", "pos") and len(data.splits["all"].texts) == len(ROWS)


def test_json_with_split_keys_uses_them(tmp_path):
    records = [{"text": t, "label": lab} for t, lab in ROWS]
    ds = load_dataset(write(tmp_path, "d.json", json.dumps({"train": records, "validation": records[:3], "test": records[3:6]})))
    assert ds.own_splits and ds.sizes() == {"train": 12, "dev": 3, "test": 3}


def test_parquet_float_labels_are_integers(tmp_path):
    table = pa.table({"content": [t for t, _ in ROWS], "target": [float(i % 3) for i in range(len(ROWS))]})
    pq.write_table(table, tmp_path / "d.parquet")
    data = read_labelled(tmp_path / "d.parquet")
    assert data.label_names == ("0", "1", "2") and data.splits["all"].labels[:4] == [0, 1, 2, 0]


def test_parquet_written_by_datasets_keeps_classlabel_order(tmp_path):
    datasets = hf_datasets()
    features = datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["pos", "neg", "neu"])})
    ds = datasets.Dataset.from_dict({"text": [t for t, _ in ROWS], "label": [i % 3 for i in range(len(ROWS))]}, features=features)
    ds.to_parquet(str(tmp_path / "d.parquet"))
    data = read_labelled(tmp_path / "d.parquet")
    assert data.label_names == ("pos", "neg", "neu") and data.declared_labels


def test_datasets_dict_with_splits_and_pairs(tmp_path):
    datasets = hf_datasets()
    features = datasets.Features({"sentence1": datasets.Value("string"), "sentence2": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=["entailment", "neutral", "contradiction"])})
    ds = datasets.Dataset.from_dict({"sentence1": [t for t, _ in ROWS], "sentence2": [f"not {t}" for t, _ in ROWS],
                                     "label": [i % 3 for i in range(len(ROWS))]}, features=features)
    datasets.DatasetDict({"train": ds, "validation": ds.select(range(4)), "test": ds.select(range(4, 7))}).save_to_disk(str(tmp_path / "nli"))
    loaded = load_dataset(tmp_path / "nli", SplitConfig(max_train=5))
    assert loaded.label_names == ("entailment", "neutral", "contradiction") and loaded.own_splits and loaded.has_pairs
    assert loaded.sizes() == {"train": 5, "dev": 4, "test": 3} and loaded.dev.pairs[0] == "not a fine film"
    assert loaded.name == "nli" and loaded.describe()["splits_from"] == "data"


def test_datasets_single_dataset_gets_the_seeded_split(tmp_path):
    datasets = hf_datasets()
    datasets.Dataset.from_dict({"review": [t for t, _ in ROWS], "labels": [lab for _, lab in ROWS]}).save_to_disk(str(tmp_path / "one"))
    ds = load_dataset(tmp_path / "one", SplitConfig(test=2, dev=1))
    assert ds.sizes() == {"train": 9, "dev": 1, "test": 2} and not ds.own_splits and ds.label_names == ("neg", "neu", "pos")


def test_split_folder_mixes_formats(tmp_path):
    write(tmp_path, "d/train.tsv", "text\tlabel\n" + "".join(f"{t}\t{lab}\n" for t, lab in ROWS))
    write(tmp_path, "d/validation.jsonl", jsonl({"text": t, "label": lab} for t, lab in ROWS[:3]))
    pq.write_table(pa.table({"text": ["x", "y", "z"], "label": ["pos", "neg", "neu"]}), tmp_path / "d" / "test.parquet")
    write(tmp_path, "d/README.md", "not data")
    ds = load_dataset(tmp_path / "d")
    assert ds.own_splits and ds.sizes() == {"train": 12, "dev": 3, "test": 3}
    assert ds.test.texts == ["x", "y", "z"] and ds.test.labels == [2, 0, 1] and ds.train.texts == [t for t, _ in ROWS]
    texts, labels, names = load_texts(tmp_path / "d")
    assert len(texts) == 18 and names == ("neg", "neu", "pos")


def test_split_folder_of_datasets_folders_and_a_dict_without_train(tmp_path):
    datasets = hf_datasets()
    ds = datasets.Dataset.from_dict({"text": [t for t, _ in ROWS], "label": [lab for _, lab in ROWS]})
    ds.save_to_disk(str(tmp_path / "d" / "train"))
    ds.select(range(3)).save_to_disk(str(tmp_path / "d" / "test"))
    loaded = load_dataset(tmp_path / "d", SplitConfig(dev=2))
    assert loaded.own_splits and loaded.sizes() == {"train": 10, "dev": 2, "test": 3}
    datasets.DatasetDict({"validation": ds, "test": ds}).save_to_disk(str(tmp_path / "no-train"))
    assert "has splits 'dev', 'test' but no 'train'" in error(tmp_path / "no-train")
    datasets.DatasetDict({"full": ds}).save_to_disk(str(tmp_path / "one-part"))
    assert list(read_labelled(tmp_path / "one-part").splits) == ["all"]


def test_split_files_must_agree_with_declared_names(tmp_path):
    datasets = hf_datasets()
    features = datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["neg", "pos"])})
    datasets.Dataset.from_dict({"text": ["a", "b", "c"], "label": [0, 1, 0]}, features=features).to_parquet(str(tmp_path / "d" / "train.parquet"))
    write(tmp_path, "d/test.csv", "text,label\nx,pos\ny,neg\n")
    assert load_dataset(tmp_path / "d", SplitConfig(dev=1)).test.labels == [1, 0]
    write(tmp_path, "d/test.csv", "text,label\nx,pos\ny,neutral\n")
    assert "labels ['neutral'] are not in the data's ClassLabel names ['neg', 'pos']" in error(tmp_path / "d")


def test_split_folder_shards_and_dev_name(tmp_path):
    for i in range(2):
        write(tmp_path, f"d/train-0000{i}-of-00002.csv", "text,label\n" + "".join(f"{t} {i},{lab}\n" for t, lab in ROWS))
    write(tmp_path, "d/dev.csv", "text,label\nok,pos\nbad,neg\n")
    ds = load_dataset(tmp_path / "d", SplitConfig(test=3))
    assert ds.sizes() == {"train": 21, "dev": 2, "test": 3}   # test drawn from the 24 training rows


def test_missing_dev_and_test_are_drawn_from_train_the_same_way(tmp_path):
    write(tmp_path, "d/train.csv", "text,label\n" + "".join(f"{t} {i},{lab}\n" for i in range(5) for t, lab in ROWS))
    write(tmp_path, "d/test.csv", "text,label\nok,pos\nbad,neg\n")
    a, b = load_dataset(tmp_path / "d"), load_dataset(tmp_path / "d")
    assert a.sizes() == {"train": 54, "dev": 6, "test": 2} and a.dev.texts == b.dev.texts
    assert not set(a.dev.texts) & set(a.train.texts)
    assert load_dataset(tmp_path / "d", SplitConfig(seed=1)).dev.texts != a.dev.texts


# ---------------------------------------------------------------------------------------------
# Labels

def test_integer_like_labels_sort_numerically(tmp_path):
    labels = ["2", "10", "2.0", "+1", "1", "10.0"] * 2
    path = write(tmp_path, "d.csv", "text,label\n" + "".join(f"t{i},{lab}\n" for i, lab in enumerate(labels)))
    data = read_labelled(path)
    assert data.label_names == ("1", "2", "10") and data.splits["all"].labels[:6] == [1, 2, 1, 0, 0, 2]


def test_names_sort_by_code_point_after_integers(tmp_path):
    labels = ["b", "B", "a", "3"] * 3
    data = read_labelled(write(tmp_path, "d.csv", "text,label\n" + "".join(f"t{i},{lab}\n" for i, lab in enumerate(labels))))
    assert data.label_names == ("3", "B", "a", "b")


def test_label_order_is_the_same_in_other_processes(tmp_path):
    path = write(tmp_path, "d.csv", "text,label\n" + "".join(f"t{i},{lab}\n" for i, lab in enumerate(["zeta", "alpha", "Mu", "9"] * 3)))
    code = f"from distill.readers import read_labelled; print(read_labelled({str(path)!r}).label_names)"
    outputs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                              env={"PYTHONHASHSEED": seed, "PATH": ""}).stdout for seed in ("1", "2")}
    assert outputs == {"('9', 'Mu', 'alpha', 'zeta')\n"}


def test_multi_label_list_column_jsonl(tmp_path):
    records = [{"text": t, "labels": [lab, "film"] if "film" in t else [lab]} for t, lab in ROWS]
    records.append({"text": "no tags at all", "labels": []})
    ds = load_dataset(write(tmp_path, "tags.jsonl", jsonl(records)), SplitConfig(test=2, dev=2))
    assert ds.multi_label and ds.label_names == ("film", "neg", "neu", "pos")
    data = read_labelled(tmp_path / "tags.jsonl")
    assert data.splits["all"].labels[:3] == [(0, 3), (0, 1), (0, 2)] and data.splits["all"].labels[-1] == ()
    # the fingerprint differs from single-label data with the same first labels
    single = TextDataset("x", ds.label_names, Split(ds.train.texts, [lab[0] if lab else 0 for lab in ds.train.labels]), ds.dev, ds.test)
    assert single.fingerprint() != ds.fingerprint()


def test_multi_label_csv_pipe_and_given_separator(tmp_path):
    path = write(tmp_path, "d.csv", "text,label\n" + "".join(f"{t},{lab}|x\n" for t, lab in ROWS))
    assert read_labelled(path).splits["all"].labels[0] == (2, 3)
    path = write(tmp_path, "c.csv", "text,label\n" + "".join(f'{t},"{lab}, x"\n' for t, lab in ROWS))
    data = read_labelled(path, label_separator=",")
    assert data.multi_label and data.label_names == ("neg", "neu", "pos", "x")


def test_multi_label_parquet_list_column(tmp_path):
    pq.write_table(pa.table({"text": [t for t, _ in ROWS], "label": [[i % 3, 3] for i in range(len(ROWS))]}), tmp_path / "d.parquet")
    data = read_labelled(tmp_path / "d.parquet")
    assert data.multi_label and data.label_names == ("0", "1", "2", "3") and data.splits["all"].labels[1] == (1, 3)


def test_rows_without_text_are_left_out(tmp_path):
    path = write(tmp_path, "d.csv", "text,label\n" + "".join(f"{t},{lab}\n" for t, lab in ROWS) + ",pos\n  ,neg\n")
    data = read_labelled(path)
    assert data.skipped == 2 and len(data.splits["all"].texts) == len(ROWS)


# ---------------------------------------------------------------------------------------------
# Labels against a checkpoint

def test_label_mapping_rules():
    assert label_mapping(("neg", "pos"), {0: "pos", 1: "neg"}) == [1, 0]                        # names
    assert label_mapping(("neg",), ("neg", "neu", "pos")) == [0]                                # fewer classes
    assert label_mapping(("0", "2"), {"0": "LABEL_0", "1": "LABEL_1", "2": "LABEL_2"}) == [0, 2]   # integers, config.json keys
    assert label_mapping(("0", "1"), ("negative", "positive")) == [0, 1]                        # integers to indices
    assert label_mapping(("LABEL_1", "LABEL_0"), ("negative", "positive")) == [1, 0]            # default names as indices
    assert label_mapping(("1", "0"), ("0", "1")) == [1, 0]                                      # names before indices


@pytest.mark.parametrize("data, model", [(("neg", "pos"), ("LABEL_0", "LABEL_1")), (("0", "1", "2"), ("a", "b")),
                                         (("negative", "positive"), ("neg", "pos")), (("-1", "0"), ("a", "b"))])
def test_label_mismatch_prints_both_sets(data, model):
    with pytest.raises(DataError) as info:
        label_mapping(data, model, model="teacher t1")
    message = str(info.value)
    assert str(list(data)) in message and str(list(model)) in message and "teacher t1" in message and "\n" not in message


def test_align_labels_renumbers_every_split(tmp_path):
    records = [{"text": t, "label": i % 2} for i, (t, _) in enumerate(ROWS)]
    ds = load_dataset(write(tmp_path, "d.jsonl", jsonl(records)), SplitConfig(test=2, dev=2))
    assert align_labels(ds, ("0", "1")) is ds
    aligned = align_labels(ds, {0: "negative", 1: "positive"})
    assert aligned.label_names == ("negative", "positive") and aligned.train.labels == ds.train.labels
    swapped = align_labels(load_dataset(tmp_path / "d.jsonl", SplitConfig(test=2, dev=2)), ("1", "0"))
    assert swapped.train.labels == [1 - lab for lab in ds.train.labels] and swapped.train.texts == ds.train.texts


def test_align_labels_multi_label(tmp_path):
    records = [{"text": t, "labels": [lab, "x"]} for t, lab in ROWS]
    ds = load_dataset(write(tmp_path, "d.jsonl", jsonl(records)), SplitConfig(test=2, dev=2))
    aligned = align_labels(ds, ("x", "pos", "neu", "neg"))
    assert aligned.label_names == ("x", "pos", "neu", "neg")
    assert all(0 in lab for lab in aligned.train.labels) and all(lab == tuple(sorted(lab)) for lab in aligned.train.labels)


# ---------------------------------------------------------------------------------------------
# Columns

def test_explicit_columns_win(tmp_path):
    records = [{"title": t, "body": t.upper(), "stars": lab, "text": "ignored", "label": 0} for t, lab in ROWS]
    data = read_labelled(write(tmp_path, "d.jsonl", jsonl(records)), text_column="title", text_pair_column="body", label_column="stars")
    assert data.columns == ("title", "body", "stars") and data.splits["all"].pairs[0] == "A FINE FILM"


def test_pair_column_alone_finds_its_first_text(tmp_path):
    records = [{"premise": t, "hypothesis": "h", "label": lab} for t, lab in ROWS]
    assert read_labelled(write(tmp_path, "d.jsonl", jsonl(records)), text_pair_column="hypothesis").text_column == "premise"


@pytest.mark.parametrize("header, kw, needles", [
    ("body,stars", {}, ["no column recognised as the text", "'body', 'stars'", "--text-column"]),
    ("text,stars", {}, ["no column recognised as the label", "'text', 'stars'", "--label-column"]),
    ("text,review,label", {}, ["could each be the text", "--text-column"]),
    ("text,label,sentiment", {}, ["could each be the label", "--label-column"]),
    ("sentence1,sentence2,premise,hypothesis,label", {}, ["sentence1+sentence2 and premise+hypothesis", "--text-pair-column"]),
    ("sentence1,sentence2,review,label", {}, ["the text column 'review'", "--text-column"]),
    ("text,label", {"text_column": "body"}, ["no column 'body'", "'text', 'label'", "--text-column"]),
    ("text,label", {"label_column": "y"}, ["no column 'y'", "--label-column"]),
    ("text,label", {"text_pair_column": "h"}, ["no column 'h'", "--text-pair-column"]),
])
def test_column_errors_name_the_file_the_columns_and_the_flag(tmp_path, header, kw, needles):
    n = len(header.split(","))
    path = write(tmp_path, "cols.csv", header + "\n" + "".join(",".join(["x"] * (n - 1) + [lab]) + "\n" for _, lab in ROWS))
    message = error(path, **kw)
    assert "cols.csv" in message
    for needle in needles:
        assert needle in message, message


# ---------------------------------------------------------------------------------------------
# Bad input: one line naming the file, the row where it means something, and what would work

def lines_csv(rows, header="text,label", sep=","):
    return header + "\n" + "".join(f"{t}{sep}{lab}\n" for t, lab in rows)


@pytest.mark.parametrize("name, content, needles", [
    ("d.csv", "text,label\n" + "".join(f"{t}\t{lab}\n" for t, lab in ROWS), ["row 2 has 1 field", "header has 2", "tab-separated", "--delimiter"]),
    ("d.csv", "text label\n" + "".join(f"{t} {lab}\n" for t, lab in ROWS), ["cannot tell the delimiter", "--delimiter"]),
    ("d.csv", "text;label|x\n" + lines_csv(ROWS), ["cannot tell the delimiter", "';' and '|'", "--delimiter"]),
    ("d.csv", lines_csv(ROWS[:3]) + "so, so good,pos\n", ["row 5 has 3 fields", "header has 2", "quote fields that contain ','"]),
    ("d.csv", lines_csv(ROWS[:3]) + "lonely\n" + lines_csv(ROWS[3:], header=""), ["row 5 has 1 field", "give every row all 2 fields"]),
    ("d.csv", lines_csv(ROWS[:2]) + '"never closed,pos\n' + lines_csv(ROWS[2:], header=""), ["row 4", "quote", "never closed"]),
    ("d.csv", lines_csv(ROWS[:2]) + 'ok,"pos\n' + lines_csv(ROWS[2:], header=""), ["row 4", "spans lines", "unclosed quote"]),
    ("d.csv", 'text,label\n"a ""b"" c\nd",pos\n' + lines_csv(ROWS[:1], header="") + "x,\n", ["row 4", "empty 'label'"]),
    ("d.csv", b"text,label\nfine,pos\n\xff\xfe bad,neg\n", ["not valid UTF-8", "line 3", "re-save it as UTF-8"]),
    ("d.jsonl", b'{"text": "a", "label": "pos"}\n{"text": "\xc3\x28", "label": "neg"}\n', ["not valid UTF-8", "line 2"]),
    ("d.csv", b"", ["is empty", "no data rows"]),
    ("d.csv", b"\n\n", ["is empty"]),
    ("d.jsonl", b"", ["is empty"]),
    ("d.csv", "text,label\n", ["no data rows"]),
    ("d.csv", lines_csv([(t, "pos") for t, _ in ROWS]), ["only one class", "'pos'", "at least two labels"]),
    ("d.jsonl", jsonl({"text": t, "label": 1} for t, _ in ROWS), ["only one class", "'1'"]),
    ("d.csv", lines_csv(ROWS[:3] + [("x", ""), ("y", "")]), ["empty 'label'", "row 5, row 6"]),
    ("d.csv", lines_csv(ROWS[:2] + [("x", "0.5")]), ["row 4: label '0.5' is a number that is not an integer", "column 'label'"]),
    ("d.jsonl", jsonl([{"text": "a", "label": "pos"}, {"text": "b", "label": None}, {"text": "c", "label": float("nan")}]).replace("NaN", "NaN"),
     ["empty 'label'", "line 2, line 3"]),
    ("d.jsonl", '{"text": "a", "label": "pos"}\n\n{"text": "b", label: "neg"}\n', ["line 3 is not valid JSON", "one complete object per line"]),
    ("d.jsonl", '{"text": "a", "label": "pos"}\n["b", "neg"]\n', ["line 2 is a JSON list, not an object"]),
    ("d.jsonl", jsonl([{"text": "a", "label": {"x": 1}}, {"text": "b", "label": "neg"}]), ["line 1: label {'x': 1} is a dict, not a name or an integer"]),
    ("d.jsonl", jsonl([{"text": 5, "label": "pos"}, {"text": "b", "label": "neg"}]), ["line 1", "column 'text' holds 5 (int), not text"]),
    ("d.json", '[{"text": "a", "label": "pos"},', ["is not valid JSON", "line 1"]),
    ("d.json", '{"a": 1, "b": [1, 2]}', ["not a data set", "'a', 'b'", '{"data": [records]}']),
    ("d.json", json.dumps({"data": [{"text": "a", "label": "pos"}, {"text": "b"}]}), ["data[1]", "empty 'label'"]),
    ("d.xlsx", b"PK", ["unknown file type '.xlsx'", ".csv, .tsv, .jsonl, .json or .parquet"]),
    ("d.parquet", b"PAR1 not really", ["is not a readable Parquet file"]),
    ("d.csv", "text,text,label\na,b,pos\n", ["names column 'text' more than once"]),
])
def test_bad_input_is_one_line(tmp_path, name, content, needles):
    message = error(write(tmp_path, name, content))
    assert name in message, message
    for needle in needles:
        assert needle in message, message


def test_a_five_megabyte_field(tmp_path):
    path = write(tmp_path, "big.csv", lines_csv(ROWS[:3]) + '"' + "x" * 5_000_000 + '",pos\n' + lines_csv(ROWS[3:], header=""))
    message = error(path)
    assert "big.csv: row 5: column 'text' holds 5.0 million characters" in message and "unclosed quote" in message
    records = [{"text": t, "label": lab} for t, lab in ROWS] + [{"text": "y" * 5_000_000, "label": "pos"}]
    message = error(write(tmp_path, "big.jsonl", jsonl(records)))
    assert "big.jsonl: line 13: column 'text'" in message and "shorten or drop" in message


def test_unclosed_quote_swallowing_the_rest_is_caught(tmp_path):
    # the quote opens in the text column and runs to the end of the file: the row ends up short of a field
    path = write(tmp_path, "q.csv", lines_csv(ROWS[:4]) + '"an unclosed quote,pos\n' + lines_csv(ROWS[4:], header=""))
    assert "row 6" in error(path) and "never closed" in error(path)


def test_explicit_delimiter_that_does_not_split_the_header(tmp_path):
    message = error(write(tmp_path, "d.csv", lines_csv(ROWS)), delimiter=";")
    assert "d.csv" in message and "one column with delimiter ';'" in message and "looks ','-separated" in message


def test_folder_errors(tmp_path):
    write(tmp_path, "d/notes.txt", "hello")
    message = error(tmp_path / "d")
    assert "without a train file" in message and "notes.txt" in message
    write(tmp_path, "e/train.csv", lines_csv(ROWS))
    write(tmp_path, "e/test.csv", "text,stars\nok,pos\n")
    message = error(tmp_path / "e")
    assert "test.csv has no column 'label'" in message and "same columns" in message
    write(tmp_path, "f/train.csv", lines_csv(ROWS))
    write(tmp_path, "f/test.csv", "text,label\n")
    assert "test.csv has a header" in error(tmp_path / "f") and "no data rows" in error(tmp_path / "f")


def test_datasets_folder_errors(tmp_path):
    datasets = hf_datasets()
    features = datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["neg", "pos"])})
    train = datasets.Dataset.from_dict({"text": ["a", "b", "c"], "label": [0, 1, 0]}, features=features)
    test = datasets.Dataset.from_dict({"text": ["d", "e"], "label": [-1, -1]}, features=features)   # hidden labels, as in GLUE
    datasets.DatasetDict({"train": train, "test": test}).save_to_disk(str(tmp_path / "glue"))
    message = error(tmp_path / "glue")
    assert "glue [test]: empty 'label' (no label, NaN, or -1) on index 0, index 1" in message
    broken = tmp_path / "broken"
    train.save_to_disk(str(broken))
    for f in broken.glob("*.arrow"):
        f.write_bytes(b"garbage")
    message = error(broken)
    assert "broken could not be read as a `datasets` folder" in message and "save_to_disk" in message


def test_missing_path_and_loaders(tmp_path):
    with pytest.raises(DataError, match="does not exist.*movie-snippets"):
        load_dataset(tmp_path / "none.csv")
    records = [{"premise": t, "hypothesis": "h", "label": lab} for t, lab in ROWS]
    with pytest.raises(DataError, match="holds sentence pairs.*--text-column"):
        load_texts(write(tmp_path, "p.jsonl", jsonl(records)))
    texts, labels, names = load_texts(tmp_path / "p.jsonl", text_column="premise")
    assert len(texts) == len(ROWS) and names == ("neg", "neu", "pos")


def test_read_csv_keeps_its_contract(tmp_path):
    texts, labels, names = read_csv(write(tmp_path, "d.csv", 'text,label\n"line one\nline two",pos\nbad film,neg\n'))
    assert names == ("neg", "pos") and labels == [1, 0] and texts[0] == "line one\nline two"
    with pytest.raises(DataError, match="no column 'text'"):
        read_csv(write(tmp_path, "s.csv", "sentence,label\nhi,1\nho,0\n"))


def test_existing_csv_files_read_and_hash_as_before(movie_csv):
    """A text,label CSV gives the rows the first (csv-module) reader gave, so cache keys built on fingerprints hold."""
    import csv
    import hashlib

    path = movie_csv(200)
    rows = list(csv.DictReader(path.open(encoding="utf-8", newline="")))
    names = tuple(sorted({r["label"].strip() for r in rows}))
    ds = load_dataset(path, SplitConfig(test=40, dev=20))
    assert ds.label_names == names == ("negative", "positive") and ds.columns == ("text", "label")
    texts = [r["text"].strip() for r in rows]
    assert sorted(ds.train.texts + ds.dev.texts + ds.test.texts) == sorted(texts)
    h = hashlib.sha256(json.dumps(names).encode())
    for part in (ds.train, ds.dev, ds.test):
        for text, label in zip(part.texts, part.labels):
            h.update(text.encode("utf-8"))
            h.update(b"\x00%d\x01" % label)
        h.update(b"\x02")
    assert ds.fingerprint() == h.hexdigest()
