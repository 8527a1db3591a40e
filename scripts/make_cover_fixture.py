#!/usr/bin/env python3
"""Writes tests/data/cover_fixture/cover_fixture.onnx: a hand-set, UNTRAINED stand-in for a
truck-cover classifier, used only to test the ONNX classifier path of the uncovered_truck rule
(manifest, sha256 check, preprocessing, session, softmax, positive label).

Graph: image [1,3,32,32] (RGB, 0..1) -> GlobalAveragePool -> Flatten -> Gemm -> logits [1,2]
(covered, uncovered) with uncovered - covered = 8 * (mean R - mean G): reddish-brown loads score
"uncovered", green nets "covered". It knows nothing about trucks. Needs the `onnx` package
(pip install onnx); the output is committed, so the tests do not need it.
"""
import sys
from pathlib import Path

import onnx
from onnx import TensorProto, helper

out = Path(__file__).resolve().parent.parent / "tests/data/cover_fixture/cover_fixture.onnx"
W = helper.make_tensor("W", TensorProto.FLOAT, [3, 2], [-4.0, 4.0, 4.0, -4.0, 0.0, 0.0])
B = helper.make_tensor("B", TensorProto.FLOAT, [2], [0.0, 0.0])
graph = helper.make_graph(
    [
        helper.make_node("GlobalAveragePool", ["image"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["flat"], axis=1),
        helper.make_node("Gemm", ["flat", "W", "B"], ["logits"]),
    ],
    "cover_fixture",
    [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 32, 32])],
    [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 2])],
    initializer=[W, B],
)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                          producer_name="sharpeyes make_cover_fixture.py")
model.ir_version = 8
onnx.checker.check_model(model)
out.write_bytes(model.SerializeToString())
print(out, file=sys.stderr)
