"""Paper Fig. 2b over the whole grid of secret offsets × attacker's guesses (``shift_guess``): the networks and
scores of :mod:`~reconleak_core.experiments.secret_shift`, attacked with the prior moved by every guess. Config,
result, computation and figure of the experiment (chapter "Shifted images")."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from reconleak_core.checks import check_reals, set_frozen
from reconleak_core.experiments.core import Run, experiment, result_tensor
from reconleak_core.experiments.secret_shift import SecretShiftConfig, ShiftGridFields, shift_grid
from reconleak_core.viz import plot_curves, two_panels

__all__ = ["ShiftGuessConfig", "ShiftGuessResult", "shift_guess", "plot_shift_guess"]


@dataclass(frozen=True)
class ShiftGuessConfig(SecretShiftConfig):
    """:func:`shift_guess`: the settings of :class:`.SecretShiftConfig` and the attacker's ``guesses`` g (box
    [g, 1 + g] in pixel coordinates); ``None`` (default): the offsets themselves, so that the column g = 0 is
    the uninformed attack and the diagonal g = s the informed one.

    The inherited fields, as in :class:`.SecretShiftConfig`: ``net`` the unshifted digits template (offset 0),
    ``offsets`` the secret offsets s, ``box`` the pixel box (lo, hi) that each guess moves, ``restarts`` the
    members per guess, each with m = ``candidates_per_point``·n candidates and the settings ``attack``; ``top_k``
    the best reconstructions kept per (offset, guess) cell (at most n); ``seed`` the first attack seed and the seed
    of the null draws; ``recipe`` the training recipe of the shifted networks (:func:`.shifted_spec`);
    ``chance_draws`` the number of null draws."""

    guesses: tuple | None = None

    def __post_init__(self):
        super().__post_init__()
        if self.guesses is not None:
            set_frozen(self, guesses=check_reals(self.guesses, "guesses"))
            if not self.guesses:
                raise ValueError("guesses must hold at least one value (or be None: the offsets)")

    @property
    def grid(self) -> tuple:
        """The guesses attacked, ``guesses`` or (when it is None) the offsets."""
        return self.offsets if self.guesses is None else self.guesses

    @classmethod
    def preset(cls, scale: str = "book", *, arch: str = "two_layer", seed: int = 0) -> ShiftGuessConfig:
        """:class:`.SecretShiftConfig`'s presets (the networks of chapter "Shifted images" at book scale), over the
        grid of every offset as a guess.

        ``scale``: ``"test"``, ``"book"`` (default) or ``"paper"``; ``arch``: ``"two_layer"`` (default) or
        ``"mlp3"``; ``seed`` draws the digits and the network's initialisation and is the first attack seed."""
        return super().preset(scale, arch=arch, seed=seed)


