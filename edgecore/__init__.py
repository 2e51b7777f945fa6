"""Small shared pieces every capability package uses: typed errors, atomic files, hashing, cache dir.

It imports nothing heavy and nothing of this project's other packages: it is the bottom layer that
`edge_runtime`, `export` and `distill` all build on (docs/architecture.md has the layering).
"""
from edgecore.errors import (
    BusyError,
    CheckpointError,
    ConfigError,
    DataError,
    EdgedistillError,
    IntegrityError,
    OutputExistsError,
    ParityError,
    UnsupportedError,
)
from edgecore.fsio import (
    atomic_dir,
    atomic_write,
    cache_dir,
    cache_lock,
    check_writable,
    hold_output,
    prepare_output_dir,
    release_output,
    release_outputs,
    sha256_bytes,
    sha256_file,
)

__all__ = [
    "BusyError", "CheckpointError", "ConfigError", "DataError", "EdgedistillError", "IntegrityError",
    "OutputExistsError", "ParityError", "UnsupportedError",
    "atomic_dir", "atomic_write", "cache_dir", "cache_lock", "check_writable", "hold_output", "prepare_output_dir",
    "release_output", "release_outputs", "sha256_bytes", "sha256_file",
]
