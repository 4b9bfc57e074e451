"""The (ε, δ)-KKT certificate of a trained network: how close it is to a KKT point of the max-margin problem.

A bias-free L-homogeneous network trained by gradient descent converges in direction to a KKT point of
min ½‖θ‖² s.t. yᵢΦ(θ; xᵢ) ≥ 1 (:mod:`reconleak_core.kkt`). After training it is only an approximate one:
following Lyu & Li (2020, Definition of an (ε, δ)-KKT point), the margin-normalised network θ̂ = θ / q_min^{1/L}
is an (ε, δ)-KKT point when some λ ≥ 0 gives ‖θ̂ − Σᵢ λᵢyᵢ∇θΦ(θ̂; xᵢ)‖ ≤ ε and Σᵢ λᵢ(yᵢΦ(θ̂; xᵢ) − 1) ≤ δ.
The paper's Theorems 8 and 9 turn such a certificate into far alternative KKT sets
(:mod:`reconleak_core.lemmas`).

Interface.

- :func:`certificate` — in: a homogeneous network (the network protocol of :mod:`reconleak_core.models`),
  its training points ``X`` (``(n, d)``) and ±1 labels ``y`` (length n), which it must separate
  (``ValueError`` otherwise); out: a :class:`Certificate`. Computed in float64 on a copy of the network (the
  network itself is untouched); every array of the certificate is a float64 (``support``: int64) CPU tensor.
- :class:`Certificate` — ε, ε_rel, δ, the multipliers λ, the support, the normalised margins, ‖θ̂‖, L and the
  number of Clarke-gate kink pairs.
- :data:`CLARKE_FORMS` — network class → its Clarke-gate hooks (:class:`ClarkeForm`; :func:`clarke_form` looks
  them up);
  :class:`~reconleak_core.models.TwoLayerReLU`'s is built in; other networks get the generic certificate
  (autograd's derivative, relu′(0) = 0, per-sample gradients by ``torch.func``).

Guarantees: ε and δ are computed directly from the returned λ (the fit only chooses λ), so the certificate
is valid whatever the solver's accuracy: fewer iterations can only overstate ε. An exact KKT point
(:func:`reconleak_core.kkt.simplex_kkt_point`) gives ε = δ = 0 to rounding error; the result is invariant
under rescaling θ. Introduced in the book's chapter "Homogeneous networks and the max-margin implicit bias".
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
from scipy.optimize import nnls
from scipy.sparse.linalg import LinearOperator, eigsh
from torch import nn

from reconleak_core.checks import check_fraction, check_int, check_network, check_real, scalar_output
from reconleak_core.kkt import check_data, margins, normalize_margin, stationarity_sum
from reconleak_core.models import TwoLayerReLU, network_degree, parameter_vector

__all__ = ["Certificate", "certificate", "ClarkeForm", "CLARKE_FORMS", "clarke_form"]


@dataclass(frozen=True, eq=False)
class Certificate:
    """(ε, δ)-KKT certificate of a network on its training set (Lyu & Li 2020, Definition of (ε,δ)-KKT).

    All quantities refer to the margin-normalised network θ̂ = θ / q_min^{1/L} (min margin exactly 1):

    - ``eps``: ‖θ̂ − Σᵢ λᵢ yᵢ ∇θΦ(θ̂; xᵢ)‖ (stationarity residual), ``eps_rel`` = eps / ‖θ̂‖;
    - ``delta``: Σᵢ λᵢ (yᵢΦ(θ̂; xᵢ) − 1) ≥ 0 (complementary slackness, summed as in Lyu & Li);
    - ``lam``: the multipliers, the non-negative least-squares fit of θ̂ by the columns yᵢ∇θΦ(θ̂; xᵢ);
    - ``support``: indices i with λᵢ > ``support_tol`` · max λ (the points the network "remembers");
    - ``margins``: yᵢΦ(θ̂; xᵢ) (min exactly 1); ``norm``: ‖θ̂‖; ``degree``: L;
    - ``kinks``: number of (point, neuron) pairs given a Clarke gate in [0, 1] (see :func:`certificate`).

    ``lam`` and ``margins`` are float64 CPU tensors of shape ``(n,)``, ``support`` an int64 CPU tensor.
    """

    eps: float
    eps_rel: float
    delta: float
    lam: torch.Tensor
    support: torch.Tensor
    margins: torch.Tensor
    norm: float
    degree: int
    kinks: int = 0

    def __post_init__(self):
        for name in ("eps", "eps_rel", "delta", "norm"):
            check_real(getattr(self, name), f"Certificate.{name}")
        for name in ("lam", "support", "margins"):
            if not isinstance(getattr(self, name), torch.Tensor):
                raise TypeError(f"Certificate.{name} must be a tensor, got {type(getattr(self, name)).__name__}")
        check_int(self.degree, "Certificate.degree")
        check_int(self.kinks, "Certificate.kinks", minimum=0)


class ClarkeForm(Protocol):
    """The Clarke-gate hooks of one network class, registered in :data:`CLARKE_FORMS` (the network protocol).

    All take the margin-normalised float64 network; ``kinks`` is a boolean ``(n, width)`` tensor of the
    (point, neuron) pairs that get a free gate in [0, 1], and ``z = (λ, μ)`` a NumPy vector of the n
    multipliers followed by one coefficient μ ∈ [0, λᵢ] per kink pair (in ``kinks.nonzero()`` order):

    - ``check(net)``: raise ``ValueError`` for a configuration the fit does not support;
    - ``kinks(net, X, kink_tol)``: the kink pairs;
    - ``gram(net, X, y, kinks)`` → ``(gram, rhs)``: JᵀJ (a NumPy array, or an operator with ``@``,
      ``top_left`` and ``largest_eigenvalue``, as TwoLayerReLU's ``_ClarkeGram``) and Jᵀθ over the columns of z;
    - ``residual(net, X, y, z, kinks)``: Jz, the stationarity sum with those coefficients, flattened as θ.

    TwoLayerReLU's (``_TwoLayerCertificate`` in this module's source) is the complete example.
    """

    def check(self, net: nn.Module) -> None:
        """Raise ``ValueError`` when the fit does not support ``net`` (the margin-normalised network)."""

    def kinks(self, net: nn.Module, X: torch.Tensor, kink_tol: float) -> torch.Tensor:
        """The kink pairs of ``net`` on the training points ``X`` (n, d): pre-activations within ``kink_tol``."""

    def gram(self, net: nn.Module, X: torch.Tensor, y: torch.Tensor, kinks: torch.Tensor):
        """``(JᵀJ, Jᵀθ)`` of ``net`` on ``X`` (n, d) with labels ``y`` (n,) and the boolean ``kinks`` (n, width)."""

    def residual(self, net: nn.Module, X: torch.Tensor, y: torch.Tensor, z: np.ndarray,
                 kinks: torch.Tensor) -> torch.Tensor:
        """Jz: the stationarity sum of ``net`` on ``X``, ``y`` with coefficients ``z`` on the pairs ``kinks``."""


CLARKE_FORMS: dict = {}
"""Network class → :class:`ClarkeForm` (or ``None``: the generic certificate). A user's network class registers
its own: ``certificate.CLARKE_FORMS[MyNet] = MyClarkeForm()``; :func:`certificate` then fits Clarke gates for it.
A subclass inherits the hooks of its nearest registered base class; register ``None`` to opt out."""


def clarke_form(net: nn.Module) -> ClarkeForm | None:
    """The registered :class:`ClarkeForm` of ``net``'s class (nearest in its MRO), or ``None`` (generic certificate)."""
    if not isinstance(net, nn.Module):
        raise TypeError(f"net must be a torch.nn.Module, got {type(net).__name__}")
    return next((CLARKE_FORMS[cls] for cls in type(net).__mro__ if cls in CLARKE_FORMS), None)


