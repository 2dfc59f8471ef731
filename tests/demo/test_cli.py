"""The README's demo command end to end."""

import subprocess
import sys

from tests.support.tb_data import LogDir


def test_demo_command_trains_and_logs(tmp_path):
    log_dir = tmp_path / "demo"
    proc = subprocess.run(
        [sys.executable, "-m", "cnn_tb", "demo", "--logdir", str(log_dir), "--n-train", "600", "--probes", "4"],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"tensorboard --logdir {log_dir}" in proc.stdout
    assert "Epoch 3/3" in proc.stdout
    log = LogDir(str(log_dir))
    assert log.runs() == ["cnn_tb", "train", "validation"]
    assert sorted(log.epochs()) == [-1, 0, 1, 2]
    images = set(log.tags("images", "blobs")["cnn_tb"])
    assert {"feature_maps/conv1", "kernels/conv4", "heatmaps/gradcam/conv2"} <= images


def test_demo_rejects_bad_numbers(capsys):
    from cnn_tb.demo.cli import main

    assert main(["demo", "--epochs", "0"]) == 2
    assert "--epochs must be >= 1, got 0" in capsys.readouterr().err
