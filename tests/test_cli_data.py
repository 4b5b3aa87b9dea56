"""``--dataset`` and ``--data``: any registered dataset, IDX folder or .npz, the network's
sizes from the data, class names recorded and used by ``jaxnn evaluate`` and its figures."""

import json

import numpy as np
import pytest

from jaxnn import data
from jaxnn.cli import main


def _idx_folder(folder, shape=(28, 28), classes=10, n=(200, 60), seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir()
    for prefix, count in zip(("train", "t10k"), n, strict=True):
        labels = np.arange(count) % classes
        images = rng.integers(0, 60, (count, *shape), dtype=np.uint8)
        images[:, : shape[0] // 2] += (labels * (190 // classes)).astype(np.uint8)[:, None, None]
        data.write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", images)
        data.write_idx(folder / f"{prefix}-labels-idx1-ubyte", labels.astype(np.uint8))
    return folder


def test_fashion_class_names_are_recorded_and_used_by_evaluate(tmp_path, capsys):
    """--dataset fashion-mnist --data DIR: the class names go into config.json, evaluate
    prints them per class and writes confusion.png and misclassified.png."""
    folder = _idx_folder(tmp_path / "fashion")
    run = tmp_path / "run"
    assert main(["train", "--dataset", "fashion-mnist", "--data", str(folder), "--sizes",
                 "784,8,10", "--epochs", "2", "--batch-size", "50", "--quiet", "--out",
                 str(run)]) == 0
    config = json.loads((run / "config.json").read_text())
    assert config["data"]["classes"] == list(data.FASHION_MNIST_CLASSES)
    assert config["data"]["input_shape"] == [28, 28] and config["data"]["dataset"] == \
        "fashion-mnist"
    assert config["flags"]["dataset"] == "fashion-mnist"
    capsys.readouterr()
    assert main(["evaluate", str(run)]) == 0  # the run's own data, from config.json
    out = capsys.readouterr().out
    assert "test accuracy" in out and "on 60 examples of fashion-mnist" in out
    lines = [line for line in out.splitlines() if "accuracy" in line and " of " in line][1:]
    assert len(lines) == 10
    assert lines[0].split()[:2] == ["0", "T-shirt/top"]
    assert all(line.endswith("of 6)") for line in lines), lines
    assert "9 Ankle boot" in lines[9]
    for name in ("confusion.png", "misclassified.png"):
        assert (run / name).stat().st_size > 1000, name
    assert f"wrote {run / 'confusion.png'}" in out


def test_images_of_another_size_set_the_default_network(tmp_path, capsys):
    """A folder of 12 × 10 images in 3 classes: without --sizes, 120-256-3."""
    folder = _idx_folder(tmp_path / "small", shape=(12, 10), classes=3, n=(90, 30))
    run = tmp_path / "run"
    assert main(["train", "--data", str(folder), "--epochs", "1", "--batch-size", "30",
                 "--out", str(run)]) == 0
    out = capsys.readouterr().out
    assert "network 120-256-3, relu hidden, softmax output, cross_entropy cost" in out
    config = json.loads((run / "config.json").read_text())
    assert config["network"]["sizes"] == [120, 256, 3]
    assert config["flags"]["sizes"] == [120, 256, 3]  # --resume takes the data's sizes
    assert config["data"]["input_shape"] == [12, 10] and config["data"]["classes"] == \
        ["0", "1", "2"]
    assert main(["train", "--data", str(folder), "--sizes", "784,16,3", "--epochs", "1",
                 "--out", str(tmp_path / "bad")]) == 2
    err = capsys.readouterr().err
    assert "small has 120 inputs (12×10) and 3 classes, the network 784-16-3 has n_0 = 784" \
        in err and "Fix: --sizes 120,16,3, or leave out --sizes for 120,256,3" in err
    assert not (tmp_path / "bad").exists()


def test_an_npz_of_features_trains_and_evaluates_without_image_figures(tmp_path, capsys):
    rng = np.random.default_rng(1)
    y = np.arange(120) % 2
    x = rng.normal(size=(120, 5)).astype(np.float32) + y[:, None]
    path = tmp_path / "two.npz"
    np.savez(path, x_train=x[:90], y_train=y[:90], x_test=x[90:], y_test=y[90:],
             classes=np.array(["cat", "dog"]))
    run = tmp_path / "run"
    assert main(["train", "--data", str(path), "--epochs", "2", "--batch-size", "30",
                 "--quiet", "--out", str(run)]) == 0
    assert json.loads((run / "config.json").read_text())["data"]["classes"] == ["cat", "dog"]
    capsys.readouterr()
    figures = tmp_path / "figures"
    assert main(["evaluate", str(run / "checkpoint.safetensors"), "--out", str(figures)]) == 0
    out = capsys.readouterr().out
    assert "0 cat  accuracy" in out and "1 dog  accuracy" in out
    assert "no misclassified.png: the inputs are not images (input shape 5)" in out
    assert (figures / "confusion.png").is_file() and not (figures / "misclassified.png").exists()
    # Other data: a warning, and the run's own confusion.png is left as it is.
    assert main(["evaluate", str(run)]) == 0
    own = (run / "confusion.png").read_bytes()
    other = tmp_path / "other.npz"
    np.savez(other, x_train=x[:90] * 2, y_train=y[:90], x_test=x[90:] * 2, y_test=y[90:])
    capsys.readouterr()
    assert main(["evaluate", str(run), "--data", str(other)]) == 0
    captured = capsys.readouterr()
    assert f"jaxnn evaluate: warning: the run was trained on --data {path}; these numbers " \
        "are of the data given instead, not of the run's test set." in captured.err
    assert f"no figures: {run} keeps its own confusion.png and misclassified.png, of the " \
        "run's data. Fix: --out DIR for those of other." in captured.out
    assert (run / "confusion.png").read_bytes() == own


def test_missing_fashion_mnist_says_how_to_get_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(data.mnist, "FASHION_MNIST_DIR", tmp_path / "not-installed")
    assert main(["train", "--dataset", "fashion-mnist", "--epochs", "1", "--out",
                 str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("jaxnn train: error: --dataset fashion-mnist: folder ")
    assert "apt-get install dataset-fashion-mnist" in err and "--data DIR" in err
    assert "Python" not in err and "load_fashion_mnist" not in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("command", ["train", "sweep", "evaluate"])
def test_help_lists_the_datasets(command, capsys):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for name in data.DATASETS:
        assert name in text
    assert "--dataset NAME" in text and "--data PATH" in text
