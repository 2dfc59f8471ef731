"""cnn_tb: Keras callbacks + a TensorBoard plugin that show what every CNN layer does."""

from setuptools import find_packages, setup

setup(
    name="cnn_tb",
    version="0.1.0",
    description=(
        "Keras callbacks and a TensorBoard plugin that show what every layer of a "
        "convolutional network does to an image, epoch by epoch."
    ),
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.9",
    packages=find_packages(include=["cnn_tb", "cnn_tb.*"]),
    package_data={"cnn_tb.plugin": ["API.md", "static/*.js", "static/*.css", "static/views/*.js"]},
    install_requires=[
        "tensorflow-cpu>=2.16; platform_machine!='arm64' and platform_machine!='aarch64'",
        "tensorflow>=2.16; platform_machine=='arm64' or platform_machine=='aarch64'",
        "keras>=3.0",
        "tensorboard>=2.16",
        "numpy",
        "scipy",
        "matplotlib",
        "pillow",
    ],
    extras_require={
        "test": ["pytest", "hypothesis", "playwright", "werkzeug"],
    },
    entry_points={
        "console_scripts": ["cnn-tb = cnn_tb.demo.cli:main"],
        "tensorboard_plugins": ["cnn_tb = cnn_tb.plugin.loader:CnnTbLoader"],
    },
)
