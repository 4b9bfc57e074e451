"""Pooled attacks: K restarts of the KKT attack as ONE batched computation, scored as Haim et al. report.

Interface.

- :func:`pooled_attack` — ``pooled_attack(net, X, y, restarts=8, prior=..., mean=..., image_shape=...)``
  runs ``restarts`` independent attacks (``attack.reconstruct_batch``, one call) on the margin-normalised
  network, pools all their candidates, and scores every training point against its best candidate over
  all restarts. Returns a :class:`PooledResult`.
- :func:`pool_scores` — the scoring alone, for candidates obtained otherwise (shape (K, m, d) or (m, d)).
- :func:`score_matrix` — every training point's score with every candidate, (n, M): the same scoring, for
  the null baseline of :mod:`reconleak_core.calibration`.

Coordinates. The network was trained on *model coordinates* ``X`` (e.g. centred images, ``data.digits``);
``mean`` (the training mean the data set subtracted, ``data.ImageSet.mean``) is added back to the
training points and to the candidates before scoring, so scores and the returned candidates are in pixel
coordinates. A prior is given in model coordinates: ``data.pixel_box(0, 1, mean)`` turns the pixel box
[0, 1] into the box the attack needs.

Scores (``metric``):

- ``"ssim"`` (images; needs ``image_shape``): ``metrics.ssim`` (Haim et al.'s window 3, data range 1) of
  each training image with every pooled candidate, both in pixel coordinates; the best candidate is the one
  of highest SSIM. Candidates are scored as they are (no clipping), or, with ``rescale=True``, after
  Haim et al.'s per-image min–max rescale to [0, 1] of candidates and training images alike (which makes
  the score blind to a constant shift: the secret-shift experiment).
- ``"l2"``: Euclidean distance, best = nearest; ``"cosine"``: 1 − cos∠(x, x′), a *direction-only* distance
  (the attack's objective is invariant under (x′, λ′) → (c x′, λ′/c) for a two-layer ReLU net without a
  prior, chapter "The initialisation radius").

Several training points may share one best candidate: :attr:`PooledResult.shared` counts the training
points whose best candidate is also another's (the "averages" of the paper's Fig. 2b).
Introduced in the book's chapter "Reconstruction attacks" and used by the experiments' presets.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from reconleak_core.attack import AttackConfig, AttackResult, reconstruct_trained
from reconleak_core.checks import (
    as_tensor,
    check_bool,
    check_finite,
    check_image_shape,
    check_int,
    check_points,
    check_real,
    check_seed,
)
from reconleak_core.kkt import normalize_margin
from reconleak_core.kkt import onto_margin as kkt_onto_margin
from reconleak_core.metrics import pairwise_distances, ssim
from reconleak_core.priors import is_prior
from reconleak_core.runtime import check_memory

__all__ = ["PooledResult", "pool_scores", "score_matrix", "pooled_attack", "METRICS", "RECOVERED_SSIM"]

METRICS = ("ssim", "l2", "cosine")
RECOVERED_SSIM = 0.7
"""SSIM at or above which a training image counts as recovered (the book's threshold; Haim et al. show
images above about this value as clear reconstructions)."""


@dataclass(frozen=True, eq=False)
class PooledResult:
    """The pooled candidates and every training point's best candidate over all restarts.

    - ``candidates`` (K·m, d): all restarts' candidates, pooled, in pixel coordinates (mean added back);
      ``restart`` (K·m,): the restart each came from; ``lam`` (K·m,): their multipliers.
    - ``best`` (n,): index into ``candidates`` of each training point's best candidate;
      ``score`` (n,): its SSIM (higher is better) or distance (lower is better), see ``metric``.
    - ``kkt`` (K,): each restart's final KKT loss; ``metric``, ``threshold``: how ``recovered`` counts.
    - ``X`` (n, d): the training points in pixel coordinates.
    """

    candidates: torch.Tensor
    restart: torch.Tensor
    lam: torch.Tensor
    best: torch.Tensor
    score: torch.Tensor
    kkt: torch.Tensor
    metric: str
    threshold: float
    X: torch.Tensor

    @property
    def higher_is_better(self) -> bool:
        return self.metric == "ssim"

    @property
    def median(self) -> float:
        """Median over training points of the best score."""
        return self.score.median().item() if self.score.numel() % 2 else float(np.median(self.score.numpy()))

    @property
    def recovered(self) -> torch.Tensor:
        """Boolean per training point, shape ``(n,)``; score ≥ threshold for SSIM, ≤ threshold for distances."""
        return self.score >= self.threshold if self.higher_is_better else self.score <= self.threshold

    @property
    def fraction(self) -> float:
        """Fraction of training points recovered (see ``recovered``)."""
        return self.recovered.double().mean().item()

    @property
    def shared(self) -> int:
        """Number of training points whose best candidate is also the best candidate of another point."""
        _, inverse, counts = torch.unique(self.best, return_inverse=True, return_counts=True)
        return int((counts[inverse] > 1).sum())

    @property
    def best_candidates(self) -> torch.Tensor:
        """Each training point's best candidate, shape ``(n, d)`` (pixel coordinates), for side-by-side figures."""
        return self.candidates[self.best]

    def summary(self) -> dict:
        """The headline numbers, rounded to 3 significant digits."""
        r = lambda v: float(f"{v:.3g}")  # noqa: E731
        return {"metric": self.metric, "median": r(self.median), "fraction": r(self.fraction),
                "threshold": self.threshold, "shared": self.shared, "restarts": int(self.kkt.numel()),
                "kkt_median": r(self.kkt.median().item())}


