"""Several models (training rounds) on one hard set: the seed README's table, and where the rounds disagree.

Evaluations are matched image by image through the content hash, so two rounds evaluated on the same files (or
on copies of them) line up whatever the paths.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .metrics import predict_at
from .rows import Evaluation, Row

Named = Sequence[tuple[str, Evaluation]]


def seed_table(named: Named, threshold: float, with_auc: bool = True) -> list[dict]:
    """One row per round in the seed README's form: ``Round | Real Accuracy | Fake Accuracy [| AUC]``.

    Args:
        named: ``(round name, evaluation)`` pairs, in the order the table lists them.
        threshold: decision threshold on P(fake).
        with_auc: add the threshold-free AUC column.

    Returns:
        A list of dicts (accuracies in [0, 1], or ``None`` for a class with no images / a one-class set's AUC).
    """
    table = []
    for name, ev in named:
        m = ev.metrics(threshold)
        row = {"Round": name, **m.seed_table()}
        if with_auc:
            row["AUC"] = m.auc
        table.append(row)
    return table


@dataclass(frozen=True)
class Disagreement:
    """One image the rounds decide differently.

    Attributes:
        image_sha: the content hash that matched the rounds' rows.
        path, label, style: from the first round's row.
        preds: round name -> decided class at the threshold.
        p_pos: round name -> P(fake).
        rows: round name -> that round's row (its stored CAM included).
    """

    image_sha: str
    path: str
    label: str
    style: str
    preds: dict[str, str]
    p_pos: dict[str, float]
    rows: dict[str, Row]

    @property
    def spread(self) -> float:
        """How far apart the rounds' P(fake) are (max - min)."""
        return max(self.p_pos.values()) - min(self.p_pos.values())


def disagreements(named: Named, threshold: float) -> list[Disagreement]:
    """Images that every round evaluated and on which their decisions at ``threshold`` differ.

    Returns:
        Disagreements, widest P(fake) spread first (ties by path).

    Raises:
        ValueError: fewer than two rounds, or two rounds with the same name.
    """
    names = [n for n, _ in named]
    if len(names) < 2:
        raise ValueError("compare at least two rounds")
    if len(set(names)) != len(names):
        raise ValueError(f"round names must differ (got {', '.join(names)})")
    per_round: list[dict[str, tuple[Row, str, float]]] = []
    for _, ev in named:
        p = ev.p_pos()
        per_round.append({r.image_sha: (r, d, float(q)) for r, d, q in
                          zip(ev.rows, predict_at(p, ev.vocab, threshold), p)})
    common = [sha for sha in per_round[0] if all(sha in other for other in per_round[1:])]
    out = []
    for sha in common:
        seen = [pr[sha] for pr in per_round]
        if len({d for _, d, _ in seen}) < 2:
            continue
        first = seen[0][0]
        out.append(Disagreement(sha, first.path, first.label, first.style,
                                preds={n: d for n, (_, d, _) in zip(names, seen)},
                                p_pos={n: q for n, (_, _, q) in zip(names, seen)},
                                rows={n: r for n, (r, _, _) in zip(names, seen)}))
    return sorted(out, key=lambda d: (-d.spread, d.path))
