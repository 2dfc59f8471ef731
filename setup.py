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
    # No TensorFlow here: ``tensorflow``, ``tensorflow-cpu`` and ``tensorflow[and-cuda]``
    # are different distributions of one package, so requiring any of them writes a
    # second TensorFlow over the one a user has. The backend comes with an extra
    # (or is already installed): see the README's "Install".
    install_requires=[
        "keras>=3.0",
        "tensorboard>=2.16",
        "numpy",
        "scipy",
        "matplotlib",
        "pillow",
        "google-crc32c",  # event-file checksums without TensorFlow
    ],
    extras_require={
        # TensorFlow without CUDA (Linux x86-64 and Windows: tensorflow-cpu; others: tensorflow)
        "cpu": [
            "tensorflow-cpu>=2.16; platform_machine=='x86_64' or platform_machine=='AMD64'",
            "tensorflow>=2.16; platform_machine!='x86_64' and platform_machine!='AMD64'",
        ],
        "gpu": ["tensorflow[and-cuda]>=2.16"],  # TensorFlow with NVIDIA's CUDA libraries (Linux)
        "jax": ["jax"],
        "torch": ["torch"],
        "test": ["pytest", "hypothesis", "playwright", "werkzeug", "nbclient", "nbformat", "ipykernel"],
    },
    entry_points={
        "console_scripts": ["cnn-tb = cnn_tb.demo.cli:main"],
        "tensorboard_plugins": ["cnn_tb = cnn_tb.plugin.loader:CnnTbLoader"],
    },
)
