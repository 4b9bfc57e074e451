"""Data sets of the book: sphere data (the paper's §5 synthetic setting), digits, CIFAR-10, the secret shift.

Interface. Every loader returns ``(X, y)``: ``X`` of shape ``(n, d)`` (float64 unless ``dtype`` says
otherwise; images flattened in channel-major CHW order unless ``flatten=False``) and labels ``y`` in
{-1, +1} of the same dtype. With a sample size ``n`` the sample is balanced and ordered like
:func:`sphere`: yᵢ = +1 for even i, −1 for odd i.

Image sets come as an :class:`ImageSet`, which unpacks as ``X, y = data.digits(...)`` and also carries
the training ``mean``. **Image sets are centred by default**, as Haim et al.'s code does
(``data_reduce_mean``): ``X`` holds the pixels minus the mean of the returned sample, the coordinates the
attacked network sees (*model coordinates*); ``images.to_pixels(Z)`` adds the mean back (*pixel
coordinates*, where images are shown and scored). A prior is stated in pixel coordinates and moved into
model coordinates by :func:`pixel_box` (a pixel box [lo, hi] is ``Box(lo − mean, hi − mean)``). The secret
shift is added *after* centring (:meth:`ImageSet.shifted`), so offset 0 means the centred data.

- :func:`sphere`       points on a sphere, optionally inside a random subspace (Theorem 4's setting);
- :func:`digits`       scikit-learn's bundled 8×8 digits, pixels in [0, 1] (offline, nothing downloaded);
- :func:`sphere_held_out`, :func:`digits_held_out`  held-out data of the same distribution as a training
  draw (fresh sphere points; the digits the draw left out), for the null baseline of ``calibration``;
- :func:`load_cifar10` the official CIFAR-10 python archive, checked against a pinned SHA-256 before
  anything in it is unpickled; pixels in [0, 1];
- :func:`shift`        the secret shift x ↦ x + offset;
- :func:`pixel_box`    the box prior [lo, hi] of pixel coordinates as an ``attack.Box`` in model coordinates.

Nothing here downloads at import or test time; :func:`load_cifar10` downloads only with
``download=True``.
"""

from __future__ import annotations

import os
import pickle
import tarfile
import tempfile
import urllib.parse
import urllib.request
import zlib
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath

import numpy as np
import torch

from reconleak_core.cache import file_sha256
from reconleak_core.checks import (
    as_tensor,
    check_bool,
    check_finite,
    check_float_dtype,
    check_image_shape,
    check_int,
    check_points,
    check_positive,
    check_real,
    check_seed,
    is_sequence,
)
from reconleak_core.priors import Box
from reconleak_core.runtime import check_memory, progress_bar

__all__ = [
    "sphere",
    "sphere_held_out",
    "digits",
    "digits_held_out",
    "digit_labels",
    "load_cifar10",
    "shift",
    "ImageSet",
    "pixel_box",
    "DIGITS_IMAGE_SHAPE",
    "CIFAR10_IMAGE_SHAPE",
    "CIFAR10_CLASSES",
    "CIFAR10_VEHICLES",
    "CIFAR10_URL",
    "CIFAR10_SHA256",
]

DIGITS_IMAGE_SHAPE = (1, 8, 8)
"""Shape (channels, height, width) of one :func:`digits` image; ``X[i].reshape(DIGITS_IMAGE_SHAPE)``."""

CIFAR10_IMAGE_SHAPE = (3, 32, 32)
"""Shape (channels, height, width) of one CIFAR-10 image; ``X[i].reshape(CIFAR10_IMAGE_SHAPE)``."""

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CIFAR10_VEHICLES = (0, 1, 8, 9)
"""Class indices of the vehicles (airplane, automobile, ship, truck); the other six are animals."""

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_SHA256 = "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"
"""SHA-256 of the official ``cifar-10-python.tar.gz`` (170,498,071 bytes), as pinned by torchvision's
dataset code (``torchvision/prototype/datasets/_builtin/cifar.py``). Not to be confused with
``c4a38c50…a1dd``, the hash of the *binary* version ``cifar-10-binary.tar.gz``."""

_CIFAR10_DIR = "cifar-10-batches-py"
_CIFAR10_ARCHIVE = "cifar-10-python.tar.gz"