def _kinks(net: nn.Module, X: torch.Tensor, kink_tol: float) -> torch.Tensor:
    """Boolean (n, width): the (point, neuron) kink pairs of the certificate (none without Clarke hooks)."""
    cert = clarke_form(net)
    if kink_tol == 0 or cert is None:
        return torch.zeros(X.shape[0], getattr(net, "width", 0), dtype=torch.bool, device=X.device)
    return cert.kinks(net, X, kink_tol)


class _TwoLayerCertificate:
    """The Clarke-gate hooks of :class:`~reconleak_core.models.TwoLayerReLU` (its :class:`ClarkeForm`)."""

    @staticmethod
    def check(net) -> None:
        if net.b is not None:
            raise ValueError("certificate() does not support a first-layer bias (TwoLayerReLU(bias=True)) yet: its "
                             "Clarke-gate fit has no bias block; use kkt_loss/stationarity_sum for such a network")

    @staticmethod
    def kinks(net, X: torch.Tensor, kink_tol: float) -> torch.Tensor:
        """Point i lies on neuron j's kink: ∣wⱼ·xᵢ∣ ≤ kink_tol·‖wⱼ‖‖xᵢ‖."""
        return _two_layer_kinks(net, X, kink_tol)

    @staticmethod
    def gram(net, X, y, kinks):
        return _two_layer_gram(net, X, y, kinks)

    @staticmethod
    def residual(net, X, y, z, kinks):
        """Σ of the certificate's columns with coefficients z = (λ, μ), flattened as θ (no autograd)."""
        n = X.shape[0]
        ii, jj = kinks.nonzero(as_tuple=True)
        lam_t = torch.as_tensor(z[:n], dtype=X.dtype, device=X.device)
        Z = X @ net.W.T
        coeff = ((Z > 0) & ~kinks).to(X.dtype) * (lam_t * y)[:, None]
        coeff[ii, jj] = torch.as_tensor(z[n:], dtype=X.dtype, device=X.device) * y[ii]
        grads = [(coeff * net.v).T @ X] + ([] if net.fixed_second_layer else [torch.relu(Z).T @ (lam_t * y)])
        return torch.cat([g.reshape(-1) for g in grads])


