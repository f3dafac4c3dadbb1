"""How far a heatmap can be believed: remove what it marks and see whether the prediction changes.

The score is pytorch-grad-cam's ``ROADCombined`` (Rong et al., "A Consistent and Efficient Evaluation Strategy
for Attribution Methods", 2022): for each percentile ``p`` the least relevant ``p`` % of pixels are removed
(LeRF) and, separately, the most relevant ``p`` % (MoRF), each by ROAD's noisy linear imputation; the score is
``(mean LeRF change - mean MoRF change) / 2`` of the target's **logit** (``ClassifierOutputTarget``), so a
faithful map scores high. It is computed on the model's input crop with the CAM upsampled to the input size as
pytorch-grad-cam itself produces it (``scale_cam_image``), and the perturbed inputs of the CAM and of two
yardsticks (a ``RandomCAM`` and a Sobel edge map) go through the network in batches, on the CPU in the evaluator's
lanes beside ROAD's linear solves (:func:`road_scores`); the unperturbed input's score is the one the map's own pass
computed (it is not forwarded a second time). The perturbations are
pytorch-grad-cam's own classes, drawn in the order ``ROADCombined`` draws them, so with the same torch seed the
score equals ``ROADCombined`` called directly (to float rounding: tested to 1e-4).

**A caveat.** ROAD's imputation smooths the removed region, and this detector's evidence is high-frequency, so
the removal itself can look "real". A second perturbation, ``fill``, replaces the removed pixels with those of
another photo (of the real class, say) instead: nothing is smoothed.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor

import numpy as np
import qdldl
import scipy.sparse as sp
import torch
from pytorch_grad_cam.metrics.perturbation_confidence import RemoveLeastRelevantFirst, RemoveMostRelevantFirst
from pytorch_grad_cam.metrics.road import NoisyLinearImputer, neighbors_weights
from pytorch_grad_cam.sobel_cam import sobel_cam
from pytorch_grad_cam.utils.image import scale_cam_image

from ..evaluation import cpu_lanes
from ..imaging.photo import Photo
from ..model import Margin, Model, SplitModel, predict_and_cam

PERCENTILES = (20, 40, 60, 80)
SEED = 0


class FillImputer:
    """A "perturbation" that puts another image's pixels where the mask is 0 (pytorch-grad-cam's imputer API)."""

    def __init__(self, fill: torch.Tensor) -> None:
        self.fill = fill

    def __call__(self, img: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        m = mask.to(img.dtype)[None]
        return img * m + self.fill.to(img.dtype) * (1 - m)


# A pixel's 8 neighbours in raster order: those before it (the rows of column j of A above the diagonal), after it.
BEFORE, AFTER = ((-1, -1), (-1, 0), (-1, 1), (0, -1)), ((0, 1), (1, -1), (1, 0), (1, 1))


def road_system(mask: np.ndarray, img: np.ndarray, upper: bool = False) -> tuple[sp.csc_matrix, np.ndarray]:
    """The linear system of ROAD's noisy linear imputation: the same matrix and right-hand side as pytorch-grad-cam's
    ``NoisyLinearImputer.setup_sparse_system`` (tested equal, bit for bit), assembled with whole-image shifts, each
    column's entries already in order, instead of element by element into a ``lil_matrix``.

    Args:
        mask: ``(H, W)``, 0 where a pixel is removed (an unknown), above 0.5 where it is known.
        img: ``(C, H, W)`` float image.
        upper: only ``A``'s upper triangle (with the diagonal), as an LDLᵀ solver reads it.

    Returns:
        ``A`` (``(N, N)``, N removed pixels in row-major order) and ``b`` (``(N, C)``): each removed pixel is the
        weighted mean of its 8 neighbours (``neighbors_weights``), known neighbours moved to the right-hand side
        (their terms subtracted in the imputer's order, so ``b`` is bit for bit its own).
    """
    h, w = mask.shape
    removed = mask == 0
    n = int(removed.sum())
    unknown = np.full((h + 2, w + 2), -1, np.int64)  # each pixel's unknown index, -1 if known or past the edge
    unknown[1:-1, 1:-1][removed] = np.arange(n)
    known = np.pad(np.where(mask > 0.5, img, 0).astype(img.dtype), ((0, 0), (1, 1), (1, 1)))
    inside = np.pad(np.ones((h, w), bool), 1)
    b, total, weight = np.zeros((img.shape[0], h, w)), np.ones((h, w)), dict(neighbors_weights)
    for (dr, dc), wt in neighbors_weights:
        win = np.s_[1 + dr: 1 + dr + h, 1 + dc: 1 + dc + w]
        total[~inside[win]] -= wt  # a neighbour past the edge takes its weight with it
        b -= wt * known[(slice(None), *win)]  # an unknown neighbour (or none) adds 0
    offsets = BEFORE + ((0, 0),) + (() if upper else AFTER)
    rows = np.stack([unknown[1 + dr: 1 + dr + h, 1 + dc: 1 + dc + w][removed] for dr, dc in offsets], 1)
    vals = np.empty(rows.shape)
    vals[:] = [weight.get(d, 0.0) for d in offsets]
    vals[:, len(BEFORE)] = -total[removed]
    keep = np.flatnonzero(rows.reshape(-1) >= 0)  # column j (= row j, A is symmetric) holds j's unknown neighbours
    indptr = np.concatenate([[0], np.cumsum((rows >= 0).sum(1))])
    a = sp.csc_matrix((vals.reshape(-1)[keep], rows.reshape(-1)[keep], indptr), shape=(n, n))
    return a, b[:, removed].T


def road_solve(mask: np.ndarray, img: np.ndarray) -> np.ndarray:
    """The solution ``(N, C)`` of :func:`road_system`. ``-A`` is symmetric positive definite (a diagonally dominant
    M-matrix: with a 0/1 mask every removed region borders a known pixel unless every pixel is removed), so QDLDL
    factors it as ``LDLᵀ`` without pivoting, after an approximate minimum-degree ordering, from its upper triangle;
    it releases the GIL while it factors and solves."""
    a, b = road_system(mask, img, upper=True)
    ldl = qdldl.Solver(a, upper=True)
    return np.stack([ldl.solve(col) for col in b.T], 1)


def road_impute(img: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """ROAD's imputation of ``img`` (``(C, H, W)``) where ``mask`` is 0, without its noise: :func:`road_solve`, as
    ``NoisyLinearImputer(noise=0)`` gives it to float rounding. With every pixel removed there is nothing to
    interpolate from: zeros, as the imputer returns. Plain numpy around the solve: no torch op that would wake
    torch's thread pool beside the solving threads."""
    m, x = mask.numpy(), img.numpy()
    removed = m == 0
    if removed.all():
        return torch.zeros_like(img)
    out = x.copy()
    if removed.any():
        out[:, removed] = road_solve(m, x).T  # rounded to the image's dtype, as the imputer's .float() does
    return torch.from_numpy(out)


class SolveOnce:
    """ROAD's ``NoisyLinearImputer`` on one image, solving each distinct mask's linear system once.

    The imputation is deterministic but for its noise, and tied map values make masks equal (an all-zero map
    removes every pixel at every percentile, so 8 identical systems). :meth:`submit` (and :meth:`prime`, which waits)
    solves masks ahead, in a pool's threads (QDLDL releases the GIL). Each call still draws its noise as the imputer
    does, from the torch generator in the same order, so the outputs equal calling the imputer each time (solutions
    to float rounding, :func:`road_impute`; the noise exactly).
    """

    def __init__(self, imputer: NoisyLinearImputer) -> None:
        self.noise, self.solved, self.removed = imputer.noise, {}, {}
        self.pending: dict[bytes, Future] = {}
        self.seconds: list[float] = []  # each solve's, whichever thread ran it

    def _solve(self, img: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        t = time.perf_counter()
        out = road_impute(img, mask)
        self.seconds.append(time.perf_counter() - t)
        return out

    def submit(self, pool: Executor, img: torch.Tensor, masks: Sequence[torch.Tensor]) -> None:
        """Hand the distinct ``masks`` not solved or submitted yet to ``pool``, those with most unknowns first (so
        that the threads finish together); a call on one of them waits for its solve."""
        todo = {m.numpy().tobytes(): m for m in masks}
        new = sorted(((k, m) for k, m in todo.items() if k not in self.solved and k not in self.pending),
                     key=lambda km: -int((km[1] == 0).sum()))
        for key, m in new:
            self.pending[key] = pool.submit(self._solve, img, m)

    def prime(self, img: torch.Tensor, masks: Sequence[torch.Tensor], workers: int = 2) -> None:
        """Solve the distinct ``masks`` not solved yet, ``workers`` at a time."""
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            self.submit(pool, img, masks)
        self.collect()

    def collect(self) -> None:
        """Move the finished solves into ``solved`` (waiting for those not finished)."""
        for key, fut in list(self.pending.items()):
            self.solved[key] = fut.result()
            del self.pending[key]

    def __call__(self, img: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        key = mask.numpy().tobytes()
        if key in self.pending:
            self.solved[key] = self.pending.pop(key).result()
        if key not in self.solved:
            self.solved[key] = road_impute(img, mask)
        if key not in self.removed:  # the removed pixels in row-major order, as the imputer indexes them
            self.removed[key] = torch.from_numpy(np.flatnonzero(mask.numpy().reshape(-1) == 0))
        idx = self.removed[key]
        out = self.solved[key].reshape(img.shape[0], -1).clone()
        # the imputer adds noise * randn_like(res.t()) to the solution res (removed, channels), which spsolve
        # returns column-major, so res.t() is contiguous: a plain randn draws the same (the test checks it);
        # each removed pixel is indexed once, so adding in place is the imputer's own sum
        out.index_add_(1, idx, self.noise * torch.randn(img.shape[0], len(idx)))
        return out.reshape_as(img)


class _Masks:
    """An "imputer" that only records the masks a perturbation asks for (and changes nothing)."""

    def __init__(self) -> None:
        self.seen: list[torch.Tensor] = []

    def __call__(self, img: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        self.seen.append(mask)
        return img


def input_cam(raw_cam: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A raw CAM grid at the input's ``(width, height)``, as pytorch-grad-cam returns it: float32 in [0, 1]."""
    return scale_cam_image(scale_cam_image(raw_cam[None], size))[0].astype(np.float32)


def perturbed(x: torch.Tensor, cam: np.ndarray, percentiles: Sequence[int], imputer) -> list[torch.Tensor]:
    """LeRF inputs for each percentile, then MoRF ones: the order ``ROADCombined`` makes them in."""
    mask = torch.from_numpy(cam)
    return ([RemoveLeastRelevantFirst(p, imputer)(x, mask) for p in percentiles]
            + [RemoveMostRelevantFirst(p, imputer)(x, mask) for p in percentiles])


def target_score(logits: torch.Tensor, target: int | Margin) -> np.ndarray:
    """The scored quantity of ``(B, n_classes)`` logits: the target class's logit, or the margin."""
    return (target(logits) if isinstance(target, Margin) else logits[:, target]).cpu().numpy()


def _scores(model: Model, batch: list[torch.Tensor], target: int | Margin) -> tuple[np.ndarray, float]:
    """The target's scores of a batch of inputs, and the seconds the pass took."""
    t = time.perf_counter()
    x = torch.stack(batch).to(model.device).contiguous(memory_format=model.memory_format)
    with torch.inference_mode():
        return target_score(model.net(x).float(), target), time.perf_counter() - t


def yardsticks(model: Model, x: torch.Tensor, photo: Photo, target: int | Margin, seed: int = SEED,
               split: SplitModel | None = None) -> dict:
    """The two maps a CAM's score is read against, at the input's size (float32 in [0, 1]): ``random``, a
    ``RandomCAM`` of ``target`` (numpy seeded with ``seed``), and ``sobel``, the Sobel edges of the input crop.
    ``split``: the model's cut, e.g. with its front already run on ``x`` (:meth:`SplitModel.ran`)."""
    np.random.seed(seed)  # RandomCAM draws its channel weights from numpy's global generator
    rnd = predict_and_cam(split or model.split(), x, "randomcam", target)
    h, w = x.shape[-2:]
    crop = model.prep.item(photo.pixels).permute(1, 2, 0).numpy().astype(np.uint8)
    return {"random": input_cam(rnd.raw_cam[0], (w, h)),
            "sobel": (sobel_cam(np.ascontiguousarray(crop)) / 255.0).astype(np.float32)}


#: Perturbed inputs per forward task in the CPU lanes.
CHUNK = 2


def road_scores(model: Model, x0: torch.Tensor, cams: dict[str, np.ndarray], target: int | Margin, ways: dict,
                percentiles: Sequence[int] = PERCENTILES, seed: int = SEED,
                base: float | None = None) -> tuple[dict, float, float]:
    """ROAD scores of several maps of one input.

    On the CPU the work runs in the evaluator's single-threaded lanes (:func:`~facefake_core.evaluation.cpu_lanes`):
    ROAD's linear systems first (each distinct mask once, :class:`SolveOnce`), then each map's perturbed inputs, a
    few per forward pass, handed to the lanes as soon as that map's systems are solved and its noise drawn, so that
    no core waits for a phase to end. On an accelerator the systems are solved in two threads and every perturbed
    input goes through the network in one batch.

    Args:
        x0: ``(3, H, W)`` normalised input on the CPU.
        cams: name -> float32 ``(H, W)`` map in [0, 1] at the input's size.
        target: the class index (or margin) whose logit is scored.
        ways: perturbation name -> imputer (``NoisyLinearImputer()`` for ROAD, a :class:`FillImputer`).
        base: the unperturbed input's score when the caller has it (from the CAM's own pass); ``None`` scores
            ``x0`` too.

    Returns:
        ``({(way, name): (road_combined, morf, lerf)}, imputation seconds, forward seconds)``, the seconds summed
        over the threads that ran them (on the CPU they overlap); each map's perturbations draw the noise
        ``ROADCombined`` would draw for it with ``torch.manual_seed(seed)``, and the solutions equal the imputer's
        to float rounding.
    """
    masks: dict[str, _Masks] = {}
    for name, cam in cams.items():  # the masks ROADCombined's perturbations ask for, each map's in its order
        perturbed(x0, cam, percentiles, masks.setdefault(name, _Masks()))
    cpu = model.device.type == "cpu"
    lanes, threads = cpu_lanes() if cpu else (2, 0)
    caller = torch.get_num_threads()
    solvers = {way: SolveOnce(imp) for way, imp in ways.items() if isinstance(imp, NoisyLinearImputer)}
    slots, parts, later = {}, [], ([] if base is not None else [x0])
    size = len(later)
    pool = ThreadPoolExecutor(lanes, initializer=torch.set_num_threads if cpu else None,
                              initargs=(threads,) if cpu else ())
    try:
        if cpu:  # this thread only draws noise now: a team of its own would spin beside the lanes
            torch.set_num_threads(1)
        # Every system is queued ahead of every forward (a solve beside a forward pass runs slower than beside
        # another solve), the first map's first, so that its noise is drawn while the rest are solved.
        for solver in solvers.values():
            for name in cams:
                solver.submit(pool, x0, masks[name].seen)
        if cpu and later:
            parts.append(pool.submit(_scores, model, later, target))
            later = []
        for way, imputer in ways.items():
            for name in cams:
                torch.manual_seed(seed)
                inputs = [solvers.get(way, imputer)(x0, m) for m in masks[name].seen]  # as perturbed() calls it
                slots[(way, name)] = (size, len(percentiles))
                size += len(inputs)
                if cpu:
                    parts += [pool.submit(_scores, model, inputs[i: i + CHUNK], target)
                              for i in range(0, len(inputs), CHUNK)]
                else:
                    later += inputs
        parts = [p.result() for p in parts] + [_scores(model, later[i: i + 32], target)
                                               for i in range(0, len(later), 32)]
    finally:
        pool.shutdown(cancel_futures=True)
        torch.set_num_threads(caller)
    scores = np.concatenate([s for s, _ in parts])
    origin = scores[0] if base is None else np.float32(base)
    out = {}
    for key, (start, n) in slots.items():
        lerf, morf = scores[start: start + n] - origin, scores[start + n: start + 2 * n] - origin
        out[key] = (float((lerf.mean() - morf.mean()) / 2), morf.tolist(), lerf.tolist())
    return out, sum(sum(s.seconds) for s in solvers.values()), sum(t for _, t in parts)


def faithfulness(model: Model, photo: Photo, target: int | str | None = None, method: str = "gradcam",
                 percentiles: Sequence[int] = PERCENTILES, seed: int = SEED, fill: Photo | None = None) -> dict:
    """ROAD scores of one photo's CAM and of its two yardsticks, with the curves behind them.

    Args:
        model: the model whose CAM is judged.
        photo: the photo.
        target: the class the map explains (default: the predicted one).
        method: the CAM method (a key of :data:`facefake_core.model.CAM_METHODS`).
        fill: with a photo, the ``fill`` perturbation is scored too (its input crop replaces removed pixels).

    Returns:
        ``{target, method, faithfulness: {road_combined, morf, lerf, percentiles, baselines: {random, sobel}},
        fill: {...} | None, seconds: {imputation, forward}}``; ``morf``/``lerf`` are the target logit's change
        at each percentile; ``seconds`` are the thread-seconds spent solving ROAD's systems and forwarding the
        perturbed inputs (on the CPU the two overlap in the lanes, :func:`road_scores`).
    """
    x = model.prepare([photo])
    spec = model.target_index(target)
    split = model.split().ran(x)  # one front pass for the map and the random yardstick
    res = predict_and_cam(split, x, method, spec)
    t = spec if isinstance(spec, Margin) else int(res.targets[0])
    h, w = x.shape[-2:]
    cams = {"cam": input_cam(res.raw_cam[0], (w, h)), **yardsticks(model, x, photo, t, seed, split)}
    ways = {"road": NoisyLinearImputer()}
    if fill is not None:
        ways["fill"] = FillImputer(model.prepare([fill])[0].detach().cpu().contiguous())
    base = float(target_score(torch.from_numpy(res.logits), t)[0])  # the unperturbed score, from the map's pass
    got, t_imp, t_fwd = road_scores(model, x[0].detach().cpu().contiguous(), cams, t, ways, percentiles, seed, base)

    def block(way: str) -> dict:
        score, morf, lerf = got[(way, "cam")]
        return {"road_combined": score, "morf": morf, "lerf": lerf, "percentiles": list(percentiles),
                "baselines": {"random": got[(way, "random")][0], "sobel": got[(way, "sobel")][0]}}

    return {"target": model.target_label(t), "method": method, "faithfulness": block("road"),
            "fill": block("fill") if fill is not None else None,
            "seconds": {"imputation": t_imp, "forward": t_fwd}}
