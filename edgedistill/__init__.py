"""edgedistill: distil a fine-tuned Transformer classifier into small students, export them for phones,
and prove with numbers that they still give the teacher's answers.

One verb per job, each with one frozen config (field names are the CLI's flag names):

>>> import edgedistill as ed                                                                          # doctest: +SKIP
>>> student = ed.distill(ed.DistillConfig(teacher="runs/teacher", data="my.csv", out="runs/student"))  # doctest: +SKIP
>>> bundle = ed.export_checkpoint(ed.ExportConfig(checkpoint=student.path, out="runs/bundle"))         # doctest: +SKIP

Importing this package loads no ML library; each verb imports what it needs when called. The
lower-level verbs live in the capability packages `distill`, `export` and `edge_runtime`.
"""
from edgecore.errors import (
    CheckpointError,
    ConfigError,
    DataError,
    EdgedistillError,
    IntegrityError,
    OutputExistsError,
    ParityError,
    UnsupportedError,
)
from edgedistill.api import (
    BenchConfig,
    BenchReport,
    Columns,
    DistillConfig,
    DistillResult,
    ExportConfig,
    ExportResult,
    FinetuneConfig,
    ParityConfig,
    ParityResult,
    TeacherResult,
    bench,
    distill,
    export_checkpoint,
    finetune_teacher,
    parity,
)

__all__ = [
    "BenchConfig", "BenchReport", "CheckpointError", "Columns", "ConfigError", "DataError", "DistillConfig", "DistillResult",
    "EdgedistillError", "ExportConfig", "ExportResult", "FinetuneConfig", "IntegrityError", "OutputExistsError",
    "ParityConfig", "ParityError", "ParityResult", "TeacherResult", "UnsupportedError",
    "bench", "distill", "export_checkpoint", "finetune_teacher", "parity",
]
