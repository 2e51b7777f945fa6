"""Users' own tables reach every data-reading command: TSV, JSON Lines and Parquet files with their own column names
(recognised, or named with --text-column / --label-column), integer labels mapped onto the checkpoint's classes,
and task shapes a verb does not take yet refused by name."""
from __future__ import annotations

import json

import pytest
from cli_helpers import assert_clean, cli

import edgedistill as ed


def _rows(movie, n=120):
    texts, labels = movie
    return list(zip(texts[:n], labels[:n]))


def test_tsv_with_recognised_columns_exports(student_dir, movie, tmp_path, capsys, monkeypatch):
    path = tmp_path / "reviews.tsv"
    path.write_text("review\tsentiment\n" + "".join(f"{t}\t{('negative', 'positive')[y]}\n" for t, y in _rows(movie)), encoding="utf-8")
    code, out, err = cli(["export", student_dir, "--data", path, "--precisions", "fp32", "--out", tmp_path / "bundle"], capsys, monkeypatch)
    assert code == 0, err
    assert json.loads((tmp_path / "bundle" / "manifest.json").read_text())["parity"]["sentences"] > 0


def test_jsonl_with_own_column_names_and_integer_labels(student_dir, movie, tmp_path, capsys, monkeypatch):
    path = tmp_path / "reviews.jsonl"
    path.write_text("".join(json.dumps({"body": t, "stars": y, "id": i}) + "\n" for i, (t, y) in enumerate(_rows(movie))), encoding="utf-8")
    code, out, err = cli(["export", student_dir, "--data", path, "--precisions", "fp32", "--out", tmp_path / "missing"], capsys, monkeypatch)
    assert_clean(code, out, err, "--text-column")
    assert not (tmp_path / "missing").exists()
    code, out, err = cli(["export", student_dir, "--data", path, "--text-column", "body", "--label-column", "stars", "--precisions", "fp32",
                          "--out", tmp_path / "bundle", "--json", tmp_path / "r.json"], capsys, monkeypatch)
    assert code == 0, err
    rows = json.loads((tmp_path / "r.json").read_text())["rows"]
    assert rows[0]["accuracy"] is not None   # integers 0/1 scored as the checkpoint's classes 0/1


def test_parquet_through_the_python_api_and_label_mismatch_prints_both(student_dir, movie, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from edgecore import DataError

    rows = _rows(movie)
    pq.write_table(pa.table({"content": [t for t, _ in rows], "target": [("bad", "good")[y] for _, y in rows]}), tmp_path / "r.parquet")
    with pytest.raises(DataError, match=r"negative.*positive|bad.*good"):
        ed.export_checkpoint(ed.ExportConfig(checkpoint=student_dir, out=tmp_path / "bundle", data=str(tmp_path / "r.parquet"),
                                             precisions=("fp32",)))
    assert not (tmp_path / "bundle").exists()
    pq.write_table(pa.table({"content": [t for t, _ in rows], "target": [("negative", "positive")[y] for _, y in rows]}), tmp_path / "r.parquet")
    result = ed.export_checkpoint(ed.ExportConfig(checkpoint=student_dir, out=tmp_path / "bundle", data=str(tmp_path / "r.parquet"),
                                                  precisions=("fp32",), columns=ed.Columns(text="content", label="target")))
    assert result.check().path == tmp_path / "bundle"


def test_sentence_pairs_are_refused_by_a_recurrent_student(student_dir, movie, tmp_path, capsys, monkeypatch):
    path = tmp_path / "pairs.csv"
    path.write_text("premise,hypothesis,label\n" + "".join(f"\"{t}\",\"{t[::-1]}\",{('negative', 'positive')[y]}\n" for t, y in _rows(movie)),
                    encoding="utf-8")
    code, out, err = cli(["export", student_dir, "--data", path, "--out", tmp_path / "bundle"], capsys, monkeypatch)
    assert_clean(code, out, err, "holds sentence pairs")
    code, out, err = cli(["data", "show", path, "--n", "1"], capsys, monkeypatch)
    assert code == 0 and "||" in out and '"pairs": true' in out.replace(" ", "").replace('"pairs":true', '"pairs": true')


def test_a_bad_delimiter_flag_is_one_line(student_dir, tmp_path, capsys, monkeypatch):
    code, out, err = cli(["data", "show", "movie-snippets", "--delimiter", ";;"], capsys, monkeypatch)
    assert_clean(code, out, err, "one character")
