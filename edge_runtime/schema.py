"""JSON schemas (draft 2020-12) of what edge_runtime writes: one benchmark result, a `bench_files` run,
the demo's bench.json, a bundle's manifest.json, and report.json (the keys docs/architecture.md documents; more keys are allowed).

Other tools (the Android core, a CI dashboard) can read the same schemas: `python -m edge_runtime.schema report`
prints one. Validation needs `jsonschema`, imported only when `validate` is called.
"""
from __future__ import annotations

import json
import sys

from edgecore import DataError
from edgecore.formats import ALL_PRECISIONS, EXPORT_FORMATS, FORMATS


class SchemaError(DataError):
    """A JSON document does not match its schema; the message lists every mismatch with its path."""


_NUM = {"type": "number"}
_NONNEG = {"type": "number", "minimum": 0}
_FRACTION = {"type": "number", "minimum": 0, "maximum": 1}

DEFS = {
    "stats": {"type": "object", "required": ["min", "mean", "p50", "p90", "p99", "max", "std"],
              "properties": {k: _NONNEG for k in ("min", "mean", "p50", "p90", "p99", "max", "std")}},
    "bench_config": {"type": "object", "required": ["warmup", "runs", "min_seconds", "threads", "batch", "seq_len", "cpus"],
                     "properties": {"warmup": {"type": "integer", "minimum": 0}, "runs": {"type": "integer", "minimum": 1},
                                    "min_seconds": _NONNEG, "max_seconds": _NONNEG, "threads": {"type": "integer", "minimum": 1},
                                    "batch": {"type": "integer", "minimum": 1}, "seq_len": {"type": "integer", "minimum": 2},
                                    "cpus": {"type": ["array", "null"], "items": {"type": "integer", "minimum": 0}},
                                    "profile": {"type": ["string", "null"], "enum": ["little", "big", None]},
                                    "warm_calls": {"type": "integer", "minimum": 0}}},
    "floor": {"type": "object",
              "oneOf": [{"required": ["error"]},
                        {"required": ["macs", "floor_ms", "floor_ms_one_core", "threads", "x_floor"],
                         "properties": {"macs": {"$ref": "#/$defs/macs"}, "floor_ms": _NONNEG, "floor_ms_one_core": _NONNEG,
                                        "threads": {"type": "integer", "minimum": 1}, "x_floor": {"type": ["number", "null"], "minimum": 0}}}]},
    "macs": {"type": "object", "required": ["fp32", "int8", "total", "batch", "seq_len", "source", "by_op", "uncounted"],
             "properties": {"fp32": {"type": "integer", "minimum": 0}, "int8": {"type": "integer", "minimum": 0},
                            "total": {"type": "integer", "minimum": 0}, "source": {"enum": ["onnx-graph", "rnn-config", "static-config", "cnn-config", "bert-config"]},
                            "by_op": {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}},
                            "uncounted": {"type": "array", "items": {"type": "string"}}}},
    "gemm": {"type": "object", "required": ["fp32_gmacs", "int8_gmacs", "fp32_shape", "int8_shape", "cpu"],
             "properties": {"fp32_gmacs": {"type": "number", "exclusiveMinimum": 0}, "int8_gmacs": {"type": "number", "exclusiveMinimum": 0},
                            "fp32_shape": {"$ref": "#/$defs/mkn"}, "int8_shape": {"$ref": "#/$defs/mkn"},
                            "shapes": {"type": "array", "items": {"$ref": "#/$defs/mkn"}}}},
    "mkn": {"type": "array", "items": {"type": "integer", "minimum": 1}, "minItems": 3, "maxItems": 3},
    "bench_result": {
        "type": "object",
        "required": ["name", "runs", "latency_ms", "throughput_per_s", "peak_rss_mb", "config", "info", "workload", "memory", "vs_baseline"],
        "properties": {
            "name": {"type": "string"}, "runs": {"type": "integer", "minimum": 1}, "latency_ms": {"$ref": "#/$defs/stats"},
            "throughput_per_s": {"type": "number", "exclusiveMinimum": 0},
            "peak_rss_mb": {"type": ["number", "null"], "exclusiveMinimum": 0},   # null: a device that does not report it (adb)
            "config": {"$ref": "#/$defs/bench_config"},
            "info": {"type": "object", "properties": {"format": {"type": "string"}, "precision": {"type": "string"},
                                                      "threads": {"type": "integer", "minimum": 1}, "load_ms": _NONNEG}},
            "latencies_ms": {"type": "array", "items": _NONNEG, "minItems": 1},
            "sample_tokens": {"type": "array", "items": {"type": "integer", "minimum": 0}},
            "workload": {"type": "object", "anyOf": [{"maxProperties": 0}, {"required": ["kind", "items", "batch"]}],
                         "properties": {"kind": {"enum": ["fixed", "sentences", "end-to-end"]}, "items": {"type": "integer", "minimum": 1},
                                        "batch": {"type": "integer", "minimum": 1}}},
            "load_ms": {"type": ["number", "null"], "minimum": 0},
            "first_run_ms": {"type": ["number", "null"], "minimum": 0}, "warmup_mean_ms": {"type": ["number", "null"], "minimum": 0},
            "memory": {"type": "object",   # empty for a result measured elsewhere (a phone over adb)
                       "properties": {"rss_warmup_delta_mb": _NUM, "rss_load_delta_mb": _NUM, "rss_after_mb": _NONNEG}},
            "vs_baseline": {"type": "object",   # empty until compared with a baseline in one interleaved run
                            "anyOf": [{"maxProperties": 0}, {"required": ["baseline", "p50_ratio", "mean_ratio", "paired_median_ratio"]}],
                            "properties": {"baseline": {"type": "string"}, "p50_ratio": {"type": "number", "exclusiveMinimum": 0},
                                           "mean_ratio": {"type": "number", "exclusiveMinimum": 0},
                                           "paired_median_ratio": {"type": ["number", "null"], "exclusiveMinimum": 0}}},
            "tokenize_ms": {"oneOf": [{"type": "null"}, {"$ref": "#/$defs/stats"}]},
            "floor": {"oneOf": [{"type": "null"}, {"$ref": "#/$defs/floor"}]},
        }},
    "latency": {"type": "object", "required": ["p50", "p90", "p99"], "properties": {k: _NONNEG for k in ("p50", "p90", "p99", "mean", "min", "max")}},
    "artifact": {
        "type": "object",
        "required": ["format", "precision", "path", "size_bytes", "latency_ms", "accuracy", "agreement_with_teacher", "max_abs_logit_diff"],
        "properties": {"format": {"enum": list(FORMATS)},
                       "precision": {"enum": list(ALL_PRECISIONS)},
                       "path": {"type": "string"}, "size_bytes": {"type": "integer", "minimum": 0},
                       "latency_ms": {"$ref": "#/$defs/latency"},
                       "accuracy": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
                       "agreement_with_teacher": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
                       "max_abs_logit_diff": {"type": ["number", "null"], "minimum": 0},
                       "floor": {"$ref": "#/$defs/floor"}}},
}

