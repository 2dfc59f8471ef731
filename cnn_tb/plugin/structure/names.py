"""What a layer's name says about the blocks it belongs to (pure string functions)."""

import re

# Words that name a container in a layer name ("stage_0_block_1_gelu"): a
# numbered token with such a word below a numbered prefix makes that prefix
# a stage of units rather than one unit.
CONTAINER_WORDS = frozenset({"block", "stage", "layer", "cell", "unit", "group", "module", "stack", "level", "mixed"})

_SPLIT_ALNUM = re.compile(r"^([A-Za-z]+[0-9]+)([A-Za-z])$")


def snake_case(class_name):
    """Keras' automatic layer-name stem of a class (``ReLU`` -> ``re_lu``)."""
    name = re.sub(r"\W+", "", class_name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    name = re.sub("([a-z])([A-Z])", r"\1_\2", name)
    return name.lower()


def is_generic_name(local, class_name):
    """True for Keras' automatic names: ``conv2d``, ``conv2d_57``, ``re_lu_3``."""
    stem = snake_case(class_name)
    return bool(stem) and re.fullmatch(re.escape(stem) + r"(_[0-9]+)?", local) is not None


def _has_digit(token):
    return any(c.isdigit() for c in token)


def name_levels(local):
    """The numbered prefixes of a layer name, outermost first.

    ``conv3_block2_1_conv`` -> ``["conv3", "conv3_block2", "conv3_block2_1"]``;
    ``bn_Conv1`` -> ``["Conv1"]`` (words before a numbered token that starts
    with a letter are roles, not containers); ``block_5_expand`` ->
    ``["block_5"]``; ``mixed_6a`` -> ``["mixed_6a"]``; a name without digits
    gives ``[]``.
    """
    tokens = [t for t in local.split("_") if t]
    levels = []
    start = None
    for j, tok in enumerate(tokens):
        if not _has_digit(tok):
            continue
        if start is None:
            # "bn_Conv1" -> "Conv1": words before a token that starts with a
            # letter are roles; words before a number ("block_5",
            # "expanded_conv_1", "mixed_6a") belong to it.
            start = j if tok[0].isalpha() else 0
        levels.append("_".join(tokens[start : j + 1]))
    return levels


def container_below(level_name, deeper_name):
    """True when ``deeper_name`` extends ``level_name`` by a container token."""
    rest = deeper_name[len(level_name) :].strip("_")
    word = re.sub(r"[0-9_]+$", "", rest.split("_")[0])
    return word.lower() in CONTAINER_WORDS


def stage_key(label, level):
    """The stage a unit named ``label`` (at name level ``level``) belongs to, or None."""
    if level >= 2:  # "conv3_block2" -> "conv3", "stage_0_block_1" -> "stage_0"
        levels = name_levels(label)
        return levels[level - 2] if len(levels) >= level else None
    m = _SPLIT_ALNUM.match(label.split("_")[-1]) if label else None
    if m:  # EfficientNet's "block2a" -> "block2"
        head = label[: len(label) - len(label.split("_")[-1])]
        return head + m.group(1)
    return None


def common_prefix(names):
    """The underscore-separated words all ``names`` start with (the first name if none)."""
    out = []
    for group in zip(*(n.split("_") for n in names)):
        if len(set(group)) != 1:
            break
        out.append(group[0])
    return "_".join(out) or names[0]

