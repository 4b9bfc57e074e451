"""Leakage measured against chance: an attack's scores beside the same scores of null candidate sets.

A reconstruction "resembles" a training image only relative to what chance gives: a few dozen random points on
a circle put a candidate close to most of a handful of training points, and real digits the network never saw
reach a high SSIM against training digits (Haim et al. 2022 show each reconstruction beside its nearest
training image only). Privacy research calibrates against data the model never saw: membership inference compares
members with non-members and reports the attack at a fixed false-positive rate (Shokri et al. 2017; Carlini et
al., "Membership inference attacks from first principles", 2022). This module scores an attack's candidates
and, the same way, two *null* candidate sets of the same size, and turns each training point's score into a
calibrated verdict with its chance rate (the paper's point, Refael et al. 2026, is that without a prior the
attack's output is no closer to the data than chance; the book reports every leak beside its null).
Rule (ii) below is a per-point test at false-positive rate 1 − ``level``.

Interface. Every point set is a tensor in the *model coordinates* the network saw (``data.ImageSet.X``; the
attack's ``candidates``); :class:`Scoring` adds ``mean`` back and scores in pixel coordinates exactly as the
attacks are scored (``pooling.pool_scores``). Float64 on the CPU throughout.

- :class:`Scoring` — the metric (``"ssim"``, ``"l2"``, ``"cosine"``) and its settings;
  ``scoring.best(X, candidates)`` is every training point's best score, shape (n,).
- A *null source* is either a prior with the optional protocol member ``sample`` (``priors.Box``,
  ``Sphere``, ``Shift``: (a) the attacker's guess without the network) or held-out points of the training
  distribution, a tensor (N, d) (``data.digits_held_out(...).X``, ``data.sphere_held_out(...)[0]``: (b) real
  data the network never saw). :func:`null_candidates` draws a null set of any shape from one, in place of an
  attack's candidates ("null swap": a claim re-evaluated with no attack must fail).
- :func:`beats_held_out` — rule (i): x_i leaked when the attack's best score beats the best score of *every*
  held-out point (the reconstruction resembles x_i more than any real image the network never saw does).
- :func:`beats_null_quantile` — rule (ii): x_i leaked when the attack's best score beats the ``level``
  (0.95) quantile of the best score of ``draws`` ≥ 100 null sets of the attack's size.
- :func:`calibrate` — both rules, with the held-out null and, given a prior, the prior null: a
  :class:`Calibration`.

Each rule returns a :class:`Verdict`: per point the attack's score, the threshold it must beat and one null
set's score; the attack's leak rate; and the *chance rate*, the same rule applied to ``chance_draws`` further
null sets in place of the attack's candidates (median and 5–95 % spread over those draws).

Guarantees. Only the scoring reads the training points ``X``: the candidates come from anywhere (an attack that
got the network and its prior), so one attack scored against two training sets has bit-identical candidates.
"Beats" is strict (a tie is no leak); SSIM is better when higher, the distances when lower. Chance rates by
construction: rule (ii)'s is 1 − ``level`` (≈ 5 %) in expectation for a continuous null (prior samples, fresh
sphere points), since a further null draw is exchangeable with the ``draws`` that set the quantile; at most that
for a finite held-out pool (see :func:`beats_null_quantile`). Rule (i) with held-out candidates splits the
held-out pool: each chance draw takes M (the attack's number of candidates) held-out points as candidates and
scores them against the other N − M (a candidate compared with itself could never win: the rate would be 0 by
construction). By exchangeability the best of N points lies in a given M-subset with probability M/N, so that
chance rate is ≈ M/N (160 candidates against 1,777 held-out digits: ≈ 9 %), not 0. The attack is compared with
all N, which is harder to beat than the chance draws' N − M: the chance rate errs high.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import torch

from reconleak_core.checks import (
    as_tensor,
    check_bool,
    check_finite,
    check_fraction,
    check_image_shape,
    check_int,
    check_points,
    check_seed,
    is_sequence,
)
from reconleak_core.pooling import METRICS, score_matrix
from reconleak_core.runtime import check_memory

__all__ = ["Scoring", "Verdict", "Calibration", "null_candidates", "beats_held_out", "beats_null_quantile",
           "calibrate", "MIN_NULL_DRAWS"]

MIN_NULL_DRAWS = 100
"""The fewest null draws that set rule (ii)'s per-point quantile (a 95 % quantile then rests on five or more draws
beyond it)."""


@dataclass(frozen=True, eq=False)
class Scoring:
    """How a candidate set is scored against training points: the attacks' own scoring, ``pooling.pool_scores``.

    ``metric``: ``"ssim"`` (needs ``image_shape``; higher is better), ``"l2"`` or ``"cosine"`` (distances; lower
    is better). ``mean`` (d entries, default zeros) is added to training points and candidates before scoring
    (pixel coordinates); ``rescale=True`` min–max rescales both per image first (SSIM only, Haim et al.).
    """

    metric: str = "ssim"
    image_shape: tuple | None = None
    mean: torch.Tensor | None = None
    rescale: bool = False

    def __post_init__(self):
        if self.metric not in METRICS:
            raise ValueError(f"Scoring.metric must be one of {METRICS}, got {self.metric!r}")
        if self.metric == "ssim" and self.image_shape is None:
            raise ValueError("Scoring(metric='ssim') needs image_shape=(C, H, W), e.g. data.DIGITS_IMAGE_SHAPE")
        check_bool(self.rescale, "Scoring.rescale")
        if self.rescale and self.metric != "ssim":
            raise ValueError("Scoring(rescale=True) is Haim et al.'s image scoring: it needs metric='ssim'")
        if self.image_shape is not None:
            dims = tuple(self.image_shape) if is_sequence(self.image_shape) else ()
            integral = all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in dims)
            object.__setattr__(self, "image_shape", check_image_shape(self.image_shape, math.prod(dims) if integral
                                                                      else 0))
        if self.mean is not None:
            mean = as_tensor(self.mean, "Scoring.mean", dtype=torch.float64).reshape(-1)
            object.__setattr__(self, "mean", check_finite(mean, "Scoring.mean"))

    @property
    def higher_is_better(self) -> bool:
        return self.metric == "ssim"

    def matrix(self, X, candidates) -> torch.Tensor:
        """The score of every training point with every candidate ((M, d) or (K, m, d), pooled), shape (n, M).

        ``X`` (n, d) holds the training points and ``candidates`` the candidates.
        """
        return score_matrix(X, candidates, mean=self.mean, metric=self.metric, image_shape=self.image_shape,
                            rescale=self.rescale)

    def reduce(self, scores: torch.Tensor) -> torch.Tensor:
        """The best score along the last axis (the candidates): the maximum for SSIM, the minimum for distances.

        ``scores`` is a score matrix (:meth:`matrix`).
        """
        return scores.amax(dim=-1) if self.higher_is_better else scores.amin(dim=-1)

    def best(self, X, candidates) -> torch.Tensor:
        """Every training point's best score over ``candidates``, shape (n,): ``pooling.pool_scores``' ``score``.

        ``X`` (n, d) holds the training points.
        """
        return self.reduce(self.matrix(X, candidates))

    def better(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Where score ``a`` is strictly better than score ``b`` (elementwise, booleans)."""
        return a > b if self.higher_is_better else a < b