def _sphere_draw(n: int, d: int, subspace_dim: int | None, radius: float, seed: int, extra: int = 0):
    """``n`` points of :func:`sphere`, then ``extra`` more from the same generator, subspace and radius."""
    n = check_int(n, "n")
    d = check_int(d, "d")
    k = d if subspace_dim is None else check_int(subspace_dim, "subspace_dim")
    if k > d:
        raise ValueError(f"subspace_dim must be at most d={d}, got {k}")
    radius = check_positive(radius, "radius")
    check_memory(8 * ((n + extra) * (k + d) + d * k), f"sphere points (n={n}, extra={extra}, d={d})")
    gen = torch.Generator().manual_seed(check_seed(seed))
    Z = torch.randn(n, k, generator=gen, dtype=torch.float64)
    Z = Z / Z.norm(dim=1, keepdim=True) * radius
    basis = torch.linalg.qr(torch.randn(d, k, generator=gen, dtype=torch.float64))[0] if k < d else None
    F = torch.randn(extra, k, generator=gen, dtype=torch.float64)
    F = F / F.norm(dim=1, keepdim=True) * radius
    return (Z, F) if basis is None else (Z @ basis.T, F @ basis.T)


def _alternating_labels(n: int) -> torch.Tensor:
    return torch.where(torch.arange(n) % 2 == 0, 1.0, -1.0).to(torch.float64)


def sphere(n: int, d: int, subspace_dim: int | None = None, radius: float = 1.0, seed: int = 0,
           dtype: torch.dtype = torch.float64):
    """``n`` points uniform on the sphere of ``radius`` in ℝᵈ, or inside a random subspace of it.

    With ``subspace_dim = k < d`` the points are uniform on the radius-sphere of a random
    k-dimensional subspace (an orthonormal basis drawn from ``seed``): the data then do not span ℝᵈ,
    the hypothesis of Theorem 4. Labels are balanced and deterministic: yᵢ = +1 for even i, −1 for
    odd i (the points are i.i.d., so this is a random labelling of a random sample).

    Returns ``(X, y)``: ``X`` of shape (n, d), ``y`` of shape (n,), both of ``dtype``.

    ``d`` is the dimension of the space; ``subspace_dim`` that of the subspace (``None``: all of ℝᵈ).
    """
    dtype = check_float_dtype(dtype)
    X, _ = _sphere_draw(n, d, subspace_dim, radius, seed)
    return X.to(dtype), _alternating_labels(X.shape[0]).to(dtype)


def sphere_held_out(m: int, n: int, d: int, subspace_dim: int | None = None, radius: float = 1.0, seed: int = 0, *,
                    dtype: torch.dtype = torch.float64):
    """``m`` fresh points of the distribution that ``sphere(n, d, subspace_dim, radius, seed)`` samples.

    Held-out data for a null baseline (:mod:`reconleak_core.calibration`): the same sphere of the same random
    subspace as that training sample, independent of it (the points the same generator draws after the
    training points and the subspace's basis). Another ``seed`` would not do: it draws another subspace.
    Returns ``(X, y)`` as :func:`sphere` (labels alternate +1, −1; the data have no class structure).

    ``n``, ``d``, ``subspace_dim``, ``radius`` and ``seed`` are those of the training sample's :func:`sphere` call;
    ``dtype`` is the points' dtype.
    """
    m = check_int(m, "m")
    dtype = check_float_dtype(dtype)
    _, X = _sphere_draw(n, d, subspace_dim, radius, seed, extra=m)
    return X.to(dtype), _alternating_labels(m).to(dtype)


