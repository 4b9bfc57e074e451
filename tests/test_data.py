"""Data loaders: digits, the CIFAR-10 archive reader (on a small archive written here), the secret shift.

Nothing is downloaded: the CIFAR-10 tests write a tiny archive in the official format and pass its
own SHA-256; the download path is exercised with a ``file://`` URL.
"""

import hashlib
import io
import pickle
import tarfile

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from reconleak_core import data
from reconleak_core.data import CIFAR10_VEHICLES, digits, load_cifar10, shift

# ---------------------------------------------------------------------------------------------- digits


def test_digits_odd_digits_are_positive_and_pixels_in_unit_box():
    X, y = digits(center=False)
    bunch = load_digits()
    assert X.shape == (len(bunch.target), 64) and X.dtype == torch.float64 and y.dtype == torch.float64
    assert torch.equal(y, torch.where(torch.as_tensor(bunch.target) % 2 == 1, 1.0, -1.0).double())
    assert torch.equal(X, torch.as_tensor(bunch.data) / 16)
    assert X.min() == 0 and X.max() == 1


def test_digits_sample_is_balanced_interleaved_and_seeded():
    X, y = digits(n=40, seed=3)
    assert X.shape == (40, 64)
    assert torch.equal(y, torch.tensor([1.0, -1.0] * 20, dtype=torch.float64))
    assert len({tuple(row.tolist()) for row in X}) == 40  # drawn without replacement
    X2, _ = digits(n=40, seed=3)
    X3, _ = digits(n=40, seed=4)
    assert torch.equal(X, X2) and not torch.equal(X, X3)
    images, _ = digits(n=40, seed=3, flatten=False)
    assert images.shape == (40, *data.DIGITS_IMAGE_SHAPE)
    assert torch.equal(images.reshape(40, -1), X)


def test_digits_pair_keeps_only_the_two_digits_with_first_positive():
    X, y = digits(n=30, classes=(3, 8), seed=1, dtype=torch.float32, center=False)
    bunch = load_digits()
    lookup = {tuple((row / 16).astype(np.float32).tolist()): t for row, t in zip(bunch.data, bunch.target)}
    found = [lookup[tuple(row.tolist())] for row in X]
    assert X.dtype == torch.float32
    assert found == [3 if label > 0 else 8 for label in y.tolist()]


def test_digits_are_centred_by_default_and_the_mean_restores_the_pixels():
    images = digits(n=20, seed=5)
    raw, _ = digits(n=20, seed=5, center=False)
    X, y = images                                                   # unpacks like (X, y)
    assert X is images.X and y is images.y and len(images) == 20 and images.image_shape == data.DIGITS_IMAGE_SHAPE
    assert torch.allclose(X.mean(0), torch.zeros(64, dtype=torch.float64), atol=1e-12)
    assert torch.allclose(images.mean, raw.mean(0), atol=1e-15)
    assert torch.allclose(images.to_pixels(X), raw, atol=1e-15) and torch.allclose(images.pixels, raw, atol=1e-15)
    flat = digits(n=20, seed=5, flatten=False)
    assert flat.mean.shape == data.DIGITS_IMAGE_SHAPE and torch.allclose(flat.X.reshape(20, -1), X)
    assert torch.equal(digits(n=20, seed=5, center=False).mean, torch.zeros(64, dtype=torch.float64))


def test_held_out_digits_are_every_other_image_of_the_task_in_the_training_coordinates():
    train, held = digits(n=20, seed=5), data.digits_held_out(20, seed=5)
    everything = digits(center=False)
    rows = lambda Z: [tuple(row.tolist()) for row in Z]  # noqa: E731
    trained = set(rows(train.pixels))
    left_out = torch.tensor([r not in trained for r in rows(everything.X)])
    assert len(held) == 1797 - 20 and int(left_out.sum()) == 1797 - 20
    assert torch.equal(held.mean, train.mean) and torch.equal(held.X + held.mean, everything.X[left_out])
    assert torch.equal(held.y, everything.y[left_out])


def test_held_out_digits_of_a_pair_keep_only_its_two_digits():
    held = data.digits_held_out(10, classes=(3, 8), seed=0, flatten=False, center=False)
    assert len(held) == int(np.isin(load_digits().target, (3, 8)).sum()) - 10 and held.X.shape[1:] == (1, 8, 8)
    assert set(held.y.tolist()) == {1.0, -1.0} and torch.equal(held.mean, torch.zeros(1, 8, 8, dtype=torch.float64))
    with pytest.raises(ValueError, match="training draw"):
        data.digits_held_out(None)


