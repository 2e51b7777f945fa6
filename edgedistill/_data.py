"""Where the data verbs read their table's columns, and which task shapes each verb takes today."""
from __future__ import annotations

from dataclasses import dataclass

from edgecore import ConfigError, UnsupportedError


@dataclass(frozen=True)
class Columns:
    """Where a user's table keeps its text, the second text of a sentence pair, and its label. None: recognised by name
    (text/sentence/review/content; sentence1+sentence2, premise+hypothesis, question1+question2; label/labels/sentiment/target).

    >>> ExportConfig(checkpoint="ckpt", out="bundle", data="reviews.tsv", columns=Columns(text="body", label="stars"))  # doctest: +SKIP
    """
    text: str | None = None
    text_pair: str | None = None
    label: str | None = None
    delimiter: str | None = None          # CSV-like files: one character (else from the extension or the header)
    label_separator: str | None = None    # multi-label cells of a CSV-like file, e.g. "|"

    def __post_init__(self) -> None:
        for name in ("text", "text_pair", "label", "label_separator"):
            value = getattr(self, name)
            if value is not None and not value.strip():
                raise ConfigError(f"{name.replace('_', '-')} column name is empty; give a column name or leave it out to recognise it")
        if self.delimiter is not None and len(self.delimiter) != 1:
            raise ConfigError(f"delimiter must be one character, e.g. ',' or '\\t' (got {self.delimiter!r})")

    def load(self, data: str, split=None):
        """The data set `data` names, read with these columns (distill.load_dataset)."""
        from distill import SplitConfig, load_dataset

        return load_dataset(data, split or SplitConfig(), text_column=self.text, text_pair_column=self.text_pair, label_column=self.label,
                            delimiter=self.delimiter, label_separator=self.label_separator)


def supported_task(dataset, verb: str, pairs: bool = True):
    """`dataset` if `verb` takes its shape (sentence pairs where `pairs`)."""
    if dataset.has_pairs and not pairs:
        raise UnsupportedError(f"{verb} does not take sentence-pair data yet ({dataset.name}: columns {', '.join(dataset.columns)}); "
                               f"pass --text-column to use one side")
    return dataset


def same_shape(dataset, multi_label: bool, model: str) -> None:
    """A multi-label model needs multi-label data and a single-label model single-label data: else a one-line error."""
    if dataset.multi_label != multi_label:
        kinds = ("multi-label (several labels per row)", "single-label (one label per row)")
        data_kind, model_kind = kinds[not dataset.multi_label], kinds[not multi_label]
        raise UnsupportedError(f"{model} is a {model_kind} classifier but {dataset.name} is {data_kind} data; give data of the model's kind"
                               + (" (or pass --label-separator only for multi-label files)" if dataset.multi_label else ""))
