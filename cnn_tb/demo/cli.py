"""The ``cnn-tb`` command line: ``cnn-tb demo`` trains a small CNN with every
cnn_tb callback and tells you how to open the result in TensorBoard."""

import argparse
import os
import shlex
import subprocess
import sys


def _demo(args):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from cnn_tb._backend import BackendMissingError, import_keras

    try:
        keras = import_keras()
    except BackendMissingError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    import cnn_tb
    from cnn_tb.demo import datasets, models

    keras.utils.set_random_seed(args.seed)
    print(f"cnn_tb demo: dataset {args.dataset!r}, {args.n_train} training images, {args.epochs} epochs")
    try:
        (x, y), (xt, yt), class_names = datasets.load_dataset(
            args.dataset, n_train=args.n_train, n_test=max(args.probes, 1000), seed=args.seed
        )
    except RuntimeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    model = models.notebook_cnn(input_shape=x.shape[1:], num_classes=len(class_names))
    models.compile_for_demo(model)
    probes = cnn_tb.Probes.select(xt, yt, n=args.probes, class_names=class_names, seed=args.seed)
    log_dir = os.path.abspath(args.logdir)
    model.fit(
        x,
        y,
        epochs=args.epochs,
        batch_size=32,
        validation_data=(xt, yt),
        verbose=1 if sys.stdout.isatty() else 2,
        callbacks=[
            keras.callbacks.TensorBoard(log_dir),
            cnn_tb.LayerFlow(log_dir, probes),
        ],
    )
    command = ["tensorboard", "--logdir", log_dir]
    print("\nLogged to", log_dir)
    print("Open it in TensorBoard (the 'CNN Flow' tab, plus Images, Scalars, Histograms, Text):")
    print("  " + " ".join(shlex.quote(c) for c in command))
    if args.serve:
        command += ["--host", args.host, "--port", str(args.port)]
        print(f"Serving on http://{args.host}:{args.port}/ (Ctrl-C to stop)")
        try:
            return subprocess.call(command)
        except KeyboardInterrupt:
            return 0
    return 0


def build_parser():
    parser = argparse.ArgumentParser(
        prog="cnn-tb",
        description="See what every layer of a Keras CNN does to an image, epoch by epoch, in TensorBoard.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser(
        "demo",
        help="train a small CNN on a built-in dataset with cnn_tb logging",
        description="Train the notebook CNN with keras.callbacks.TensorBoard and cnn_tb.LayerFlow.",
    )
    demo.add_argument("--logdir", default="logs/cnn_tb_demo", help="log directory (default: %(default)s)")
    demo.add_argument("--epochs", type=int, default=3, help="epochs to train (default: %(default)s)")
    demo.add_argument(
        "--dataset",
        choices=["shapes", "cifar10"],
        default="shapes",
        help="'shapes' is built in (no download); 'cifar10' downloads CIFAR-10 (default: %(default)s)",
    )
    demo.add_argument("--n-train", type=int, default=5000, help="training images (default: %(default)s)")
    demo.add_argument("--probes", type=int, default=8, help="probe images (default: %(default)s)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    demo.add_argument("--serve", action="store_true", help="start TensorBoard on the log directory afterwards")
    demo.add_argument("--host", default="127.0.0.1", help="TensorBoard host with --serve (default: %(default)s)")
    demo.add_argument("--port", type=int, default=6006, help="TensorBoard port with --serve (default: %(default)s)")
    demo.set_defaults(func=_demo)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    for name in ("epochs", "n_train", "probes"):
        if getattr(args, name, 1) < 1:
            print(f"error: --{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}", file=sys.stderr)
            return 2
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
