"""Small edits of a .tflite flatbuffer: metadata entries, int8 weights of sequence-LSTM ops, a tensor census.

ai-edge-quantizer does not know UNIDIRECTIONAL_SEQUENCE_LSTM, so its weights are quantized here the
way TFLite's hybrid LSTM kernel reads them: int8, symmetric, one scale per tensor.
"""
from __future__ import annotations

import json
from collections import Counter

import numpy as np

METADATA_NAME = "edgedistill"
LSTM_WEIGHT_INPUTS = range(1, 9)   # 4 input-to-gate + 4 recurrent-to-gate weight tensors


def _schema():
    from ai_edge_litert import schema_py_generated as schema

    return schema


def read(model_bytes: bytes):
    from ai_edge_litert.tools import flatbuffer_utils

    return flatbuffer_utils.read_model_from_bytearray(bytearray(model_bytes))


def write(model) -> bytes:
    from ai_edge_litert.tools import flatbuffer_utils

    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def _new_buffer(model, data: bytes) -> int:
    buf = _schema().BufferT()
    buf.data = np.frombuffer(data, dtype=np.uint8)
    model.buffers.append(buf)
    return len(model.buffers) - 1


def set_metadata(model_bytes: bytes, meta: dict) -> bytes:
    """Store `meta` as JSON in the model's metadata entry "edgedistill" (replacing an older one)."""
    schema = _schema()
    model = read(model_bytes)
    model.metadata = [m for m in (model.metadata or []) if (m.name.decode() if isinstance(m.name, bytes) else m.name) != METADATA_NAME]
    entry = schema.MetadataT()
    entry.name = METADATA_NAME
    entry.buffer = _new_buffer(model, json.dumps(meta, sort_keys=True).encode())
    model.metadata.append(entry)
    return write(model)


def get_metadata(model_bytes: bytes) -> dict:
    """The "edgedistill" metadata entry of a .tflite file as a dict ({} when absent). Reads without unpacking weights."""
    schema = _schema()
    root = schema.Model.GetRootAsModel(model_bytes, 0)
    for i in range(root.MetadataLength()):
        entry = root.Metadata(i)
        if entry.Name().decode() == METADATA_NAME:
            return json.loads(root.Buffers(entry.Buffer()).DataAsNumpy().tobytes().decode())
    return {}


def quantize_lstm_weights(model_bytes: bytes) -> tuple[bytes, int]:
    """int8 (symmetric, per tensor) weights for every UNIDIRECTIONAL_SEQUENCE_LSTM op: the kernel then runs its
    hybrid path (int8 matmuls, float state), the dynamic-range int8 of ONNX Runtime's DynamicQuantizeLSTM."""
    schema = _schema()
    from ai_edge_litert.tools import flatbuffer_utils

    model = read(model_bytes)
    codes = [flatbuffer_utils.get_builtin_code_from_operator_code(c) for c in model.operatorCodes]
    done: dict[int, int] = {}
    replaced: set[int] = set()
    for graph in model.subgraphs:
        for op in graph.operators:
            if codes[op.opcodeIndex] != schema.BuiltinOperator.UNIDIRECTIONAL_SEQUENCE_LSTM:
                continue
            for k in LSTM_WEIGHT_INPUTS:
                index = int(op.inputs[k])
                if index < 0 or (id(graph), index) in done:
                    continue
                tensor = graph.tensors[index]
                if tensor.type != schema.TensorType.FLOAT32:
                    continue
                w = np.frombuffer(np.asarray(model.buffers[tensor.buffer].data, dtype=np.uint8).tobytes(), np.float32)
                scale = max(float(np.abs(w).max()) / 127.0, 1e-12)
                q = np.clip(np.round(w / scale), -127, 127).astype(np.int8)
                old = tensor.buffer
                tensor.buffer = _new_buffer(model, q.tobytes())   # a fresh buffer: the float one may be shared
                tensor.type = schema.TensorType.INT8
                params = schema.QuantizationParametersT()
                params.scale, params.zeroPoint, params.quantizedDimension = [scale], [0], 0
                tensor.quantization = params
                done[(id(graph), index)] = 1
                replaced.add(old)
    in_use = {t.buffer for g in model.subgraphs for t in g.tensors}
    for old in replaced - in_use:   # drop the float copies nobody reads any more (else the file keeps both)
        model.buffers[old].data = None
    return write(model), len(done)


def census(model_bytes: bytes) -> dict:
    """Op counts and the element types of constant tensors (name -> type), for tests and reports."""
    schema = _schema()
    from ai_edge_litert.tools import flatbuffer_utils

    type_names = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
    op_names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    model = read(model_bytes)
    codes = [flatbuffer_utils.get_builtin_code_from_operator_code(c) for c in model.operatorCodes]
    ops, constants, per_graph = Counter(), Counter(), []
    for graph in model.subgraphs:
        per_graph.append(len(graph.operators))
        for op in graph.operators:
            ops[op_names.get(codes[op.opcodeIndex], str(codes[op.opcodeIndex]))] += 1
        for tensor in graph.tensors:
            data = model.buffers[tensor.buffer].data if tensor.buffer < len(model.buffers) else None
            if data is not None and len(data):
                constants[type_names.get(tensor.type, str(tensor.type))] += int(np.prod(tensor.shape)) if tensor.shape is not None else 1
    return {"ops": dict(ops), "op_count": sum(ops.values()), "ops_per_subgraph": per_graph,
            "signatures": len(model.signatureDefs or []),
            "constant_elements_by_type": dict(constants)}
