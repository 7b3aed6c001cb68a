"""archcalc's intermediate representation: the graph, building it without torch, and evaluating it.

Examples
--------
>>> b = GraphBuilder("mlp", inputs=[("x", (784,))])
>>> h = b.op("fc1", "Linear", "x", out_features=128)
>>> y = b.op("fc2", "Linear", b.op("relu", "ReLU", h), out_features=10)
>>> evaluate(b.build(y), batch=32).total("params")
101770
"""

from archcalc.ir.build import GraphBuilder, from_tree, layer, parallel, seq
from archcalc.ir.evaluate import Evaluation, Row, evaluate
from archcalc.ir.graph import Graph, Node, TensorSpec, ValueInfo

__all__ = ["Graph", "Node", "TensorSpec", "ValueInfo", "GraphBuilder", "from_tree", "layer", "parallel", "seq",
           "Evaluation", "Row", "evaluate"]
