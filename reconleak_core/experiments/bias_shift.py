"""Beyond the paper: does the secret-shift defense survive a first-layer bias (``bias_shift``)? With the two
measurements it needs, :func:`kkt_residual` (how close a biased network is to a KKT point) and
:func:`ones_in_row_space` (a detector of whether the data were shifted). Config, result, computation and figure
of the experiment (chapter "The secret-shift defense and open questions")."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import nnls

from reconleak_core.attack import AttackConfig
from reconleak_core.calibration import Scoring, beats_held_out
from reconleak_core.checks import as_tensor, check_int, check_network, check_positive, check_seed, set_frozen
from reconleak_core.data import DIGITS_IMAGE_SHAPE, digits, digits_held_out
from reconleak_core.experiments.core import (
    Result,
    Run,
    attack_seeds,
    check_box,
    check_reals,
    check_scale,
    digits_spec,
    experiment,
    pixel_prior,
    result_tensor,
)
from reconleak_core.kkt import normalize_margin, stationarity_sum
from reconleak_core.models import TwoLayerReLU, parameter_vector
from reconleak_core.pooling import pool_scores
from reconleak_core.train import TrainConfig
from reconleak_core.trained_nets import NetSpec
from reconleak_core.viz import two_panels

__all__ = ["BiasShiftConfig", "BiasShiftResult", "bias_shift", "kkt_residual", "ones_in_row_space", "plot_bias_shift"]


def kkt_residual(net, X, y) -> float:
    """ε_rel of the margin-normalised ``net`` at its training set: min over λ ≥ 0 of ‖θ̂ − Σᵢ λᵢyᵢ∇θΦ(θ̂; xᵢ)‖ / ‖θ̂‖.

    The multipliers are a non-negative least-squares fit (``scipy.optimize.nnls``) of the hard-gate
    gradients (``kkt.stationarity_sum`` with 1[z > 0]); it works for any network of the library, a
    first-layer bias included (θ = (W, b, v)), where ``certificate.certificate`` (Clarke gates) does not. It is an
    upper bound on the certificate's ε_rel: points on a ReLU kink get the one-sided gate, not the best one.

    ``X`` (n, d) and ``y`` (n,) are the training set (labels ±1) in the network's coordinates.
    """

    net = normalize_margin(net, X, y)
    n = X.shape[0]
    with torch.no_grad():
        J = stationarity_sum(net, X, y, torch.eye(n, dtype=X.dtype)).numpy()   # (n, P): row i = yᵢ∇θΦ(xᵢ)
        theta = parameter_vector(net).numpy()
    lam, residual = nnls(J.T, theta)
    return float(residual / np.linalg.norm(theta))


def ones_in_row_space(net, rtol: float = 1e-8) -> float:
    """‖P 1‖ / ‖1‖ with P the projector onto the row space of the first-layer weights W (two-layer nets).

    Gradient descent from an initialisation inside the data's span keeps the rows of W in span{xᵢ + s1};
    centred data sum to zero, so for s ≠ 0 that span contains 1 (the mean of the xᵢ + s1 is s1) and the
    value is 1, while for s = 0 it is below 1 unless 1 happens to lie in the span of the centred images. A
    detector of *whether* the data were shifted, blind to *how much* (chapter "Open questions").

    ``net`` is a :class:`~reconleak_core.models.TwoLayerReLU`; ``rtol`` is the relative rank cut-off: the row
    space is spanned by the right singular vectors of W whose singular value exceeds ``rtol`` times the largest."""
    if not isinstance(net, TwoLayerReLU):
        raise TypeError(f"ones_in_row_space needs a TwoLayerReLU (its first-layer rows W), got {type(net).__name__}")
    check_network(net)
    rtol = check_positive(rtol, "rtol")
    W = net.W.detach().to(torch.float64)
    U, S, Vh = torch.linalg.svd(W, full_matrices=False)
    basis = Vh[S > rtol * S.max()]
    ones = torch.ones(W.shape[1], dtype=torch.float64) / W.shape[1] ** 0.5
    return float((basis @ ones).norm())


def chapter_digits_spec(scale: str, seed: int) -> NetSpec:
    """The two-layer digit networks of chapter "Open questions": narrower and shorter than ``_digits_spec`` at
    book scale (width 100, 2000 steps), so that 3 draws × offsets × {no bias, bias} train in seconds."""
    spec = digits_spec(scale, "two_layer", seed)
    if scale == "book":
        spec = dataclasses.replace(spec, width=100, train=TrainConfig(steps=2000))
    return spec


@dataclass(frozen=True)
class BiasShiftConfig:
    """Beyond the paper: does the secret-shift defense survive a first-layer bias?

    For each data draw in ``draws`` (digits drawn with that seed; network init seed and first attack seed too),
    each secret offset in ``offsets`` and each ``bias`` in ``biases``: the network ``net.shifted(s)`` (with
    ``bias``) is trained, then attacked in ONE batched call by ``restarts`` members with the uninformed pixel
    box ``box`` (the attacker ignores s), scored as ``secret_shift`` (pooled, rescaled SSIM) and calibrated as it
    is: rule (i) against the data set's other digits, with ``chance_draws`` null draws of held-out digits and of
    prior samples in place of the candidates. ``net`` is the bias-free, unshifted template. Also measured per
    network: :func:`kkt_residual` (how close to a KKT point) and two shift estimators (the pooled candidates'
    mean coordinate; :func:`ones_in_row_space`).

    Every member has m = ``candidates_per_point``·n candidates and the settings ``attack`` (an ``AttackConfig``);
    ``top_k`` best reconstructions per network are kept for the image grids (at most n).
    """

    net: NetSpec = chapter_digits_spec("book", 0)
    offsets: tuple = (0.0, 1.0)
    biases: tuple = (False, True)
    draws: tuple = (0, 1, 2)
    box: tuple = (0.0, 1.0)
    restarts: int = 2
    candidates_per_point: int = 1
    attack: AttackConfig = AttackConfig(steps=600)
    top_k: int = 4
    chance_draws: int = 20

    def __post_init__(self):
        if not isinstance(self.net, NetSpec) or self.net.dataset != "digits" or self.net.arch != "two_layer":
            raise ValueError("net must be a two-layer digits NetSpec")
        if self.net.offset != 0 or self.net.bias:
            raise ValueError("net is the bias-free, unshifted template: offset 0 and bias False")
        if not isinstance(self.attack, AttackConfig):
            raise TypeError(f"attack must be an AttackConfig, got {type(self.attack).__name__}")
        set_frozen(self, offsets=check_reals(self.offsets, "offsets"), box=check_box(self.box),
             draws=tuple(check_seed(d) for d in self.draws), biases=tuple(self.biases))
        if not self.draws or not self.offsets:
            raise ValueError("draws and offsets must not be empty")
        if not self.biases or not all(isinstance(b, bool) for b in self.biases):
            raise ValueError(f"biases must be a non-empty tuple of True/False, got {self.biases!r}")
        check_int(self.restarts, "restarts")
        check_int(self.candidates_per_point, "candidates_per_point")
        check_int(self.chance_draws, "chance_draws")
        if check_int(self.top_k, "top_k") > self.net.n:
            raise ValueError(f"top_k must be at most n={self.net.n}, got {self.top_k}")

    @classmethod
    def preset(cls, scale: str = "book", *, seed: int = 0) -> BiasShiftConfig:
        """``"test"``: one draw, offsets 0 and 1, 1 restart × 100 steps; ``"book"``: 3 draws (``seed``, +1, +2),
        offsets 0 and 1, width 100, 2000 training steps, 2 restarts × 600 steps; ``"paper"``: width 1000, offsets
        to 2, 5 draws, 8 restarts × 20,000 steps.

        ``scale``: ``"test"``, ``"book"`` (default) or ``"paper"``; ``seed`` is the first data draw (the digits'
        seed, the network's initialisation seed and the first attack seed)."""
        scale = check_scale(scale)
        net = chapter_digits_spec(scale, seed)
        if scale == "test":
            return cls(net, offsets=(0.0, 1.0), draws=(seed,), restarts=1, attack=AttackConfig(steps=100), top_k=2)
        if scale == "book":
            return cls(net, draws=(seed, seed + 1, seed + 2))
        return cls(net, offsets=(0.0, 0.5, 1.0, 2.0), draws=tuple(seed + k for k in range(5)), restarts=8,
                   attack=AttackConfig.paper(20_000), top_k=10)

    def networks(self) -> tuple:
        """The NetSpecs this configuration trains (``run.network``): one per (draw, offset, bias) cell."""
        return tuple(self.spec(d, o, b) for d in self.draws for o in self.offsets for b in self.biases)

    def spec(self, draw: int, offset: float, bias: bool) -> NetSpec:
        """The network of one (draw, offset, bias) cell: the template's draw, shifted, with or without bias.

        ``draw`` is the seed of the digits and of the initialisation, ``offset`` the secret offset s and ``bias``
        whether the first layer has a bias."""
        return dataclasses.replace(self.net, seed=draw, bias=bias).shifted(offset)


@dataclass(frozen=True, eq=False)
class BiasShiftResult(Result):
    """Arrays indexed (draw, offset, bias): ``median`` pooled SSIM (uninformed box), ``fraction`` ≥
    ``pooling.RECOVERED_SSIM``, ``shared``, ``kkt`` (median final KKT loss over restarts), ``eps_rel``
    (:func:`kkt_residual`), ``mean_estimate`` (the pooled candidates' mean coordinate in model coordinates: the
    training set's is exactly s), ``ones_in_row_space``; ``ssim`` (D, O, B, n) per image; ``recon`` /
    ``nearest`` (D, O, B, top_k, 64): best reconstructions and their training images (rescaled pixels).
    Calibrated (rule (i), ``calibration.beats_held_out``): ``rate`` (D, O, B) the share of training digits whose
    best candidate beats every held-out digit, ``threshold`` (D, n) each one's best held-out SSIM; ``chance`` /
    ``prior_chance`` (D, chance_draws) the rate of held-out digits / uniform pixels in place of the candidates.

    ``config`` is the :class:`BiasShiftConfig` run; ``offsets`` (O,), ``biases`` (B,) (booleans) and ``draws`` (D,)
    are the values along its axes; ``image_shape`` is the (C, H, W) of one image."""

    config: BiasShiftConfig
    offsets: torch.Tensor
    biases: torch.Tensor
    draws: torch.Tensor
    median: torch.Tensor
    fraction: torch.Tensor
    shared: torch.Tensor
    kkt: torch.Tensor
    eps_rel: torch.Tensor
    mean_estimate: torch.Tensor
    ones_in_row_space: torch.Tensor
    ssim: torch.Tensor
    recon: torch.Tensor
    nearest: torch.Tensor
    rate: torch.Tensor
    threshold: torch.Tensor
    chance: torch.Tensor
    prior_chance: torch.Tensor
    image_shape: tuple = (1, 8, 8)

    name = "bias_shift"
    _json_fields = ("offsets", "biases", "draws", "rate", "chance", "prior_chance", "ssim", "threshold", "median",
                    "fraction", "shared", "kkt", "eps_rel", "mean_estimate", "ones_in_row_space")
    columns = {
        "offset": "the secret offset s",
        "bias": "1 with a first-layer bias, 0 without",
        "leaked": "share of training digits whose best candidate beats every held-out digit (median over draws)",
        "chance": "the same share for held-out digits in place of the candidates (median)",
        "median_ssim": "median best SSIM of the uninformed attack (median over draws)",
        "fraction": "share at SSIM ≥ 0.7 (median over draws; not calibrated)",
        "shared": "training images sharing their best candidate (median over draws)",
        "eps_rel": "KKT residual of the network (NNLS, hard gate; median over draws)",
        "mean_estimate": "mean coordinate of the pooled candidates, an estimate of s (median over draws)",
    }

    def plot(self, **options):
        return plot_bias_shift(self, **options)

    def rows(self) -> list[dict]:
        """One row per (offset, bias): medians over the draws."""
        med = lambda a: a.double().quantile(0.5).item()
        return [{"offset": float(o), "bias": int(b), "leaked": med(self.rate[:, i, j]),
                 "chance": med(self.chance), "median_ssim": med(self.median[:, i, j]),
                 "fraction": med(self.fraction[:, i, j]), "shared": med(self.shared[:, i, j]),
                 "eps_rel": med(self.eps_rel[:, i, j]), "mean_estimate": med(self.mean_estimate[:, i, j])}
                for i, o in enumerate(self.offsets) for j, b in enumerate(self.biases)]


@experiment("bias_shift", config=BiasShiftConfig, result=BiasShiftResult,
            summary="does the secret-shift defense survive a first-layer bias? (beyond the paper)")
def bias_shift(config: BiasShiftConfig, run: Run) -> dict:
    """Beyond the paper (chapter "Open questions"): the secret shift against networks with a first-layer bias.

    A bias can absorb a constant shift: wⱼ·(x + s1) + bⱼ = wⱼ·x + (bⱼ + s wⱼ·1), so a biased net trained on
    shifted data can realise the same function of the centred images as one trained on them. Whether the
    uninformed attack (box [0, 1] in pixels) then recovers the images is measured, not proven: pooled SSIM
    per (draw, offset, bias), with the networks' KKT residual beside it.

    """
    keys = ("median", "fraction", "shared", "kkt", "eps_rel", "mean_estimate", "ones_in_row_space", "ssim",
            "recon", "nearest", "rate")
    out = {k: [] for k in (*keys, "threshold", "chance", "prior_chance")}
    for draw in config.draws:
        base = None
        for offset in config.offsets:
            for bias in config.biases:
                spec = config.spec(draw, offset, bias)
                tn = run.network(spec)
                box = pixel_prior(config.box, tn.mean)
                res = run.attack(tn.net, tn.X, tn.y, config.candidates_per_point * spec.n, config.attack,
                                 prior=box, seeds=attack_seeds(draw, config.restarts))
                pooled = pool_scores(tn.X_clean, res.candidates, mean=tn.mean, image_shape=(1, 8, 8),
                                     rescale=True, kkt=res.kkt)
                if base is None:   # the nulls of this draw: the same for every offset and bias (rescaled SSIM)
                    base = _nulls(spec, tn, res.candidates, box, config)
                verdict = dataclasses.replace(base[0], score=pooled.score)
                order = pooled.score.argsort(descending=True)[:config.top_k]
                cell = {"median": pooled.median, "fraction": pooled.fraction, "shared": pooled.shared,
                        "kkt": pooled.kkt.median(), "eps_rel": kkt_residual(tn.net, tn.X, tn.y),
                        "mean_estimate": res.candidates.double().mean(), "ones_in_row_space": ones_in_row_space(tn.net),
                        "ssim": pooled.score, "recon": pooled.best_candidates[order], "nearest": pooled.X[order],
                        "rate": verdict.rate}
                for k, v in cell.items():
                    out[k].append(result_tensor(v))
        out["threshold"].append(base[0].threshold)
        out["chance"].append(base[0].chance)
        out["prior_chance"].append(base[1].chance)
    D, O, B = len(config.draws), len(config.offsets), len(config.biases)
    nulls = {k: torch.stack(out.pop(k)) for k in ("threshold", "chance", "prior_chance")}
    return dict(offsets=result_tensor(config.offsets), biases=torch.tensor(config.biases),
                draws=torch.tensor(config.draws), **nulls,
                **{k: torch.stack(v).reshape(D, O, B, *v[0].shape) for k, v in out.items()})


def _nulls(spec: NetSpec, tn, candidates, box, config: BiasShiftConfig) -> tuple:
    """Rule (i) for the first attack of a draw (its threshold and held-out chance hold for every candidate set
    of this size: ``dataclasses.replace(verdict, score=...)``) and its chance for samples of the prior ``box``.
    The score is rescaled SSIM in pixel coordinates, blind to the shift: the clean training images
    (``tn.X_clean``) and the data set's other digits score as the shifted ones would."""
    images = digits(spec.n, classes=spec.classes, seed=spec.seed, center=spec.center)
    held = digits_held_out(spec.n, spec.classes, spec.seed, center=spec.center).X
    scoring = Scoring("ssim", image_shape=DIGITS_IMAGE_SHAPE, mean=images.mean, rescale=True)
    common = dict(scoring=scoring, chance_draws=config.chance_draws, seed=spec.seed)
    return (beats_held_out(tn.X_clean, candidates, held, **common),
            beats_held_out(tn.X_clean, candidates, held, null=box, **common))


def plot_bias_shift(result, axes=None):
    """``experiments.bias_shift``: median pooled SSIM (uninformed box) and KKT residual against the offset, one
    curve per bias setting, the medians over draws with their range as a band (chapter "Open questions").

    ``result`` is a :class:`BiasShiftResult`; ``axes`` two matplotlib axes to draw in, ``None`` (default): a new
    figure of two panels. Returns the ``Figure`` (that of ``axes`` when given)."""
    own = axes is None
    fig, axes = two_panels() if own else (axes[0].figure, axes)
    o = as_tensor(result.offsets, "offsets", dtype=torch.float64)
    for ax, values, ylabel in ((axes[0], result.median, "median best SSIM"), (axes[1], result.eps_rel, "ε_rel")):
        for j, bias in enumerate(result.biases):
            v = as_tensor(values, "values", dtype=torch.float64)[:, :, j]
            label = "first-layer bias" if bool(bias) else "no bias"
            line, = ax.plot(o, v.quantile(0.5, dim=0), marker="o", label=label)
            ax.fill_between(o, v.amin(dim=0), v.amax(dim=0), color=line.get_color(), alpha=0.2)
        ax.set_xlabel("secret offset s")
        ax.set_ylabel(ylabel)
        ax.legend(fontsize="small")
    axes[0].set_title("uninformed box [0, 1]")
    axes[1].set_title("KKT residual (NNLS, hard gate)")
    if own:
        fig.tight_layout()
    return fig