def _check_metric(metric: str, image_shape, d: int):
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    if metric != "ssim":
        return None
    if image_shape is None:
        raise ValueError("metric='ssim' needs image_shape=(C, H, W), e.g. data.DIGITS_IMAGE_SHAPE")
    return check_image_shape(image_shape, d)


def _mean(mean, d: int, dtype) -> torch.Tensor:
    if mean is None:
        return torch.zeros(d, dtype=dtype)
    mean = check_finite(as_tensor(mean, "mean", dtype=dtype, device="cpu"), "mean")
    if mean.shape != (d,):
        raise ValueError(f"mean must be a finite vector with d={d} entries (the data set's training mean), "
                         f"got shape {tuple(mean.shape)}")
    return mean


def _carried(value, name: str, size: int, what: str) -> torch.Tensor:
    """``lam`` or ``kkt`` of :func:`pool_scores`: ``size`` finite numbers (NaN, "not recorded", when ``None``)."""
    if value is None:
        return torch.full((size,), float("nan"), dtype=torch.float64)
    value = check_finite(as_tensor(value, name, dtype=torch.float64, device="cpu").detach(), name)
    if value.numel() != size:
        raise ValueError(f"{name} must hold {size} values ({what}), got shape {tuple(value.shape)}")
    return value.reshape(size)


def _scores(X: torch.Tensor, C: torch.Tensor, metric: str, shape) -> torch.Tensor:
    """The score of every training point with every candidate, shape (n, M)."""
    if metric == "ssim":
        cand = C.reshape(-1, *shape)
        return torch.stack([ssim(x.reshape(shape), cand) for x in X])
    if metric == "l2":
        return pairwise_distances(X, C)
    unit = lambda Z: Z / Z.norm(dim=1, keepdim=True).clamp_min(torch.finfo(Z.dtype).tiny)  # noqa: E731
    return 1 - unit(X) @ unit(C).T


def _best(X: torch.Tensor, C: torch.Tensor, metric: str, shape) -> tuple[torch.Tensor, torch.Tensor]:
    """Every training point's best candidate: (index, score)."""
    scores = _scores(X, C, metric, shape)
    values, index = scores.max(dim=1) if metric == "ssim" else scores.min(dim=1)
    return index, values


def _rescale(Z: torch.Tensor) -> torch.Tensor:
    """Min–max rescale every row to [0, 1] (Haim et al.'s scoring); a constant row becomes 0."""
    lo, hi = Z.amin(dim=-1, keepdim=True), Z.amax(dim=-1, keepdim=True)
    span = hi - lo
    return torch.where(span > 0, (Z - lo) / torch.where(span > 0, span, torch.ones_like(span)), 0.0)


