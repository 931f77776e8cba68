"""Writes small malformed or hostile ONNX models for the CLI bad-input tests."""
import sys

import onnx
from onnx import TensorProto, helper

out = sys.argv[1]

# An op qdiff has no kernel for.
g = helper.make_graph(
    [helper.make_node("FooBar", ["x"], ["y"], name="mystery_node", domain="example.com")],
    "unknown_op",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
)
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid("example.com", 1)])
onnx.save(m, f"{out}/unknown_op.onnx")

# A tensor whose shape would need 4e15 floats.
shape = helper.make_tensor("shape", TensorProto.INT64, [3], [200000, 200000, 100000])
g = helper.make_graph(
    [
        helper.make_node("ConstantOfShape", ["shape"], ["big"], name="huge_fill"),
        helper.make_node("Add", ["x", "big"], ["y"], name="add"),
    ],
    "absurd_shape",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["a", "b", "c"])],
    initializer=[shape],
)
onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), f"{out}/absurd_shape.onnx")

# A node reading a tensor nobody produces.
g = helper.make_graph(
    [helper.make_node("Relu", ["nowhere"], ["y"], name="dangling_relu")],
    "dangling",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
)
onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), f"{out}/dangling.onnx")

# A graph that produces NaN: log(x) with x < 0.
g = helper.make_graph(
    [helper.make_node("Log", ["x"], ["y"], name="log_node"), helper.make_node("Relu", ["y"], ["z"], name="relu")],
    "nan",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
    [helper.make_tensor_value_info("z", TensorProto.FLOAT, [2])],
)
onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), f"{out}/nan.onnx")
