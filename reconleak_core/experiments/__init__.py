"""The paper's experiments (and some beyond it) as pure functions of small frozen configurations, and the
registry that the command line, its help and the figures are read from.

Layout: one module per experiment, each holding its configuration (with presets), its result type, its
computation and its figure, on top of a small core (:mod:`~reconleak_core.experiments.core`: the ``experiment``
declaration, the registry, :class:`.Run`, the result base, the cache key and the recipes and scores several
experiments share). Everything public is re-exported here (``experiments.init_radius``,
``experiments.InitRadiusConfig``, ...). Adding an experiment to the package is one new module, imported below.

Interface.

Every experiment is ``experiment(config=None, *, scale="book", device="auto", progress=False,
cache=True, cache_root=None, refresh=False, executor=None)`` and returns a frozen :class:`.Result` dataclass of tensors
(float64, CPU; what a chapter plots) with ``rows()`` (the table the command line prints), ``plot()`` (its
headline figure) and ``to_json()`` (the numbers). ``config=None`` takes the preset of ``scale``:

- ``"test"``  a few seconds, for the test suite (same code path);
- ``"book"``  the default: seconds on a laptop CPU, what the chapters show;
- ``"paper"`` the paper's sizes, meant for a GPU (``device="cuda"``).

=====================  =========================  ====================================================
name                   function                   question
=====================  =========================  ====================================================
``init_radius``        ``init_radius``            attack initialised on spheres of several radii (Fig. 2a)
``subspace_radius``    ``init_radius``            Fig. 2a with data in a subspace of ℝᵈ (Theorem 4)
``deep_init_radius``   ``init_radius``            Fig. 2a on a 3-layer network (generic KKT loss)
``digit_leak``         ``digit_leak``             the leak with the right prior: pooled attacks on centred digits
``secret_shift``       ``secret_shift``           images shifted by an offset the attacker ignores (Fig. 2b)
``deep_secret_shift``  ``secret_shift``           Fig. 2b on a 3-layer network
``shift_guess``        ``shift_guess``            Fig. 2b over the grid of secret offsets × the attacker's guesses
``training_length``    ``training_length``        certificate ε, split distance and leakage along training
``training_leak``      ``training_leak``          pooled attacks with the right prior along one training run
``infer_shift``        ``infer_shift``            can the attacker estimate the secret shift? (open question)
``bias_shift``         ``bias_shift``             does the secret shift survive a first-layer bias? (beyond)
=====================  =========================  ====================================================

The second column is both the function and the module that holds it (``experiments.init_radius`` is the
function; ``reconleak_core.experiments.init_radius`` imported as a module is its file).

Adding an experiment (from outside the package too) is one declaration; :data:`.EXPERIMENTS` then holds
it, :func:`~reconleak_core.experiments.core.run` and ``python -m reconleak_core reproduce <name>`` (with
``--import <module>`` for a module outside the package) run it, and the command line's help lists its summary::

    @dataclass(frozen=True)
    class MarginConfig:                        # a frozen configuration with a preset(scale, *, seed)
        net: NetSpec = NetSpec(n=6, d=4, subspace_dim=2, width=20)

        @classmethod
        def preset(cls, scale="book", *, seed=0):
            return cls(dataclasses.replace(cls.net, seed=seed))

    @dataclass(frozen=True, eq=False)
    class MarginResult(Result):                # tensors and numbers; rows() and plot()
        config: MarginConfig
        margins: torch.Tensor
        name = "margins"
        _json_fields = ("margins",)            # the numbers the command line writes to margins.json

        def rows(self):
            return [{"point": i, "margin": m} for i, m in enumerate(self.margins)]

        def plot(self):
            fig, ax = plt.subplots()
            ax.plot(self.margins)
            return fig

    @experiment("margins", config=MarginConfig, result=MarginResult, summary="normalised margins")
    def margins(config, run):                  # run: a Run (run.network, run.attack, run.pooled_attack)
        tn = run.network(config.net)
        return {"margins": kkt.margins(kkt.normalize_margin(tn.net, tn.X, tn.y), tn.X, tn.y)}

Where attacks run. Every attack goes through ``run.attack`` / ``run.pooled_attack`` (:class:`.Run`), which
normalise the network's margin once (``attack.reconstruct_trained``) and hand the batched call to the run's
``executor``: ``None`` runs ``attack.reconstruct_batch`` in this process; ``sweep.RayExecutor(...)`` splits its
members over Ray tasks (``experiments.run(name, executor=sweep.RayExecutor(members_per_task=4))``; the optional
:mod:`reconleak_core.sweep` depends on this package, never the reverse). Results and cache keys do not depend on
the executor.

The declaration writes the shared opening (the preset for ``config=None``, the type check) and closing
(the disk cache, keyed by the configuration, the device type and the code version) once. The trained
networks come from :mod:`reconleak_core.trained_nets` (``run.network(spec)``), so experiments that share a
network train it once. Every attack sweep is ONE batched call of ``attack.reconstruct_batch`` on the
margin-normalised network (``run.attack``, one call per network). Seeds come from the configurations,
never global state. Introduced in the book's chapters "The KKT reconstruction attack", "Approximate KKT
points", "The initialisation radius", "Shifted images" and "Open questions"; what the presets measure is
recorded in ``benchmarks/RESULTS.md`` and in the chapters.

Data and training. Digits are centred by their training mean (``data.digits``; Haim et al.'s
``data_reduce_mean``), the secret shift is added after centring, priors are pixel boxes moved into model
coordinates (``data.pixel_box``), and scores are computed in pixel coordinates. Every network trains with
``train.TrainConfig``'s recipe (:meth:`~reconleak_core.trained_nets.NetSpec.shifted` divides its step by
(1 + ∣s∣)² for shifted data). The ``paper`` presets are the paper's sizes, for a GPU.
"""

