"""The leak of Haim et al. with the right prior (``digit_leak``): pooled attacks on a network trained on
centred digits, every training image scored against its best pooled candidate and calibrated against chance
(:mod:`reconleak_core.calibration`): a digit counts as leaked when its best reconstruction resembles it more
(SSIM) than every one of the data set's other digits, which the network never saw, does. Config, result,
computation and figure of the experiment (chapter "The KKT reconstruction attack")."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from reconleak_core.attack import AttackConfig
from reconleak_core.calibration import Scoring, beats_held_out
from reconleak_core.certificate import certificate
from reconleak_core.checks import check_bool, check_int, set_frozen
from reconleak_core.data import DIGITS_IMAGE_SHAPE, digits_held_out
from reconleak_core.experiments.core import (
    Result,
    Run,
    check_box,
    check_scale,
    digits_spec,
    experiment,
    pixel_prior,
)
from reconleak_core.priors import Box
from reconleak_core.trained_nets import NetSpec
from reconleak_core.viz import image_grid

__all__ = ["DigitLeakConfig", "DigitLeakResult", "digit_leak", "plot_digit_leak"]


@dataclass(frozen=True)
class DigitLeakConfig:
    """The leak of Haim et al. with the right prior: ``net`` (centred digits), the pixel box ``box``,
    ``restarts`` pooled attacks of m = ``candidates_per_point``·n candidates (``pooling.pooled_attack``, one
    batched call), each training image scored by SSIM against its best pooled candidate (pixel coordinates).

    ``attack`` is the ``AttackConfig`` of every restart; ``seed`` seeds the attacks and the null draws.
    ``onto_margin`` (default ``True``): each candidate is put back on the margin and into the box before scoring
    (``pooling.pooled_attack(onto_margin=True)``: complementary slackness, with the network and the prior alone);
    ``False`` scores the attack's iterates as they are.
    """

    net: NetSpec = digits_spec("book", "two_layer", 0)
    box: tuple = (0.0, 1.0)
    restarts: int = 8
    candidates_per_point: int = 1
    attack: AttackConfig = AttackConfig(steps=3000)
    seed: int = 0
    onto_margin: bool = True

    def __post_init__(self):
        if not isinstance(self.net, NetSpec) or self.net.dataset != "digits":
            raise TypeError("net must be a NetSpec of digits")
        if not isinstance(self.attack, AttackConfig):
            raise TypeError(f"attack must be an AttackConfig, got {type(self.attack).__name__}")
        set_frozen(self, box=check_box(self.box))
        check_int(self.restarts, "restarts")
        check_int(self.candidates_per_point, "candidates_per_point")
        check_int(self.seed, "seed", 0)
        check_bool(self.onto_margin, "onto_margin")

    def networks(self) -> tuple:
        """The NetSpecs this configuration trains (``run.network``): ``(net,)``."""
        return (self.net,)

    @classmethod
    def preset(cls, scale: str = "book", *, seed: int = 0) -> DigitLeakConfig:
        """``"test"``: 8 digits, width 100, 2 restarts × 200 steps; ``"book"``: 20 digits, width 1000,
        8 restarts × 3000 steps; ``"paper"``: 200 digits, 16 restarts × 50,000 steps. ``seed`` draws the digits.

        ``scale``: ``"test"``, ``"book"`` or ``"paper"``.
        """
        scale = check_scale(scale)
        net = digits_spec(scale, "two_layer", seed)
        if scale == "test":
            return cls(net, restarts=2, attack=AttackConfig(steps=200), seed=seed)
        if scale == "book":
            return cls(net, seed=seed)
        return cls(net, restarts=16, attack=AttackConfig.paper(50_000), seed=seed)


def plot_digit_leak(result, *, per_row: int = 10):
    """:func:`digit_leak`: every training image above its best pooled candidate, ``per_row`` pairs to a row
    (the column's width at 10), with the median SSIM in the title. Returns the ``Figure``.

    ``result`` is a :class:`DigitLeakResult`.
    """
    check_int(per_row, "per_row")
    images, best = list(result.images), list(result.best)
    rows, row_titles = [], []
    for start in range(0, len(images), per_row):
        rows += [images[start:start + per_row], best[start:start + per_row]]
        row_titles += ["training", "attack"]
    fig = image_grid(rows, row_titles=row_titles, image_shape=tuple(result.image_shape), normalize=False)
    fig.suptitle(f"{result.leaked.sum()} of {len(images)} digits leaked beyond every held-out digit "
                 f"(chance {result.chance.median():.0%}); median SSIM {result.median:.2f}", fontsize="medium")
    fig.tight_layout()
    return fig


@dataclass(frozen=True, eq=False)
class DigitLeakResult(Result):
    """``ssim`` (n,): each training image's SSIM with its best pooled candidate; ``median``, ``fraction``
    (share ≥ ``pooling.RECOVERED_SSIM``), ``shared``; ``images`` / ``best`` (n, 64): the training images and
    their best candidates in pixel coordinates; ``kkt`` (restarts,), ``eps_rel`` of the trained network.

    Calibrated against chance (``calibration.beats_held_out``, rule (i)): ``threshold`` (n,) is each training
    image's best SSIM over the ``held_out`` other digits of the data set (never seen by the network), ``leaked``
    (n,) whether the attack beats it and ``rate`` the share leaked; ``chance`` (draws,) is the same rate for
    held-out digits in place of the attack's candidates (as many, scored against the remaining ones) and
    ``prior_chance`` (draws,) for samples of the attacker's prior (uniform pixels in ``box``). ``control`` is
    the rate of the same candidates against n digits the network never saw (drawn from the held-out ones, each
    against the remaining held-out digits): the attack aimed at digits it was not trained on, near chance.

    ``config`` is the :class:`DigitLeakConfig` run and ``image_shape`` the (C, H, W) of one image.
    """

    config: DigitLeakConfig
    ssim: torch.Tensor
    median: float
    fraction: float
    shared: int
    kkt: torch.Tensor
    eps_rel: float
    images: torch.Tensor
    best: torch.Tensor
    threshold: torch.Tensor
    leaked: torch.Tensor
    rate: float
    chance: torch.Tensor
    prior_chance: torch.Tensor
    held_out: int
    control: float
    image_shape: tuple = DIGITS_IMAGE_SHAPE

    name = "digit_leak"
    # every number and both image sets (pixel coordinates), so that a run can be re-scored elsewhere
    _json_fields = ("rate", "chance", "prior_chance", "control", "held_out", "leaked", "ssim", "threshold", "median",
                    "fraction", "shared", "kkt", "eps_rel", "images", "best")
    columns = {
        "leaked": "share of training digits whose best reconstruction beats every held-out digit (SSIM)",
        "chance_held_out": "the same share for held-out digits in place of the attack's candidates (median)",
        "chance_prior": "the same share for samples of the attacker's prior, uniform pixels (median)",
        "control": "the same share for n digits the network never saw, in place of its training digits",
        "median_ssim": "median over training digits of the SSIM with their best candidate",
        "fraction_ssim_0.7": "share of training digits with a candidate at SSIM ≥ 0.7 (not calibrated)",
        "shared": "training digits whose best candidate is also another's (averages)",
        "eps_rel": "the trained network's certificate: distance to a KKT point, relative to ‖θ‖",
        "kkt_median": "median final KKT loss over restarts",
    }

    def plot(self, **options):
        return plot_digit_leak(self, **options)

    def rows(self) -> list[dict]:
        return [{"leaked": self.rate, "chance_held_out": self.chance.median().item(),
                 "chance_prior": self.prior_chance.median().item(), "control": self.control,
                 "median_ssim": self.median,
                 "fraction_ssim_0.7": self.fraction, "shared": self.shared, "eps_rel": self.eps_rel,
                 "kkt_median": self.kkt.quantile(0.5).item()}]


@experiment("digit_leak", config=DigitLeakConfig, result=DigitLeakResult,
            summary="the leak with the right prior: pooled attacks on centred digits (Haim et al.)")
def digit_leak(config: DigitLeakConfig, run: Run) -> dict:
    """The leak the paper starts from (Haim et al. 2022; chapter "The KKT reconstruction attack"): with the right
    prior (the pixel box [0, 1]) pooled attacks on a network trained on centred digits recover training images,
    measured against chance: the attack gets the network and the prior only; the training images and the data
    set's other digits enter the scoring alone. Each candidate is put back on the margin and into the box
    (``config.onto_margin``). Measured with the library's defaults (book preset) on draws no chapter uses,
    seeds 10–13: 45 / 55 / 60 / 70 % of the 20 digits leaked beyond every held-out digit (chance 5–10 %);
    without the margin step 20 / 40 / 20 / 35 %."""
    tn = run.network(config.net)
    res = run.pooled_attack(tn.net, tn.X, tn.y, restarts=config.restarts,
                            candidates_per_point=config.candidates_per_point, prior=pixel_prior(config.box, tn.mean),
                            mean=tn.mean, image_shape=DIGITS_IMAGE_SHAPE, config=config.attack, seed=config.seed,
                            onto_margin=config.onto_margin)
    spec = config.net
    held = digits_held_out(spec.n, spec.classes, spec.seed, center=spec.center).pixels
    scoring = Scoring("ssim", image_shape=DIGITS_IMAGE_SHAPE)
    verdict = beats_held_out(res.X, res.candidates, held, scoring=scoring, seed=config.seed)
    prior = beats_held_out(res.X, res.candidates, held, scoring=scoring, null=Box(*config.box), seed=config.seed)
    order = torch.randperm(held.shape[0], generator=torch.Generator().manual_seed(config.seed))
    n = res.X.shape[0]
    control = beats_held_out(held[order[:n]], res.candidates, held[order[n:]], scoring=scoring, chance_draws=1,
                             seed=config.seed)   # its rate only: the chance draws are the verdict's
    return dict(ssim=res.score, median=res.median, fraction=res.fraction, shared=res.shared, kkt=res.kkt,
                eps_rel=float(certificate(tn.net, tn.X, tn.y).eps_rel), images=res.X, best=res.best_candidates,
                threshold=verdict.threshold, leaked=verdict.leaked, rate=verdict.rate, chance=verdict.chance,
                prior_chance=prior.chance, held_out=held.shape[0], control=control.rate)
