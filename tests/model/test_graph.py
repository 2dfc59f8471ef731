"""The one layer walker: network order, kinds, shapes, connections, selection."""

import keras
import pytest

from cnn_tb.contract import records
from cnn_tb.contract.tags import INPUT, MAP, OTHER, VECTOR
from cnn_tb.model import graph, selection


def residual_nested():
    inner_in = keras.Input((8, 8, 4), name="inner_in")
    y = keras.layers.Conv2D(4, 3, padding="same", name="inner_conv")(inner_in)
    inner = keras.Model(inner_in, y, name="block")
    inp = keras.Input((8, 8, 3), name="img")
    a = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="c1")(inp)
    b = inner(a)
    x = keras.layers.Add(name="add")([a, b])
    x = keras.layers.Dropout(0.5, name="drop")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    out = keras.layers.Dense(3, activation="softmax", name="out")(x)
    return keras.Model(inp, out, name="net")


def test_walk_gives_network_order_kinds_shapes_and_inbound():
    infos = graph.walk(residual_nested())
    by = {i.name: i for i in infos}
    assert [i.name for i in infos] == [
        "img", "c1", "block", "block/inner_in", "block/inner_conv", "add", "drop", "gap", "out"
    ]
    assert by["img"].kind == INPUT and by["img"].output_shape == (8, 8, 3)
    assert by["c1"].kind == MAP and by["c1"].is_conv and by["c1"].kernel_shape == (3, 3, 3, 4)
    assert by["c1"].activation == "relu" and by["c1"].params == 3 * 3 * 3 * 4 + 4
    assert by["block"].kind == MAP and by["block"].parent is None
    assert by["block/inner_conv"].parent == "block" and by["block/inner_conv"].inbound == ["block/inner_in"]
    assert by["block/inner_in"].kind == OTHER and by["block/inner_in"].inbound == ["c1"]
    assert sorted(by["add"].inbound) == ["block", "c1"]
    assert by["gap"].kind == VECTOR and by["gap"].output_shape == (4,)
    assert by["out"].activation == "softmax"


def test_default_selection_and_explicit_selection():
    infos = graph.walk(residual_nested())
    chosen = [i.name for i in selection.select(infos)]
    assert chosen == ["c1", "block", "block/inner_conv", "add", "gap", "out"]  # no input, no dropout
    assert [i.name for i in infos if i.logged] == chosen
    assert [i.name for i in selection.select(infos, ["out", "c1", "c1"])] == ["c1", "out"]  # network order, once
    assert [i.name for i in selection.select(infos, keras.layers.Conv2D)] == ["c1", "block/inner_conv"]
    assert [i.name for i in selection.select(infos, ["drop"])] == ["drop"]  # named explicitly: logged
    assert [i.name for i in selection.select(infos, lambda layer: layer.name.startswith("a"))] == ["add"]
    assert [i.name for i in selection.select(infos, ["inner_conv"])] == ["block/inner_conv"]  # inner name works


@pytest.mark.parametrize(
    "layers, error, match",
    [
        (["nope"], ValueError, r"does not have: 'nope'. Layers of the model: \['c1'"),
        (["img"], ValueError, r"'img' cannot be logged: its output shape \(8, 8, 3\)|cannot be logged"),
        ([3], TypeError, r"Received the entry 3"),
        ([], ValueError, r"empty list"),
        (3.5, TypeError, r"Received: layers=3.5"),
    ],
)
def test_bad_selections(layers, error, match):
    infos = graph.walk(residual_nested())
    with pytest.raises(error, match=match):
        selection.select(infos, layers)