def test_held_out_sphere_points_share_the_training_subspace_and_radius_not_its_points():
    X, _ = data.sphere(20, 10, subspace_dim=3, radius=2.0, seed=4)
    F, y = data.sphere_held_out(500, 20, 10, subspace_dim=3, radius=2.0, seed=4)
    assert F.shape == (500, 10) and y.shape == (500,)
    assert torch.allclose(F.norm(dim=1), torch.full((500,), 2.0, dtype=torch.float64))
    assert torch.linalg.matrix_rank(torch.cat([X, F])) == 3                    # the same 3-dim subspace
    assert torch.cdist(F, X).min() > 1e-3                                       # fresh points, not copies
    other, _ = data.sphere(20, 10, subspace_dim=3, radius=2.0, seed=5)
    assert torch.linalg.matrix_rank(torch.cat([X, other])) > 3                  # another seed: another subspace


def test_secret_shift_is_added_after_centring_and_keeps_the_clean_pixels():
    images = digits(n=10, seed=2)
    moved = images.shifted(0.5)
    assert moved.offset == 0.5 and torch.allclose(moved.X, images.X + 0.5)
    assert torch.allclose(moved.pixels, images.pixels) and torch.allclose(moved.shifted(0.0).X, images.X)
    assert torch.allclose(moved.to_pixels(moved.X), images.pixels + 0.5)
    with pytest.raises(ValueError, match="offset"):
        images.shifted(float("nan"))


def test_pixel_box_moves_the_box_into_model_coordinates():
    images = digits(n=10, seed=2)
    box = data.pixel_box(0, 1, images.mean)
    assert torch.allclose(box.lo, -images.mean) and torch.allclose(box.hi, 1 - images.mean)
    assert box.penalty(images.X.unsqueeze(0)).item() == 0               # the centred images satisfy it
    informed = data.pixel_box(0.5, 1.5, images.mean)
    assert informed.penalty(images.shifted(0.5).X.unsqueeze(0)).item() == 0
    assert box.penalty(images.shifted(0.5).X.unsqueeze(0)).item() > 0
    with pytest.raises(ValueError, match="lo < hi"):
        data.pixel_box(1, 0, images.mean)
    with pytest.raises(ValueError, match="mean"):
        data.pixel_box(0, 1, torch.tensor([float("nan")]))


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"center": 1}, TypeError, "center"),
        ({"n": 7}, ValueError, "even"),
        ({"n": 10_000}, ValueError, "only"),
        ({"n": 0}, ValueError, "n must be"),
        ({"classes": "vowels"}, ValueError, "odd_vs_even"),
        ({"classes": (3, 3)}, ValueError, "differ"),
        ({"classes": (3, 11)}, ValueError, "unknown class"),
        ({"classes": (1, 2, 3)}, ValueError, "pair"),
        ({"seed": -1}, ValueError, "seed"),
        ({"dtype": torch.int64}, TypeError, "dtype"),
    ],
)
def test_digits_rejects_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        digits(**kwargs)


# -------------------------------------------------------------------------------------------- CIFAR-10

PER_BATCH = 20  # two images of each class per batch


def _batch(batch_id):
    labels = [k % 10 for k in range(PER_BATCH)]
    pixels = np.zeros((PER_BATCH, 3072), dtype=np.uint8)
    pixels[:, :1024] = np.arange(PER_BATCH)[:, None] + PER_BATCH * batch_id  # red channel: image id
    pixels[:, 1024:2048] = np.array(labels)[:, None]  # green channel: class
    pixels[:, 2048:] = 255  # blue channel: full
    return {b"batch_label": b"fixture", b"labels": labels, b"data": pixels, b"filenames": [b"x.png"] * PER_BATCH}


def _add(tar, name, payload: bytes, **info):
    member = tarfile.TarInfo(name)
    member.size = len(payload)
    for key, value in info.items():
        setattr(member, key, value)
    tar.addfile(member, io.BytesIO(payload))


