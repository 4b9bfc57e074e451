"""Reconstruction metrics against hand-computed values, brute force and reference SSIM values."""

import itertools
import math

import numpy as np
import pytest
import torch

from reconleak_core import data
from reconleak_core.metrics import (
    best_reconstructions,
    hausdorff,
    matching,
    min_set_distance,
    nearest_distances,
    pairwise_distances,
    span_residuals,
    ssim,
)


def T(rows):
    return torch.tensor(rows, dtype=torch.float64)


# Hand example: A = {(0,0), (1,0)}, B = {(0,1), (3,0), (1,0.5)}.
A = T([[0, 0], [1, 0]])
B = T([[0, 1], [3, 0], [1, 0.5]])


def test_nearest_distances_hand_example():
    near = nearest_distances(A, B)
    assert torch.allclose(near.train_to_rec, T([1, 0.5]), rtol=0, atol=1e-15)
    assert near.train_nearest.tolist() == [0, 2]
    assert torch.allclose(near.rec_to_train, T([1, 2, 0.5]), rtol=0, atol=1e-15)
    assert near.rec_nearest.tolist() == [0, 1, 1]


def test_hausdorff_is_the_largest_nearest_distance_and_symmetric():
    assert hausdorff(A, B) == pytest.approx(2.0, abs=1e-15)  # (3,0) is 2 away from its nearest, (1,0)
    assert hausdorff(B, A) == hausdorff(A, B)
    assert hausdorff(A, A.flip(0)) == 0.0


def test_min_set_distance_is_the_closest_pair_theorem4_notion():
    assert min_set_distance(A, B) == pytest.approx(0.5, abs=1e-15)
    shifted = A + T([0, 7])
    assert min_set_distance(A, shifted) == pytest.approx(math.sqrt(49), abs=1e-14)
    assert min_set_distance(A, shifted) <= nearest_distances(A, shifted).train_to_rec.min().item()


def test_pairwise_distances_keep_precision_for_tiny_distances():
    X = T([[1e8, 1.0]])
    Y = T([[1e8, 1.0 + 1e-6]])
    assert pairwise_distances(X, Y).item() == pytest.approx(1e-6, rel=1e-9)


def test_matching_hand_example_with_more_candidates_than_points():
    m = matching(A, B)
    assert m.train_index.tolist() == [0, 1] and m.rec_index.tolist() == [0, 2]
    assert m.mean == pytest.approx(0.75) and m.median == pytest.approx(0.75)


def test_matching_is_one_to_one_where_nearest_neighbours_collide():
    # Both training points have candidate 1.0 as nearest neighbour; the matching must use 3.0 too.
    X, R = T([[0.0], [1.9]]), T([[1.0], [3.0]])
    assert nearest_distances(X, R).train_nearest.tolist() == [0, 0]
    m = matching(X, R)
    assert m.rec_index.tolist() == [0, 1]
    assert torch.allclose(m.distances, T([1.0, 1.1]), rtol=0, atol=1e-14)
    assert m.mean == pytest.approx(1.05) and m.median == pytest.approx(1.05)


def test_matching_with_fewer_candidates_leaves_points_unmatched_and_median_of_three():
    m = matching(T([[0.0], [1.9], [10.0]]), T([[1.0], [3.0]]))
    assert m.train_index.tolist() == [0, 1] and m.rec_index.tolist() == [0, 1]
    m = matching(T([[0.0], [1.9], [10.0]]), T([[10.5], [1.0], [3.0]]))
    assert m.rec_index.tolist() == [1, 2, 0]
    assert m.median == pytest.approx(1.0) and m.mean == pytest.approx(2.6 / 3)


def test_matching_minimises_total_distance_like_brute_force():
    gen = torch.Generator().manual_seed(0)
    for m_rec in (4, 5, 6):
        X = torch.randn(5, 3, generator=gen, dtype=torch.float64)
        R = torch.randn(m_rec, 3, generator=gen, dtype=torch.float64)
        D = pairwise_distances(X, R)
        if m_rec >= 5:
            best = min(sum(D[i, p[i]].item() for i in range(5)) for p in itertools.permutations(range(m_rec), 5))
        else:
            best = min(sum(D[p[j], j].item() for j in range(m_rec)) for p in itertools.permutations(range(5), m_rec))
        result = matching(X, R)
        assert len(set(result.rec_index.tolist())) == len(result.rec_index) == min(5, m_rec)
        assert result.distances.sum().item() == pytest.approx(best, rel=1e-12)