@dataclass(frozen=True, eq=False)
class ShiftGuessResult(ShiftGridFields):
    """:func:`shift_guess`: per secret offset (rows) and attacker's guess g (columns, prior
    ``Shift(g, box)``: initialised around g, box [g, 1 + g] in pixel coordinates) the pooled ``median`` SSIM,
    ``fraction`` ≥ ``pooling.RECOVERED_SSIM``, ``shared`` (average-ness) and ``kkt`` (median over restarts), all (O,
    G); ``eps_rel`` (O,) of each offset's network;
    ``recon`` / ``nearest`` (O, G, top_k, 64): the best reconstructions (rescaled, pixel coordinates) and their
    training images, best first. ``guess == 0`` is the uninformed attack, ``guess == offset`` the informed one.
    Calibrated as :class:`.SecretShiftResult`: ``rate``, ``mix`` (O, G), ``score`` (O, G, n), ``threshold``,
    ``chance``, ``prior_chance``, ``mix_chance``.

    ``config`` is the :class:`ShiftGuessConfig` run, ``offsets`` (O,) its secret offsets and ``guesses`` (G,) its
    guesses (``config.grid``); ``ssim_top`` (O, G) the mean best SSIM of the ``config.top_k`` best-recovered
    training images; ``image_shape`` the (C, H, W) of one image."""

    config: ShiftGuessConfig
    offsets: torch.Tensor
    guesses: torch.Tensor

    name = "shift_guess"
    _json_fields = ("offsets", "guesses", "rate", "chance", "prior_chance", "score", "threshold", "mix", "mix_chance",
                    "median", "fraction", "shared", "kkt", "eps_rel")
    columns = {
        "offset": "the secret offset s",
        "guess": "the attacker's guess g (box [g, 1 + g])",
        "leaked": "share of training digits whose best candidate beats every held-out digit",
        "chance": "the same share for held-out digits in place of the candidates (median over null draws)",
        "mix": "median gain of a convex mix of 3 training images over the nearest one (averages)",
        "median": "median best SSIM (min-max rescaled)",
        "shared": "training images sharing their best candidate",
        "kkt": "median final KKT loss over restarts",
        "eps_rel": "the network's certificate, relative to ‖θ‖",
    }

    def at(self, offset: float, guess: float) -> tuple[int, int]:
        """The (row, column) of a secret offset and a guess (each must be one of the grid's values).

        ``offset`` is matched against ``offsets`` and ``guess`` against ``guesses`` (``torch.isclose``); a value
        off the grid raises ``ValueError``."""
        for values, v, what in ((self.offsets, offset, "offset"), (self.guesses, guess, "guess")):
            if not torch.isclose(values, torch.tensor(float(v), dtype=values.dtype)).any():
                raise ValueError(f"{what} {v!r} is not on the grid {values.tolist()}")
        return tuple(int(torch.isclose(values, torch.tensor(float(v), dtype=values.dtype)).int().argmax())
                     for values, v in ((self.offsets, offset), (self.guesses, guess)))

    def plot(self, **options):
        return plot_shift_guess(self, **options)

    def by_attacker(self, field: str = "median") -> dict:
        """The paper's two attackers read off the grid, per offset: ``{"uninformed [0, 1]": column g = 0,
        "informed [s, 1+s]": diagonal g = s}`` of the (O, G) field ``field`` (rate, mix, median, fraction,
        shared or kkt). Needs 0 and every offset among the guesses (the default grid)."""
        if field not in ("rate", "mix", "median", "fraction", "shared", "kkt"):
            raise ValueError(f"field must be one of rate, mix, median, fraction, shared, kkt, got {field!r}")
        values = getattr(self, field)
        cells = [self.at(o, 0.0) for o in self.offsets.tolist()], [self.at(o, o) for o in self.offsets.tolist()]
        return {name: torch.stack([values[i, j] for i, j in where])
                for name, where in zip(("uninformed [0, 1]", "informed [s, 1+s]"), cells)}

    def rows(self) -> list[dict]:
        chance = self.chance.median().item()
        return [{"offset": o, "guess": g, "leaked": self.rate[i, j], "chance": chance, "mix": self.mix[i, j],
                 "median": self.median[i, j], "shared": self.shared[i, j], "kkt": self.kkt[i, j],
                 "eps_rel": self.eps_rel[i]}
                for i, o in enumerate(self.offsets) for j, g in enumerate(self.guesses)]


@experiment("shift_guess", config=ShiftGuessConfig, result=ShiftGuessResult,
            summary="Fig. 2b over the grid of secret offsets x attacker's guesses")
def shift_guess(config: ShiftGuessConfig, run: Run) -> dict:
    """Fig. 2b over the whole (secret offset × attacker's guess) grid (chapter "Shifted images").

    The networks of :func:`.secret_shift` (``config.net.shifted(s)`` for every offset s); for each, ONE
    batched attack with ``config.restarts`` members per guess g of ``config.grid``, each with the prior
    ``Shift(g, box)`` (initialised around g, the pixel box moved to [g, 1 + g]), scored as :func:`.secret_shift`
    scores (rescaled SSIM, pooled over the restarts of one guess). With the default guesses (the offsets) the column
    g = 0 is the uninformed
    attack and the diagonal g = s the informed one: the chapter's figure and its two sliders come from this
    one computation."""
    out = shift_grid(config, run, lambda offset: config.grid)
    return dict(offsets=result_tensor(config.offsets), guesses=result_tensor(config.grid), **out)


def plot_shift_guess(result):
    """``experiments.shift_guess``: the share of training digits leaked beyond every held-out digit and the mixture
    gain of the best candidates ("averages") against the secret offset s, for the guess g = 0 (uninformed) and
    g = s (informed), each beside its chance level (held-out digits in place of the candidates, 95th percentile);
    both guesses must be on the result's grid. Returns the ``Figure``.

    ``result`` is a :class:`ShiftGuessResult`."""
    offsets = [float(o) for o in result.offsets]
    zero = result.at(offsets[0], 0.0)[1]
    diagonal = [result.at(o, o) for o in offsets]
    fig, axes = two_panels()
    for ax, values, null, ylabel, title in (
            (axes[0], result.rate, result.chance, "share leaked (rule (i))", "leak against chance"),
            (axes[1], result.mix, result.mix_chance, "median mixture gain", "averages against chance")):
        curves = {"guess g = 0": values[:, zero], "guess g = s": torch.stack([values[i, j] for i, j in diagonal])}
        plot_curves(offsets, curves, xlabel="secret offset s", ylabel=ylabel, title=title, ax=ax)
        ax.axhline(null.double().quantile(0.95).item(), color="0.5", ls=":", lw=1, label="chance, 95th pct.")
        ax.legend(fontsize="small")
    fig.tight_layout()
    return fig
