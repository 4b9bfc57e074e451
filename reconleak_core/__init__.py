"""reconleak_core: the library behind the *reconleak* book.

Training-data reconstruction attacks on homogeneous networks (Haim et al. 2022) and why they fail
without a prior ("No Prior, No Leakage", Refael, Smorodinsky, Lindenbaum & Safran, ICLR 2026).

Modules, one concept each (import them explicitly; nothing heavy happens at import time):

- ``runtime``      seeds, device choice, progress bars and the versions line of the book's setup cell;
- ``checks``       input validation shared by every public function;
- ``models``       homogeneous networks (bias-free, or with a first-layer bias) and their homogeneity degree;
- ``data``         sphere data, digits, CIFAR-10 and the secret shift;
- ``train``        training toward the max-margin direction;
- ``trained_nets`` the book's trained networks, keyed by a ``NetSpec``: trained once, cached, or committed;
- ``kkt``          margin normalisation, stationarity sum and KKT loss;
- ``certificate``  the (ε, δ)-KKT certificate of a trained network (Clarke gates for ReLU kinks);
- ``lemmas``       merging (Lemma 2), splitting (Lemma 3) and far KKT sets (Theorems 4, 5, 8, 9);
- ``priors``       what the attacker knows about the data: the prior protocol, ``Box``, ``Sphere``, ``Shift``;
- ``attack``       the KKT reconstruction attack, batched;
- ``attack_loop``  the attack's initialisation and optimiser steps (what ``attack`` runs after its checks);
- ``pooling``      restarts pooled and scored as Haim et al. report them;
- ``metrics``      reconstruction distances, matching, SSIM and Haim et al.'s DSSIM score;
- ``calibration``  leakage measured against chance: null candidate sets and calibrated per-point verdicts;
- ``cache``        the disk cache of results and networks, keyed by their configuration, written atomically;
- ``claims``       claim cells: a chapter's measured statements checked with a tolerance, one stable line each;
- ``experiments``  the paper's experiments at book and paper scale, one module each, and their registry;
- ``sweep``        an experiment's attacks, or a random search over attack settings, as Ray tasks (optional);
- ``viz``          the figures the chapters and the command line share;
- ``sliders``      sliders over precomputed frames that work on a static page;
- ``__main__``     the command line: ``python -m reconleak_core reproduce <experiment>`` (also ``reconleak``).
"""

__version__ = "0.1.0"