def _two_layer_kinks(net, X: torch.Tensor, kink_tol: float) -> torch.Tensor:
    Z = X @ net.W.detach().T
    scale = X.norm(dim=1, keepdim=True) * net.W.detach().norm(dim=1)
    return Z.abs() <= kink_tol * scale


def _jacobian_gram(net: nn.Module, X: torch.Tensor, y: torch.Tensor, kinks: torch.Tensor):
    """Gram matrix and Jᵀθ of the certificate's columns (float64, NumPy), without forming J for TwoLayerReLU.

    Columns: Jᵢ = yᵢ∇θΦ(θ; xᵢ) with the gate of every kink pair (i, j) set to 0, then one column
    B_(i,j) = yᵢvⱼxᵢ (in wⱼ's block) per kink pair, whose coefficient μᵢⱼ ∈ [0, λᵢ] is λᵢ times a Clarke
    gate in [0, 1]. Up to ``_DENSE_GRAM_LIMIT`` columns the Gram matrix is a dense array; above it (a
    paper-scale network can have 10⁵ kink pairs, whose dense Gram matrix would take about 80 GB) it is a
    :class:`_ClarkeGram`, which applies JᵀJ through n × width matrices and never forms a kink block.
    """
    cert = clarke_form(net)
    if cert is not None:
        return cert.gram(net, X, y, kinks)
    return _generic_gram(net, X, y)


def _two_layer_gram(net, X, y, kinks):
    """:func:`_jacobian_gram` of a TwoLayerReLU, through n × width matrices."""
    with torch.no_grad():
        W, v = net.W.detach(), net.v.detach()
        Z = X @ W.T
        A = ((Z > 0) & ~kinks).to(X.dtype) * v                # vⱼ gᵢⱼ
        XX = X @ X.T
        R = None if net.fixed_second_layer else torch.relu(Z)
        gram = (A @ A.T) * XX
        rhs = (A * Z).sum(1)
        if R is not None:
            gram = gram + R @ R.T
            rhs = rhs + R @ v
        ii, jj = kinks.nonzero(as_tuple=True)
        if len(ii):
            rhs = torch.cat([rhs, v[jj] * Z[ii, jj]])
            yk = torch.cat([y, y[ii]])
            if len(yk) > _DENSE_GRAM_LIMIT:
                top_left = gram * torch.outer(y, y)
                return _ClarkeGram(top_left, XX, A, R, y=y, ii=ii, jj=jj, v=v), (rhs * yk).cpu().numpy()
            AB = A[:, jj] * v[jj] * XX[:, ii]
            BB = (jj[:, None] == jj[None, :]).to(X.dtype) * (v[jj] ** 2)[:, None] * XX[ii][:, ii]
            gram = torch.cat([torch.cat([gram, AB], 1), torch.cat([AB.T, BB], 1)], 0)
            y = yk
        return (gram * torch.outer(y, y)).cpu().numpy(), (rhs * y).cpu().numpy()


