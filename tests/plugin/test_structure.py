"""The block structure of real keras.applications models (cnn_tb.plugin.structure).

The layer lists are the run record's: ``graph.walk(model)`` + ``select`` +
``describe()`` on models built with ``weights=None`` at their smallest input.
"""

import re

import pytest

from cnn_tb.plugin import structure

# constructor -> input side (MODEL_ZOO.md: the smallest that builds)
ZOO = {
    "ResNet50": 32,
    "DenseNet121": 32,
    "MobileNetV2": 32,
    "EfficientNetB0": 32,
    "InceptionV3": 75,
    "ConvNeXtTiny": 32,
    "Xception": 75,
    "NASNetMobile": 32,
    "VGG16": 32,
}


def record_of(model):
    """``(layers, model_name, output_layer)`` as the run record holds them."""
    from cnn_tb.model import graph, selection

    infos = graph.walk(model)
    selection.select(infos)
    return [i.describe() for i in infos], model.name, graph.output_layer(model).name


@pytest.fixture(scope="module")
def zoo():
    import keras

    out = {}
    for name, side in ZOO.items():
        model = getattr(keras.applications, name)(weights=None, input_shape=(side, side, 3), classes=10)
        out[name] = record_of(model)
        keras.backend.clear_session()
    return out


def build(zoo, name):
    layers, model_name, output = zoo[name]
    return layers, structure.block_structure(layers, model_name, output)


def shown(layer):
    return layer["logged"] or layer["kind"] == "input"


def check_invariants(layers, s):
    """Every layer in exactly one place, contiguous blocks, two levels, a bounded top level."""
    blocks = s["blocks"]
    placed = []

    def visit(child, level):
        if child[0] == "layer":
            placed.append(child[1])
            return [child[1]]
        b = blocks[child[1]]
        assert b["level"] == level <= 2, (b["name"], level)
        inside = []
        for c in b["children"]:
            inside.extend(visit(c, level + 1))
        # contiguous in network order, and the recorded range is the real one
        assert sorted(inside) == list(range(b["first"], b["last"] + 1)), b["name"]
        assert b["layers"] == len(inside) >= 2, b["name"]
        assert b["output"] in inside
        if b["kind"] == "unit":
            assert all(c[0] == "layer" for c in b["children"]), b["name"]
        else:
            assert any(c[0] == "block" for c in b["children"]), b["name"]
        return inside

    for child in s["top"]:
        visit(child, 1)
    # every layer belongs to exactly one place: one top-level item or one block's children
    assert sorted(placed) == list(range(len(layers)))
    assert len(set(placed)) == len(placed)
    visible = [
        c for c in s["top"]
        if (shown(layers[c[1]]) if c[0] == "layer"
            else any(shown(layers[i]) for i in range(blocks[c[1]]["first"], blocks[c[1]]["last"] + 1)))
    ]
    assert len(visible) <= s["max_top"] == structure.MAX_TOP
    return visible


def top_names(layers, s):
    """Names on the top level; the input layer as "input_layer" (Keras numbers it
    input_layer_N when other models were built before in the process)."""
    def name(c):
        if c[0] == "block":
            return s["blocks"][c[1]]["name"]
        name = layers[c[1]]["name"]
        return "input_layer" if re.fullmatch(r"input_layer(_[0-9]+)?", name) else name

    return [name(c) for c in s["top"]]


def children_names(layers, s, block_name):
    (b,) = [b for b in s["blocks"] if b["name"] == block_name]
    return [layers[c[1]]["name"] if c[0] == "layer" else s["blocks"][c[1]]["name"] for c in b["children"]]


@pytest.mark.parametrize("name", list(ZOO))
def test_every_zoo_model_folds_to_one_screen(zoo, name):
    layers, s = build(zoo, name)
    visible = check_invariants(layers, s)
    assert not s["flat"]
    # the input and the output are top-level layers, first and last
    assert s["top"][0] == ["layer", 0] and layers[0]["kind"] == "input"
    assert s["top"][-1][0] == "layer" and layers[s["top"][-1][1]]["name"] == zoo[name][2]
    assert len(visible) >= 5


