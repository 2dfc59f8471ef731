"""The keras.applications constructors and the input size each builds at offline
(``weights=None``; the smallest of 32, 75 that builds: see shared/MODEL_ZOO.md),
shared by tests/e2e/test_zoo.py and benchmarks/zoo.py."""

ZOO = {
    "ConvNeXtBase": 32, "ConvNeXtLarge": 32, "ConvNeXtSmall": 32, "ConvNeXtTiny": 32, "ConvNeXtXLarge": 32,
    "DenseNet121": 32, "DenseNet169": 32, "DenseNet201": 32,
    "EfficientNetB0": 32, "EfficientNetB1": 32, "EfficientNetB2": 32, "EfficientNetB3": 32, "EfficientNetB4": 32,
    "EfficientNetB5": 32, "EfficientNetB6": 32, "EfficientNetB7": 32,
    "EfficientNetV2B0": 32, "EfficientNetV2B1": 32, "EfficientNetV2B2": 32, "EfficientNetV2B3": 32,
    "EfficientNetV2L": 32, "EfficientNetV2M": 32, "EfficientNetV2S": 32,
    "InceptionResNetV2": 75, "InceptionV3": 75,
    "MobileNet": 32, "MobileNetV2": 32, "MobileNetV3Large": 32, "MobileNetV3Small": 32,
    "NASNetLarge": 32, "NASNetMobile": 32,
    "ResNet101": 32, "ResNet101V2": 32, "ResNet152": 32, "ResNet152V2": 32, "ResNet50": 32, "ResNet50V2": 32,
    "VGG16": 32, "VGG19": 32, "Xception": 75,
}
# Models that rescale 0..255 inputs themselves (their first layers): [0, 1] probes
# get preprocess=.
RESCALING = ("EfficientNet", "MobileNetV3", "ConvNeXt")
