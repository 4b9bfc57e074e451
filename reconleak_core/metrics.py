"""How close is a reconstruction to the training set: set distances, matching and SSIM.

Interface. Point sets are tensors of shape (n, d) (training set ``X_train``) and (m, d) (candidates
``X_rec``, the attack's output), compared in the Euclidean norm. Images are (B, C, H, W) tensors.
Every function validates its inputs (shapes, NaN) and computes in the inputs' dtype (float64 when
a claim is checked).

The set distances the book uses, for finite sets A, B and d(a, b) = ‖a − b‖₂:

- **nearest distances** (:func:`nearest_distances`): for every a ∈ A, min_b d(a, b), and for every
  b ∈ B, min_a d(a, b) — "how far is each training point from the closest candidate";
- **Hausdorff distance** (:func:`hausdorff`): max(max_a min_b d(a, b), max_b min_a d(a, b)), the
  largest of all nearest distances; small means every point of either set has a close partner;
- **minimum set distance** (:func:`min_set_distance`): min over all pairs d(a, b). Theorem 4 (and
  Theorems 5, 8, 9) build KKT sets with min_set_distance(X_train, X′) > r: *every* reconstructed
  point is farther than r from *every* training point, the strongest notion of "nothing leaked";
- **one-to-one matching** (:func:`matching`): the Hungarian assignment of training points to
  distinct candidates minimising the total distance; its mean/median matched distance is the score;
- **SSIM** (:func:`ssim`, Wang et al. 2004) and a "best k" ranked by the score itself
  (:func:`best_reconstructions`).

Haim et al.'s scoring (their ``evaluations.py``), for comparison with their figures:

- **NCC distance** (:func:`ncc_distances`): the squared L2 distance between images standardised per image
  and channel, divided by the dimension — a decreasing function of their normalised cross-correlation;
- **DSSIM over the best k** (:func:`haim_score`): each training image's neighbour by NCC distance (on
  half-resolution copies), the data mean added back, each candidate min–max rescaled to [0, 1],
  DSSIM = (1 − SSIM)/2, the mean over the k best; optional voting among near-equal neighbours;
- **deduplication** (:func:`candidate_neighbours`): each candidate's nearest training image, keeping at
  most ``max_per_nn`` candidates per training image (their ``viz_nns``).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment

from reconleak_core.checks import as_tensor, check_finite, check_image_shape, check_points, check_positive
from reconleak_core.models import span_projector
from reconleak_core.runtime import progress_bar

__all__ = [
    "NearestDistances",
    "Matching",
    "BestReconstructions",
    "pairwise_distances",
    "nearest_distances",
    "hausdorff",
    "min_set_distance",
    "matching",
    "ssim",
    "best_reconstructions", "span_residuals",
    "HaimScore", "CandidateNeighbours", "ncc_distances", "haim_score", "candidate_neighbours"]


class NearestDistances(NamedTuple):
    """``train_to_rec[i]``: distance from training point i to its nearest candidate ``train_nearest[i]``;
    ``rec_to_train[j]``: distance from candidate j to its nearest training point ``rec_nearest[j]``."""

    train_to_rec: torch.Tensor
    train_nearest: torch.Tensor
    rec_to_train: torch.Tensor
    rec_nearest: torch.Tensor


class Matching(NamedTuple):
    """One-to-one matching: pairs (``train_index[k]``, ``rec_index[k]``) at ``distances[k]``."""

    train_index: torch.Tensor
    rec_index: torch.Tensor
    distances: torch.Tensor
    mean: float
    median: float


class BestReconstructions(NamedTuple):
    """The best k: training image ``train_index[j]``, its nearest candidate ``rec_index[j]``,
    and their ``score[j]`` (SSIM, higher is better, or L2 distance, lower is better), best first."""

    train_index: torch.Tensor
    rec_index: torch.Tensor
    score: torch.Tensor


def _point_pair(A, B, name_a: str, name_b: str) -> tuple[torch.Tensor, torch.Tensor]:
    A = check_points(A, name_a)
    B = check_points(B, name_b, dtype=A.dtype, device=A.device)
    if A.shape[1] != B.shape[1]:
        raise ValueError(f"{name_a} has points of dimension {A.shape[1]} but {name_b} has dimension {B.shape[1]}")
    return A, B


def pairwise_distances(A, B) -> torch.Tensor:
    """Euclidean distances ‖aᵢ − bⱼ‖ as an (n, m) matrix, computed without the ‖a‖² + ‖b‖² − 2a·b
    shortcut so that small distances keep full precision.

    ``A`` (n, d) and ``B`` (m, d) are the two point sets.
    """
    A, B = _point_pair(A, B, "A", "B")
    return check_finite(torch.cdist(A, B, compute_mode="donot_use_mm_for_euclid_dist"),
                        "the distances (points too large for their dtype?)")


def nearest_distances(X_train, X_rec) -> NearestDistances:
    """For each training point its nearest candidate, and for each candidate its nearest training point.

    Returns :class:`NearestDistances` with ``train_to_rec`` (n,) and ``train_nearest`` (n,) (index into
    ``X_rec``), ``rec_to_train`` (m,) and ``rec_nearest`` (m,) (index into ``X_train``). Ties go to the
    smallest index.
    """
    D = pairwise_distances(*_point_pair(X_train, X_rec, "X_train", "X_rec"))
    train_to_rec, train_nearest = D.min(dim=1)
    rec_to_train, rec_nearest = D.min(dim=0)
    return NearestDistances(train_to_rec, train_nearest, rec_to_train, rec_nearest)


def hausdorff(A, B) -> float:
    """Hausdorff distance max(max_a min_b ‖a − b‖, max_b min_a ‖a − b‖) between two finite point sets.

    Zero exactly when the sets coincide; at most r means every point of each set lies within r of
    the other set.

    ``A`` (n, d) and ``B`` (m, d) are the two point sets.
    """
    near = nearest_distances(*_point_pair(A, B, "A", "B"))
    return max(near.train_to_rec.max().item(), near.rec_to_train.max().item())


def min_set_distance(A, B) -> float:
    """Minimum over all pairs ‖a − b‖: the distance of Theorem 4 (every point of A is farther than
    ``min_set_distance(A, B)`` from every point of B). The far KKT sets of Theorems 4, 5, 8 and 9
    make this exceed any prescribed r.

    ``A`` (n, d) and ``B`` (m, d) are the two point sets.
    """
    return pairwise_distances(*_point_pair(A, B, "A", "B")).min().item()


def matching(X_train, X_rec) -> Matching:
    """One-to-one Hungarian matching of training points to candidates minimising the total distance.

    Uses ``scipy.optimize.linear_sum_assignment`` on the Euclidean distance matrix. With n training
    points and m candidates, min(n, m) pairs are formed; when m > n the surplus candidates stay
    unmatched (a reconstruction may propose extra points), when m < n some training points do.
    Returns :class:`Matching` sorted by training index, with the ``mean`` and ``median`` matched
    distance (the median of an even count is the average of the two middle values).

    ``X_train`` (n, d) holds the training points and ``X_rec`` (m, d) the candidates.
    """

    D = pairwise_distances(*_point_pair(X_train, X_rec, "X_train", "X_rec"))
    rows, cols = linear_sum_assignment(D.detach().cpu().numpy())
    train_index = torch.as_tensor(rows, dtype=torch.long, device=D.device)
    rec_index = torch.as_tensor(cols, dtype=torch.long, device=D.device)
    distances = D[train_index, rec_index]
    return Matching(train_index, rec_index, distances, distances.mean().item(), distances.quantile(0.5).item())


def _images(img, name: str, dtype=None, device=None) -> torch.Tensor:
    img = check_finite(as_tensor(img, name, dtype=dtype, device=device), name)
    if img.dim() not in (3, 4):
        raise ValueError(f"{name} must have shape (C, H, W) or (B, C, H, W), got shape {tuple(img.shape)}")
    if img.numel() == 0:
        raise ValueError(f"{name} is empty (shape {tuple(img.shape)}): there is no image to compare")
    return img


def _gaussian_window(window_size: int, sigma: float, dtype, device) -> torch.Tensor:
    x = torch.arange(window_size, dtype=dtype, device=device) - (window_size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    return g / g.sum()


def ssim(img1, img2, *, data_range: float = 1.0, window_size: int = 3, sigma: float = 1.5,
         K1: float = 0.01, K2: float = 0.03, padding: str = "same") -> torch.Tensor:
    """Structural similarity (Wang, Bovik, Sheikh & Simoncelli 2004) of image pairs, one value per pair.

    Local means, variances and covariance are taken under a normalised Gaussian window of
    ``window_size`` and ``sigma`` (population moments, as in the paper), per channel; the SSIM map
    (2μ₁μ₂ + C₁)(2σ₁₂ + C₂) / ((μ₁² + μ₂² + C₁)(σ₁² + σ₂² + C₂)) with C₁ = (K₁L)², C₂ = (K₂L)² and
    L = ``data_range`` (the pixel range: 1 for images in [0, 1], the book's convention) is averaged
    over channels and pixels. SSIM(x, x) = 1 and SSIM is symmetric.

    - ``padding="same"`` (default): the image is reflect-padded so the map has the image's size; with
      ``window_size=3`` this is the setting Haim et al. (2022) score reconstructions with (kornia's
      ``ssim(x, y, window_size=3)``, averaged).
    - ``padding="valid"``: only windows inside the image; with ``window_size=11`` this is Wang et
      al.'s setting and equals scikit-image's ``structural_similarity(..., gaussian_weights=True,
      sigma=1.5, use_sample_covariance=False, data_range=L)`` on each channel, averaged.

    ``img1`` and ``img2`` have shape (B, C, H, W) or (C, H, W) and broadcast against each other
    (e.g. one image against a batch). Returns a tensor of shape (B,) (0-dim for two single images).

    ``K1`` and ``K2`` are the constants K₁ and K₂ above.
    """
    img1 = _images(img1, "img1")
    img2 = _images(img2, "img2", dtype=img1.dtype, device=img1.device)
    single = img1.dim() == 3 and img2.dim() == 3
    img1, img2 = (img.unsqueeze(0) if img.dim() == 3 else img for img in (img1, img2))
    if img1.shape[1:] != img2.shape[1:]:
        raise ValueError(f"img1 and img2 must have the same (C, H, W), got {tuple(img1.shape[1:])} "
                         f"and {tuple(img2.shape[1:])}")
    if img1.shape[0] != img2.shape[0] and 1 not in (img1.shape[0], img2.shape[0]):
        raise ValueError(f"batch sizes {img1.shape[0]} and {img2.shape[0]} do not broadcast")
    L = check_positive(data_range, "data_range")
    sigma = check_positive(sigma, "sigma")
    K1, K2 = check_positive(K1, "K1"), check_positive(K2, "K2")
    if isinstance(window_size, bool) or not isinstance(window_size, int) or window_size < 1 or window_size % 2 == 0:
        raise ValueError(f"window_size must be an odd positive integer, got {window_size!r}")
    H, W = img1.shape[-2:]
    if padding == "same":
        if window_size // 2 >= min(H, W):
            raise ValueError(f"window_size={window_size} is too large for reflect padding of {H}×{W} images")
    elif padding == "valid":
        if window_size > min(H, W):
            raise ValueError(f"window_size={window_size} is larger than the {H}×{W} images")
    else:
        raise ValueError(f"padding must be 'same' or 'valid', got {padding!r}")

    B = max(img1.shape[0], img2.shape[0])
    img1, img2 = img1.expand(B, -1, -1, -1), img2.expand(B, -1, -1, -1)
    C = img1.shape[1]
    g = _gaussian_window(window_size, sigma, img1.dtype, img1.device)
    kernel = (g[:, None] * g[None, :]).expand(5 * C, 1, window_size, window_size)
    stack = torch.cat([img1, img2, img1 * img1, img2 * img2, img1 * img2], dim=1)
    if padding == "same":
        r = window_size // 2
        stack = F.pad(stack, (r, r, r, r), mode="reflect")
    mu1, mu2, m11, m22, m12 = F.conv2d(stack, kernel, groups=5 * C).split(C, dim=1)
    C1, C2 = (K1 * L) ** 2, (K2 * L) ** 2
    var1, var2, cov = m11 - mu1**2, m22 - mu2**2, m12 - mu1 * mu2
    ssim_map = (2 * mu1 * mu2 + C1) * (2 * cov + C2) / ((mu1**2 + mu2**2 + C1) * (var1 + var2 + C2))
    values = check_finite(ssim_map.flatten(1).mean(dim=1), "SSIM (pixel values too large for the image dtype?)")
    return values[0] if single else values


def best_reconstructions(X_train, X_rec, k: int, *, metric: str = "ssim", image_shape=None,
                         data_range: float = 1.0, progress: bool = False) -> BestReconstructions:
    """A "best k" after Haim et al.: each training image's nearest candidate by the score, sorted, top k.

    For every training image i the candidate j maximising SSIM (``metric="ssim"``, :func:`ssim` with
    its defaults and ``data_range``; needs ``image_shape`` = (C, H, W)) or minimising the L2
    distance (``metric="l2"``) is found; the n pairs are sorted best first (highest SSIM, or
    smallest distance) and the first ``k`` returned. A candidate may be the nearest of several
    training images. Where this differs from Haim et al.'s score (:func:`haim_score`): they choose
    neighbours by normalised cross-correlation, add the data mean back and rescale each candidate to
    [0, 1], and report DSSIM; here the neighbour is chosen by the score itself (which biases SSIM up), and
    candidates must already be in the images' range for SSIM to be meaningful.

    ``X_train`` (n, D) holds the training images and ``X_rec`` (m, D) the candidates (flattened); ``progress`` shows
    a progress bar over the training images.
    """
    X_train, X_rec = _point_pair(X_train, X_rec, "X_train", "X_rec")
    n = X_train.shape[0]
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= n:
        raise ValueError(f"k must be an integer between 1 and the number of training points {n}, got {k!r}")
    if metric == "l2":
        near = nearest_distances(X_train, X_rec)
        score, rec_index = near.train_to_rec, near.train_nearest
        order = torch.argsort(score, stable=True)
    elif metric == "ssim":
        if image_shape is None:
            raise ValueError("metric='ssim' needs image_shape=(C, H, W) to view the rows as images")
        shape = tuple(image_shape)
        if len(shape) != 3 or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in shape):
            raise ValueError(f"image_shape must be three positive integers (C, H, W), got {image_shape!r}")
        if shape[0] * shape[1] * shape[2] != X_train.shape[1]:
            raise ValueError(f"image_shape {shape} has {shape[0] * shape[1] * shape[2]} pixels but the points "
                             f"have dimension {X_train.shape[1]}")
        train_img, rec_img = X_train.reshape(n, *shape), X_rec.reshape(-1, *shape)
        rows = [ssim(train_img[i], rec_img, data_range=data_range).max(dim=0)
                for i in progress_bar(range(n), desc="SSIM", enabled=progress)]
        score = torch.stack([r.values for r in rows])
        rec_index = torch.stack([r.indices for r in rows])
        order = torch.argsort(score, descending=True, stable=True)
    else:
        raise ValueError(f"metric must be 'ssim' or 'l2', got {metric!r}")
    top = order[:k]
    return BestReconstructions(top, rec_index[top], score[top])


def span_residuals(X_train, X_rec) -> torch.Tensor:
    """Distance of every candidate to the span of the training set: ‖x′ − P x′‖, shape (m,).

    P is the orthogonal projector onto span(X_train) (numerical rank, as ``models.TwoLayerReLU(span=...)``).
    Theorem 4's far KKT sets leave that span: a split along ν ⟂ span(X) (Lemma 3) changes no activation of a
    network whose first-layer rows lie in the span, so it is free at any distance. Chapter "The initialisation
    radius" measures how far the attack's candidates go out of the span.

    ``X_train`` (n, d) holds the training points and ``X_rec`` (m, d) the candidates.
    """
    X_train, X_rec = _point_pair(X_train, X_rec, "X_train", "X_rec")
    P = span_projector(X_train, X_train.shape[1], X_train.dtype)
    return check_finite((X_rec - X_rec @ P).norm(dim=1), "the span residuals (points too large for their dtype?)")



# ----------------------------------------------------------------------------- Haim et al.'s scoring
class HaimScore(NamedTuple):
    """Haim et al.'s DSSIM score. ``score``: mean DSSIM of the best ``k`` pairs (lower is better).
    Per training image, best first: ``train_index``, ``dssim`` (n,), ``rec_index`` (its NCC neighbour; with
    voting the nearest of the voters), ``images`` (n, C, H, W): the scored candidate images (mean added
    back, min–max rescaled, voted), in the same order."""

    score: float
    train_index: torch.Tensor
    rec_index: torch.Tensor
    dssim: torch.Tensor
    images: torch.Tensor


class CandidateNeighbours(NamedTuple):
    """Candidates ``rec_index[k]`` with their nearest training image ``train_index[k]`` at ``distance[k]``,
    best first, at most ``max_per_nn`` candidates per training image."""

    rec_index: torch.Tensor
    train_index: torch.Tensor
    distance: torch.Tensor


_VOTES = (None, "min", "mean", "median")


_image_shape = check_image_shape


def _standardise(X: torch.Tensor, channels: int) -> torch.Tensor:
    """Each image and channel to mean 0, sample standard deviation 1 (a constant channel raises)."""
    Z = X.reshape(X.shape[0], channels, -1)
    if Z.shape[-1] < 2:
        raise ValueError(f"an image channel has {Z.shape[-1]} pixel: its normalised cross-correlation needs at "
                         "least two pixels (a standard deviation)")
    std = Z.std(dim=-1, keepdim=True)
    if (std == 0).any():
        raise ValueError("an image has a constant channel: its normalised cross-correlation is undefined")
    return check_finite(((Z - Z.mean(dim=-1, keepdim=True)) / std).reshape(X.shape[0], -1),
                        "the standardised images (pixel values too large for the dtype?)")


def ncc_distances(A, B, *, image_shape=None) -> torch.Tensor:
    """Haim et al.'s NCC distance (``ncc_dist(..., div_dim=True)``), an (n, m) matrix.

    Every row of ``A`` (n, D) and ``B`` (m, D) — every channel of every image when ``image_shape`` = (C, H, W)
    is given — is standardised to mean 0 and sample standard deviation 1; the distance is the squared L2
    distance of the standardised vectors divided by D. For one channel it equals 2(D − 1)/D · (1 − NCC),
    NCC the Pearson correlation of the two images, so it ranks neighbours by correlation, ignoring
    brightness and contrast. Computed without the ‖a‖² + ‖b‖² − 2a·b shortcut Haim et al. use.
    """
    A, B = _point_pair(A, B, "A", "B")
    channels = 1 if image_shape is None else _image_shape(image_shape, A.shape[1])[0]
    Za, Zb = _standardise(A, channels), _standardise(B, channels)
    return torch.cdist(Za, Zb, compute_mode="donot_use_mm_for_euclid_dist").pow(2) / A.shape[1]


def _search_copies(X: torch.Tensor, shape: tuple, search_scale: float) -> tuple[torch.Tensor, tuple]:
    """Images resized by ``search_scale`` (bicubic, as Haim et al.), flattened, with their new (C, H, W)."""
    if search_scale == 1.0:
        return X, shape
    images = F.interpolate(X.reshape(-1, *shape), scale_factor=search_scale, mode="bicubic")
    return images.reshape(X.shape[0], -1), tuple(images.shape[1:])


def haim_score(X_train, X_rec, *, image_shape, mean=None, k: int = 10, search_scale: float = 0.5, vote=None,
               data_range: float = 1.0) -> HaimScore:
    """Haim et al.'s reconstruction score (their ``get_evaluation_score_dssim``): mean DSSIM of the best k.

    ``X_train`` (n, D) and ``X_rec`` (m, D) are in the network's coordinates (centred, when the network was
    trained on centred data); ``mean`` (a number or D values; default 0) is the training mean to add back.

    1. Neighbours: for each training image, the candidate of smallest :func:`ncc_distances`, both searched
       on copies resized by ``search_scale`` (bicubic; Haim et al.: 0.5; 1.0 searches at full resolution).
    2. ``vote`` (their option): ``None`` or ``"min"`` keep that neighbour; ``"mean"`` / ``"median"`` combine
       (pixelwise) every candidate whose distance is below 1.1 times the nearest one's.
    3. The mean is added back to both; each candidate (not the training image) is min–max rescaled to
       [0, 1] (a constant candidate raises).
    4. DSSIM = (1 − SSIM)/2 with :func:`ssim` at ``window_size=3`` (kornia's, as theirs) and ``data_range``;
       the n pairs sorted, lowest DSSIM first; ``score`` is the mean of the first ``k``.

    Where we differ from :func:`best_reconstructions`: the neighbour is chosen by NCC, not by the score
    itself (choosing by SSIM biases the score up), and candidates are rescaled (the attack's candidates
    have no fixed range). Lower is better: 0 for exact copies, 0.5 for SSIM 0.

    ``image_shape`` is (C, H, W) of one image.
    """
    X_train, X_rec = _point_pair(X_train, X_rec, "X_train", "X_rec")
    n, dim = X_train.shape
    shape = _image_shape(image_shape, dim)
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= n:
        raise ValueError(f"k must be an integer between 1 and the number of training points {n}, got {k!r}")
    if vote not in _VOTES:
        raise ValueError(f"vote must be one of {_VOTES}, got {vote!r}")
    search_scale = check_positive(search_scale, "search_scale")
    if search_scale > 1:
        raise ValueError(f"search_scale must be in (0, 1] (a downsampling factor), got {search_scale}")
    if min(math.floor(shape[1] * search_scale), math.floor(shape[2] * search_scale)) < 1:
        raise ValueError(f"search_scale={search_scale} shrinks {shape[1]}×{shape[2]} images to nothing")
    offset = torch.zeros(dim, dtype=X_train.dtype, device=X_train.device) if mean is None else \
        check_finite(as_tensor(mean, "mean", dtype=X_train.dtype, device=X_train.device), "mean")
    if offset.shape not in ((), (dim,)):
        raise ValueError(f"mean must be a number or {dim} values (one per pixel), got shape {tuple(offset.shape)}")
    offset = offset.expand(dim)
    (train_s, small), (rec_s, _) = (_search_copies(Z, shape, search_scale) for Z in (X_train, X_rec))
    D = ncc_distances(train_s, rec_s, image_shape=small)
    dists, order = D.sort(dim=1, stable=True)
    rec_index = order[:, 0]
    if vote in (None, "min"):
        chosen = X_rec[rec_index]
    else:
        combine = (lambda Z: Z.mean(0)) if vote == "mean" else (lambda Z: Z.median(0).values)
        chosen = []
        for i in range(n):
            close = (dists[i] < 1.1 * dists[i, 0]) | (torch.arange(len(dists[i]), device=D.device) == 0)
            chosen.append(combine(X_rec[order[i][close]]))
        chosen = torch.stack(chosen)
    cand = chosen + offset
    lo, hi = cand.min(dim=1, keepdim=True).values, cand.max(dim=1, keepdim=True).values
    if (hi == lo).any():
        raise ValueError("a chosen candidate is constant: it cannot be min-max rescaled")
    cand = ((cand - lo) / (hi - lo)).reshape(n, *shape)
    train = (X_train + offset).reshape(n, *shape)
    dssim = (1 - ssim(cand, train, data_range=data_range, window_size=3)) / 2
    dssim_sorted, best = dssim.sort(stable=True)
    return HaimScore(dssim_sorted[:k].mean().item(), best, rec_index[best], dssim_sorted, cand[best])


def candidate_neighbours(X_rec, X_train, *, metric: str = "ncc", max_per_nn=None,
                         image_shape=None) -> CandidateNeighbours:
    """Each candidate's nearest training image, deduplicated as Haim et al.'s ``viz_nns(..., max_per_nn)``.

    ``metric``: ``"ncc"`` (:func:`ncc_distances`, per channel with ``image_shape``) or ``"l2"`` (squared
    Euclidean distance, as theirs). With ``max_per_nn`` = q only the q nearest candidates of every training
    image are kept (so one well-reconstructed image cannot fill a grid of "best" reconstructions); the
    result is sorted by distance, best first. ``X_rec`` (m, D) holds the candidates and ``X_train`` (n, D) the
    training images (flattened).
    """
    X_rec, X_train = _point_pair(X_rec, X_train, "X_rec", "X_train")
    if metric == "ncc":
        D = ncc_distances(X_rec, X_train, image_shape=image_shape)
    elif metric == "l2":
        D = pairwise_distances(X_rec, X_train).pow(2)
    else:
        raise ValueError(f"metric must be 'ncc' or 'l2', got {metric!r}")
    if max_per_nn is not None and (isinstance(max_per_nn, bool) or not isinstance(max_per_nn, int) or max_per_nn < 1):
        raise ValueError(f"max_per_nn must be None or a positive integer, got {max_per_nn!r}")
    distance, train_index = D.min(dim=1)
    order = torch.argsort(distance, stable=True)
    if max_per_nn is not None:
        counts, keep = {}, []
        for j in order.tolist():
            i = int(train_index[j])
            if counts.get(i, 0) < max_per_nn:
                counts[i] = counts.get(i, 0) + 1
                keep.append(j)
        order = torch.as_tensor(keep, dtype=torch.long, device=D.device)
    return CandidateNeighbours(order, train_index[order], distance[order])