@dataclass(frozen=True, eq=False)
class Verdict:
    """One calibrated rule applied to an attack's candidates and, in their place, to null candidate sets.

    - ``rule``: ``"every_held_out"`` (rule (i)) or ``"null_quantile"`` (rule (ii)); ``null``: ``"held_out"`` or
      ``"prior"``, where the null sets came from; ``size``: the number of candidates of every set (the attack's).
    - ``score`` (n,): each training point's best score over the attack's candidates; ``threshold`` (n,): the
      score it must beat; ``null_score`` (n,): the best score over one null set of the same size.
    - ``chance`` (chance_draws,): the leak rate, under the same rule, of each further null set.
    - ``higher_is_better``: SSIM (True) or a distance (False).
    """

    rule: str
    null: str
    size: int
    score: torch.Tensor
    threshold: torch.Tensor
    null_score: torch.Tensor
    chance: torch.Tensor
    higher_is_better: bool

    @property
    def leaked(self) -> torch.Tensor:
        """Per training point (n,), whether the attack's score strictly beats its threshold."""
        return self.score > self.threshold if self.higher_is_better else self.score < self.threshold

    @property
    def rate(self) -> float:
        """The fraction of training points leaked, the attack's leak rate."""
        return self.leaked.double().mean().item()

    @property
    def chance_median(self) -> float:
        """The median over null draws of the null's leak rate."""
        return self.chance.quantile(0.5).item()

    @property
    def chance_spread(self) -> tuple[float, float]:
        """The 5 % and 95 % quantiles over null draws of the null's leak rate."""
        return self.chance.quantile(0.05).item(), self.chance.quantile(0.95).item()

    def summary(self) -> dict:
        """The headline numbers, rounded to 3 significant digits."""
        r = lambda v: float(f"{v:.3g}")  # noqa: E731
        lo, hi = self.chance_spread
        return {"rule": self.rule, "null": self.null, "rate": r(self.rate), "chance_median": r(self.chance_median),
                "chance_5": r(lo), "chance_95": r(hi), "chance_draws": int(self.chance.numel()), "size": self.size}


