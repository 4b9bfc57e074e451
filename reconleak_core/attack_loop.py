"""The step loop of the KKT reconstruction attack (:mod:`reconleak_core.attack`): its initialisation and its
optimiser steps, for K members at once.

Interface (used by :func:`reconleak_core.attack.reconstruct_batch`, which validates every setting first).

- :func:`initialise` — the initial (X′, λ′) of the K members, each from its own seeded generator.
- :func:`step_loop` — ``config.steps`` Adam or SGD-momentum steps on the summed loss of the members (eager, or
  each step compiled with ``config.compile``), checked for non-finite and diverging values; a :class:`Trace`.

Guarantee: member k's computation does not depend on the other members (the loss has no cross terms and every
update is elementwise), so a batched attack equals the K attacks run alone, to rounding.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch

from reconleak_core.checks import check_finite, check_points
from reconleak_core.priors import penalty_and_grad
from reconleak_core.runtime import progress_bar

__all__ = ["Trace", "CHECK_EVERY", "initialise", "step_loop"]


# ------------------------------------------------------------------------------- initialisation
def _basis(init_basis, d: int) -> torch.Tensor | None:
    """Orthonormal columns (d × k) spanning the rows of ``init_basis`` (k × d)."""
    if init_basis is None:
        return None
    B = check_points(init_basis, "init_basis", d=d, dtype=torch.float64)
    if torch.linalg.matrix_rank(B) < B.shape[0]:
        raise ValueError("init_basis rows must be linearly independent")
    Q, _ = torch.linalg.qr(B.T)
    return Q


def _draw(kind: str, *, m: int, d: int, scale, radius, Q, gen: torch.Generator) -> torch.Tensor:
    """Random initial candidates (float64, CPU) from the member's generator."""
    k = d if Q is None else Q.shape[1]
    Z = torch.randn(m, k, generator=gen, dtype=torch.float64)
    if kind == "gaussian":
        Z = Z * scale
    else:
        Z = Z / Z.norm(dim=1, keepdim=True) * radius
    return Z if Q is None else Z @ Q.T