def _generic_gram(net, X, y):
    """:func:`_jacobian_gram` of any homogeneous module: per-sample gradients by ``torch.func`` (J formed)."""
    names = [name for name, _ in net.named_parameters()]
    params = {name: p.detach() for name, p in net.named_parameters()}
    buffers = dict(net.named_buffers())

    def output(theta, x):
        x = x.unsqueeze(0)
        return scalar_output(torch.func.functional_call(net, {**theta, **buffers}, (x,)), x).squeeze(0)

    per_sample = torch.func.vmap(torch.func.grad(output), in_dims=(None, 0))(params, X)
    J = torch.cat([per_sample[name].reshape(X.shape[0], -1) for name in names], dim=1) * y.unsqueeze(1)
    theta = parameter_vector(net).detach()
    return (J @ J.T).cpu().numpy(), (J @ theta).cpu().numpy()


_DENSE_GRAM_LIMIT = 8000  # certificate columns (points + kink pairs) up to which the Gram matrix is dense


class _ClarkeGram:
    """The certificate's Gram matrix JᵀJ over (λ, μ) as an operator: ``gram @ z`` in O(n²·width), no kink block.

    With z = (λ, μ), Jz is the stationarity sum of the coefficient matrix C (n × width, in the W block):
    Cᵢⱼ = yᵢ(λᵢ gᵢⱼ + μᵢⱼ) vⱼ (μ nonzero only on kink pairs, where gᵢⱼ = 0), i.e. G_W = Cᵀ X, plus
    G_v = relu(Z)ᵀ(λ ⊙ y) for a trainable second layer. Hence, with T = (X Xᵀ) C (one n × n × width product),
    (JᵀJz)_λᵢ = yᵢ Σⱼ vⱼgᵢⱼ Tᵢⱼ (+ yᵢ (relu(Z) relu(Z)ᵀ(λ ⊙ y))ᵢ) and (JᵀJz)_μ(i,j) = yᵢ vⱼ Tᵢⱼ. The dense
    form would hold (n + k)² float64 entries, about 80 GB for n = 500 points and k = 10⁵ kink pairs; this one
    holds a few n × width matrices.
    Supports what :func:`_clarke_multipliers` needs: ``gram @ z``, ``top_left`` (the dense n × n block of the
    points, for the NNLS start) and ``largest_eigenvalue``.
    """

    def __init__(self, top_left, XX, A, R, *, y, ii, jj, v):
        self.top_left = top_left.cpu().numpy()
        self.XX, self.A = XX.cpu().numpy(), A.cpu().numpy()
        self.R = None if R is None else R.cpu().numpy()
        self.y = y.cpu().numpy()
        ii, jj = ii.cpu().numpy(), jj.cpu().numpy()
        self.flat = ii * self.A.shape[1] + jj                 # the kink pairs' indices in a flattened n × width
        self.kink_scale = self.y[ii] * v.cpu().numpy()[jj]   # yᵢvⱼ of each kink pair
        self.n = len(self.y)
        self.shape = (self.n + len(ii),) * 2
        self._C, self._T = np.empty_like(self.A), np.empty_like(self.A)   # reused by every product

    def __matmul__(self, z: np.ndarray) -> np.ndarray:
        n = self.n
        ly = z[:n] * self.y
        C = np.multiply(ly[:, None], self.A, out=self._C)
        C.reshape(-1)[self.flat] = z[n:] * self.kink_scale
        T = np.matmul(self.XX, C, out=self._T)
        out_lam = np.einsum("ij,ij->i", self.A, T)
        if self.R is not None:
            out_lam += self.R @ (self.R.T @ ly)
        return np.concatenate([self.y * out_lam, self.kink_scale * T.reshape(-1)[self.flat]])

    def largest_eigenvalue(self) -> float:
    
        operator = LinearOperator(self.shape, matvec=self.__matmul__, dtype=np.float64)
        return float(eigsh(operator, k=1, which="LA", return_eigenvectors=False)[0])