@dataclass(frozen=True, eq=False)
class Calibration:
    """:func:`calibrate`'s verdicts: rule (i) and rule (ii) against held-out data, rule (ii) against the prior.

    ``score`` (n,): the attack's per-point best score (every verdict's ``score`` holds the same values);
    ``prior_quantile`` is None when no prior was given. Each verdict's ``null_score`` holds one null set's
    per-point scores.

    ``every_held_out`` is rule (i) against held-out data, ``held_out_quantile`` rule (ii) against held-out draws.
    """

    score: torch.Tensor
    every_held_out: Verdict
    held_out_quantile: Verdict
    prior_quantile: Verdict | None

    @property
    def verdicts(self) -> tuple[Verdict, ...]:
        return tuple(v for v in (self.every_held_out, self.held_out_quantile, self.prior_quantile) if v is not None)

    def summary(self) -> list[dict]:
        """One :meth:`Verdict.summary` per verdict."""
        return [v.summary() for v in self.verdicts]


# ------------------------------------------------------------------------------------------------ null sets
_CHUNK = 2000
"""The most prior samples scored in one score matrix: draws are scored in chunks of whole draws (memory; SSIM
is slower per pair on larger batches)."""


def _source(source, d: int):
    """``("prior", prior)`` or ``("held_out", points (N, d))``, checked against dimension ``d``."""
    if isinstance(source, torch.Tensor):
        return "held_out", check_points(source, "held-out points", d=d, dtype=torch.float64).cpu()
    if not callable(getattr(source, "sample", None)):
        raise TypeError(f"a null source is a prior with a sample method (priors.Box, Sphere, Shift; an optional "
                        f"member of the prior protocol) or held-out points, a tensor (N, d); got "
                        f"{type(source).__name__}")
    if hasattr(source, "check"):
        source.check(d)
    return "prior", source


def _sample(prior, M: int, d: int, generator: torch.Generator) -> torch.Tensor:
    return check_points(prior.sample(M, d, generator=generator, dtype=torch.float64), "prior samples", d=d)


