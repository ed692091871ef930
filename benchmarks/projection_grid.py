"""The movielens-small grid twice, with the fixed ``pca`` projection of the encoder states and with
the learned one: what the cheaper projection costs, row by row.

    semid run configs/movielens-small.toml --out runs/movielens-small
    semid run configs/movielens-small.toml --out runs/movielens-small-learned --set train.search_projection=learned
    python benchmarks/projection_grid.py runs/movielens-small runs/movielens-small-learned

(the second run shares every stage but the models and their evaluations with the first when its
data, embedding, ID and state stages are copied or hard-linked in: ``cp -al``). Per row, the mean
over seeds of search and rec Recall@30 for each projection, their ratio, and a paired t-test by
test example (each example's hits averaged over seeds; scipy ``ttest_rel``), Bonferroni over
every test in the table. Writes benchmarks/results/projection_grid.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from semid.experiment.results import load_results
from semid.report.baselines import _hits, _mean_values, _test

OUT = Path(__file__).resolve().parent / "results" / "projection_grid.md"
METRICS = ("search_recall@30", "rec_recall@30")


def rows(run: str) -> dict[str, list]:
    """Generative records by variant (their name without the seed), in the run's order."""
    out: dict[str, list] = {}
    for r in load_results(run).records:
        if r.kind == "generative":
            out.setdefault(r.slug.rsplit("__s", 1)[0], []).append(r)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("pca_run", help="run directory trained with search_projection = 'pca'")
    ap.add_argument("learned_run", help="the same config trained with search_projection = 'learned'")
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args()
    pca, learned = rows(args.pca_run), rows(args.learned_run)
    table = []
    for name in [n for n in pca if n in learned]:
        cells = []
        for m in METRICS:
            a = _mean_values(_hits([r.eval_dir for r in pca[name]]), m)
            b = _mean_values(_hits([r.eval_dir for r in learned[name]]), m)
            ma, mb = np.mean([r.get(m) for r in pca[name]]), np.mean([r.get(m) for r in learned[name]])
            cells.append((ma, mb, _test(a, b)))
        table.append((name, len(pca[name]), len(learned[name]), cells))
    n_tests = max(1, sum(c[2] is not None for row in table for c in row[3]))
    lines = ["# The fixed `pca` projection against the learned one, every row of the movielens-small grid", "",
             f"Command: `python benchmarks/projection_grid.py {args.pca_run} {args.learned_run}` (module docstring). "
             "Mean over seeds of Recall@30; the ratio pca / learned; p of a paired t-test by test example "
             f"(hits averaged over seeds), Bonferroni over the table's {n_tests} tests; ▲/▼ where p < 0.05.", "",
             "| row | seeds (pca / learned) | search pca | search learned | ratio | p | rec pca | rec learned | ratio | p |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    ratios = {m: [] for m in METRICS}
    for name, na, nb, cells in table:
        parts = []
        for m, (ma, mb, test) in zip(METRICS, cells, strict=True):
            ratios[m].append(ma / mb if mb else np.nan)
            if test is None:
                mark = "–"
            else:
                p = min(test[1] * n_tests, 1.0)
                mark = f"{p:.2g}" + ((" ▲" if test[0] > 0 else " ▼") if p < 0.05 else "")
            parts.append(f"{ma:.3f} | {mb:.3f} | {ma / mb if mb else float('nan'):.2f} | {mark}")
        lines.append(f"| {name} | {na} / {nb} | " + " | ".join(parts) + " |")
    lines += ["", "Median ratio over the rows: search "
              f"{np.nanmedian(ratios['search_recall@30']):.2f}, rec {np.nanmedian(ratios['rec_recall@30']):.2f}.", ""]
    Path(args.out).write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
