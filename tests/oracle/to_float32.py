#!/usr/bin/python3
"""Writes the float32 original of a float16 ONNX model (onnx + numpy only).

    /usr/bin/python3 tests/oracle/to_float32.py IN.onnx OUT.onnx

qdiff's importer computes float16 models in float32 (float16 initializers and Casts to
float16 become float32).  ONNX Runtime computes them in float16, so to compare qdiff with
ORT at the oracle's 1e-4 tolerance ORT has to run the same float32 model.  This script
writes that model:

  - float16 initializers                          -> float32 (values converted exactly);
  - float16 tensor attributes (Constant 'value',   -> float32;
    ConstantOfShape 'value', ...)
  - Cast(to=FLOAT16)                              -> Cast(to=FLOAT);
  - 'dtype' attributes equal to FLOAT16           -> FLOAT (EyeLike, Random*);
  - graph input / output / value_info elem types FLOAT16 -> FLOAT.

Subgraphs (If/Loop/Scan bodies) are converted the same way.  Tensor and node names are
kept, so the dumps of both models align tensor by tensor.  The nodes are sorted
topologically (stable: the original order wherever it is already valid), because
onnx.checker rejects unsorted graphs and some exported models (ISNet) are not sorted.
The result is checked with onnx.checker.check_model (full_check: shape inference too).

Prints a summary line.  Exit status 0 ok, 1 error.
"""
import heapq
import sys

import numpy as np
import onnx
from onnx import TensorProto, numpy_helper

FP16 = TensorProto.FLOAT16
FP32 = TensorProto.FLOAT


class Stats:
    def __init__(self):
        self.initializers = 0
        self.attr_tensors = 0
        self.casts = 0
        self.dtypes = 0
        self.value_infos = 0
        self.reordered = 0


def tensor_to_fp32(t):
    """Returns a float32 TensorProto with t's name (t is float16, not external)."""
    arr = numpy_helper.to_array(t).astype(np.float32)
    out = numpy_helper.from_array(arr, t.name)
    if t.doc_string:
        out.doc_string = t.doc_string
    return out


def convert_type(tp, stats):
    """Rewrites FLOAT16 element types inside a TypeProto (tensor, sequence, optional, map)."""
    which = tp.WhichOneof("value")
    if which == "tensor_type":
        if tp.tensor_type.elem_type == FP16:
            tp.tensor_type.elem_type = FP32
            stats.value_infos += 1
    elif which == "sparse_tensor_type":
        if tp.sparse_tensor_type.elem_type == FP16:
            tp.sparse_tensor_type.elem_type = FP32
            stats.value_infos += 1
    elif which == "sequence_type":
        convert_type(tp.sequence_type.elem_type, stats)
    elif which == "map_type":
        convert_type(tp.map_type.value_type, stats)
    elif which == "optional_type":
        convert_type(tp.optional_type.elem_type, stats)


