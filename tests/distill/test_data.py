import pytest

from distill.data import SplitConfig, load_dataset, read_csv, split_pool
from edgecore import ConfigError, DataError


def test_builtin_movie_labels_follow_the_rating_sign(movie):
    texts, labels = movie
    # the source has 10,043 sentences with |rating| > 0.5 (4,982 positive, 5,061 negative); 2 exact duplicates dropped
    assert len(texts) == 10041 and len(set(texts)) == len(texts)
    assert sum(labels) == 4981  # 4,982 positive before deduplication
    assert all(t == " ".join(t.split()) and t for t in texts)


def test_movie_split_is_fixed_disjoint_and_sized():
    ds = load_dataset("movie-snippets")
    assert ds.sizes() == {"train": 7041, "dev": 1000, "test": 2000}
    assert not set(ds.train.texts) & set(ds.test.texts)
    assert not set(ds.dev.texts) & set(ds.test.texts)
    again = load_dataset("movie-snippets")
    assert again.test.texts == ds.test.texts and again.fingerprint() == ds.fingerprint()
    assert load_dataset("movie-snippets", SplitConfig(seed=1)).fingerprint() != ds.fingerprint()


def test_split_of_a_small_pool_falls_back_to_fractions():
    train, dev, test = split_pool([f"s{i}" for i in range(50)], [i % 2 for i in range(50)], SplitConfig())
    assert (len(train), len(dev), len(test)) == (35, 5, 10)


def test_unknown_builtin_name_lists_choices():
    with pytest.raises(DataError, match="movie-snippets"):
        load_dataset("sst2")


def _write(tmp_path, content: bytes, name="d.csv"):
    p = tmp_path / name
    p.write_bytes(content)
    return p


def test_csv_reads_names_and_embedded_newlines(tmp_path):
    p = _write(tmp_path, b'text,label\n"line one\nline two",pos\nbad film,neg\nok,pos\n')
    texts, labels, names = read_csv(p)
    assert names == ("neg", "pos") and labels == [1, 0, 1] and texts[0] == "line one\nline two"


@pytest.mark.parametrize("content, message", [
    (b"", "no data rows"),
    (b"sentence,label\nhi,1\n", "no column 'text'"),
    (b"text,label\na,1\nb,1\n", "only one class"),
    (b"text,label\n\xff\xfe bad,1\n", "not valid UTF-8"),
    (b"text,label\na,\n", "empty 'label'"),
])
def test_csv_errors_name_the_problem(tmp_path, content, message):
    with pytest.raises(DataError, match=message):
        read_csv(_write(tmp_path, content))


def test_csv_missing_file_and_unknown_labels(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        read_csv(tmp_path / "nope.csv")
    with pytest.raises(DataError, match="not in the label set"):
        read_csv(_write(tmp_path, b"text,label\na,x\nb,y\n"), label_names=("x", "z"))


def test_split_config_is_checked():
    with pytest.raises(ConfigError):
        SplitConfig(test=0)