def _write_archive(path, extra=()):
    """A cifar-10-python.tar.gz in the official layout (pickle protocol 2, bytes keys)."""
    with tarfile.open(path, "w:gz") as tar:
        for k in range(1, 6):
            _add(tar, f"cifar-10-batches-py/data_batch_{k}", pickle.dumps(_batch(k), protocol=2))
        _add(tar, "cifar-10-batches-py/test_batch", pickle.dumps(_batch(9), protocol=2))
        for name, payload, info in extra:
            _add(tar, name, payload, **info)
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def archive(tmp_path):
    path = tmp_path / "cifar-10-python.tar.gz"
    return path, _write_archive(path)


@pytest.fixture
def no_unpickling(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("unpickling was attempted")

    monkeypatch.setattr(data._ArrayUnpickler, "load", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)


def test_cifar10_vehicles_are_negative_animals_positive_pixels_chw_in_unit_box(archive):
    path, sha = archive
    X, y = load_cifar10(path.parent, expected_sha256=sha, center=False)
    assert X.shape == (5 * PER_BATCH, 3072) and X.dtype == torch.float64
    red, green, blue = (X[:, 1024 * c: 1024 * (c + 1)] * 255 for c in range(3))
    classes = green[:, 0].round().long()
    assert torch.equal(y, torch.where(torch.isin(classes, torch.tensor(CIFAR10_VEHICLES)), -1.0, 1.0).double())
    image_ids = red[:, 0].round().long()
    expected_ids = torch.tensor([PER_BATCH * b + i for b in range(1, 6) for i in range(PER_BATCH)])
    assert torch.equal(image_ids, expected_ids)  # every training batch, in file order
    assert torch.all(blue == 255) and X.min() >= 0 and X.max() == 1
    images, _ = load_cifar10(path.parent, expected_sha256=sha, flatten=False, center=False)
    assert images.shape == (5 * PER_BATCH, *data.CIFAR10_IMAGE_SHAPE)
    assert torch.equal(images.reshape(len(images), -1), X)


def test_cifar10_test_split_pair_and_balanced_sample(archive):
    path, sha = archive
    X, y = load_cifar10(path.parent, expected_sha256=sha, train=False, classes=("cat", 5), center=False)
    assert X.shape == (4, 3072)  # two cats (class 3) and two dogs (class 5) in test_batch
    classes = (X[:, 1024] * 255).round().long()
    assert torch.equal(y, torch.where(classes == 3, 1.0, -1.0).double())
    assert set(classes.tolist()) == {3, 5}
    X, y = load_cifar10(path.parent, expected_sha256=sha, n=20, seed=2, center=False)
    assert torch.equal(y, torch.tensor([1.0, -1.0] * 10, dtype=torch.float64))
    assert len({tuple(row[:1024].tolist()) for row in X}) == 20
    X2, _ = load_cifar10(path.parent, expected_sha256=sha, n=20, seed=2, center=False)
    assert torch.equal(X, X2)


def test_cifar10_corrupted_archive_is_refused_before_unpickling(archive, no_unpickling):
    path, sha = archive
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="SHA-256"):
        load_cifar10(path.parent, expected_sha256=sha)
    assert path.exists()  # a local file is refused, not deleted


def test_cifar10_official_hash_is_the_default(archive, no_unpickling):
    path, _ = archive
    with pytest.raises(ValueError, match=data.CIFAR10_SHA256):
        load_cifar10(path.parent)


@pytest.mark.parametrize(
    "extra",
    [
        ("../evil", b"x", {}),
        ("/tmp/evil", b"x", {}),
        ("cifar-10-batches-py/../../evil", b"x", {}),
        ("cifar-10-batches-py/link", b"", {"type": tarfile.SYMTYPE, "linkname": "/etc/passwd"}),
    ],
)
def test_cifar10_path_traversal_and_link_members_are_refused(tmp_path, extra, no_unpickling):
    path = tmp_path / "cifar-10-python.tar.gz"
    sha = _write_archive(path, extra=[extra])
    with pytest.raises(ValueError, match="unsafe"):
        load_cifar10(tmp_path, expected_sha256=sha)
    assert sorted(p.name for p in tmp_path.parent.rglob("evil")) == []


class _Payload:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_cifar10_pickle_with_foreign_globals_is_refused_even_with_matching_hash(tmp_path, capsys):
    path = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        _add(tar, "cifar-10-batches-py/test_batch", pickle.dumps({b"data": _Payload()}, protocol=2))
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(ValueError, match="refusing to unpickle .*print"):
        load_cifar10(tmp_path, expected_sha256=sha, train=False)
    assert "never run" not in capsys.readouterr().out