def topo_sort(graph, outer_names, stats):
    """Stable topological sort of graph.node (Kahn's algorithm, lowest original index first).

    outer_names: names visible from outside the graph (outer scope for subgraphs)."""
    nodes = list(graph.node)
    available = set(outer_names)
    available.update(i.name for i in graph.input)
    available.update(t.name for t in graph.initializer)
    available.update(t.values.name for t in graph.sparse_initializer)
    available.add("")  # omitted optional input

    def needs(node):
        """Names the node reads (including the outer-scope names its subgraphs read)."""
        names = set(node.input)
        for a in node.attribute:
            for g in ([a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs)):
                names.update(subgraph_free_names(g))
        return names

    producer = {}
    for k, n in enumerate(nodes):
        for o in n.output:
            if o:
                producer.setdefault(o, k)
    deps = []
    users = [[] for _ in nodes]
    for k, n in enumerate(nodes):
        d = set()
        for name in needs(n):
            if name in available:
                continue
            if name not in producer:
                # produced nowhere: leave it to the checker to report
                continue
            d.add(producer[name])
        d.discard(k)
        deps.append(len(d))
        for p in d:
            users[p].append(k)
    ready = [k for k in range(len(nodes)) if deps[k] == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        k = heapq.heappop(ready)
        order.append(k)
        for u in users[k]:
            deps[u] -= 1
            if deps[u] == 0:
                heapq.heappush(ready, u)
    if len(order) != len(nodes):
        raise ValueError("graph %r has a cycle (%d of %d nodes sortable)" % (graph.name, len(order), len(nodes)))
    if order != list(range(len(nodes))):
        stats.reordered += sum(1 for i, k in enumerate(order) if i != k)
        sorted_nodes = [nodes[k] for k in order]
        copies = [onnx.NodeProto() for _ in sorted_nodes]
        for c, n in zip(copies, sorted_nodes):
            c.CopyFrom(n)
        del graph.node[:]
        graph.node.extend(copies)


def subgraph_free_names(g):
    """Names a subgraph reads from its outer scope."""
    defined = set(i.name for i in g.input)
    defined.update(t.name for t in g.initializer)
    defined.update(t.values.name for t in g.sparse_initializer)
    free = set()
    for n in g.node:
        for name in n.input:
            if name and name not in defined:
                free.add(name)
        for a in n.attribute:
            for sg in ([a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs)):
                free.update(x for x in subgraph_free_names(sg) if x not in defined)
        defined.update(n.output)
    for o in g.output:
        if o.name not in defined:
            free.add(o.name)
    return free


def convert_graph(graph, outer_names, stats):
    for i, t in enumerate(graph.initializer):
        if t.data_type == FP16:
            if t.data_location == TensorProto.EXTERNAL:
                raise ValueError("initializer %r uses external data (not supported)" % t.name)
            graph.initializer[i].CopyFrom(tensor_to_fp32(t))
            stats.initializers += 1
    for st in graph.sparse_initializer:
        if st.values.data_type == FP16:
            st.values.CopyFrom(tensor_to_fp32(st.values))
            stats.initializers += 1
    for vi in list(graph.input) + list(graph.output) + list(graph.value_info):
        convert_type(vi.type, stats)

    scope = set(outer_names)
    scope.update(i.name for i in graph.input)
    scope.update(t.name for t in graph.initializer)
    for n in graph.node:
        for a in n.attribute:
            if a.type == onnx.AttributeProto.TENSOR and a.t.data_type == FP16:
                a.t.CopyFrom(tensor_to_fp32(a.t))
                stats.attr_tensors += 1
            elif a.type == onnx.AttributeProto.TENSORS:
                for j, t in enumerate(a.tensors):
                    if t.data_type == FP16:
                        a.tensors[j].CopyFrom(tensor_to_fp32(t))
                        stats.attr_tensors += 1
            elif a.type == onnx.AttributeProto.SPARSE_TENSOR and a.sparse_tensor.values.data_type == FP16:
                a.sparse_tensor.values.CopyFrom(tensor_to_fp32(a.sparse_tensor.values))
                stats.attr_tensors += 1
            elif a.type == onnx.AttributeProto.INT and a.i == FP16:
                if n.op_type == "Cast" and a.name == "to":
                    a.i = FP32
                    stats.casts += 1
                elif a.name == "dtype":
                    a.i = FP32
                    stats.dtypes += 1
            elif a.type == onnx.AttributeProto.GRAPH:
                convert_graph(a.g, scope | set(n.output), stats)
            elif a.type == onnx.AttributeProto.GRAPHS:
                for sg in a.graphs:
                    convert_graph(sg, scope | set(n.output), stats)
        scope.update(n.output)
    topo_sort(graph, outer_names, stats)


def main(argv):
    if len(argv) != 3 or argv[1] in ("-h", "--help"):
        sys.stderr.write(__doc__)
        return 1 if len(argv) != 2 else 0
    src, dst = argv[1], argv[2]
    try:
        model = onnx.load(src)
    except Exception as e:  # noqa: BLE001
        sys.stderr.write("to_float32: error: cannot load %s: %s\n" % (src, e))
        return 1
    stats = Stats()
    try:
        convert_graph(model.graph, set(), stats)
    except ValueError as e:
        sys.stderr.write("to_float32: error: %s: %s\n" % (src, e))
        return 1
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as e:  # noqa: BLE001
        sys.stderr.write("to_float32: error: the converted model fails onnx.checker: %s\n" % e)
        return 1
    onnx.save(model, dst)
    print("to_float32: %s -> %s: %d initializers, %d attribute tensors, %d Casts, %d dtype attrs, "
          "%d value types converted; %d nodes moved by the topological sort"
          % (src, dst, stats.initializers, stats.attr_tensors, stats.casts, stats.dtypes,
             stats.value_infos, stats.reordered))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