def _balanced_indices(labels: np.ndarray, n: int | None, seed: int) -> np.ndarray:
    """Indices into ``labels`` (±1 array): all of them in order when ``n`` is None, else ``n/2`` of
    each sign drawn without replacement with a generator seeded by ``seed``, interleaved +1, −1, ...
    """
    if n is None:
        return np.arange(len(labels))
    if n % 2:
        raise ValueError(f"n must be even so that the sample is balanced (n/2 points per label), got {n}")
    gen = torch.Generator().manual_seed(seed)
    picks = []
    for sign in (1, -1):
        pool = np.flatnonzero(labels == sign)
        if len(pool) < n // 2:
            raise ValueError(f"n={n} asks for {n // 2} points with label {sign:+d} but only {len(pool)} exist")
        picks.append(pool[torch.randperm(len(pool), generator=gen)[: n // 2].numpy()])
    return np.stack(picks, axis=1).reshape(-1)


@dataclass(frozen=True, eq=False)
class ImageSet:
    """An image data set as the attacked model saw it; unpacks as ``X, y``.

    - ``X`` (n, d) or (n, C, H, W): model coordinates, i.e. pixels − ``mean`` + ``offset``;
    - ``y`` (n,): ±1 labels;
    - ``mean``: the training mean subtracted from every image (shape ``X.shape[1:]``; zeros when the
      loader was called with ``center=False``), the mean of the returned sample as in Haim et al.;
    - ``offset``: the secret shift added after centring (0: centred data), see :meth:`shifted`;
    - ``image_shape``: (C, H, W) of one image.

    ``pixels`` are the clean training images (pixel coordinates, every pixel in [0, 1]);
    :meth:`to_pixels` maps any points of model coordinates (e.g. attack candidates) to pixel coordinates.
    """

    X: torch.Tensor
    y: torch.Tensor
    mean: torch.Tensor
    offset: float
    image_shape: tuple

    def __post_init__(self):
        if not (isinstance(self.X, torch.Tensor) and isinstance(self.y, torch.Tensor)):
            raise TypeError("ImageSet.X and ImageSet.y must be tensors")
        if self.y.dim() != 1 or self.X.dim() < 2 or len(self.y) != len(self.X):
            raise ValueError(f"ImageSet needs X of shape (n, ...) and y of shape (n,), got {tuple(self.X.shape)} "
                             f"and {tuple(self.y.shape)}")
        check_image_shape(self.image_shape, int(np.prod(self.X.shape[1:])))

    def __iter__(self):
        return iter((self.X, self.y))

    def __len__(self) -> int:
        return self.X.shape[0]

    def to_pixels(self, Z) -> torch.Tensor:
        """Points of model coordinates (shape (..., d) like ``X``) in pixel coordinates: Z + mean.

        The secret offset is *not* removed (the attacker does not know it): shifted training images map to
        ``pixels + offset``.

        ``Z`` holds the points in model coordinates.
        """
        Z = as_tensor(Z, "Z", dtype=self.X.dtype)
        if Z.shape[-self.mean.dim():] != self.mean.shape:
            raise ValueError(f"points must end with the data's shape {tuple(self.mean.shape)}, got {tuple(Z.shape)}")
        return Z + self.mean

    @property
    def pixels(self) -> torch.Tensor:
        """The clean training images in pixel coordinates (without the secret offset)."""
        return self.X - self.offset + self.mean

    def shifted(self, offset) -> ImageSet:
        """The same images with the secret shift ``offset`` (a finite number) added after centring."""
        offset = check_real(offset, "offset")
        return replace(self, X=shift(self.X.reshape(len(self), -1), offset - self.offset).reshape(self.X.shape),
                       offset=float(offset))


def pixel_box(lo, hi, mean, enforce: str = "penalty"):
    """The box prior lo ≤ pixel ≤ hi of pixel coordinates as an ``attack.Box`` in model coordinates.

    The model sees x − mean (:class:`ImageSet`), so the box becomes ``Box(lo − mean, hi − mean)``
    coordinatewise. ``mean``: the data set's ``mean`` (any shape with d entries, flattened here); ``lo``,
    ``hi``: numbers (e.g. 0 and 1, or s and 1 + s for an attacker who knows the shift s).

    ``enforce``: how the attack keeps candidates in the box, as ``attack.Box``'s (``"penalty"`` or ``"project"``).
    """

    mean = check_finite(as_tensor(mean, "mean", dtype=torch.float64), "mean").reshape(-1)
    lo, hi = check_real(lo, "lo"), check_real(hi, "hi")
    if not lo < hi:
        raise ValueError(f"pixel_box needs lo < hi, got lo={lo!r}, hi={hi!r}")
    return Box(lo - mean, hi - mean, enforce=enforce)


def _to_output(images: np.ndarray, labels: np.ndarray, scale: float, image_shape, *, flatten: bool, dtype,
               center: bool, mean_of: np.ndarray | None = None) -> ImageSet:
    """An :class:`ImageSet` of ``images / scale``, centred by the mean of ``mean_of / scale`` (default: of
    the images themselves) when ``center``."""
    if not isinstance(center, bool):
        raise TypeError(f"center must be True or False, got {center!r}")
    pixels = lambda a: torch.from_numpy(a.astype(np.float64) / scale)  # noqa: E731
    X = pixels(images)
    X = X.reshape(len(X), -1) if flatten else X.reshape(len(X), *image_shape)
    train = X if mean_of is None else pixels(mean_of).reshape(len(mean_of), *X.shape[1:])
    mean = train.mean(dim=0) if center and len(train) else torch.zeros(X.shape[1:], dtype=torch.float64)
    return ImageSet((X - mean).to(dtype), torch.from_numpy(labels.astype(np.float64)).to(dtype), mean.to(dtype),
                    0.0, tuple(image_shape))


def _binary_labels(classes, targets: np.ndarray, names, default: str, default_positive) -> np.ndarray:
    """±1 labels (0 for the points outside the task) from a ``classes`` spec.

    ``classes`` is the string ``default`` (``default_positive`` → +1, every other class → −1) or a
    pair ``(a, b)`` of class indices (or names from ``names``): class a → +1, class b → −1.
    """
    if isinstance(classes, str):
        if classes != default:
            raise ValueError(f"classes must be {default!r} or a pair (a, b) of classes, got {classes!r}")
        return np.where(np.isin(targets, default_positive), 1, -1)
    if not is_sequence(classes):
        raise TypeError(f"classes must be {default!r} or a pair (a, b) of classes, got {type(classes).__name__} "
                        f"{classes!r}")
    try:
        pair = tuple(classes)
    except TypeError:
        raise TypeError(f"classes must be {default!r} or a pair (a, b) of classes, got {classes!r}") from None
    if len(pair) != 2:
        raise ValueError(f"classes must be a pair (a, b) of two classes, got {classes!r}")
    index = []
    for c in pair:
        if isinstance(c, str) and c in names:
            c = names.index(c)
        if isinstance(c, bool) or not isinstance(c, (int, np.integer)) or not 0 <= c < len(names):
            raise ValueError(f"unknown class {c!r}: use an index 0..{len(names) - 1} or one of {list(names)}")
        index.append(int(c))
    if index[0] == index[1]:
        raise ValueError(f"the two classes of the pair must differ, got {classes!r}")
    return np.where(targets == index[0], 1, np.where(targets == index[1], -1, 0))


def digit_labels(classes="odd_vs_even") -> np.ndarray:
    """The label of each digit 0–9 in the binary task ``classes`` of :func:`digits`: +1, −1, or 0 (not in the
    task); ``ValueError``/``TypeError`` for a ``classes`` that names no task (checked without loading data)."""
    return _binary_labels(classes, np.arange(10), tuple(str(k) for k in range(10)), "odd_vs_even", (1, 3, 5, 7, 9))


def _digits_draw(n, classes, seed):
    """scikit-learn's digits, their ±1 labels, the indices of the task's images and those of the draw."""
    n = check_int(n, "n", allow_none=True)
    seed = check_seed(seed)
    from sklearn.datasets import load_digits  # lazy: scikit-learn takes a second to import, only for digits

    bunch = load_digits()
    labels = digit_labels(classes)[bunch.target]
    inside = np.flatnonzero(labels != 0)
    return bunch.images, labels, inside, inside[_balanced_indices(labels[inside], n, seed)]


def digits(n: int | None = None, classes="odd_vs_even", seed: int = 0, flatten: bool = True,
           dtype: torch.dtype = torch.float64, center: bool = True) -> ImageSet:
    """scikit-learn's bundled 8×8 handwritten digits (1,797 images) as a binary ±1 task, offline.

    ``classes="odd_vs_even"`` (default): odd digits → +1, even digits → −1, the binary task Haim et al.
    (2022) build from MNIST (their ``mnist_odd_even``: odd → 1, even → 0, i.e. odd → +1). A pair
    ``(a, b)`` of digits keeps only those two: a → +1, b → −1.

    Pixels are scikit-learn's integer intensities 0..16 divided by 16, so **every pixel lies in
    [0, 1]** in pixel coordinates. Returns an :class:`ImageSet` (unpacks as ``X, y``): with
    ``center=True`` (default, Haim et al.) ``X`` is centred by the mean of the returned sample,
    ``X + mean`` are the pixels; ``center=False`` gives the raw pixels (mean 0). ``X`` has shape (n, 64), or
    (n, 1, 8, 8) with ``flatten=False``; :data:`DIGITS_IMAGE_SHAPE` reshapes a row for plotting.
    ``n=None`` returns every image of the selected classes in scikit-learn's order (not balanced);
    an even ``n`` draws n/2 images per label with a generator seeded by ``seed``.
    :func:`digits_held_out` gives every other image of the task, in the same coordinates.

    ``dtype`` is the floating dtype of ``X``.
    """
    images, labels, _, pick = _digits_draw(n, classes, seed)
    return _to_output(images[pick], labels[pick], 16.0, DIGITS_IMAGE_SHAPE, flatten=check_bool(flatten, "flatten"),
                      dtype=check_float_dtype(dtype), center=center)


def digits_held_out(n: int, classes="odd_vs_even", seed: int = 0, flatten: bool = True,
                    dtype: torch.dtype = torch.float64, center: bool = True) -> ImageSet:
    """The images of the task that the training draw ``digits(n, classes, seed)`` left out, in its coordinates.

    Held-out data from the training distribution, for a null baseline (:mod:`reconleak_core.calibration`:
    an attack leaks x_i when its reconstruction resembles x_i more than any real digit the network never
    saw). Every image of the selected ``classes`` not in the draw (1,797 − n for ``"odd_vs_even"``), in
    scikit-learn's order, with their ±1 labels; centred by the *training draw's* mean (``mean`` is the same
    tensor as ``digits(n, classes, seed).mean``), so ``X`` is in the model coordinates the network saw and
    ``X + mean`` are the pixels. The arguments mean what they mean for :func:`digits`; ``n`` must be given.

    ``seed``, ``flatten``, ``dtype`` and ``center`` are those of the training draw's :func:`digits` call
    (``flatten``: images as 64-vectors, else 1×8×8).
    """
    if n is None:
        raise ValueError("digits_held_out needs the training draw's size n (n=None trains on every image)")
    images, labels, inside, pick = _digits_draw(n, classes, seed)
    rest = np.setdiff1d(inside, pick)
    return _to_output(images[rest], labels[rest], 16.0, DIGITS_IMAGE_SHAPE, flatten=check_bool(flatten, "flatten"),
                      dtype=check_float_dtype(dtype), center=center, mean_of=images[pick])


def _check_sha256(value) -> str:
    if not (isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdefABCDEF" for c in value)):
        raise ValueError(f"expected_sha256 must be a 64-character hexadecimal string, got {value!r}")
    return value.lower()


def _download(url: str, target: Path, expected_sha256: str, progress: bool) -> None:
    """Download ``url`` to ``target`` atomically: a temporary file in the same folder, fsync, hash
    check, then ``os.replace``. On a hash mismatch the temporary file is deleted and nothing is left
    under ``target``'s name."""

    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        try:
            response = urllib.request.urlopen(url, timeout=60)
        except (OSError, ValueError) as exc:   # URLError (no such host or file), HTTPError, a malformed URL
            raise ValueError(f"cannot download {url}: {exc}") from exc
        with os.fdopen(fd, "wb") as out, response:
            total = response.headers.get("Content-Length")
            with progress_bar(total=int(total) if total else None, unit="B", unit_scale=True, enabled=progress,
                              desc=target.name) as bar:
                for block in iter(lambda: response.read(1 << 20), b""):
                    out.write(block)
                    bar.update(len(block))
            out.flush()
            os.fsync(out.fileno())
        found = file_sha256(Path(tmp))
        if found != expected_sha256:
            raise ValueError(f"downloaded file from {url} has SHA-256 {found}, expected {expected_sha256}; "
                             "it was deleted and not used")
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


_URL_SCHEMES = ("https", "http", "file")

_PICKLE_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
}


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickler that resolves only the globals a CIFAR-10 batch needs (NumPy array reconstruction).

    Defence in depth: batches are unpickled only after the archive's SHA-256 matched, and even then
    any other global (``os.system``, ...) is refused.
    """

    def find_class(self, module: str, name: str):
        if (module, name) not in _PICKLE_ALLOWED:
            raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}: a CIFAR-10 batch holds only "
                                         "NumPy arrays, lists, numbers and bytes")
        if module.startswith("numpy.core."):  # pickles written by NumPy 1.x; NumPy 2 renamed numpy.core
            try:
                return super().find_class("numpy._core." + module.removeprefix("numpy.core."), name)
            except (ImportError, AttributeError):
                pass
        return super().find_class(module, name)


def _safe_member_name(member: tarfile.TarInfo) -> str:
    """Refuse absolute paths, ``..`` components, links and special files in the archive."""
    name = member.name
    parts = PurePosixPath(name).parts
    if name.startswith(("/", "\\")) or os.path.isabs(name) or (parts and ":" in parts[0]) or ".." in parts:
        raise ValueError(f"unsafe path {name!r} in the CIFAR-10 archive (absolute or containing '..'); refused")
    if not (member.isfile() or member.isdir()):
        raise ValueError(f"unsafe member {name!r} in the CIFAR-10 archive (link or special file); refused")
    return name


def _read_batches(archive: Path, batch_names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 3072) uint8 and labels (N,) of ``batch_names``, read in memory from the archive.

    Members are never extracted to disk; every member name is checked (:func:`_safe_member_name`)
    before any batch is read, so a crafted archive is refused as a whole.
    """
    try:
        tar = tarfile.open(archive, "r:gz")
        members = {_safe_member_name(m): m for m in tar.getmembers()}
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise ValueError(f"{archive} is not a readable gzip'd tar archive ({type(exc).__name__}: {exc}): not the "
                         "CIFAR-10 python archive") from exc
    with tar:
        images, labels = [], []
        for batch in batch_names:
            key = f"{_CIFAR10_DIR}/{batch}"
            if key not in members or not members[key].isfile():
                raise ValueError(f"{archive} has no member {key!r}: not a CIFAR-10 python archive")
            try:
                with tar.extractfile(members[key]) as f:
                    entry = _ArrayUnpickler(f, encoding="bytes").load()
            except (pickle.UnpicklingError, tarfile.TarError, EOFError, OSError, zlib.error, ValueError, TypeError,
                    AttributeError, IndexError, KeyError, MemoryError) as exc:   # what a damaged pickle raises
                raise ValueError(f"{key} in {archive} is not a readable CIFAR-10 batch ({type(exc).__name__}: "
                                 f"{str(exc)[:200]}): truncated or damaged") from exc
            if not isinstance(entry, dict) or b"data" not in entry or b"labels" not in entry:
                raise ValueError(f"{key} in {archive} is not a CIFAR-10 batch (no b'data' / b'labels')")
            data, target = np.asarray(entry[b"data"]), np.asarray(entry[b"labels"])
            if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072 or target.shape != (len(data),):
                raise ValueError(f"{key} in {archive} has data {data.dtype} {data.shape} and labels {target.shape}; "
                                 "expected uint8 (N, 3072) and (N,)")
            if len(target) and not (0 <= target.min() and target.max() <= 9):
                raise ValueError(f"{key} in {archive} has labels outside 0..9")
            images.append(data)
            labels.append(target.astype(np.int64))
    return np.concatenate(images), np.concatenate(labels)


def load_cifar10(root, *, download: bool = False, n: int | None = None, seed: int = 0,
                 classes="vehicles_vs_animals", train: bool = True, flatten: bool = True,
                 dtype: torch.dtype = torch.float64, expected_sha256: str = CIFAR10_SHA256,
                 url: str = CIFAR10_URL, progress: bool = False, center: bool = True) -> ImageSet:
    """CIFAR-10 from the official python archive ``root/cifar-10-python.tar.gz`` as a binary ±1 task.

    ``classes="vehicles_vs_animals"`` (default) is the task of Haim et al. (2022): **animals → +1**
    (bird, cat, deer, dog, frog, horse), **vehicles → −1** (airplane, automobile, ship, truck; their
    code labels vehicles 0 and animals 1). A pair ``(a, b)`` of class indices or names keeps only those
    two classes: a → +1, b → −1. ``train`` picks ``data_batch_1..5`` (50,000 images) or
    ``test_batch`` (10,000).

    Security. The archive's SHA-256 must equal ``expected_sha256`` (default :data:`CIFAR10_SHA256`,
    the official archive) *before* anything in it is unpickled; a mismatch raises ``ValueError`` and
    nothing is read; an archive or batch that cannot be read (not a gzip'd tar, a truncated pickle) raises
    ``ValueError`` too. Member names are checked (no absolute paths, no ``..``, no links) and members are
    read in memory, never extracted to disk; unpickling resolves NumPy array globals only.
    With ``download=True`` and no archive yet, ``url`` (an ``https``, ``http`` or ``file`` URL, the last for a
    local mirror; other schemes are refused, and a failed download raises ``ValueError``) is fetched into a
    temporary file, hashed, and moved into place only if the hash matches (deleted otherwise); ``progress`` shows a bar.

    Pixels are the uint8 intensities divided by 255, so **every pixel lies in [0, 1]** in pixel
    coordinates; as for :func:`digits`, the result is an :class:`ImageSet`, centred by its mean unless
    ``center=False``. ``X`` has
    shape (n, 3072) in the pickle's channel-major order (1024 red, 1024 green, 1024 blue values),
    or (n, 3, 32, 32) with ``flatten=False``. ``n=None`` returns every image of the selected classes
    in file order (not balanced; 50,000 float64 images take 1.2 GB); an even ``n`` draws n/2 images
    per label with a generator seeded by ``seed``.

    ``root`` is the folder holding (or receiving, with ``download``) the archive; ``dtype`` the floating dtype of
    ``X``.
    """
    if not isinstance(root, (str, os.PathLike)):
        raise TypeError(f"root must be a folder path (str or Path), got {type(root).__name__}")
    root = Path(root)
    download, train = check_bool(download, "download"), check_bool(train, "train")
    progress, center = check_bool(progress, "progress"), check_bool(center, "center")
    if not (isinstance(url, str) and urllib.parse.urlsplit(url).scheme in _URL_SCHEMES):
        raise ValueError(f"url must be an https, http or file URL such as {CIFAR10_URL!r}, got {url!r}")
    n = check_int(n, "n", allow_none=True)
    seed = check_seed(seed)
    flatten = check_bool(flatten, "flatten")
    dtype = check_float_dtype(dtype)
    expected_sha256 = _check_sha256(expected_sha256)
    archive = root / _CIFAR10_ARCHIVE
    if not archive.is_file():
        if not download:
            raise FileNotFoundError(f"{archive} not found: download {CIFAR10_URL} there, or pass download=True")
        _download(url, archive, expected_sha256, progress)
    found = file_sha256(archive)
    if found != expected_sha256:
        raise ValueError(f"{archive} has SHA-256 {found}, expected {expected_sha256}: corrupted or not the "
                         "official CIFAR-10 python archive; refusing to read it (delete it and download again)")
    batch_names = [f"data_batch_{k}" for k in range(1, 6)] if train else ["test_batch"]
    images, targets = _read_batches(archive, batch_names)
    labels = _binary_labels(classes, targets, CIFAR10_CLASSES, "vehicles_vs_animals",
                            [k for k in range(10) if k not in CIFAR10_VEHICLES])
    inside = np.flatnonzero(labels != 0)
    pick = inside[_balanced_indices(labels[inside], n, seed)]
    return _to_output(images[pick], labels[pick], 255.0, CIFAR10_IMAGE_SHAPE, flatten=flatten, dtype=dtype,
                      center=center)


def shift(X, offset):
    """The secret shift x ↦ x + offset, applied to every row of ``X`` (shape (n, d)).

    In the shifted-data experiment the training images are moved by a constant offset that the
    attacker does not know; a reconstruction without the right prior then lands near the shifted
    points, not the images. ``offset`` is a scalar (the same value on every coordinate) or a vector
    of dimension d. The inverse is ``shift(X, -offset)``. Returns a new tensor of ``X``'s dtype.
    """
    X = check_points(X, "X")
    offset = check_finite(as_tensor(offset, "offset", dtype=X.dtype, device=X.device), "offset")
    if offset.dim() > 1 or (offset.dim() == 1 and offset.shape[0] != X.shape[1]):
        raise ValueError(f"offset must be a scalar or a vector of dimension d={X.shape[1]}, "
                         f"got shape {tuple(offset.shape)}")
    return X + offset