def initialise(members, *, init, init_basis, prior, m: int, d: int, config, device,
                dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """Initial (X′, λ′) of shapes (K, m, d) and (K, m) on ``device``: λ′ (``config.lam_init``) drawn first, then
    the candidates, in float64 from each member's own generator; random candidates centred at the prior's
    centre; a projection prior applied.

    ``members``: the K members' settings (seeds and per-member fields); ``init``, ``init_basis``: as in
    ``attack.reconstruct``; ``prior``: the stacked prior (or ``None``); ``m`` candidates of dimension ``d``;
    ``config``: the ``AttackConfig``; ``dtype``: the iterate's dtype.
    """
    K = members.K
    gens = [torch.Generator().manual_seed(seed) for seed in members.seeds]
    lam0 = torch.stack([torch.rand(m, generator=gen, dtype=torch.float64) for gen in gens])
    if isinstance(config.lam_init, tuple):
        lo, hi = config.lam_init
        lam0 = lo + (hi - lo) * lam0
    else:
        lam0 = torch.full_like(lam0, config.lam_init)
    if members.init == "points":
        if init.shape[-2:] != (m, d):
            raise ValueError(f"init points must have shape ({m}, {d}) (n_candidates × input dimension) "
                             f"or (K, {m}, {d}), got shape {tuple(init.shape)}")
        X0 = init.to(torch.float64).expand(K, m, d)
    else:
        Q = _basis(init_basis, d)
        X0 = torch.stack([_draw(members.init, m=m, d=d, scale=members.init_scales[k], radius=members.init_radii[k],
                                Q=Q, gen=gens[k]) for k in range(K)])
    X = X0.to(device=device, dtype=dtype)
    if prior is not None and members.init != "points" and prior.center() is not None:
        X = X + prior.center()
    with torch.no_grad():
        if prior is not None and prior.enforce == "project":
            X = prior.project(X)
    return X.clone(), lam0.to(device=device, dtype=dtype)


# ------------------------------------------------------------------------------------ the step loop
@dataclass(frozen=True, eq=False)
class Trace:
    """What the step loop leaves: the returned iterate (X′, λ′, its KKT loss), the loss history, and the step
    of the returned iterate per member.

    ``candidates`` (K, m, d), ``lam`` (K, m) and ``kkt`` (K,) are that iterate, ``history`` (steps + 1, K) the loss
    per step and ``steps`` the step of the returned iterate of each member.
    """

    candidates: torch.Tensor
    lam: torch.Tensor
    kkt: torch.Tensor
    history: torch.Tensor
    steps: list


CHECK_EVERY = 64
"""Steps between two checks of the step loop's loss history (finite, not diverging), each one device sync."""


@dataclass(eq=False)
class _LoopState:
    """The step loop's variables at one step: iterate, optimiser buffers, best iterate so far (or ``None``).

    ``operands`` and ``moments``: the iterate and the buffers as the step reads and updates them — the
    tensors themselves, or for a single attack (K = 1) their views without the member axis, so that the
    step takes plain matrix products (the same values as batched ones, fewer operations); its loss is
    then a number.
    """

    X: torch.Tensor
    lam: torch.Tensor
    buffers: tuple
    best: tuple | None
    operands: tuple = None
    moments: tuple = None

    def __post_init__(self):
        single = self.X.shape[0] == 1
        self.operands = (self.X[0], self.lam[0]) if single else (self.X, self.lam)
        self.moments = tuple(b[0] for b in self.buffers) if single else self.buffers

    def copy(self) -> _LoopState:
        clone = lambda ts: None if ts is None else tuple(t.clone() for t in ts)  # noqa: E731
        return _LoopState(self.X.clone(), self.lam.clone(), clone(self.buffers), clone(self.best))


def _loss_and_grad(objective, state: _LoopState, *, penalty_prior, weight: float):
    """KKT loss and total loss (K,) or, for K = 1, numbers, and the total's gradients w.r.t. X′ and λ′
    (no graph kept)."""
    X, lam = state.operands
    kkt, gX, gl = objective.value_and_grad(X, lam, check=False)
    if penalty_prior is None:
        return kkt, kkt, gX, gl
    penalty, grad = penalty_and_grad(penalty_prior, X, check=False)   # a stacked prior may broadcast X to (1, m, d)
    return kkt, kkt + weight * penalty, gX + weight * grad.reshape(X.shape), gl


def _step(objective, state: _LoopState, t: int, *, penalty_prior, project, lrs, config, schedule=None):
    """Step t of the loop: the loss of the iterate (and the best iterate so far), then the iterate updated in
    place (unless t is the last step). Returns the iterate's KKT loss and total loss (K,).

    ``schedule`` (``config.compile``): the steps as tensors, ``(ts, corrections)``; steps before the last then
    run as one compiled function (:func:`_compiled_step`) that reads t and Adam's bias corrections from them.
    """
    if schedule is not None and t < config.steps:
        ts, corrections = schedule
        try:
            return _compiled_step()(objective, state, ts[t], corrections[t + 1], penalty_prior=penalty_prior,
                                    project=project, lrs=lrs, config=config)
        except torch._dynamo.exc.BackendCompilerFailed as err:   # e.g. no working C++ compiler on the CPU
            first = (str(err).strip().splitlines() or [type(err).__name__])[0]
            raise RuntimeError(f"compile=True: torch.compile could not build the attack's step ({first}); "
                               "pass compile=False to run the same attack eagerly") from err
    return _step_body(objective, state, t, _corrections(t + 1, config) if t < config.steps else None,
                      penalty_prior=penalty_prior, project=project, lrs=lrs, config=config)


def _step_body(objective, state: _LoopState, t, corrections, *, penalty_prior, project, lrs, config):
    """:func:`_step` with t (a number or a 0-d tensor) and Adam's bias corrections given (``None``: no update)."""
    kkt, loss, gX, gl = _loss_and_grad(objective, state, penalty_prior=penalty_prior, weight=config.prior_weight)
    if state.best is not None:
        best_loss, best_X, best_lam, best_kkt, best_step = state.best
        better = loss < best_loss
        best_loss.copy_(torch.where(better, loss, best_loss))
        best_X.copy_(torch.where(better.view(-1, 1, 1), state.X, best_X))
        best_lam.copy_(torch.where(better.view(-1, 1), state.lam, best_lam))
        best_kkt.copy_(torch.where(better, kkt, best_kkt))
        best_step.masked_fill_(better, t)
    if corrections is not None:
        (X, lam), moments = state.operands, state.moments
        for param, grad, lr, buffers in ((X, gX, lrs[0], moments[:2]), (lam, gl, lrs[1], moments[2:])):
            _update(param, grad, lr=lr, buffers=buffers, corrections=corrections, config=config)
        if project is not None:
            state.X.copy_(project(state.X))
    return kkt, loss


def _corrections(t: int, config) -> tuple[float, float]:
    """Adam's bias corrections at step t ≥ 1: (1 − β₁ᵗ, √(1 − β₂ᵗ))."""
    b1, b2 = config.betas
    return 1 - b1 ** t, math.sqrt(1 - b2 ** t)


def _schedule(config, device) -> tuple[torch.Tensor, torch.Tensor]:
    """The compiled step's inputs for every step: t (0-d long tensors) and the bias corrections (2 each)."""
    ts = torch.arange(config.steps + 1, device=device)
    corrections = torch.tensor([(1.0, 1.0)] + [_corrections(t, config) for t in range(1, config.steps + 1)],
                               dtype=torch.float64, device=device)
    return ts, corrections


@functools.cache
def _compiled_step():
    """:func:`_step_body` under ``torch.compile``, built once: later attacks of the same shapes, dtype and
    settings reuse its compiled code (``tests/test_attack.py`` checks that no new graph is made)."""
    return torch.compile(_step_body, dynamic=False)


def _diverged(history, t: int, bound, factor: float) -> None:
    """Raise the divergence error if the loss at step t ≥ 1 exceeds ``bound`` (K,) = ``factor`` × max(initial loss,
    loss at λ′ = 0)."""
    if t > 0 and (history[t] > bound).any():
        k = int((history[t] > bound).nonzero()[0])
        raise ValueError(f"the attack diverged: loss {history[t, k].item():.3g} (member {k}) at step {t} exceeds "
                         f"{factor:g} × max(initial loss, loss at λ′ = 0) = {bound[k].item():.3g}; "
                         "lower lr")


def _replay(objective, state: _LoopState, start: int, stop: int, *, history, bound, factor, step_kwargs) -> None:
    """Steps start..stop again from the state at ``start``, checking everything after every step: raises the
    error of the first non-finite loss, candidate or multiplier, or of the first diverging loss."""
    for t in range(start, stop + 1):
        history[t] = _step(objective, state, t, **step_kwargs)[1]
        check_finite(history[t], "attack loss", step=t)
        _diverged(history, t, bound, factor)
        if t < step_kwargs["config"].steps:
            check_finite(state.X, "candidates", step=t + 1)
            check_finite(state.lam, "multipliers", step=t + 1)
    raise ValueError(f"the attack's loss became non-finite or diverged between steps {start} and {stop}, but "
                     "replaying those steps did not reproduce it (a nondeterministic device?); lower lr")


def step_loop(objective, X, lam, *, prior, members, config, report, report_every, progress,
              divergence_factor: float) -> Trace:
    """``config.steps`` optimiser steps from (X′, λ′); ``report(step, X, lam, loss)`` every ``report_every``
    steps and after the last; raises on a non-finite or diverging loss, candidate or multiplier.

    The hot loop does no validation, allocates only the step's own temporaries, and does not synchronise
    with the device: it keeps each step's loss and, every :data:`CHECK_EVERY` steps and before every report,
    writes them into the history and checks them (one sync). A failed check replays the steps since the
    last good one from a saved state with every check after every step (``_replay``), so the error
    names the first bad step and what went bad exactly as a per-step check would.

    ``objective(X, lam)`` returns the per-member loss (``kkt.KKTLoss``); ``X`` (K, m, d) and ``lam`` (K, m) are the
    initial iterate; ``prior`` the stacked prior (or ``None``); ``members`` the per-member settings; ``config`` the
    ``AttackConfig``; ``progress`` shows a progress bar; ``divergence_factor``: a loss this many times its first
    value counts as diverged.
    """
    K, dtype, device = members.K, X.dtype, X.device
    lrs = tuple(lr if not isinstance(lr, list) else torch.tensor(lr, dtype=dtype, device=device).view(K, *shape)
                for lr, shape in ((members.constant("lrs"), (1, 1)), (members.constant("lam_lrs"), (1,))))
    state = _LoopState(X.detach(), lam.detach(),
                       (torch.zeros_like(X), torch.zeros_like(X), torch.zeros_like(lam), torch.zeros_like(lam)), None)
    if config.return_best:
        state.best = (torch.full((K,), torch.inf, dtype=dtype, device=device), X.detach().clone(),
                      lam.detach().clone(), torch.zeros(K, dtype=dtype, device=device),
                      torch.zeros(K, dtype=torch.long, device=device))
    history = torch.empty(config.steps + 1, K, dtype=dtype, device=device)
    with torch.no_grad():  # the KKT loss of the trivial multipliers λ′ = 0: ‖θ‖² plus the full penalty
        trivial = objective(state.X, torch.zeros_like(state.lam))
    step_kwargs = dict(penalty_prior=prior if prior is not None and prior.enforce == "penalty" else None,
                       project=prior.project if prior is not None and prior.enforce == "project" else None,
                       lrs=lrs, config=config, schedule=_schedule(config, device) if config.compile else None)

    bar = progress_bar(total=config.steps, desc="attack", enabled=progress)
    checked, saved, bound, done = 0, state.copy(), None, 0   # steps < checked are good; saved: the state at `checked`
    losses = []   # the losses of steps checked.. (stacked into the history at the next check)
    with torch.no_grad():
        for t in range(config.steps + 1):
            due = report is not None and (t % report_every == 0 or t == config.steps)
            X_t, lam_t = (state.X.clone(), state.lam.clone()) if due else (None, None)
            kkt, loss = _step(objective, state, t, **step_kwargs)
            losses.append(loss)
            if t == 0:
                bound = divergence_factor * torch.maximum(loss, trivial)
            if due or t == config.steps or t + 1 - checked >= CHECK_EVERY:
                window = history[checked:t + 1]
                torch.stack(losses, out=window.view(len(losses), *losses[0].shape))
                losses.clear()
                if not bool((torch.isfinite(window) & (window <= bound)).all()):
                    _replay(objective, saved, checked, t, history=history, bound=bound, factor=divergence_factor,
                            step_kwargs=step_kwargs)
                bar.update(min(t + 1, config.steps) - done)
                done = min(t + 1, config.steps)
                if progress:
                    bar.set_postfix(loss=f"{loss.sum().item():.3g}")
                if due:
                    report(t, X_t, lam_t, loss.reshape(K))
                checked, saved = t + 1, state.copy()
    bar.close()
    if config.return_best:
        return Trace(state.best[1], state.best[2], state.best[3], history, state.best[4].tolist())
    return Trace(state.X, state.lam, kkt.reshape(K), history, [config.steps] * K)


def _update(param, grad, *, lr, buffers, corrections, config) -> None:
    """One in-place Adam or SGD-momentum step with learning rate ``lr`` (a float, or per member a tensor);
    ``buffers``: the optimiser's two state tensors of ``param`` (Adam's moments; SGD uses the first);
    ``corrections``: Adam's bias corrections (1 − β₁ᵗ, √(1 − β₂ᵗ)) (numbers, or a tensor of two)."""
    buf1, buf2 = buffers
    if config.optimizer == "adam":   # torch.optim.Adam's update; the step size divides the denominator,
        b1, b2 = config.betas        # so a per-member lr (a tensor) rounds as a shared one (a float)
        c1, c2 = corrections[0], corrections[1]
        buf1.lerp_(grad, 1 - b1)
        buf2.mul_(b2).addcmul_(grad, grad, value=1 - b2)
        denom = buf2.sqrt().div_(c2).add_(config.eps).div_(lr / c1)
        param.addcdiv_(buf1, denom, value=-1)
    else:
        buf1.mul_(config.momentum).add_(grad)
        param.sub_(lr * buf1)
