"""Write an :class:`~deai.runtime.nets.MlpClassifier` as an ONNX graph, byte-for-byte stable.

The graph is built node by node with ``onnx.helper`` rather than through an exporter: the
MLP is three operators, the bytes depend only on the weights (no exporter version, no
producer timestamp), and no extra exporter package is needed. Outputs: ``logits`` and
``probabilities`` (softmax in the graph, so the direct onnxruntime call and deai's runtime
path compute the same thing).
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from deai.runtime.nets import MlpClassifier

OPSET = 17
INPUT_NAME = "pixels"


def mlp_to_onnx(model: MlpClassifier) -> bytes:
    inits: list[TensorProto] = []
    nodes: list[onnx.NodeProto] = []

    def const(name: str, array: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(array, dtype=np.float32), name))
        return name

    linears = [layer for layer in model.hidden if isinstance(layer, nn.Linear)]
    in_features = linears[0].in_features if linears else model.out.in_features
    current = "scaled"
    nodes.append(helper.make_node(
        "Mul", [INPUT_NAME, const("input_scale", np.array(model.input_scale, dtype=np.float32))], [current]
    ))
    for i, layer in enumerate(linears):
        w = const(f"hidden.{i}.weight", layer.weight.detach().cpu().numpy())
        b = const(f"hidden.{i}.bias", layer.bias.detach().cpu().numpy())
        nodes.append(helper.make_node("Gemm", [current, w, b], [f"h{i}.linear"], transB=1))
        nodes.append(helper.make_node("Relu", [f"h{i}.linear"], [f"h{i}"]))
        current = f"h{i}"
    w = const("out.weight", model.out.weight.detach().cpu().numpy())
    b = const("out.bias", model.out.bias.detach().cpu().numpy())
    nodes.append(helper.make_node("Gemm", [current, w, b], ["logits"], transB=1))
    nodes.append(helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1))
    classes = model.out.out_features
    graph = helper.make_graph(
        nodes, "deai-mlp-classifier",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["batch", in_features])],
        [
            helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", classes]),
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", classes]),
        ],
        initializer=inits,
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="deai")
    proto.ir_version = 8  # readable by every onnxruntime since 1.14
    onnx.checker.check_model(proto)
    data: bytes = proto.SerializeToString(deterministic=True)
    return data