def test_resnet50_stages_and_blocks(zoo):
    layers, s = build(zoo, "ResNet50")
    assert top_names(layers, s) == ["input_layer", "stem", "conv2", "conv3", "conv4", "conv5", "avg_pool", "predictions"]
    assert children_names(layers, s, "conv4") == [f"conv4_block{i}" for i in range(1, 7)]
    assert children_names(layers, s, "stem") == ["conv1_pad", "conv1_conv", "conv1_bn", "conv1_relu", "pool1_pad", "pool1_pool"]
    (unit,) = [b for b in s["blocks"] if b["name"] == "conv3_block2"]
    names = children_names(layers, s, "conv3_block2")
    assert names[0] == "conv3_block2_1_conv" and names[-2:] == ["conv3_block2_add", "conv3_block2_out"]
    assert unit["merge"] == "Add" and unit["kind"] == "unit" and unit["level"] == 2
    assert layers[unit["output"]]["name"] == "conv3_block2_out"
    # the first block of a stage has the projection shortcut: 12 layers, the others 10
    assert [b["layers"] for b in s["blocks"] if b["name"].startswith("conv2_block")] == [12, 10, 10]


def test_densenet121_dense_layers_and_transitions(zoo):
    layers, s = build(zoo, "DenseNet121")
    assert top_names(layers, s) == [
        "input_layer", "stem", "conv2", "pool2", "conv3", "pool3", "conv4", "pool4", "conv5", "head", "predictions"]
    assert [len(children_names(layers, s, f"conv{i}")) for i in (2, 3, 4, 5)] == [6, 12, 24, 16]
    assert children_names(layers, s, "pool3") == ["pool3_bn", "pool3_relu", "pool3_conv", "pool3_pool"]
    (unit,) = [b for b in s["blocks"] if b["name"] == "conv4_block7"]
    assert unit["merge"] == "Concatenate" and unit["layers"] == 7
    assert children_names(layers, s, "head") == ["bn", "relu", "avg_pool"]


def test_mobilenetv2_stages_follow_the_resolution(zoo):
    """``block_N`` names carry no stage: the stages come from the output size."""
    layers, s = build(zoo, "MobileNetV2")
    stages = [s["blocks"][c[1]] for c in s["top"] if c[0] == "block"]
    assert [b["via"] for b in stages] == ["resolution"] * 5
    assert [b["name"] for b in stages][1:4] == ["block_1 … block_2", "block_3 … block_5", "block_6 … block_12"]
    sizes = []
    for b in stages:
        sizes.append({tuple(layers[i]["output_shape"][:2]) for i in [c[1] for c in b["children"] if c[0] == "layer"]}
                     | {tuple(layers[s["blocks"][c[1]]["output"]]["output_shape"][:2]) for c in b["children"] if c[0] == "block"})
    assert [len(x) for x in sizes] == [1] * 5  # one output size per stage
    assert children_names(layers, s, "block_3 … block_5") == ["block_3", "block_4", "block_5"]
    assert len(children_names(layers, s, "block_4")) == 9


def test_efficientnetb0_units_around_their_se_branch(zoo):
    layers, s = build(zoo, "EfficientNetB0")
    assert top_names(layers, s) == [
        "input_layer", "stem", "block1a", "block2", "block3", "block4", "block5", "block6", "block7a", "head", "predictions"]
    assert children_names(layers, s, "block4") == ["block4a", "block4b", "block4c"]
    names = children_names(layers, s, "block2a")
    # the squeeze-excite graph unit and the named layers around it are one unit
    assert names[0] == "block2a_expand_conv" and "block2a_se_excite" in names and names[-1] == "block2a_project_bn"
    assert children_names(layers, s, "stem") == ["rescaling", "normalization", "stem_conv_pad", "stem_conv", "stem_bn", "stem_activation"]


