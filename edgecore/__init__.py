"""Small shared pieces every capability package uses: typed errors, atomic files, hashing, cache dir.

It imports nothing heavy and nothing of this project's other packages: it is the bottom layer that
`edge_runtime`, `export` and `distill` all build on (docs/architecture.md has the layering).
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
from edgecore.fsio import atomic_dir, atomic_write, cache_dir, check_writable, prepare_output_dir, sha256_bytes, sha256_file

__all__ = [
    "CheckpointError", "ConfigError", "DataError", "EdgedistillError", "IntegrityError",
    "OutputExistsError", "ParityError", "UnsupportedError",
    "atomic_dir", "atomic_write", "cache_dir", "check_writable", "prepare_output_dir", "sha256_bytes", "sha256_file",
]