def _pixel_points(X, candidates, *, mean, metric: str, image_shape, rescale: bool):
    """Checked training points (n, d) and pooled candidates (K·m, d) in pixel coordinates (rescaled with
    ``rescale``), K and the image shape (None for the distances)."""
    X = check_points(X, "X", dtype=torch.float64, device="cpu")
    C = check_points(candidates, "candidates", dtype=torch.float64, device="cpu", batched=True).detach()
    if C.dim() == 2:
        C = C.unsqueeze(0)
    if C.dim() != 3 or C.shape[-1] != X.shape[1]:
        raise ValueError(f"candidates must have shape (K, m, d) or (m, d) with d={X.shape[1]}, "
                         f"got shape {tuple(C.shape)}")
    K, m, d = C.shape
    shape = _check_metric(metric, image_shape, d)
    check_bool(rescale, "rescale")
    if rescale and metric != "ssim":
        raise ValueError("rescale=True is Haim et al.'s image scoring: it needs metric='ssim'")
    mu = _mean(mean, d, torch.float64)
    Xp, Cp = X + mu, C.reshape(K * m, d) + mu
    if rescale:
        Xp, Cp = _rescale(Xp), _rescale(Cp)
    return Xp, Cp, K, shape


def score_matrix(X, candidates, *, mean=None, metric: str = "ssim", image_shape=None,
                 rescale: bool = False) -> torch.Tensor:
    """The score of every training point with every candidate, shape (n, M), as :func:`pool_scores` scores them.

    The same arguments and coordinates as :func:`pool_scores` (``candidates`` (K, m, d) are pooled: M = K·m);
    ``pool_scores``' best score of training point i is the row's maximum (SSIM) or minimum (distances). For
    scores of many candidate sets against one training set (the null baseline, :mod:`reconleak_core.calibration`).

    ``X`` (n, d) holds the training points; ``mean``, ``metric``, ``image_shape`` and ``rescale`` are as in
    :func:`pool_scores`.
    """
    Xp, Cp, _, shape = _pixel_points(X, candidates, mean=mean, metric=metric, image_shape=image_shape,
                                     rescale=rescale)
    return _scores(Xp, Cp, metric, shape)