def test_inceptionv3_generic_names_group_by_graph(zoo):
    """Keras' generic names (conv2d_57, activation_12): units end at the mixed concatenations."""
    layers, s = build(zoo, "InceptionV3")
    assert top_names(layers, s) == ["input_layer", "stem", "mixed0 … mixed2", "mixed3 … mixed7", "mixed8 … mixed10",
                                    "avg_pool", "predictions"]
    units = [b for b in s["blocks"] if b["via"] == "graph"]
    assert [b["name"] for b in units] == [f"mixed{i}" for i in range(11)]
    for b in units:
        assert layers[b["last"]]["name"] == b["name"] and b["merge"] == "Concatenate"
        assert sum(1 for c in b["children"] if structure.is_generic_name(layers[c[1]]["name"], layers[c[1]]["class"])) >= 10
    stem = children_names(layers, s, "stem")
    assert stem[0] == "conv2d" and stem[-1] == "activation_4" and len(stem) == 16


def test_convnext_tiny_nested_models_and_named_stages(zoo):
    layers, s = build(zoo, "ConvNeXtTiny")
    names = top_names(layers, s)
    assert names == ["input_layer", "stem", "stage_0", "downsampling_block_0", "stage_1", "downsampling_block_1",
                     "stage_2", "downsampling_block_2", "stage_3", "head", "convnext_tiny_head_dense"]
    assert children_names(layers, s, "stage_2") == [f"stage_2_block_{i}" for i in range(9)]
    # a nested Sequential is one unit, its own entry (its output) shown after its layers
    (ds,) = [b for b in s["blocks"] if b["name"] == "downsampling_block_1"]
    kids = children_names(layers, s, "downsampling_block_1")
    assert ds["via"] == "model" and kids[-1] == "convnext_tiny_downsampling_block_1"
    assert all(k.startswith("convnext_tiny_downsampling_block_1/") for k in kids[:-1])
    assert layers[ds["output"]]["name"] == "convnext_tiny_downsampling_block_1"


def test_nasnet_cells_from_the_narrowest_points(zoo):
    """NASNet's cells read the two cells before them: split where the fewest outputs are alive."""
    layers, s = build(zoo, "NASNetMobile")
    units = [b["name"] for b in s["blocks"] if b["kind"] == "unit" and "concat" in b["name"]]
    # each cell is a unit named by the concatenation that ends it
    assert units == (["reduction_concat_stem_1", "reduction_concat_stem_2"]
                     + [f"normal_concat_{i}" for i in range(4)] + ["reduction_concat_reduce_4"]
                     + [f"normal_concat_{i}" for i in range(5, 9)] + ["reduction_concat_reduce_8"]
                     + [f"normal_concat_{i}" for i in range(9, 13)])
    for b in s["blocks"]:
        if b["name"] in units:
            assert layers[b["output"]]["name"] == b["name"] and b["merge"] == "Concatenate"
    assert all(b["layers"] <= structure.UNIT_MAX for b in s["blocks"] if b["kind"] == "unit")


def test_small_model_stays_flat():
    from tests.support import real_runs

    model = real_runs.tiny_model(4)
    layers, name, output = record_of(model)
    s = structure.block_structure(layers, name, output)
    assert s["flat"] and s["blocks"] == []
    assert s["top"] == [["layer", i] for i in range(len(layers))]


def test_backbone_inside_a_model_is_unfolded():
    """Transfer learning: a big nested model shows its own stages on the top level."""
    import keras

    base = keras.applications.ResNet50(weights=None, include_top=False, input_shape=(32, 32, 3))
    inputs = keras.Input((32, 32, 3), name="image")
    x = keras.layers.GlobalAveragePooling2D(name="gap")(base(inputs))
    model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax", name="predictions")(x))
    layers, name, output = record_of(model)
    s = structure.block_structure(layers, name, output)
    check_invariants(layers, s)
    names = top_names(layers, s)
    assert names[0] == "image" and names[-2:] == ["gap", "predictions"]
    assert ["conv2", "conv3", "conv4", "conv5"] == [n for n in names if n.startswith("conv")]


