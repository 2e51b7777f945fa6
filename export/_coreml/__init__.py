"""Private helpers of export.coreml: read a saved .mlpackage and evaluate its MIL program with numpy.

Core ML's own `predict()` exists only on macOS. Here the package's MIL program is loaded back into
coremltools' Python IR (milproto -> pymil) and run op by op: most ops through their own value
inference, recurrent cells and control flow through small numpy implementations of their documented
semantics (kernels.py). Anything else raises UnsupportedOpError naming the op; nothing is guessed.

Everything here imports coremltools, so only export.coreml and edge_runtime.coreml load it, lazily.
"""
from export._coreml.evaluator import MILEvaluator, UnsupportedOpError, load_program
from export._coreml.spec import compressed_weights, io_specs, op_counts, read_metadata

__all__ = ["MILEvaluator", "UnsupportedOpError", "compressed_weights", "io_specs", "load_program", "op_counts", "read_metadata"]
