"""Paper Fig. 2b: images shifted by a secret offset the attacker ignores (``secret_shift``; its 3-layer variant
``deep_secret_shift``), with :func:`shift_grid`, the (offset × attacker's guess) computation that
:mod:`~reconleak_core.experiments.shift_guess` shares. Config, result, computation and figures of the
experiment (chapter "Shifted images")."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from reconleak_core.attack import AttackConfig, Shift
from reconleak_core.certificate import certificate
from reconleak_core.checks import check_int, check_reals, set_frozen
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

__all__ = ["SecretShiftConfig", "SecretShiftResult", "secret_shift", "shift_grid", "plot_secret_shift",
           "plot_shift_reconstructions"]


@dataclass(frozen=True)
class SecretShiftConfig:
    """Fig. 2b: centred digits shifted by each of ``offsets`` (one network per offset, trained on X − mean + s),
    each attacked in ONE batched call by ``restarts`` members with the uninformed pixel box ``box`` and
    ``restarts`` members of an attacker who knows the shift: the prior ``priors.Shift(s, box)``, which works
    in shifted coordinates (random initialisations centred at s, the pixel box moved to ``box + s``). ``net``
    is the template (its offset must be 0).

    Scores (``pooling.pool_scores``, Haim et al.'s protocol: candidates in pixel coordinates and training images
    min–max rescaled, so the score ignores a constant shift): per training image the SSIM of its best pooled
    candidate; "average-ness": ``shared``, the number of training images whose best candidate is also another's.
    """

    net: NetSpec = digits_spec("book", "two_layer", 0)
    offsets: tuple = (0.0, 0.25, 0.5, 1.0, 2.0)
    box: tuple = (0.0, 1.0)
    restarts: int = 4
    candidates_per_point: int = 1
    attack: AttackConfig = AttackConfig(steps=2000)
    top_k: int = 6
    seed: int = 0

    def __post_init__(self):
        if not isinstance(self.net, NetSpec):
            raise TypeError(f"net must be a NetSpec, got {type(self.net).__name__}")
        if not isinstance(self.attack, AttackConfig):
            raise TypeError(f"attack must be an AttackConfig, got {type(self.attack).__name__}")
        check_int(self.restarts, "restarts")
        check_int(self.candidates_per_point, "candidates_per_point")
        check_int(self.seed, "seed", 0)
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
        return tuple(self.net.shifted(offset) for offset in self.offsets)

    @classmethod
    def preset(cls, scale: str = "book", *, arch: str = "two_layer", seed: int = 0) -> SecretShiftConfig:
        scale = check_scale(scale)
        net = digits_spec(scale, arch, seed)
        if scale == "test":
            return cls(net, offsets=(0.0, 0.5), restarts=1, attack=AttackConfig(steps=200), top_k=3, seed=seed)
        if scale == "book":
            return cls(net, attack=AttackConfig(steps=2000 if arch == "two_layer" else 1000), seed=seed)
        return cls(net, offsets=(0.0, 0.25, 0.5, 1.0, 2.0, 4.0), restarts=8, attack=AttackConfig.paper(50_000),
                   top_k=10, seed=seed)


@dataclass(frozen=True, eq=False)
class SecretShiftResult(Result):
    """Per offset (rows) and prior (columns: 0 uninformed box, 1 informed box + s): ``median`` SSIM over the
    training images of their best pooled candidate, ``fraction`` ≥ ``pooling.RECOVERED_SSIM``, ``ssim_top``
    (mean of the top_k), ``shared`` (average-ness, see the config), ``kkt`` (median final KKT loss over restarts);
    ``eps_rel`` per offset's network. ``recon`` / ``nearest`` (O, 2, top_k, 64): the best reconstructions
    (rescaled, pixel coordinates) and their training images, for image grids (``image_shape``)."""

    config: SecretShiftConfig
    offsets: torch.Tensor
    median: torch.Tensor
    fraction: torch.Tensor
    ssim_top: torch.Tensor
    shared: torch.Tensor
    kkt: torch.Tensor
    eps_rel: torch.Tensor
    recon: torch.Tensor
    nearest: torch.Tensor
    image_shape: tuple = (1, 8, 8)

    name = "secret_shift"
    _json_fields = ("offsets", "median", "fraction", "ssim_top", "shared", "kkt", "eps_rel")
    columns = {
        "offset": "the secret offset s added to the centred images",
        "median_uninformed": "median best SSIM of the attacker with the pixel box [0, 1]",
        "median_informed": "median best SSIM of the attacker who knows s (box [s, 1 + s])",
        "shared_uninformed": "training images sharing their best candidate (averages), box [0, 1]",
        "shared_informed": "the same for the informed attacker",
        "kkt_uninformed": "median final KKT loss over restarts, box [0, 1]",
        "kkt_informed": "the same for the informed attacker",
        "eps_rel": "the network's certificate: distance to a KKT point, relative to ‖θ‖",
    }

    def plot(self, **options):
        return plot_secret_shift(self, **options)

    def figures(self) -> dict:
        """The headline figure and ``"_images"``: the best reconstructions beside their training images
        (:func:`plot_shift_reconstructions`)."""

        return {"": self.plot(), "_images": plot_shift_reconstructions(self)}

    def rows(self) -> list[dict]:
        return [{"offset": o, "median_uninformed": m[0], "median_informed": m[1], "shared_uninformed": sh[0],
                 "shared_informed": sh[1], "kkt_uninformed": k[0], "kkt_informed": k[1], "eps_rel": e}
                for o, m, sh, k, e in zip(self.offsets, self.median, self.shared, self.kkt, self.eps_rel)]


@experiment("secret_shift", config=SecretShiftConfig, result=SecretShiftResult,
            summary="paper Fig. 2b: images shifted by an offset the attacker does not know",
            variants={"deep_secret_shift": ("Fig. 2b on a 3-layer homogeneous network", {"arch": "mlp3"})})
def secret_shift(config: SecretShiftConfig, run: Run) -> dict:
    """Paper Fig. 2b: a prior placed for the wrong data does not help — the secret shift.

    The training images are centred, then moved by s (pixels in [s, 1 + s] once the mean is added back). The
    attacker who does not know s uses the pixel box [0, 1]; one who knows it works in shifted coordinates
    (``Shift(s, box)``: initialised around s, box [s, 1 + s]). Both run in ONE batched call per network.
    Expected (chapter "Shifted images"): the uninformed attack's best candidates get worse and shared by several
    training images (averages) as s grows; the informed one keeps the leak.
    Centring matters: an uncentred image set is already shifted by its mean (about 0.3 per pixel for digits).
    """
    out = shift_grid(config, run, lambda offset: (0.0, offset))
    return dict(offsets=result_tensor(config.offsets), **out)


def shift_grid(config, run: Run, guesses_of) -> dict:
    """For every secret offset s of ``config``: the network ``config.net.shifted(s)`` and ONE batched attack
    with ``config.restarts`` members per guess g in ``guesses_of(s)`` (the prior ``Shift(g, box)``: the
    attacker's coordinates moved by g, so random initialisations are centred at g and ``config.box`` becomes
    [lo + g, hi + g] in pixels; g = 0 is the plain pixel box), pooled per guess and scored with Haim et al.'s
    rescaled SSIM. Tensors (O, G, ...) of the scores, the top-``config.top_k`` reconstructions and their training
    images; ``eps_rel`` (O,) of each network."""
    R, lo, hi, d = config.restarts, *config.box, config.net.input_dim
    keys = ("median", "fraction", "ssim_top", "shared", "kkt", "recon", "nearest")
    out = {k: [] for k in (*keys, "eps_rel")}
    for offset in config.offsets:
        tn = run.network(config.net.shifted(offset))
        guesses = guesses_of(offset)
        box = pixel_prior((lo, hi), tn.mean)
        priors = [Shift(torch.full((d,), float(g), dtype=torch.float64), box) for g in guesses for _ in range(R)]
        res = run.attack(tn.net, tn.X, tn.y, config.candidates_per_point * config.net.n, config.attack,
                         prior=priors, seeds=attack_seeds(config.seed, R) * len(guesses))
        row = {k: [] for k in keys}
        for j in range(len(guesses)):
            part = slice(j * R, (j + 1) * R)
            pooled = pool_scores(tn.X_clean, res.candidates[part], mean=tn.mean, image_shape=(1, 8, 8),
                                 rescale=True, kkt=res.kkt[part])
            order = pooled.score.argsort(descending=True)[:config.top_k]
            for k, v in (("median", pooled.median), ("fraction", pooled.fraction),
                         ("ssim_top", pooled.score[order].mean().item()), ("shared", pooled.shared),
                         ("kkt", pooled.kkt.median().item()), ("recon", pooled.best_candidates[order]),
                         ("nearest", pooled.X[order])):
                row[k].append(v)
        for k, v in row.items():
            out[k].append(torch.stack(v) if k in ("recon", "nearest") else result_tensor(v))
        out["eps_rel"].append(certificate(tn.net, tn.X, tn.y).eps_rel)
    return {k: (result_tensor(v) if k == "eps_rel" else torch.stack(v)) for k, v in out.items()}


def plot_secret_shift(result):
    """``experiments.secret_shift`` (paper Fig. 2b): median best SSIM and final KKT loss against the secret
    offset, for the uninformed box [0, 1] and the informed box [s, 1 + s]. Returns the ``Figure``."""
    o = result.offsets
    fig, axes = two_panels()
    plot_curves(o, {"box [0, 1]": result.median[:, 0], "box [s, 1 + s]": result.median[:, 1]},
                xlabel="secret offset s", ylabel="median best SSIM", title="reconstruction quality", ax=axes[0])
    plot_curves(o, {"box [0, 1]": result.kkt[:, 0], "box [s, 1 + s]": result.kkt[:, 1]}, xlabel="secret offset s",
                ylabel="final KKT loss", title="the attack's objective", logy=True, ax=axes[1])
    fig.tight_layout()
    return fig


def plot_shift_reconstructions(result, show: int = 4, figsize=None):
    """Paper Fig. 2b's images from an ``experiments.SecretShiftResult``: one row per secret offset with its
    ``show`` best reconstructions of the uninformed attack (box [0, 1]), each beside its nearest training image
    (every image min–max scaled for display, as they are scored). The default size fills the book's column
    (:data:`~reconleak_core.viz.COLUMN_INCHES`).
    Returns the ``Figure``."""
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