BENCH_RESULT_SCHEMA = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": "edgedistill:bench-result",
                       "$ref": "#/$defs/bench_result", "$defs": DEFS}

BENCH_RUN_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema", "$id": "edgedistill:bench-run", "$defs": DEFS,
    "type": "object", "required": ["format", "version", "config", "mode", "machine", "baseline", "results", "ratios_p50_vs_baseline"],
    "properties": {"format": {"const": "edgedistill-bench"}, "version": {"const": 1}, "config": {"$ref": "#/$defs/bench_config"},
                   "mode": {"enum": ["fixed", "sentences", "end-to-end"]},
                   "machine": {"type": "object", "required": ["cpu", "cores_allowed"]}, "baseline": {"type": "string"},
                   "gemm": {"oneOf": [{"type": "null"}, {"$ref": "#/$defs/gemm"}]},
                   "results": {"type": "object", "minProperties": 1, "additionalProperties": {"$ref": "#/$defs/bench_result"}},
                   "ratios_p50_vs_baseline": {"type": "object", "additionalProperties": {"type": "number", "exclusiveMinimum": 0}}}}

# the demo's bench.json: {runner name: result with its raw samples}
BENCH_SAMPLES_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema", "$id": "edgedistill:bench-samples", "$defs": DEFS,
    "type": "object", "minProperties": 1,
    "additionalProperties": {"allOf": [{"type": "object", "required": ["name", "runs", "latency_ms", "latencies_ms"],
                                        "properties": {"name": {"type": "string"}, "latency_ms": {"$ref": "#/$defs/stats"},
                                                       "latencies_ms": {"type": "array", "items": _NONNEG, "minItems": 1}}}]}}