class _Nulls:
    """Null sets of M candidates for training points X: their per-point best scores, draw after draw.

    Held-out points are scored once (a score matrix (n, N)); a null set is then a random choice of M columns,
    drawn without replacement. Prior samples are drawn and scored in chunks of whole draws."""

    def __init__(self, source, X: torch.Tensor, M: int, scoring: Scoring):
        self.kind, self.source = _source(source, X.shape[1])
        self.X, self.M, self.scoring = X, M, scoring
        if self.kind == "held_out":
            if M > self.source.shape[0]:
                raise ValueError(f"{M} null candidates need at least {M} held-out points (drawn without replacement), "
                                 f"got {self.source.shape[0]}")
            self.scores = scoring.matrix(X, self.source)

    def best(self, draws: int, generator: torch.Generator) -> torch.Tensor:
        """The per-point best scores of ``draws`` null sets, shape (draws, n)."""
        if self.kind == "held_out":
            N = self.scores.shape[1]
            return torch.stack([self.scoring.reduce(self.scores[:, torch.randperm(N, generator=generator)[:self.M]])
                                for _ in range(draws)])
        n, d, out = self.X.shape[0], self.X.shape[1], []
        per_chunk = max(1, _CHUNK // self.M)
        for start in range(0, draws, per_chunk):
            k = min(per_chunk, draws - start)
            S = self.scoring.matrix(self.X, _sample(self.source, k * self.M, d, generator))
            out.append(self.scoring.reduce(S.reshape(n, k, self.M)).T)
        return torch.cat(out)

    def split(self, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Held-out points only: the per-point best of M drawn ones and the best of the N − M others."""
        N = self.scores.shape[1]
        if self.M >= N:
            raise ValueError(f"{self.M} null candidates need more than {self.M} held-out points (the rest are the "
                             f"reference), got {N}")
        perm = torch.randperm(N, generator=generator)
        return self.scoring.reduce(self.scores[:, perm[:self.M]]), self.scoring.reduce(self.scores[:, perm[self.M:]])


def _size(candidates, d: int) -> int:
    """The number of candidates of a set of shape (M, d) or (K, m, d)."""
    C = torch.as_tensor(candidates)
    if C.dim() not in (2, 3) or C.shape[-1] != d:
        raise ValueError(f"candidates must have shape (M, d) or (K, m, d) with d={d}, got {tuple(C.shape)}")
    return C.shape[:-1].numel()


def null_candidates(source, shape, *, seed: int = 0) -> torch.Tensor:
    """Null candidates of ``shape`` (…, d) in place of an attack's: the null swap that re-runs a claim with no attack.

    ``source``: a prior with ``sample`` (``prior.sample``: the attacker's prior alone) or held-out points (N, d)
    (drawn without replacement, so N must be at least the number of candidates). All prod(shape[:-1]) candidates
    are ONE draw, reshaped (e.g. ``shape = attack_result.candidates.shape``, (K, m, d)); ``seed`` seeds it.
    """
    if not is_sequence(shape):
        raise TypeError(f"shape must be a sequence of sizes such as (M, d), got {type(shape).__name__} {shape!r}")
    shape = tuple(check_int(s, "shape entry") for s in shape)
    if len(shape) < 2:
        raise ValueError(f"shape must be (M, d) or (K, m, d), ending with the points' dimension d, got {shape}")
    check_memory(8 * math.prod(shape), f"null candidates of shape {shape}")
    kind, source = _source(source, shape[-1])
    generator = torch.Generator().manual_seed(check_seed(seed))
    M, d = torch.Size(shape[:-1]).numel(), shape[-1]
    if kind == "prior":
        return _sample(source, M, d, generator).reshape(shape)
    if M > source.shape[0]:
        raise ValueError(f"{M} null candidates need at least {M} held-out points (drawn without replacement), "
                         f"got {source.shape[0]}")
    return source[torch.randperm(source.shape[0], generator=generator)[:M]].reshape(shape)


# -------------------------------------------------------------------------------------------------- verdicts
def _checked(X, candidates, scoring, chance_draws: int, seed: int):
    if not isinstance(scoring, Scoring):
        raise TypeError(f"scoring must be a calibration.Scoring, got {type(scoring).__name__}")
    X = check_points(X, "X", dtype=torch.float64)
    M = _size(candidates, X.shape[1])
    chance_draws = check_int(chance_draws, "chance_draws")
    check_memory(8 * chance_draws * X.shape[0], f"chance_draws={chance_draws} (one best score per draw and point)")
    return X, M, chance_draws, torch.Generator().manual_seed(check_seed(seed))


def beats_held_out(X, candidates, held_out, *, scoring: Scoring, null=None, chance_draws: int = 20,
                   seed: int = 0) -> Verdict:
    """Rule (i): x_i leaked when the attack's best score beats the best score of every held-out point.

    ``X`` (n, d): the training points; ``candidates`` ((M, d) or (K, m, d)): the attack's; ``held_out`` (N, d):
    real points of the training distribution the network never saw (``data.digits_held_out(...).X``: the
    ~1,777 other digits). The threshold of x_i is its best score over all N held-out points.
    Chance: ``chance_draws`` null sets of M candidates under the same rule. ``null=None`` (default) draws them
    from ``held_out`` and compares each with the N − M held-out points it left (a disjoint split; chance ≈ M/N,
    see the module docstring); ``null=prior`` draws prior samples and compares them with all N.

    ``scoring`` (a :class:`Scoring`) says how a point and a candidate are scored; ``seed`` seeds the null draws.
    """
    X, M, chance_draws, generator = _checked(X, candidates, scoring, chance_draws, seed)
    pool = _Nulls(as_tensor(held_out, "held_out"), X, M, scoring)
    threshold = scoring.reduce(pool.scores)
    if null is None:
        null_best, reference = map(torch.stack, zip(*(pool.split(generator) for _ in range(chance_draws))))
        kind = "held_out"
    else:
        nulls = _Nulls(null, X, M, scoring)
        null_best, reference, kind = nulls.best(chance_draws, generator), threshold, nulls.kind
    chance = scoring.better(null_best, reference).double().mean(dim=1)
    return Verdict("every_held_out", kind, M, scoring.best(X, candidates), threshold, null_best[0], chance,
                   scoring.higher_is_better)


def beats_null_quantile(X, candidates, null, *, scoring: Scoring, draws: int = MIN_NULL_DRAWS, level: float = 0.95,
                        chance_draws: int = 20, seed: int = 0) -> Verdict:
    """Rule (ii): x_i leaked when the attack's best score beats the null's per-point ``level`` quantile.

    ``null``: a null source (a prior with ``sample``, or held-out points (N, d), see :func:`null_candidates`).
    ``draws`` (≥ :data:`MIN_NULL_DRAWS`) null sets of the attack's size M give each x_i ``draws`` best scores;
    the threshold is their ``level`` quantile (SSIM) or 1 − ``level`` quantile (distances). Chance:
    ``chance_draws`` further null sets under the same rule, at most 1 − ``level`` in expectation (exchangeable
    draws). A finite held-out pool of N points saturates: when M/N > 1 − ``level`` the pool's best point is in
    more than 1 − ``level`` of the draws, the threshold is (nearly) the pool's best score and the rule nears rule
    (i) on that pool (chance ≈ 0); draw a pool with N ≫ M/(1 − ``level``) where the distribution allows
    (``data.sphere_held_out``).

    ``X`` (n, d) holds the training points and ``candidates`` ((M, d) or (K, m, d)) the attack's. ``scoring`` (a
    :class:`Scoring`) says how a point and a candidate are scored; ``seed`` seeds the null draws.
    """
    X, M, chance_draws, generator = _checked(X, candidates, scoring, chance_draws, seed)
    draws = check_int(draws, "draws", MIN_NULL_DRAWS)
    check_memory(8 * draws * X.shape[0], f"draws={draws} (one best score per draw and point)")
    level = check_fraction(level, "level")
    if level == 0:
        raise ValueError("level must be in (0, 1), e.g. 0.95")
    nulls = _Nulls(null, X, M, scoring)
    threshold = nulls.best(draws, generator).quantile(level if scoring.higher_is_better else 1 - level, dim=0)
    further = nulls.best(chance_draws, generator)
    chance = scoring.better(further, threshold).double().mean(dim=1)
    return Verdict("null_quantile", nulls.kind, M, scoring.best(X, candidates), threshold, further[0], chance,
                   scoring.higher_is_better)


def calibrate(X, candidates, *, scoring: Scoring, held_out, prior=None, draws: int = MIN_NULL_DRAWS,
              level: float = 0.95, chance_draws: int = 20, seed: int = 0) -> Calibration:
    """An attack's ``candidates`` scored against training points ``X`` and against chance: a :class:`Calibration`.

    Rule (i) against ``held_out`` (:func:`beats_held_out`, chance from held-out splits), rule (ii) against held-out
    draws and, when ``prior`` (with ``sample``) is given, against prior samples (:func:`beats_null_quantile`).
    Example, the digits of ``experiments.DigitLeakConfig`` (``tn = trained_nets.trained_network(spec)``)::

        held_out = data.digits_held_out(spec.n, spec.classes, spec.seed).X
        scoring = Scoring("ssim", image_shape=(1, 8, 8), mean=tn.mean)
        cal = calibrate(tn.X, attack_candidates, scoring=scoring, held_out=held_out,
                        prior=data.pixel_box(0, 1, tn.mean))
        cal.every_held_out.rate, cal.every_held_out.chance_median

    ``scoring`` (a :class:`Scoring`) says how a point and a candidate are scored; ``seed`` seeds the null draws.
    ``draws``, ``level`` and ``chance_draws`` are those of :func:`beats_null_quantile` (``chance_draws`` also of
    :func:`beats_held_out`).
    """
    common = dict(scoring=scoring, chance_draws=chance_draws, seed=seed)
    every = beats_held_out(X, candidates, held_out, **common)
    quantile = beats_null_quantile(X, candidates, as_tensor(held_out, "held_out"), draws=draws, level=level, **common)
    on_prior = None if prior is None else beats_null_quantile(X, candidates, prior, draws=draws, level=level, **common)
    return Calibration(every.score, every, quantile, on_prior)