def _nnls_gram(gram: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """argmin_{λ ≥ 0} ‖Jλ − θ‖² given only Jᵀ J and Jᵀ θ.

    With JᵀJ = U S Uᵀ, ‖Jλ − θ‖² = ‖S^{1/2}Uᵀλ − S^{-1/2}Uᵀ(Jᵀθ)‖² + const (Jᵀθ lies in the range of JᵀJ), so
    this is scipy's NNLS on an n×n square root instead of the P×n Jacobian (P can be millions).
    """

    s, U = np.linalg.eigh(gram)
    keep = s > s.max() * gram.shape[0] * np.finfo(np.float64).eps
    root = np.sqrt(s[keep])[:, None] * U[:, keep].T
    target = (U[:, keep].T @ rhs) / np.sqrt(s[keep])
    lam, _ = nnls(root, target, maxiter=50 * gram.shape[0])
    return lam


def _project_clarke(z: np.ndarray, n: int, owner: np.ndarray) -> np.ndarray:
    """Euclidean projection onto {λ ≥ 0, 0 ≤ μₖ ≤ λ_owner(k)} (exact, vectorised over points).

    For one point with value a and kink values bⱼ: μⱼ = clip(bⱼ, 0, λ), where λ = max(0, λ*) and λ* is the root
    of f(λ) = λ − a − Σⱼ (bⱼ − λ)₊ (increasing, concave, piecewise linear). Newton's step from λ = a (where
    f ≤ 0) is the mean (a + Σ_S bⱼ)/(1 + |S|) over the active set S = {bⱼ > λ}; on a concave function it stays
    left of the root, so λ only grows, S only shrinks, and the loop ends, exactly, once S stops changing
    (Michelot's iteration; a few passes, no sort).
    """
    a, b = z[:n], z[n:]
    lam, b_active, owner_active = a.copy(), b, owner
    while True:
        keep = b_active > lam[owner_active]            # S, filtered from the last S (it only shrinks)
        b_active, owner_active = b_active[keep], owner_active[keep]
        size = np.bincount(owner_active, minlength=n)
        total = np.bincount(owner_active, weights=b_active, minlength=n)
        new = np.maximum((a + total) / (1.0 + size), lam)
        if np.array_equal(new, lam, equal_nan=True):
            break
        lam = new
    lam = np.maximum(lam, 0.0)
    return np.concatenate([lam, np.clip(b, 0.0, lam[owner])])


def _clarke_multipliers(gram: np.ndarray, rhs: np.ndarray, n: int, owner: np.ndarray, iters: int) -> np.ndarray:
    """min ½zᵀGz − rhsᵀz over z = (λ, μ) with λ ≥ 0, 0 ≤ μₖ ≤ λ_owner(k): NNLS start, then FISTA with restarts.

    Returns the best iterate found (never worse than the NNLS start, which has all kink gates 0); any
    feasible z gives a valid certificate, so stopping early only makes ε larger, never wrong.
    """
    dense = isinstance(gram, np.ndarray)
    lam0 = _nnls_gram(gram[:n, :n] if dense else gram.top_left, rhs[:n])
    z = np.concatenate([lam0, np.zeros(len(owner))])
    if len(owner) == 0 or iters == 0:
        return z
    step = 1.0 / (np.linalg.eigvalsh(gram)[-1] if dense else gram.largest_eigenvalue())

    def value(u):
        return (0.5 * u @ gram @ u if dense else 0.5 * u @ (gram @ u)) - rhs @ u

    x, yk, t = z.copy(), z.copy(), 1.0
    for _ in range(iters):
        x_new = _project_clarke(yk - step * (gram @ yk - rhs), n, owner)
        if (yk - x_new) @ (x_new - x) > 0:  # gradient-based restart (O'Donoghue & Candès 2015)
            yk, t = x.copy(), 1.0
            continue
        t_new = (1 + math.sqrt(1 + 4 * t * t)) / 2
        yk = x_new + (t - 1) / t_new * (x_new - x)
        x, t = x_new, t_new
    return x if value(x) < value(z) else z


def certificate(net: nn.Module, X, y, *, kink_tol: float = 1e-4, support_tol: float = 1e-9,
                max_iter: int = 3000) -> Certificate:
    """The (ε, δ)-KKT certificate of ``net`` on ``(X, y)`` (Lyu & Li 2020; the paper's approximate KKT points).

    Steps, in float64: normalise the margin (θ̂ = θ / q_min^{1/L}); fit multipliers λ ≥ 0 by non-negative
    least squares of θ̂ on the columns yᵢ∇θΦ(θ̂; xᵢ) (scipy NNLS, solved on the n×n Gram matrix so that
    paper-scale networks fit in memory); report ε = ‖θ̂ − Σᵢλᵢyᵢhᵢ‖ computed directly, and
    δ = Σᵢ λᵢ(yᵢΦ(θ̂; xᵢ) − 1). An exact KKT point gives ε = δ = 0 (see
    :func:`~reconleak_core.kkt.simplex_kkt_point`); a network
    trained longer toward the max-margin direction gives smaller ε_rel. λ minimises stationarity only, so
    δ is the slackness *of that λ* (it is not separately minimised).

    Clarke gates (TwoLayerReLU). The KKT conditions of a ReLU network use the Clarke subdifferential
    (Lyu & Li 2020): where wⱼ·xᵢ = 0 the gate 1[wⱼ·xᵢ > 0] may be any sᵢⱼ ∈ [0, 1]. Gradient descent really
    does converge with many points exactly on neurons' kinks (∣wⱼ·xᵢ∣ ~ 1e-6‖wⱼ‖‖xᵢ‖ after training); the
    hard gate then misses them and ε_rel stalls near 0.2 however long one trains. Pairs with
    ∣wⱼ·xᵢ∣ ≤ ``kink_tol``·‖wⱼ‖‖xᵢ‖ therefore get a free gate sᵢⱼ ∈ [0, 1], fitted jointly with λ (a convex
    QP in (λ, μ = λs), solved from the NNLS start by ``max_iter`` projected accelerated-gradient steps
    (a paper-scale network can have 10⁵ kink pairs: the QP's matrix is then applied as an operator through
    n × width matrices, never stored);
    any feasible point is a valid certificate, so fewer iterations can only overstate ε). The certificate
    then holds for the network with those pre-activations moved onto the kink (a relative change of at
    most ``kink_tol``). ``kink_tol=0`` gives the hard-gate certificate; ``kinks`` reports the pair count.
    A user's network class gets Clarke gates by registering its hooks in :data:`CLARKE_FORMS`; other
    networks use autograd's derivative (relu'(0) = 0) and no kink pairs.
    Raises ``ValueError`` on a network that does not separate the data.

    ``X`` (n, d) and ``y`` (n,) are the training set; ``support_tol``: multipliers above it count as support points.
    """
    check_network(net)
    check_fraction(support_tol, "support_tol")
    kink_tol = check_fraction(kink_tol, "kink_tol")
    max_iter = check_int(max_iter, "max_iter", minimum=0)
    L = network_degree(net)
    if clarke_form(net) is not None:
        clarke_form(net).check(net)
    net64 = copy.deepcopy(net).to(torch.float64)
    X, y = check_data(net64, X, y)
    hat = normalize_margin(net64, X, y)
    n = X.shape[0]
    kinks = _kinks(hat, X, kink_tol)
    ii, jj = kinks.nonzero(as_tuple=True)
    gram, rhs = _jacobian_gram(hat, X, y, kinks)
    dense = gram if isinstance(gram, np.ndarray) else gram.top_left
    if not (np.isfinite(dense).all() and np.isfinite(rhs).all()):
        raise ValueError("the certificate's Gram matrix of the gradients yᵢ∇θΦ(θ̂; xᵢ) overflowed (non-finite "
                         f"entries): the points are too large for float64 (largest ‖xᵢ‖ = {X.norm(dim=1).max():.3g})")
    z = _clarke_multipliers(gram, rhs, n, ii.cpu().numpy(), max_iter)
    lam = torch.as_tensor(z[:n], dtype=torch.float64, device=X.device)
    with torch.no_grad():
        theta = parameter_vector(hat).detach()
        if clarke_form(hat) is not None:
            residual = theta - clarke_form(hat).residual(hat, X, y, z, kinks)
        else:
            residual = theta - stationarity_sum(hat, X, y, lam)
        q = margins(hat, X, y)
    eps = residual.norm().item()
    norm = theta.norm().item()
    if not (math.isfinite(eps) and math.isfinite(norm) and torch.isfinite(q).all()):
        raise ValueError(f"the certificate's residual or margins are not finite (ε = {eps}, ‖θ̂‖ = {norm}): the "
                         "points or weights are too large for float64")
    lam, q = lam.cpu(), q.cpu()
    support = torch.nonzero(lam > support_tol * lam.max()).flatten() if lam.max() > 0 else \
        torch.zeros(0, dtype=torch.int64)
    return Certificate(eps=eps, eps_rel=eps / norm, delta=(lam * (q - 1.0)).sum().item(), lam=lam,
                       support=support, margins=q, norm=norm, degree=L, kinks=len(ii))


CLARKE_FORMS[TwoLayerReLU] = _TwoLayerCertificate()