REPORT_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema", "$id": "edgedistill:report", "$defs": DEFS,
    "type": "object", "required": ["teacher", "students", "data", "machine", "wall_seconds"],
    "properties": {
        "teacher": {"type": "object", "required": ["name", "accuracy", "params", "latency_ms", "size_bytes"],
                    "properties": {"name": {"type": "string"}, "accuracy": _FRACTION, "params": {"type": "integer", "minimum": 1},
                                   "latency_ms": {"$ref": "#/$defs/latency"}, "size_bytes": {"type": "integer", "minimum": 0},
                                   "artifacts": {"type": "array", "items": {"$ref": "#/$defs/artifact"}}, "floor": {"$ref": "#/$defs/floor"}}},
        "students": {"type": "array", "items": {
            "type": "object", "required": ["name", "kind", "trained_on", "accuracy", "params", "artifacts"],
            "properties": {"name": {"type": "string"}, "kind": {"enum": ["bilstm", "gru", "static", "cnn", "transformer"]},
                           "trained_on": {"enum": ["teacher", "labels"]}, "accuracy": _FRACTION, "params": {"type": "integer", "minimum": 1},
                           "artifacts": {"type": "array", "items": {"$ref": "#/$defs/artifact"}}}}},
        "data": {"type": "object", "required": ["name", "train", "dev", "test"],
                 "properties": {"name": {"type": "string"}, **{k: {"type": "integer", "minimum": 0} for k in ("train", "dev", "test")}}},
        "machine": {"type": "object", "required": ["cpu", "threads"], "properties": {"cpu": {"type": "string"}, "threads": {"type": "integer", "minimum": 1}}},
        "wall_seconds": _NONNEG,
        "floors": {"type": "object", "required": ["gemm", "seq_len", "batch", "threads"], "properties": {"gemm": {"$ref": "#/$defs/gemm"}}},
        # p50 per runner at the fixed length and at the test data's median / p90 token counts
        "bench_by_length": {"type": "object", "additionalProperties": {
            "type": "object", "required": ["tokens", "p50_ms"],
            "properties": {"tokens": {"type": "integer", "minimum": 1}, "p50_ms": {"type": "object", "additionalProperties": _NONNEG}}}},
    }}

_SHA256 = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
# a path inside the bundle: relative, '/'-separated, no '..' part, no backslash or NUL (resolved again on use, so a
# symlink out of the folder is refused there)
_REL_PATH = {"type": "string", "minLength": 1, "maxLength": 1024, "pattern": r"^(?!/)(?![A-Za-z]:)(?!.*(^|/)\.\.(/|$))[^\\\x00]+$"}
#: what exporters write (export.artifact.TensorSpec): int64/int32 token ids, float32/float16 logits, the string of a
#: string-input file (export.text_input)
TENSOR_DTYPES = ("int64", "int32", "float32", "float16", "string")
_TENSOR = {"type": "object", "required": ["name", "dtype", "shape"],
           "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 256}, "dtype": {"enum": list(TENSOR_DTYPES)},
                          "shape": {"type": "array", "maxItems": 8, "items": {"anyOf": [{"type": "integer", "minimum": 1}, {"type": "string"}]}}}}