@pytest.mark.parametrize("fn", [nearest_distances, hausdorff, min_set_distance, matching])
def test_set_metrics_reject_nan_mismatched_and_empty_inputs(fn):
    with pytest.raises(ValueError, match="NaN found in"):
        fn(A, T([[float("nan"), 0]]))
    with pytest.raises(ValueError, match="dimension"):
        fn(A, T([[0, 0, 0]]))
    with pytest.raises(ValueError, match="empty"):
        fn(A, torch.zeros(0, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match="shape"):
        fn(torch.zeros(2, dtype=torch.float64), A)


# ------------------------------------------------------------------------------------------------ SSIM

def _wave_images():
    """Deterministic 3×16×16 images in [0, 1] (no random generator, so reference values are portable)."""
    c, h, w = np.meshgrid(np.arange(3), np.arange(16), np.arange(16), indexing="ij")
    a = 0.5 + 0.4 * np.sin(0.7 * h + 1.3 * w + c)
    b = 0.5 + 0.4 * np.cos(0.5 * h - 0.9 * w + 2 * c)
    close = a + 0.1 * np.sin(2.1 * h * w + c)
    return torch.tensor(a), torch.tensor(b), torch.tensor(close)


# Values computed once with scikit-image 0.26.0 ``structural_similarity(x, y, channel_axis=0,
# gaussian_weights=True, sigma=s, use_sample_covariance=False, data_range=L)`` ("valid" windows; its
# window is 11 for s=1.5 and 3 for s=0.4) and with kornia 0.9.0 ``ssim(x, y, 3, eps=0).mean()``
# (Haim et al.'s "same" setting). Both libraries agreed with this implementation to 5e-16.
REFERENCE = [
    # (pair, window_size, sigma, padding, data_range, value)
    ("b", 11, 1.5, "valid", 1.0, 0.01012743239447763),
    ("b", 3, 0.4, "valid", 1.0, 0.08045997104325618),
    ("b", 11, 1.5, "valid", 2.0, 0.027031849935977764),
    ("close", 11, 1.5, "valid", 1.0, 0.9715682245976801),
    ("close", 3, 0.4, "valid", 1.0, 0.9177886313962517),
    ("close", 11, 1.5, "valid", 2.0, 0.9720107412176366),
    ("b", 3, 1.5, "same", 1.0, -0.00915623388376745),
    ("close", 3, 1.5, "same", 1.0, 0.9570162594097256),
]


@pytest.mark.parametrize("pair, window_size, sigma, padding, data_range, value", REFERENCE)
def test_ssim_matches_scikit_image_and_kornia_reference_values(pair, window_size, sigma, padding, data_range, value):
    a, b, close = _wave_images()
    other = {"b": b, "close": close}[pair]
    got = ssim(a, other, data_range=data_range, window_size=window_size, sigma=sigma, padding=padding)
    assert got.dim() == 0
    assert got.item() == pytest.approx(value, abs=1e-13)


def test_ssim_matches_scikit_image_when_installed():
    metrics = pytest.importorskip("skimage.metrics")
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(3, 20, 24, generator=gen, dtype=torch.float64)
    y = (x + 0.2 * torch.rand(3, 20, 24, generator=gen, dtype=torch.float64)).clamp(0, 1)
    want = metrics.structural_similarity(x.numpy(), y.numpy(), channel_axis=0, gaussian_weights=True, sigma=1.5,
                                         use_sample_covariance=False, data_range=1.0)
    assert ssim(x, y, window_size=11, padding="valid").item() == pytest.approx(want, abs=1e-12)


@pytest.mark.parametrize("window_size, padding", [(3, "same"), (5, "same"), (7, "valid"), (11, "valid")])
def test_ssim_of_an_image_with_itself_is_one_and_ssim_is_symmetric(window_size, padding):
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(4, 3, 12, 12, generator=gen, dtype=torch.float64)
    y = torch.rand(4, 3, 12, 12, generator=gen, dtype=torch.float64)
    kwargs = {"window_size": window_size, "padding": padding}
    assert torch.allclose(ssim(x, x, **kwargs), torch.ones(4, dtype=torch.float64), rtol=0, atol=1e-12)
    assert torch.allclose(ssim(x, y, **kwargs), ssim(y, x, **kwargs), rtol=0, atol=1e-14)
    assert (ssim(x, y, **kwargs) < 0.5).all()


@pytest.mark.parametrize("mu1, mu2, data_range", [(0.2, 0.7, 1.0), (0.0, 1.0, 1.0), (30.0, 200.0, 255.0)])
def test_ssim_of_constant_images_is_the_luminance_term(mu1, mu2, data_range):
    # Constant images have zero local variance: SSIM = (2μ₁μ₂ + C₁)/(μ₁² + μ₂² + C₁), C₁ = (0.01 L)².
    C1 = (0.01 * data_range) ** 2
    want = (2 * mu1 * mu2 + C1) / (mu1**2 + mu2**2 + C1)
    x = torch.full((1, 8, 8), mu1, dtype=torch.float64)
    y = torch.full((1, 8, 8), mu2, dtype=torch.float64)
    for padding in ("same", "valid"):
        assert ssim(x, y, data_range=data_range, padding=padding).item() == pytest.approx(want, rel=1e-12)


def test_ssim_broadcasts_one_image_against_a_batch():
    gen = torch.Generator().manual_seed(2)
    batch = torch.rand(5, 1, 8, 8, generator=gen, dtype=torch.float64)
    scores = ssim(batch[2], batch)
    assert scores.shape == (5,)
    assert scores[2].item() == pytest.approx(1.0, abs=1e-12)
    assert torch.allclose(scores, torch.stack([ssim(batch[2], b) for b in batch]), rtol=0, atol=1e-15)


@pytest.mark.parametrize(
    "img1, img2, kwargs, match",
    [
        (torch.zeros(1, 8, 8), torch.zeros(1, 8, 9), {}, "same \\(C, H, W\\)"),
        (torch.zeros(2, 1, 8, 8), torch.zeros(3, 1, 8, 8), {}, "broadcast"),
        (torch.zeros(8, 8), torch.zeros(8, 8), {}, "shape"),
        (torch.full((1, 8, 8), float("nan")), torch.zeros(1, 8, 8), {}, "NaN found in img1"),
        (torch.zeros(1, 8, 8), torch.zeros(1, 8, 8), {"window_size": 4}, "odd"),
        (torch.zeros(1, 8, 8), torch.zeros(1, 8, 8), {"window_size": 11, "padding": "valid"}, "larger"),
        (torch.zeros(1, 8, 8), torch.zeros(1, 8, 8), {"window_size": 17}, "too large"),
        (torch.zeros(1, 8, 8), torch.zeros(1, 8, 8), {"padding": "full"}, "padding"),
        (torch.zeros(1, 8, 8), torch.zeros(1, 8, 8), {"data_range": 0}, "data_range"),
    ],
)
def test_ssim_rejects_bad_inputs(img1, img2, kwargs, match):
    with pytest.raises(ValueError, match=match):
        ssim(img1, img2, **kwargs)


# -------------------------------------------------------------------------------------------- best k

def _noisy_copies():
    """Six 8×8 images; candidate j is a copy of training image perm[j] plus noise of level noise[perm[j]]."""
    gen = torch.Generator().manual_seed(4)
    X = torch.rand(6, 64, generator=gen, dtype=torch.float64)
    noise = T([0.3, 0.0, 0.2, 0.05, 0.4, 0.1])
    perm = torch.tensor([4, 2, 0, 5, 1, 3])
    pattern = torch.rand(6, 64, generator=gen, dtype=torch.float64) - 0.5
    X_rec = X[perm] + noise[perm, None] * pattern
    return X, X_rec, noise, perm


def test_best_reconstructions_l2_ranks_by_distance_to_nearest_candidate():
    X, X_rec, noise, perm = _noisy_copies()
    best = best_reconstructions(X, X_rec, k=3, metric="l2")
    assert best.train_index.tolist() == [1, 3, 5]  # the three smallest noise levels, best first
    assert best.rec_index.tolist() == [perm.tolist().index(i) for i in (1, 3, 5)]
    assert best.score[0].item() == 0.0 and (best.score.diff() > 0).all()
    near = nearest_distances(X, X_rec)
    assert torch.equal(best.score, near.train_to_rec[best.train_index])


def test_best_reconstructions_ssim_puts_exact_copies_first():
    X, X_rec, noise, perm = _noisy_copies()
    best = best_reconstructions(X, X_rec, k=6, metric="ssim", image_shape=(1, 8, 8))
    assert best.train_index[0].item() == 1 and best.score[0].item() == pytest.approx(1.0, abs=1e-12)
    assert best.rec_index.tolist() == [perm.tolist().index(i) for i in best.train_index.tolist()]
    assert (best.score.diff() <= 0).all()
    for i, j, s in zip(best.train_index, best.rec_index, best.score):
        assert s.item() == pytest.approx(ssim(X[i].reshape(1, 8, 8), X_rec[j].reshape(1, 8, 8)).item(), abs=1e-15)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"k": 0}, "k must be"),
        ({"k": 7}, "k must be"),
        ({"k": 2, "metric": "ssim"}, "image_shape"),
        ({"k": 2, "metric": "ssim", "image_shape": (1, 8, 7)}, "pixels"),
        ({"k": 2, "metric": "ssim", "image_shape": (8, 8)}, "three"),
        ({"k": 2, "metric": "ncc"}, "metric"),
    ],
)
def test_best_reconstructions_rejects_bad_arguments(kwargs, match):
    X, X_rec, _, _ = _noisy_copies()
    with pytest.raises(ValueError, match=match):
        best_reconstructions(X, X_rec, **kwargs)

def test_span_residuals_vanish_for_points_inside_the_span():
    X, _ = data.sphere(12, 8, subspace_dim=3, seed=1)
    inside = torch.randn(5, 12, dtype=torch.float64) @ X
    assert span_residuals(X, inside).max().item() < 1e-10


def test_span_residuals_equal_the_norm_of_the_orthogonal_component():
    X = torch.zeros(4, 5, dtype=torch.float64)
    X[:, :2] = torch.randn(4, 2, dtype=torch.float64)
    Z = torch.randn(6, 5, dtype=torch.float64)
    expected = Z[:, 2:].norm(dim=1)
    assert torch.allclose(span_residuals(X, Z), expected, atol=1e-12)


def test_span_residuals_reject_mismatched_dimensions():
    with pytest.raises(ValueError):
        span_residuals(torch.ones(3, 4, dtype=torch.float64), torch.ones(2, 5, dtype=torch.float64))