def test_all_layers_expands_nested_models_and_subclassed_ones():
    model = residual_nested()
    names = [l.name for l in graph.all_layers(model)]
    assert names == ["img", "c1", "block", "inner_in", "inner_conv", "add", "drop", "gap", "out"]

    class Sub(keras.Model):
        def __init__(self):
            super().__init__()
            self.conv = keras.layers.Conv2D(2, 3, name="sub_conv")
            self.head = keras.layers.Dense(2, name="sub_head")

        def call(self, x):
            return self.head(keras.ops.mean(self.conv(x), axis=(1, 2)))

    sub = Sub()
    sub(keras.ops.zeros((1, 8, 8, 3)))
    assert [l.name for l in graph.all_layers(sub)] == ["sub_conv", "sub_head"]
    assert graph.graph_model(sub) is None and not graph.is_graph_model(sub)
    with pytest.raises(ValueError, match="subclassed"):
        graph.require_graph_model(sub)


def test_sequential_models_and_output_kind():
    seq = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(2, 3, name="c"),
                            keras.layers.Flatten(name="f"), keras.layers.Dense(3, name="logits")])
    assert graph.is_graph_model(seq)
    assert [i.name for i in graph.walk(seq)][1:] == ["c", "f", "logits"]
    assert graph.output_kind(seq) == "logits" and graph.output_layer(seq).name == "logits"
    assert tuple(graph.model_input(seq).shape) == (None, 8, 8, 1)
    assert graph.output_kind(residual_nested()) == "softmax"
    unbuilt = keras.Sequential([keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="not built"):
        graph.require_graph_model(unbuilt)
    with pytest.raises(TypeError, match="needs a keras.Model"):
        graph.require_graph_model("model")


def test_describe_is_the_run_record_layer_entry():
    infos = graph.walk(residual_nested())
    selection.select(infos)
    entry = {i.name: i for i in infos}["c1"].describe()
    assert entry == records.layer_entry(
        name="c1", **{"class": "Conv2D"}, output_shape=[8, 8, 4], params=112, inbound=["img"], kind="map",
        logged=True, activation="relu", is_conv=True, kernel_shape=[3, 3, 3, 4], parent=None,
    )
    assert records.parse_run_record({"layers": [entry]})["layers"][0] == entry


def test_representative_layers_of_resnet50():
    model = keras.applications.ResNet50(weights=None, input_shape=(64, 64, 3), classes=10)
    selected = selection.select(graph.walk(model))
    shown = [i.name for i in selection.representative(selected)]
    # the last layer of each resolution stage, the first and last conv, the output
    assert shown == [
        "conv1_conv", "conv1_relu", "conv2_block3_out", "conv3_block4_out", "conv4_block6_out",
        "conv5_block3_3_conv", "conv5_block3_out", "predictions",
    ]
    assert selection.dashboard(selected) == selection.representative(selected)  # 176 logged layers > 24
    few = selected[:20]
    assert selection.dashboard(few) == few  # at most 24: every layer


def test_representative_thins_many_stages_to_the_limit():
    infos = [graph.LayerInfo(name=f"l{k}", layer=None, class_name="Conv2D", kind=MAP, output_shape=(40 - k, 8, 4),
                             inbound=[], params=0, is_conv=True) for k in range(30)]
    shown = selection.representative(infos, limit=10)
    assert len(shown) == 10
    assert shown[0].name == "l0" and shown[-1].name == "l29"  # first conv, last conv / output kept
    assert [i.name for i in shown] == sorted((i.name for i in shown), key=lambda n: int(n[1:]))


def test_dashboard_layers_option():
    infos = graph.walk(residual_nested())
    selected = selection.select(infos)
    assert [i.name for i in selection.dashboard(selected, "all")] == [i.name for i in selected]
    assert [i.name for i in selection.dashboard(selected, ["out", "c1"])] == ["c1", "out"]
    assert [i.name for i in selection.dashboard(selected, keras.layers.Dense)] == ["out"]
    assert [i.name for i in selection.dashboard(selected, lambda layer: "a" in layer.name)] == ["add", "gap"]
    with pytest.raises(ValueError, match=r"`dashboard_layers` names a layer that is not logged: 'drop'"):
        selection.dashboard(selected, ["drop"])
    with pytest.raises(TypeError, match=r"`dashboard_layers` entries must be layer names"):
        selection.validate_layers_arg([3], "dashboard_layers")
