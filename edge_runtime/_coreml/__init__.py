"""Private helpers of edge_runtime.coreml: read a saved .mlpackage and evaluate its MIL program with numpy.

Core ML's own `predict()` exists only on macOS. Here the package's MIL program is loaded back into
coremltools' Python IR (milproto -> pymil) and run op by op: most ops through their own value
inference, recurrent cells and control flow through small numpy implementations of their documented
semantics (kernels.py). Anything else raises UnsupportedOpError naming the op; nothing is guessed.

Running a file is the runtime's job, so this lives here; export.coreml validates what it writes
through it (PackageRunner, the spec readers) and imports coremltools through `coremltools()`.
Importing this package does not import coremltools: every function here loads it on first call.
"""
from edge_runtime._coreml._ct import coremltools, has_predict
from edge_runtime._coreml.evaluator import MILEvaluator, UnsupportedOpError, iter_ops, load_program
from edge_runtime._coreml.package import BACKENDS, NUMPY, PREDICT, PackageRunner
from edge_runtime._coreml.spec import compressed_weights, io_specs, op_counts, read_metadata

__all__ = ["BACKENDS", "MILEvaluator", "NUMPY", "PREDICT", "PackageRunner", "UnsupportedOpError", "compressed_weights",
           "coremltools", "has_predict", "io_specs", "iter_ops", "load_program", "op_counts", "read_metadata"]
