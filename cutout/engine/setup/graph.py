"""Graph surgery for the int8 build, on the ``onnx`` package's ModelProto (setup time only).

Weights stored as float16 (the IMG.LY ISNet build) are widened to float32, so onnxruntime's CPU
kernels run without a Cast around every layer; the graph is pruned to the one output the engine
reads (U^2-Net's and ISNet's side outputs and their full-resolution upsampling go); the opset is
raised to 13 for per-channel quantisation.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def prepare_float_model(model: Any) -> Any:
    """float32 weights, only the first output, opset >= 13. Works on the ``onnx`` ModelProto."""
    model = widen_float16(model)
    model = prune_to_first_output(model)
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    if opset < 13:
        from onnx import version_converter

        model = version_converter.convert_version(model, 13)
    import onnx

    onnx.checker.check_model(model)
    return model


def widen_float16(model: Any) -> Any:
    """Turn a float16-weight graph (float32 at its edges, Casts inside) into a float32 one."""
    from onnx import TensorProto, numpy_helper

    graph = model.graph
    if not any(init.data_type == TensorProto.FLOAT16 for init in graph.initializer):
        return model
    for index, init in enumerate(graph.initializer):
        if init.data_type == TensorProto.FLOAT16:
            wide = numpy_helper.to_array(init).astype(np.float32)
            graph.initializer[index].CopyFrom(numpy_helper.from_array(wide, init.name))
    for node in graph.node:
        for attr in node.attribute:
            if node.op_type == "Cast" and attr.name == "to" and attr.i == TensorProto.FLOAT16:
                attr.i = TensorProto.FLOAT
            if attr.name == "value" and attr.t.data_type == TensorProto.FLOAT16:
                wide = numpy_helper.to_array(attr.t).astype(np.float32)
                attr.t.CopyFrom(numpy_helper.from_array(wide, attr.t.name))
    for info in [*graph.value_info, *graph.input, *graph.output]:
        if info.type.tensor_type.elem_type == TensorProto.FLOAT16:
            info.type.tensor_type.elem_type = TensorProto.FLOAT
    # Every Cast is now float -> float: bypass it (graph outputs keep theirs, as Identity-like).
    outputs = {o.name for o in graph.output}
    rename: dict[str, str] = {}
    kept = []
    for node in graph.node:
        if node.op_type == "Cast" and node.output[0] not in outputs:
            rename[node.output[0]] = node.input[0]
        else:
            kept.append(node)
    for node in kept:
        for index, name in enumerate(node.input):
            while name in rename:
                name = rename[name]
            node.input[index] = name
    del graph.node[:]
    graph.node.extend(kept)
    return model


def prune_to_first_output(model: Any) -> Any:
    """Keep only the graph's first output and the nodes, weights and shapes it needs."""
    graph = model.graph
    del graph.output[1:]
    needed = {graph.output[0].name}
    kept = []
    for node in reversed(list(graph.node)):
        if any(out in needed for out in node.output):
            kept.append(node)
            needed.update(name for name in node.input if name)
    kept.reverse()
    del graph.node[:]
    graph.node.extend(kept)
    for field in (graph.initializer, graph.value_info):
        items = [item for item in field if item.name in needed]
        del field[:]
        field.extend(items)
    return model