def chain(n, shape=(8, 8, 4)):
    layers = [dict(name="input", **{"class": "InputLayer"}, inbound=[], parent=None, output_shape=list(shape),
                   kind="input", logged=False)]
    for i in range(1, n):
        layers.append(dict(name=f"layer_{i:04d}_x", **{"class": "Conv2D"}, inbound=[layers[-1]["name"]], parent=None,
                           output_shape=list(shape), kind="map", logged=True))
    return layers


@pytest.mark.parametrize("n", [17, 200, 1000])
def test_long_plain_chain_is_bounded(n):
    layers = chain(n)
    s = structure.block_structure(layers, "m", layers[-1]["name"])
    check_invariants(layers, s)
    assert all(b["layers"] <= max(structure.CHUNK, n // structure.MAX_TOP * 2 + 2) or b["kind"] == "stage"
               for b in s["blocks"])


HOSTILE_RECORDS = [
    # parent cycles, unknown parents and inbound names, self loops, missing fields
    [{"name": "a", "parent": "b"}, {"name": "b", "parent": "a"}] * 1,
    [{"name": f"x{i}", "inbound": [f"x{i}", "nope", f"x{i + 5}"], "parent": "x0", "logged": True} for i in range(40)],
    [{"name": "<img src=x onerror=alert(1)>", "class": "<b>", "logged": True, "output_shape": ["a", None]}] * 3,
    [{"name": f"n{i}", "class": "Add", "inbound": [f"n{j}" for j in range(i)], "logged": True} for i in range(60)],
]


@pytest.mark.parametrize("layers", HOSTILE_RECORDS)
def test_odd_records_never_raise(layers):
    layers = [dict({"class": "Layer", "inbound": [], "parent": None, "output_shape": [], "kind": "map",
                    "logged": False}, **l) for l in layers]
    s = structure.block_structure(layers, None, "nope")
    placed = []

    def visit(c):
        if c[0] == "layer":
            placed.append(c[1])
        else:
            for k in s["blocks"][c[1]]["children"]:
                visit(k)

    for c in s["top"]:
        visit(c)
    assert sorted(placed) == list(range(len(layers)))


@pytest.mark.parametrize("name,cls,generic", [
    ("conv2d", "Conv2D", True), ("conv2d_57", "Conv2D", True), ("re_lu_3", "ReLU", True),
    ("batch_normalization_12", "BatchNormalization", True), ("mixed7", "Concatenate", False),
    ("conv3_block2_1_conv", "Conv2D", False), ("predictions", "Dense", False), ("add", "Add", True),
])
def test_generic_names(name, cls, generic):
    assert structure.is_generic_name(name, cls) is generic


@pytest.mark.parametrize("name,levels", [
    ("conv3_block2_1_conv", ["conv3", "conv3_block2", "conv3_block2_1"]),
    ("bn_Conv1", ["Conv1"]),
    ("block_5_expand", ["block_5"]),
    ("block2a_se_squeeze", ["block2a"]),
    ("stage_0_block_1_gelu", ["stage_0", "stage_0_block_1"]),
    ("mixed_6a", ["mixed_6a"]),
    ("avg_pool", []),
])
def test_name_levels(name, levels):
    assert structure.name_levels(name) == levels


@pytest.mark.parametrize("label,level,stage", [
    ("conv3_block2", 2, "conv3"), ("stage_0_block_1", 2, "stage_0"), ("block35_1", 2, "block35"),
    ("block2a", 1, "block2"), ("block_5", 1, None), ("mixed7", 1, None),
])
def test_stage_keys(label, level, stage):
    assert structure.stage_key(label, level) == stage
