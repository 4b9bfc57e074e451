"""Paper Fig. 2b: images shifted by a secret offset the attacker ignores (``secret_shift``; its 3-layer variant
``deep_secret_shift``), with :func:`shift_grid`, the (offset × attacker's guess) computation that
:mod:`~reconleak_core.experiments.shift_guess` shares, :func:`shifted_spec` (the training recipe of the shifted
networks) and :func:`mixture_gain` ("averages", Lemma 2's merge measured against chance). Config, result,
computation and figures of the experiment (chapter "Shifted images").

Every score is calibrated (:mod:`reconleak_core.calibration`): a training digit counts as leaked when its best
reconstruction beats every held-out digit of the data set in SSIM (rule (i)), the held-out digits taken in the
coordinates of the attacked training set (centred by its mean, shifted by s); the chance rates are the same rule
with held-out digits, or samples of the attacker's prior, in place of the attack's candidates."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import nnls

from reconleak_core.attack import AttackConfig, Shift
from reconleak_core.calibration import Scoring, beats_held_out
from reconleak_core.certificate import certificate
from reconleak_core.checks import check_int, check_points, check_real, check_reals, set_frozen
from reconleak_core.data import DIGITS_IMAGE_SHAPE, digits, digits_held_out
from reconleak_core.experiments.core import (
    Result,
    Run,
    attack_seeds,
    check_box,
    check_scale,
    digits_spec,
    experiment,
    pixel_prior,
    result_tensor,
)
from reconleak_core.pooling import pool_scores
from reconleak_core.trained_nets import NetSpec
from reconleak_core.viz import COLUMN_INCHES, as_image, plot_curves, subplots, two_panels

__all__ = ["SecretShiftConfig", "SecretShiftResult", "secret_shift", "shift_grid", "shifted_spec", "mixture_gain",
           "plot_secret_shift", "plot_shift_reconstructions", "RECIPES"]

RECIPES = ("step", "curvature")
"""The training recipes of the shifted networks, as ``shifted_spec`` names them."""
CURVATURE_LR = 0.3
"""The ``"curvature"`` recipe's step factor (for s ≠ 0 the step is the template's times this and the squared norm
ratio)."""
CURVATURE_STEPS = 3
"""The ``"curvature"`` recipe's training length for s ≠ 0, in multiples of the template's steps."""


def shifted_spec(net: NetSpec, offset: float, recipe: str = "step") -> NetSpec:
    """The template ``net`` (digits, offset 0) trained on data shifted by ``offset``, by one of :data:`RECIPES`.

    ``recipe`` is one of (default ``"step"``):

    - ``"step"``: ``net.shifted(offset)``, the step size divided by (1 + ∣s∣)², the template's steps.
    - ``"curvature"``: the step size scaled to the shifted data. Centred data sum to zero, so the mean squared norm
      of the shifted images is exactly r₀ + d·s² (r₀ that of the centred ones), and the curvature of the training
      loss in the first layer grows with it; the data also crowd toward the line through 𝟏, which makes the
      problem ill-conditioned. For s ≠ 0 the step is lr · CURVATURE_LR · r₀/(r₀ + d·s²) and the training
      ``CURVATURE_STEPS`` times longer; s = 0 keeps the template's recipe. Chapter "Shifted images" measures
      how close to a KKT point (the certificate's ε_rel) this brings the shifted networks, against the centred
      one; the ``"step"`` recipe leaves them far from it, longer training or not (``benchmarks/RESULTS.md``).
    """
    if recipe not in RECIPES:
        raise ValueError(f"recipe must be one of {RECIPES}, got {recipe!r}")
    if not isinstance(net, NetSpec) or net.dataset != "digits":
        raise ValueError("shifted_spec needs a digits NetSpec (the template of the shifted images)")
    offset = check_real(offset, "offset")
    spec = net.shifted(offset)
    if recipe == "step" or offset == 0:
        return spec
    r0 = digits(net.n, classes=net.classes, seed=net.seed, center=net.center).X.pow(2).sum(dim=1).mean().item()
    lr = net.train.lr * CURVATURE_LR * r0 / (r0 + net.input_dim * offset ** 2)
    train = dataclasses.replace(net.train, lr=lr, steps=CURVATURE_STEPS * net.train.steps)
    return dataclasses.replace(spec, train=train)


def mixture_gain(images, candidates, *, k: int = 3) -> torch.Tensor:
    """How much better each candidate is explained by a convex combination of ``k`` training images than by one.

    ``images`` (n, d) and ``candidates`` (M, d), in the same coordinates (the experiments pass Haim et al.'s
    min–max rescaled pixels). For a candidate c with nearest training image at distance e₁ and its ``k`` nearest
    training images t₁..t_k: e_k = min ‖Σ wⱼtⱼ − c‖ over weights wⱼ ≥ 0 summing to 1 (non-negative least squares
    with the sum as a heavily weighted extra row, then normalised). Returns the gain 1 − e_k/e₁ ∈ [0, 1] per
    candidate, (M,): 0 when the mixture adds nothing, near 1 for a candidate that is an average of training images.
    Lemma 2 (merging, chapter "Merging and splitting") replaces two training points by their λ-weighted average
    (λᵢxᵢ + λⱼxⱼ)/(λᵢ + λⱼ), a convex combination: an attack that finds such merged points scores high. Scored
    against chance by the same gain for real digits the network never saw in place of the candidates.
    """
    T = check_points(images, "images", dtype=torch.float64, device="cpu")
    C = check_points(candidates, "candidates", d=T.shape[1], dtype=torch.float64, device="cpu")
    k = check_int(k, "k", 2, T.shape[0])
    distance, order = torch.cdist(C, T).sort(dim=1)
    if not (distance[:, 0] > 0).all():
        raise ValueError("a candidate equals a training image: its gain 1 − e_k/e₁ is undefined")
    gains = []
    for c, nearest, e1 in zip(C.numpy(), order[:, :k].numpy(), distance[:, 0].numpy()):
        A = T[nearest].numpy().T                                     # (d, k): the k nearest, as columns
        scale = 1e3 * max(1.0, float(np.abs(A).max()))
        w, _ = nnls(np.vstack([A, scale * np.ones((1, k))]), np.append(c, scale))
        w = w / w.sum()
        gains.append(1.0 - min(float(np.linalg.norm(A @ w - c)), float(e1)) / float(e1))
    return torch.tensor(gains, dtype=torch.float64)


@dataclass(frozen=True)
class SecretShiftConfig:
    """Fig. 2b: centred digits shifted by each of ``offsets`` (one network per offset, trained on X − mean + s by
    the recipe ``recipe``, :func:`shifted_spec`), each attacked in ONE batched call by ``restarts`` members with the
    uninformed pixel box ``box`` and ``restarts`` members of an attacker who knows the shift: the prior
    ``priors.Shift(s, box)``, which works in shifted coordinates (random initialisations centred at s, the pixel
    box moved to ``box + s``). ``net`` is the template (its offset must be 0).

    Scores (``pooling.pool_scores``, Haim et al.'s protocol: candidates in pixel coordinates and training images
    min–max rescaled, so the score ignores a constant shift): per training image the SSIM of its best pooled
    candidate, calibrated by rule (i) against the data set's other digits (``calibration.beats_held_out``) with
    ``chance_draws`` null draws; "average-ness": ``shared``, the number of training images whose best candidate is
    also another's, and :func:`mixture_gain` of the best candidates against that of held-out digits.

    Each member has m = ``candidates_per_point``·n candidates and the settings ``attack`` (an ``AttackConfig``);
    ``top_k`` best reconstructions per offset and prior are kept for the image grids and averaged in ``ssim_top``
    (at most n); ``seed`` is the first attack seed (members ``seed``, ``seed + 1``, ...) and seeds the null draws.
    """

    net: NetSpec = digits_spec("book", "two_layer", 0)
    offsets: tuple = (0.0, 0.25, 0.5, 1.0, 2.0)
    box: tuple = (0.0, 1.0)
    restarts: int = 4
    candidates_per_point: int = 1
    attack: AttackConfig = AttackConfig(steps=2000)
    top_k: int = 6
    seed: int = 0
    recipe: str = "step"
    chance_draws: int = 20

    def __post_init__(self):
        if not isinstance(self.net, NetSpec):
            raise TypeError(f"net must be a NetSpec, got {type(self.net).__name__}")
        if not isinstance(self.attack, AttackConfig):
            raise TypeError(f"attack must be an AttackConfig, got {type(self.attack).__name__}")
        check_int(self.restarts, "restarts")
        check_int(self.candidates_per_point, "candidates_per_point")
        check_int(self.seed, "seed", 0)
        check_int(self.chance_draws, "chance_draws")
        if self.recipe not in RECIPES:
            raise ValueError(f"recipe must be one of {RECIPES}, got {self.recipe!r}")
        if self.net.dataset != "digits":
            raise ValueError(f"net must be a digits NetSpec (this experiment shifts images), got dataset "
                             f"{self.net.dataset!r}")
        if self.net.offset != 0:
            raise ValueError(f"net is the unshifted template: its offset must be 0, got {self.net.offset}")
        set_frozen(self, offsets=check_reals(self.offsets, "offsets"), box=check_box(self.box))
        if check_int(self.top_k, "top_k") > self.net.n:
            raise ValueError(f"top_k must be at most the number of training images n={self.net.n}, got {self.top_k}")

    def networks(self) -> tuple:
        """The NetSpecs this configuration trains (``run.network``): the template shifted by every offset."""
        return tuple(self.network(offset) for offset in self.offsets)

    def network(self, offset: float) -> NetSpec:
        """The NetSpec of one secret offset: :func:`shifted_spec` of the template with this config's recipe.

        ``offset`` is the secret offset s added to the centred images."""
        return shifted_spec(self.net, offset, self.recipe)

    @classmethod
    def preset(cls, scale: str = "book", *, arch: str = "two_layer", seed: int = 0) -> SecretShiftConfig:
        """``"test"``: offsets 0 and 0.5, one restart of 200 steps; ``"book"`` (chapter "Shifted images"):
        offsets 0, 0.5, 1 and 2, two-layer networks of width 300 trained by the ``"curvature"`` recipe (their
        weights are committed checkpoints, ``trained_nets.CHECKPOINTS``, for seeds 0–2), 4 restarts × 1000 steps
        per attacker; the 3-layer variant keeps the ``"step"`` recipe; ``"paper"``: 200 digits, offsets to 4,
        8 restarts × 50,000 steps.

        ``scale``: ``"test"``, ``"book"`` (default) or ``"paper"``; ``arch``: ``"two_layer"`` (default) or
        ``"mlp3"``; ``seed`` draws the digits and the network's initialisation (:func:`.digits_spec`) and is the
        first attack seed."""
        scale = check_scale(scale)
        net = digits_spec(scale, arch, seed)
        if scale == "test":
            return cls(net, offsets=(0.0, 0.5), restarts=1, attack=AttackConfig(steps=200), top_k=3, seed=seed)
        if scale == "book" and arch == "two_layer":
            return cls(dataclasses.replace(net, width=300), offsets=(0.0, 0.5, 1.0, 2.0),
                       attack=AttackConfig(steps=1000), seed=seed, recipe="curvature")
        if scale == "book":
            return cls(net, attack=AttackConfig(steps=1000), seed=seed)
        return cls(net, offsets=(0.0, 0.25, 0.5, 1.0, 2.0, 4.0), restarts=8, attack=AttackConfig.paper(50_000),
                   top_k=10, seed=seed, recipe="curvature" if arch == "two_layer" else "step")


@dataclass(frozen=True, eq=False, kw_only=True)
class ShiftGridFields(Result):
    """The measures :func:`shift_grid` returns, per secret offset (rows) and prior (columns), shared by
    :class:`SecretShiftResult` and :class:`.ShiftGuessResult` (keyword-only; each result describes them)."""

    median: torch.Tensor
    fraction: torch.Tensor
    ssim_top: torch.Tensor
    shared: torch.Tensor
    kkt: torch.Tensor
    eps_rel: torch.Tensor
    recon: torch.Tensor
    nearest: torch.Tensor
    rate: torch.Tensor
    score: torch.Tensor
    mix: torch.Tensor
    threshold: torch.Tensor
    chance: torch.Tensor
    prior_chance: torch.Tensor
    mix_chance: torch.Tensor
    image_shape: tuple = (1, 8, 8)


@dataclass(frozen=True, eq=False)
class SecretShiftResult(ShiftGridFields):
    """Per offset (rows) and prior (columns: 0 uninformed box, 1 informed box + s): ``median`` SSIM over the
    training images of their best pooled candidate, ``fraction`` ≥ ``pooling.RECOVERED_SSIM``, ``ssim_top``
    (mean of the top_k), ``shared`` (average-ness, see the config), ``kkt`` (median final KKT loss over restarts);
    ``eps_rel`` per offset's network. ``recon`` / ``nearest`` (O, 2, top_k, 64): the best reconstructions
    (rescaled, pixel coordinates) and their training images, for image grids (``image_shape``).

    Calibrated (:func:`shift_grid`): ``rate`` (O, 2) the share of training digits whose best candidate beats every
    held-out digit, ``score`` (O, 2, n) their best SSIM and ``threshold`` (n,) the best held-out one; ``chance`` /
    ``prior_chance`` (chance_draws,) the rate of held-out digits / prior samples in place of the candidates;
    ``mix`` (O, 2) the median :func:`mixture_gain` of the best candidates and ``mix_chance`` (chance_draws,) that
    of held-out digits.

    ``config`` is the :class:`SecretShiftConfig` run and ``offsets`` (O,) its secret offsets."""

    config: SecretShiftConfig
    offsets: torch.Tensor

    name = "secret_shift"
    _json_fields = ("offsets", "rate", "chance", "prior_chance", "score", "threshold", "mix", "mix_chance", "median",
                    "fraction", "ssim_top", "shared", "kkt", "eps_rel")
    columns = {
        "offset": "the secret offset s added to the centred images",
        "leaked_uninformed": "share of training digits whose best candidate beats every held-out digit, box [0, 1]",
        "leaked_informed": "the same for the attacker who knows s (box [s, 1 + s])",
        "chance": "the same share for held-out digits in place of the candidates (median over null draws)",
        "mix_uninformed": "median gain of a convex mix of 3 training images over the nearest one, box [0, 1]",
        "mix_informed": "the same for the informed attacker",
        "mix_chance": "the same gain for held-out digits in place of the candidates (median over null draws)",
        "median_uninformed": "median best SSIM of the attacker with the pixel box [0, 1]",
        "median_informed": "median best SSIM of the attacker who knows s (box [s, 1 + s])",
        "eps_rel": "the network's certificate: distance to a KKT point, relative to ‖θ‖",
    }

    def plot(self, **options):
        return plot_secret_shift(self, **options)

    def figures(self) -> dict:
        """The headline figure and ``"_images"``: the best reconstructions beside their training images
        (:func:`plot_shift_reconstructions`)."""

        return {"": self.plot(), "_images": plot_shift_reconstructions(self)}

    def rows(self) -> list[dict]:
        chance, mix_chance = self.chance.median().item(), self.mix_chance.median().item()
        return [{"offset": o, "leaked_uninformed": r[0], "leaked_informed": r[1], "chance": chance,
                 "mix_uninformed": x[0], "mix_informed": x[1], "mix_chance": mix_chance, "median_uninformed": m[0],
                 "median_informed": m[1], "eps_rel": e}
                for o, r, x, m, e in zip(self.offsets, self.rate, self.mix, self.median, self.eps_rel)]


@experiment("secret_shift", config=SecretShiftConfig, result=SecretShiftResult,
            summary="paper Fig. 2b: images shifted by an offset the attacker does not know",
            variants={"deep_secret_shift": ("Fig. 2b on a 3-layer homogeneous network", {"arch": "mlp3"})})
def secret_shift(config: SecretShiftConfig, run: Run) -> dict:
    """Paper Fig. 2b: a prior placed for the wrong data does not help — the secret shift.

    The training images are centred, then moved by s (pixels in [s, 1 + s] once the mean is added back). The
    attacker who does not know s uses the pixel box [0, 1]; one who knows it works in shifted coordinates
    (``Shift(s, box)``: initialised around s, box [s, 1 + s]). Both run in ONE batched call per network.
    The paper's expectation: the uninformed attack's best candidates get worse and become averages of several
    training images as s grows, while the informed one keeps the leak; chapter "Shifted images" measures both
    against chance (leak rates beyond every held-out digit, mixture gains against held-out digits).
    Centring matters: an uncentred image set is already shifted by its mean (about 0.3 per pixel for digits).
    """
    out = shift_grid(config, run, lambda offset: (0.0, offset))
    return dict(offsets=result_tensor(config.offsets), **out)


def shift_grid(config, run: Run, guesses_of) -> dict:
    """For every secret offset s of ``config``: the network ``config.network(s)`` and ONE batched attack with
    ``config.restarts`` members per distinct guess g in ``guesses_of(s)`` (the prior ``Shift(g, box)``: the
    attacker's coordinates moved by g, so random initialisations are centred at g and ``config.box`` becomes
    [lo + g, hi + g] in pixels; g = 0 is the plain pixel box), pooled per guess and scored with Haim et al.'s
    rescaled SSIM. Tensors (O, G, ...) of the scores, the top-``config.top_k`` reconstructions and their training
    images; ``eps_rel`` (O,) of each network.

    Calibration (rule (i), ``calibration.beats_held_out``): ``score`` (O, G, n) beside ``threshold`` (n,), each
    training image's best SSIM over the data set's other digits, and ``rate`` (O, G), the share that beats it;
    ``chance`` (D,) the same rate for held-out digits in place of the candidates (as many, scored against the
    remaining ones) and ``prior_chance`` (D,) for samples of the uninformed prior; ``mix`` (O, G) the median
    :func:`mixture_gain` of the training images' best candidates and ``mix_chance`` (D,) that of the best of as
    many held-out digits. The rescaled score is blind to a constant shift: the held-out digits and prior samples
    in shifted coordinates (moved by s, or by g for ``Shift(g, box)``) score exactly as unshifted ones, so the
    nulls are drawn once per data draw and hold for every offset and guess (a test checks it).

    ``run`` is the :class:`.Run` that trains (or loads) the networks and runs the attacks."""
    R, lo, hi, d, n = config.restarts, *config.box, config.net.input_dim, config.net.n
    keys = ("median", "fraction", "ssim_top", "shared", "kkt", "recon", "nearest", "rate", "score", "mix")
    out = {k: [] for k in (*keys, "eps_rel")}
    spec = config.net
    images = digits(n, classes=spec.classes, seed=spec.seed, center=spec.center)    # s = 0, model coordinates
    held = digits_held_out(n, spec.classes, spec.seed, center=spec.center).X       # the same coordinates
    scoring = Scoring("ssim", image_shape=DIGITS_IMAGE_SHAPE, mean=images.mean, rescale=True)
    base = None
    for offset in config.offsets:
        tn = run.network(config.network(offset))
        guesses = guesses_of(offset)
        distinct = list(dict.fromkeys(float(g) for g in guesses))     # g = s = 0 is attacked once
        box = pixel_prior((lo, hi), tn.mean)
        priors = [Shift(torch.full((d,), g, dtype=torch.float64), box) for g in distinct for _ in range(R)]
        res = run.attack(tn.net, tn.X, tn.y, config.candidates_per_point * n, config.attack,
                         prior=priors, seeds=attack_seeds(config.seed, R) * len(distinct))
        row = {k: [] for k in keys}
        for guess in guesses:
            part = slice(distinct.index(float(guess)) * R, (distinct.index(float(guess)) + 1) * R)
            pooled = pool_scores(tn.X, res.candidates[part], mean=tn.mean, image_shape=DIGITS_IMAGE_SHAPE,
                                 rescale=True, kkt=res.kkt[part])
            if base is None:
                base = _calibration(images.X, res.candidates[part], held, scoring, box, config)
            verdict = dataclasses.replace(base["verdict"], score=pooled.score)   # its threshold, its nulls
            order = pooled.score.argsort(descending=True)[:config.top_k]
            best = pooled.candidates[pooled.best.unique()]
            for k, v in (("median", pooled.median), ("fraction", pooled.fraction),
                         ("ssim_top", pooled.score[order].mean().item()), ("shared", pooled.shared),
                         ("kkt", pooled.kkt.median().item()), ("recon", pooled.best_candidates[order]),
                         ("nearest", pooled.X[order]), ("rate", verdict.rate), ("score", verdict.score),
                         ("mix", mixture_gain(pooled.X, best).median().item())):
                row[k].append(v)
        for k, v in row.items():
            out[k].append(torch.stack(v) if k in ("recon", "nearest", "score") else result_tensor(v))
        out["eps_rel"].append(certificate(tn.net, tn.X, tn.y).eps_rel)
    grid = {k: (result_tensor(v) if k == "eps_rel" else torch.stack(v)) for k, v in out.items()}
    return dict(grid, threshold=base["verdict"].threshold, chance=base["verdict"].chance,
                prior_chance=base["prior"].chance, mix_chance=base["mix"])


def _calibration(X, candidates, held, scoring: Scoring, box, config) -> dict:
    """The nulls of one data draw: ``X`` the centred training images (model coordinates), ``held`` the data
    set's other digits, ``scoring`` with the draw's mean. Rule (i) for ``candidates`` (its threshold and
    held-out chance hold for any candidate set of this size), rule (i)'s chance for samples of the prior
    ``box``, and the median :func:`mixture_gain` of the training images' best held-out digits,
    ``config.chance_draws`` sets of as many digits as candidates."""
    common = dict(scoring=scoring, chance_draws=config.chance_draws, seed=config.seed)
    verdict = beats_held_out(X, candidates, held, **common)
    prior = beats_held_out(X, candidates, held, null=box, **common)
    generator, M = torch.Generator().manual_seed(config.seed), verdict.size
    mix = []
    for _ in range(config.chance_draws):
        pooled = pool_scores(X, held[torch.randperm(held.shape[0], generator=generator)[:M]], mean=scoring.mean,
                             image_shape=DIGITS_IMAGE_SHAPE, rescale=True)
        mix.append(mixture_gain(pooled.X, pooled.candidates[pooled.best.unique()]).median().item())
    return {"verdict": verdict, "prior": prior, "mix": result_tensor(mix)}


def plot_secret_shift(result):
    """``experiments.secret_shift`` (paper Fig. 2b) against the secret offset, for the uninformed box [0, 1] and the
    informed box [s, 1 + s]: the share of training digits leaked beyond every held-out digit with its chance rate
    (held-out digits in place of the candidates, 95th percentile), and the mixture gain of the best candidates
    ("averages") with that of held-out digits. Returns the ``Figure``.

    ``result`` is a :class:`SecretShiftResult`."""
    o = result.offsets
    fig, axes = two_panels()
    for ax, values, null, ylabel, title in (
            (axes[0], result.rate, result.chance, "share leaked (rule (i))", "leak against chance"),
            (axes[1], result.mix, result.mix_chance, "median mixture gain", "averages against chance")):
        plot_curves(o, {"box [0, 1]": values[:, 0], "box [s, 1 + s]": values[:, 1]}, xlabel="secret offset s",
                    ylabel=ylabel, title=title, ax=ax)
        ax.axhline(null.double().quantile(0.95).item(), color="0.5", ls=":", lw=1, label="chance, 95th pct.")
        ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def plot_shift_reconstructions(result, show: int = 4, figsize=None):
    """Paper Fig. 2b's images from an ``experiments.SecretShiftResult``: one row per secret offset with its
    ``show`` best reconstructions of the uninformed attack (box [0, 1]), each beside its nearest training image
    (every image min–max scaled for display, as they are scored). The default size fills the book's column
    (:data:`~reconleak_core.viz.COLUMN_INCHES`).
    Returns the ``Figure``.

    ``result`` is a :class:`SecretShiftResult`; ``figsize`` the figure's (width, height) in inches, ``None``
    (default): the column's width and a height that fits the rows."""
    offsets = [float(o) for o in result.offsets]
    show = min(int(show), result.recon.shape[2])
    if show < 1:
        raise ValueError(f"show must be a positive integer, got {show!r}")
    cell = COLUMN_INCHES / (2 * show + 0.4)
    fig, axes = subplots(len(offsets), 2 * show, squeeze=False,
                             figsize=figsize or (COLUMN_INCHES, 0.45 + 1.1 * cell * len(offsets)))
    for r, offset in enumerate(offsets):
        for c in range(show):
            for k, (images, what) in enumerate(((result.recon[:, 0], "rec."), (result.nearest[:, 0], "nearest"))):
                ax = axes[r][2 * c + k]
                img = as_image(images[r][c], tuple(result.image_shape), "image")
                span = img.max() - img.min()
                ax.imshow((img - img.min()) / span if span > 0 else img * 0, cmap="gray", vmin=0, vmax=1)
                ax.set_xticks([])
                ax.set_yticks([])
                if r == 0:
                    ax.set_title(what, fontsize="small")
        axes[r][0].set_ylabel(f"s = {offset:g}", fontsize="small")
    fig.tight_layout()
    return fig
