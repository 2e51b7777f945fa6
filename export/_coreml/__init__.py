"""Private helpers export.coreml uses to write a package: weight palettes (palette.py).

Reading and evaluating a saved package is the runtime's job: edge_runtime._coreml, through which
export.coreml validates what it writes.
"""
