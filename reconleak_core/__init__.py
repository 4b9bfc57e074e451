"""reconleak_core: the library behind the *reconleak* book.

Training-data reconstruction attacks on homogeneous networks (Haim et al. 2022) and why they fail
without a prior ("No Prior, No Leakage", Refael, Smorodinsky, Lindenbaum & Safran, ICLR 2026).

Modules, one concept each (import them explicitly; nothing heavy happens at import time):

- ``runtime``  seeds, device choice and the versions line of the book's setup cell;
- ``checks``   input validation shared by every public function;
- ``models``   homogeneous networks (bias-free, or with a first-layer bias) and their homogeneity degree;
- ``data``     sphere data, digits, CIFAR-10 and the secret shift;
- ``train``    training toward the max-margin direction;
- ``kkt``      margin normalisation, stationarity sum and KKT loss;
- ``certificate`` the (ε, δ)-KKT certificate of a trained network (Clarke gates for ReLU kinks);
- ``lemmas``   merging (Lemma 2), splitting (Lemma 3) and far KKT sets (Theorems 4, 5, 8, 9);
- ``attack``   the KKT reconstruction attack, batched;
- ``metrics``  reconstruction distances, matching, SSIM and Haim et al.'s DSSIM score;
- ``experiments`` the paper's experiments at book and paper scale.
- ``claims``   claim cells: a chapter's measured statements checked with a tolerance, one stable line each.
"""

__version__ = "0.1.0"
