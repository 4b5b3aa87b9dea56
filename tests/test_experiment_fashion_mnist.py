"""Experiment 13 (Fashion-MNIST) in quick mode: it runs, is not judged, and writes its
JSON and figures. Skipped where Debian's dataset-fashion-mnist is not installed."""

import json

import numpy as np
import pytest

from experiments import fashion_mnist
from experiments._common import run_and_write
from jaxnn import data

FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
         "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not all((data.FASHION_MNIST_DIR / f).is_file() for f in FILES),
        reason=f"Fashion-MNIST is not installed in {data.FASHION_MNIST_DIR} "
        "(apt-get install dataset-fashion-mnist)"),
]


def test_fashion_mnist_quick(tmp_path):
    record = run_and_write(fashion_mnist.NAME, fashion_mnist.CLAIM, fashion_mnist.run,
                           quick=True, seed=0, out=tmp_path)
    on_disk = json.loads((tmp_path / "fashion_mnist.json").read_text(encoding="utf-8"))
    assert on_disk == json.loads(json.dumps(record))
    assert record["claim"]["statement"] == fashion_mnist.CLAIM
    config, r = record["config"], record["results"]
    # Quick mode does not judge, and says so.
    assert config["quick"] is True and config["judged"] is False
    assert record["claim"]["held"] is False
    assert record["summary"].startswith("Quick mode, not judged")
    assert r["meets_bar"] is None and r["timing"]["within_limit"] is None
    assert r["bar"] == fashion_mnist.BAR == 0.90
    assert r["benchmark"]["test_accuracy"] == 0.8833
    # The seeds, their accuracies and the statistics agree.
    acc = np.asarray(r["test_accuracy_per_seed"])
    assert acc.shape == (fashion_mnist.SEEDS,) and np.all(acc > 0.6)
    assert r["test_accuracy_mean"] == pytest.approx(acc.mean())
    assert r["test_accuracy_std"] == pytest.approx(acc.std(ddof=1))
    cm = np.asarray(r["confusion_matrix_summed_over_seeds"])
    assert cm.shape == (10, 10)
    assert cm.sum() == fashion_mnist.SEEDS * config["n_test"]
    assert np.trace(cm) == pytest.approx(acc.sum() * config["n_test"], abs=0.5)
    assert list(r["per_class_test_accuracy"]) == list(data.FASHION_MNIST_CLASSES)
    # Split sizes: training and validation carved from the training images.
    assert (config["n_train"], config["n_val"], config["n_test"]) == (
        fashion_mnist.QUICK["n_train"], fashion_mnist.QUICK["val_size"],
        fashion_mnist.QUICK["n_test"])
    assert r["timing"]["wall_seconds_per_seed"] == pytest.approx(
        r["timing"]["wall_seconds_all_seeds"] / fashion_mnist.SEEDS)
    assert r["peak_memory_mib"] > 0
    sk = r["sklearn"]
    assert "skipped" in sk or 0.5 < sk["test_accuracy_mean"] <= 1.0
    assert len(record["figures"]) == 3
    for fig in record["figures"]:
        assert fig.startswith("fashion_mnist_")
        assert (tmp_path / fig).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", fig
