"""Graph rewrites on the torch.export program before litert-torch sees it.

`x.gather(1, idx.unsqueeze(-1).expand(B, T, D))` (how the students reverse each sentence within its
length) lowers to a GATHER_ND with one (b, t, d) index triple per element: 24,576 triples for a
64 x 384 activation, ~0.4 ms on the CPU here, more than the whole int8 recurrence. The same rows come
out of `x.index_select(1, idx[0])` when the batch is 1 (every TFLite trace is), which lowers to one
GATHER of whole rows.
"""
from __future__ import annotations

import torch

aten = torch.ops.aten


def rewrite_row_gathers(gm: torch.fx.GraphModule) -> int:
    """Replace batch-1 gathers of whole rows along dim 1 by index_select; returns how many were rewritten."""
    count = 0
    for node in list(gm.graph.nodes):
        if node.op != "call_function" or node.target != aten.gather.default or len(node.args) < 3 or node.args[1] != 1:
            continue
        source, index = node.args[0], node.args[2]
        if not (isinstance(index, torch.fx.Node) and index.target == aten.expand.default):
            continue
        unsqueezed = index.args[0]
        if not (isinstance(unsqueezed, torch.fx.Node) and unsqueezed.target == aten.unsqueeze.default and unsqueezed.args[1] in (-1, 2)):
            continue
        rows = unsqueezed.args[0]
        rows_val, source_val = rows.meta.get("val"), source.meta.get("val")
        if rows_val is None or source_val is None or rows_val.dim() != 2 or rows_val.shape[0] != 1 or source_val.dim() != 3:
            continue
        if tuple(index.meta["val"].shape) != tuple(source_val.shape):
            continue   # a gather that picks single elements, not whole rows
        with gm.graph.inserting_before(node):
            row = gm.graph.call_function(aten.select.int, (rows, 0, 0))                 # (T,)
            picked = gm.graph.call_function(aten.index_select.default, (source, 1, row))  # (1, T, D)
        picked.meta = dict(node.meta)
        node.replace_all_uses_with(picked)
        gm.graph.erase_node(node)
        count += 1
    if count:
        gm.graph.eliminate_dead_code()
        gm.recompile()
    return count