def test_cifar10_archive_with_matching_hash_but_garbage_or_truncated_batches_is_a_value_error(tmp_path):
    """The hash only says the file is the one the caller named: what it holds is still checked."""
    path = tmp_path / "cifar-10-python.tar.gz"
    path.write_bytes(b"not a tar archive at all" * 10)
    with pytest.raises(ValueError, match="not a readable gzip'd tar archive"):
        load_cifar10(tmp_path, expected_sha256=hashlib.sha256(path.read_bytes()).hexdigest())
    with tarfile.open(path, "w:gz") as tar:
        _add(tar, "cifar-10-batches-py/test_batch", pickle.dumps(_batch(9), protocol=2)[:500])
    with pytest.raises(ValueError, match="test_batch .* is not a readable CIFAR-10 batch"):
        load_cifar10(tmp_path, expected_sha256=hashlib.sha256(path.read_bytes()).hexdigest(), train=False)


def test_cifar10_download_from_a_missing_file_url_is_a_value_error(tmp_path):
    with pytest.raises(ValueError, match="cannot download"):
        load_cifar10(tmp_path / "root", download=True, url=(tmp_path / "nothing.tar.gz").as_uri())
    assert list((tmp_path / "root").iterdir()) == []


def test_cifar10_missing_archive_is_not_downloaded_by_default(tmp_path):
    with pytest.raises(FileNotFoundError, match="download=True"):
        load_cifar10(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_cifar10_download_is_hash_checked_and_atomic(tmp_path, archive):
    source, sha = archive
    root = tmp_path / "root"
    wrong = "0" * 64
    with pytest.raises(ValueError, match="deleted"):
        load_cifar10(root, download=True, url=source.as_uri(), expected_sha256=wrong)
    assert list(root.iterdir()) == []  # no archive, no temporary file
    X, y = load_cifar10(root, download=True, url=source.as_uri(), expected_sha256=sha, n=4)
    assert X.shape == (4, 3072)
    assert (root / "cifar-10-python.tar.gz").read_bytes() == source.read_bytes()
    assert [p.name for p in root.iterdir()] == ["cifar-10-python.tar.gz"]


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"expected_sha256": "abc"}, ValueError, "64-character"),
        ({"classes": "cats_vs_dogs"}, ValueError, "vehicles_vs_animals"),
        ({"classes": ("cat", "unicorn")}, ValueError, "unknown class"),
        ({"n": 3}, ValueError, "even"),
        ({"n": 1000}, ValueError, "only"),
        ({"url": "javascript:alert(1)", "download": True}, ValueError, "url must be an https, http or file URL"),
        ({"download": "yes"}, TypeError, "download must be True or False"),
    ],
)
def test_cifar10_rejects_bad_arguments(archive, kwargs, error, match):
    path, sha = archive
    with pytest.raises(error, match=match):
        load_cifar10(path.parent, **{"expected_sha256": sha, **kwargs})


# ----------------------------------------------------------------------------------------------- shift


def test_shift_adds_scalar_or_vector_offset_and_inverts():
    X = torch.arange(6, dtype=torch.float64).reshape(3, 2)
    assert torch.equal(shift(X, 0.5), X + 0.5)
    offset = torch.tensor([1.0, -2.0], dtype=torch.float64)
    shifted = shift(X, offset)
    assert torch.equal(shifted[:, 0], X[:, 0] + 1) and torch.equal(shifted[:, 1], X[:, 1] - 2)
    assert torch.equal(shift(shifted, -offset), X)
    assert shift(X, [1, 2]).dtype == torch.float64


@pytest.mark.parametrize(
    "X, offset, match",
    [
        (torch.zeros(3, 2), torch.zeros(3), "dimension d=2"),
        (torch.zeros(3, 2), torch.zeros(2, 2), "dimension d=2"),
        (torch.zeros(3, 2), float("nan"), "NaN found in offset"),
        (torch.tensor([[float("nan"), 0.0]]), 1.0, "NaN found in X"),
        (torch.zeros(4), 1.0, "shape"),
    ],
)
def test_shift_rejects_bad_offsets_and_points(X, offset, match):
    with pytest.raises(ValueError, match=match):
        shift(X, offset)