from reconleak_core.experiments.core import EXPERIMENTS, SCALES, Experiment, Result, Run, experiment, register, run

# Each module registers its experiments when imported: this order is the command line's.
# isort: off
from reconleak_core.experiments.init_radius import (
    InitRadiusConfig, InitRadiusResult, init_radius, plot_init_radius, scale_free_attack,
)
from reconleak_core.experiments.digit_leak import DigitLeakConfig, DigitLeakResult, digit_leak, plot_digit_leak
from reconleak_core.experiments.secret_shift import (
    SecretShiftConfig, SecretShiftResult, secret_shift, shift_grid, plot_secret_shift, plot_shift_reconstructions,
    shifted_spec, mixture_gain,
)
from reconleak_core.experiments.shift_guess import ShiftGuessConfig, ShiftGuessResult, shift_guess, plot_shift_guess
from reconleak_core.experiments.training_length import (
    TrainingLengthConfig, TrainingLengthResult, training_length, plot_training_length,
)
from reconleak_core.experiments.training_leak import (
    TrainingLeakConfig, TrainingLeakResult, training_leak, plot_training_leak,
)
from reconleak_core.experiments.infer_shift import InferShiftConfig, InferShiftResult, infer_shift, plot_infer_shift
from reconleak_core.experiments.bias_shift import (
    BiasShiftConfig, BiasShiftResult, bias_shift, kkt_residual, ones_in_row_space, plot_bias_shift,
)
# isort: on

__all__ = ["SCALES", "EXPERIMENTS", "Experiment", "Result", "Run", "experiment", "register", "run",
           "InitRadiusConfig", "InitRadiusResult", "init_radius", "plot_init_radius", "scale_free_attack",
           "DigitLeakConfig",
           "DigitLeakResult", "digit_leak", "plot_digit_leak", "SecretShiftConfig", "SecretShiftResult",
           "secret_shift", "shift_grid", "plot_secret_shift", "plot_shift_reconstructions", "shifted_spec",
           "mixture_gain", "ShiftGuessConfig",
           "ShiftGuessResult", "shift_guess", "plot_shift_guess", "TrainingLengthConfig", "TrainingLengthResult",
           "training_length", "plot_training_length", "TrainingLeakConfig", "TrainingLeakResult", "training_leak",
           "plot_training_leak", "InferShiftConfig", "InferShiftResult", "infer_shift", "plot_infer_shift",
           "BiasShiftConfig", "BiasShiftResult", "bias_shift", "kkt_residual", "ones_in_row_space",
           "plot_bias_shift"]