def pool_scores(X, candidates, *, mean=None, metric: str = "ssim", image_shape=None, threshold: float | None = None,
                rescale: bool = False, lam=None, kkt=None) -> PooledResult:
    """Score training points ``X`` (n, d, model coordinates) against pooled ``candidates`` ((K, m, d) or (m, d)).

    ``mean`` is added back to both (pixel coordinates); ``rescale=True`` then min–max rescales every row
    (SSIM only; the returned ``candidates`` and ``X`` are the rescaled ones). ``threshold`` defaults to
    :data:`RECOVERED_SSIM` for SSIM and must be given for the distances. ``lam`` / ``kkt`` (optional: K·m
    multipliers, K losses, finite) are carried into the result.

    ``metric``: ``"ssim"`` (needs ``image_shape``, (C, H, W) of one image), ``"l2"`` or ``"cosine"``.
    """
    Xp, Cp, K, shape = _pixel_points(X, candidates, mean=mean, metric=metric, image_shape=image_shape,
                                     rescale=rescale)
    if threshold is None:
        if metric != "ssim":
            raise ValueError(f"metric={metric!r} needs a threshold (a distance below which a point counts as "
                             "recovered)")
        threshold = RECOVERED_SSIM
    threshold = check_real(threshold, "threshold")
    best, score = _best(Xp, Cp, metric, shape)
    lam = _carried(lam, "lam", Cp.shape[0], "one multiplier per candidate")
    kkt = _carried(kkt, "kkt", K, "one KKT loss per restart")
    restart = torch.arange(K).repeat_interleave(Cp.shape[0] // K)
    return PooledResult(Cp, restart, lam, best, score, kkt, metric, float(threshold), Xp)


def pooled_attack(net, X, y, *, restarts: int = 8, candidates_per_point: int = 1, prior=None, mean=None,
                  metric: str = "ssim", image_shape=None, threshold: float | None = None, rescale: bool = False,
                  config: AttackConfig | None = None, seed: int = 0, device="auto", progress: bool = False,
                  executor=None, onto_margin: bool = False, **members) -> PooledResult:
    """Haim et al.'s pooled attack: ``restarts`` attacks in ONE ``reconstruct_batch`` call, best candidate per point.

    ``net`` was trained on ``X`` (n, d) with labels ``y``; the attack runs on the margin-normalised network
    (``attack.reconstruct_trained``, through ``executor``: ``None`` for this process, or e.g.
    ``sweep.RayExecutor``). Each restart has m = ``candidates_per_point`` · n candidates, its own seed
    (``seed``, ``seed + 1``, ...) and the shared ``prior`` (model coordinates; a sequence gives one per
    restart) and ``config`` (default ``AttackConfig(steps=3000)``). The defaults (8 restarts × 3000 Adam
    steps, m = n) are those of ``experiments.DigitLeakConfig``. Further per-member settings
    (``init``, ``init_radius``, ...) pass through ``members`` to ``reconstruct_batch``. Scoring: see
    :func:`pool_scores`. Example (chapter "Reconstruction attacks")::

        digits = data.digits(20, seed=0)
        res = pooled_attack(net, digits.X, digits.y, prior=data.pixel_box(0, 1, digits.mean),
                            mean=digits.mean, image_shape=digits.image_shape)
        res.median, res.fraction

    ``mean``, ``metric``, ``image_shape``, ``threshold`` and ``rescale`` score the pool as in :func:`pool_scores`;
    ``device``: where the attack runs (``"auto"``: CUDA when available); ``progress`` shows a progress bar.

    ``onto_margin=True`` puts every candidate back on the margin before scoring (``kkt.onto_margin`` on the
    margin-normalised network: complementary slackness, which the KKT loss cannot see) and then projects it
    onto ``prior`` (``prior.project``; each restart's own prior for a sequence): the attacker's own knowledge,
    the network and the prior; the returned multipliers are rescaled with their candidates, ``kkt`` stays the
    attack's final loss. On the digits of chapter "Reconstruction attacks" it raises the calibrated leak
    (``experiments.digit_leak``, whose default it is).
    """
    onto_margin = check_bool(onto_margin, "onto_margin")
    X = check_points(X, "X", dtype=torch.float64)
    restarts = check_int(restarts, "restarts")
    candidates_per_point = check_int(candidates_per_point, "candidates_per_point")
    seed = check_seed(seed)
    check_memory(8 * 4 * restarts * candidates_per_point * X.shape[0] * (X.shape[1] + 1),
                 f"restarts={restarts} × candidates_per_point={candidates_per_point} candidates")
    _check_metric(metric, image_shape, X.shape[1])
    config = AttackConfig(steps=3000) if config is None else config
    res: AttackResult = reconstruct_trained(net, X, y, candidates_per_point * X.shape[0], executor=executor,
                                            prior=prior, seeds=[seed + k for k in range(restarts)], config=config,
                                            device=device, progress=progress, **members)
    candidates, lam = res.candidates, res.lam
    if onto_margin:
        candidates, lam = _onto_margin_and_prior(normalize_margin(net, X, y), res, prior)
    return pool_scores(X, candidates, mean=mean, metric=metric, image_shape=image_shape, threshold=threshold,
                       rescale=rescale, lam=lam, kkt=res.kkt)


def _onto_margin_and_prior(net_hat, res: AttackResult, prior):
    """``res``'s candidates (K, m, d) on the margin of ``net_hat`` (``kkt.onto_margin``), then projected onto
    ``prior`` (one prior, or one per restart), with their rescaled multipliers."""
    candidates, lam, _ = kkt_onto_margin(net_hat, res.candidates, res.labels, res.lam)
    if prior is None:
        return candidates, lam
    if is_prior(prior):
        return prior.project(candidates), lam
    return torch.stack([p.project(c) for p, c in zip(prior, candidates, strict=True)]), lam