MANIFEST_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema", "title": "edgedistill bundle manifest.json", "type": "object",
    "required": ["format", "version", "labels", "tokenizer", "models", "files"],
    "properties": {
        "format": {"const": "edgedistill-bundle"},
        "version": {"type": "integer", "minimum": 1},
        "name": {"type": "string", "maxLength": 256},
        "labels": {"type": "array", "minItems": 2, "maxItems": 100000, "items": {"type": "string", "minLength": 1, "maxLength": 1024}},
        "tokenizer": {"type": "object", "required": ["max_len"],
                      "properties": {"max_len": {"type": "integer", "minimum": 2, "maximum": 1048576},
                                     "pad_id": {"type": "integer", "minimum": 0}, "vocab_size": {"type": "integer", "minimum": 1},
                                     "lowercase": {"type": "boolean"},
                                     **{f"{role}_id": {"type": ["integer", "null"], "minimum": 0} for role in ("cls", "sep", "unk", "mask")},
                                     "model": {"enum": ["WordPiece", "BPE", "Unigram", "WordLevel"]},
                                     "truncation_side": {"enum": ["left", "right"]},
                                     # which content tokens a long text keeps (edgecore.longtext.Truncation)
                                     "truncation": {"type": "object", "required": ["strategy"],
                                                    "properties": {"strategy": {"enum": ["head", "tail", "head_tail"]},
                                                                   "head": {"type": "integer", "minimum": 0}}},
                                     "model_inputs": {"type": "array", "minItems": 2, "uniqueItems": True,
                                                      "items": {"enum": ["input_ids", "attention_mask", "token_type_ids",
                                                                         "pair_input_ids", "pair_attention_mask"]}}}},
        "task": {"type": "object", "properties": {"inputs": {"type": "array", "minItems": 1, "maxItems": 2, "uniqueItems": True,
                                                             "items": {"enum": ["text", "text_pair"]}},
                                                  # sentence pairs: one sequence (pair template) | each side alone (siamese)
                                                  "pair_encoding": {"enum": ["joint", "siamese"]},
                                                  # multi-label: a label is predicted when sigmoid(logit) >= its threshold
                                                  "problem_type": {"enum": ["single_label_classification", "multi_label_classification"]},
                                                  "thresholds": {"type": "array", "minItems": 1, "maxItems": 100000,
                                                                 "items": {"type": "number", "minimum": 0, "maximum": 1}},
                                                  # documents longer than the model: cut once, or windows aggregated (edgecore.longtext.LongText)
                                                  "long_text": {"type": "object", "required": ["mode"],
                                                                "properties": {"mode": {"enum": ["truncate", "windows"]},
                                                                               "stride": {"type": "integer", "minimum": 1},
                                                                               "aggregate": {"enum": ["mean", "max"]},
                                                                               "max_windows": {"type": "integer", "minimum": 1}}}}},
        "models": {"type": "array", "minItems": 1, "maxItems": 64, "items": {
            "type": "object", "required": ["file", "format", "precision"],
            "properties": {"file": _REL_PATH, "format": {"enum": list(EXPORT_FORMATS)}, "precision": {"enum": list(ALL_PRECISIONS)},
                           "sha256": _SHA256, "inputs": {"type": "array", "maxItems": 16, "items": _TENSOR},
                           "outputs": {"type": "array", "maxItems": 16, "items": _TENSOR}, "default": {"type": "boolean"},
                           # absent: the file takes token ids; "text": it takes the raw string, tokenized by `runtime`
                           # (onnxruntime-extensions' op inside the file, or MediaPipe Tasks from the file's metadata)
                           "input": {"enum": ["ids", "text"]}, "runtime": {"enum": ["onnxruntime-extensions", "mediapipe-tasks"]}}}},
        "files": {"type": "array", "minItems": 1, "maxItems": 100000, "items": {
            "type": "object", "required": ["path", "sha256", "size"],
            "properties": {"path": _REL_PATH, "sha256": _SHA256, "size": {"type": "integer", "minimum": 0}}}},
    }}

SCHEMAS = {"manifest": MANIFEST_SCHEMA, "bench-result": BENCH_RESULT_SCHEMA, "bench-run": BENCH_RUN_SCHEMA, "bench-samples": BENCH_SAMPLES_SCHEMA, "report": REPORT_SCHEMA}


def validate(document: dict, kind: str) -> None:
    """Raise SchemaError listing every place `document` breaks the `kind` schema (one of SCHEMAS).

    >>> validate(json.load(open("runs/demo/report.json")), "report")  # doctest: +SKIP
    """
    if kind not in SCHEMAS:
        raise SchemaError(f"no schema called {kind!r}; choose one of {', '.join(SCHEMAS)}")
    import jsonschema

    validator = jsonschema.Draft202012Validator(SCHEMAS[kind])
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    if errors:
        shown = "; ".join(f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message[:160]}" for e in errors[:10])
        more = f" (and {len(errors) - 10} more)" if len(errors) > 10 else ""
        raise SchemaError(f"{len(errors)} mismatch(es) with the {kind} schema: {shown}{more}")


if __name__ == "__main__":
    name = sys.argv[1] if len(sys.argv) > 1 else "report"
    print(json.dumps(SCHEMAS[name], indent=2))
