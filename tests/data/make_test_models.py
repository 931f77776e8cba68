"""Makes the tiny ONNX models the importer tests read (committed; rerun to regenerate).

    /usr/bin/python3 tests/data/make_test_models.py
"""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

here = os.path.dirname(os.path.abspath(__file__))


def save(model, name):
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(here, name))


# float16 model: y = Cast<float>(x * w), with x, w float16.
w = numpy_helper.from_array(np.array([0.5, -2.0, 3.0, 1.0 / 3.0], np.float16), "w")
g = helper.make_graph(
    [
        helper.make_node("Mul", ["x", "w"], ["xw"], name="mul"),
        helper.make_node("Cast", ["xw"], ["y"], name="cast", to=TensorProto.FLOAT),
    ],
    "fp16",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT16, [1, 4])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
    initializer=[w],
)
save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), "fp16.onnx")

# Nodes written out of topological order: z = Relu(x + b).
b = numpy_helper.from_array(np.array([1.0, -1.0], np.float32), "b")
g = helper.make_graph(
    [
        helper.make_node("Relu", ["s"], ["z"], name="relu"),
        helper.make_node("Add", ["x", "b"], ["s"], name="add"),
    ],
    "unsorted",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
    [helper.make_tensor_value_info("z", TensorProto.FLOAT, [2])],
    initializer=[b],
)
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
onnx.save(m, os.path.join(here, "unsorted.onnx"))  # the checker would refuse it as written

# External data: the weight lives in external.bin.
wt = numpy_helper.from_array(np.arange(6, dtype=np.float32).reshape(2, 3), "wt")
g = helper.make_graph(
    [helper.make_node("MatMul", ["x", "wt"], ["y"], name="matmul")],
    "external",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])],
    initializer=[wt],
)
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
onnx.external_data_helper.convert_model_to_external_data(
    m, all_tensors_to_one_file=True, location="external.bin", size_threshold=0)
onnx.save(m, os.path.join(here, "external.onnx"))

# Opset 21 / IR version 10: newer than Debian's libonnx; must still load and run.
g = helper.make_graph(
    [helper.make_node("Add", ["x", "b"], ["s"], name="add"), helper.make_node("Relu", ["s"], ["z"], name="relu")],
    "opset21",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
    [helper.make_tensor_value_info("z", TensorProto.FLOAT, [2])],
    initializer=[b],
)
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)])
m.ir_version = 10
onnx.save(m, os.path.join(here, "opset21.onnx"))  # not checkable with onnx 1.12
