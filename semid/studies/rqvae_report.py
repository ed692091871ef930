"""Text of the RQ-VAE report (``semid study rqvae`` / ``semid study rqvae-report``): the answer first, one
table per question (mechanism; ablation; downstream), the figures, the method; everything per cell in an
appendix. Numbers come from :mod:`semid.studies.rqvae_numbers`, tables from :mod:`semid.studies.rqvae_tables`,
figures from :mod:`semid.studies.rqvae_figures`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from semid.studies import rqvae_numbers as num
from semid.studies import rqvae_tables as tab

logger = logging.getLogger(__name__)

__all__ = ["render_report", "downstream_answer", "PAPER_TABLE3"]

PAPER_TABLE3 = num.PAPER_TABLE3
_QS = ("rq-kmeans", "rq-vae-naive", "rq-vae-robust")


def _names(fs: list[str]) -> str:
    return ", ".join(f"`{f}`" for f in fs) if fs else "none"


# ------------------------------------------------------------------ answer
def _mechanism_sentence(study: dict[str, Any]) -> str | None:
    parts = []
    for s in study["sets"]:
        km, nv, rb = (num.summary(study, s["name"], q) for q in _QS)
        if not (km and nv and rb):
            continue
        closed = num.gap_closed(nv["cs"], rb["cs"], km["cs"])
        parts.append(f"on {s['name']} naive RQ-VAE uses {nv['used1']:.0f} first-level "
                     f"code(s) and {nv['distinct']:,.0f} IDs, so its oracle search ceiling falls to {nv['cs']:.3f} while "
                     f"rec keeps {nv['cr']:.3f} (RQ-KMeans {km['cs']:.3f} / {km['cr']:.3f})"
                     + (f"; robust RQ-VAE closes {closed:.0%} of the search gap" if closed is not None else ""))
    if not parts:
        return None
    return ("**Mechanism: codebook collapse, not the ID space.** " + _cap("; ".join(parts)) + f". Buckets far larger "
            f"than {study['k']}, led by popular items, keep rec targets reachable and push search targets out.")


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _ablation_sentence(ablation: dict[str, Any]) -> str | None:
    found = num.ablation_findings(ablation)
    if not found:
        return None
    parts = []
    for f in found:
        a = f["arms"]
        nv, rb = a.get("naive", {}), a.get("robust", {})
        fixes = [(x, a[f"naive + {x}"]) for x in f["sufficient"] if f"naive + {x}" in a]
        parts.append(f"on {f['set']} naive uses {nv.get('codes_l1', float('nan')):.0f} first-level "
                     f"code(s) (search ceiling {nv.get('search', float('nan')):.3f}; robust "
                     f"{rb.get('search', float('nan')):.3f}); "
                     + ("; ".join(f"`{x}` alone lifts it to {v['codes_l1']:.0f} codes / {v['search']:.3f}" for x, v in fixes)
                        if fixes else "no single remedy un-collapses it")
                     + "; removed alone from robust, " + (_names(f["necessary"]) + " collapses it" if f["necessary"]
                                                          else "no remedy collapses it"))
    summed = [(f["set"], f["arms"]["naive + recon_sum"], f["arms"].get("robust + recon_sum", {}).get("delta"))
              for f in found if "naive + recon_sum" in f["arms"]]
    if summed:
        parts.append("the summed reconstruction loss alone (naive + `recon_sum`) gives " + ", ".join(
            f"{v['codes_l1']:.0f} first-level codes and search ceiling {v['search']:.3f} on {name}"
            + ("" if d is None else f" (on robust: {d + 0.0:+.3f})") for name, v, d in summed))
    common = set.intersection(*(set(f["sufficient"]) & set(f["necessary"]) for f in found))
    verdict = (f"{_names(sorted(common))} decides collapse on every set (sufficient alone and necessary alone)"
               if common else "no single factor is both sufficient and necessary on every set")
    return f"**Which factor: {verdict}.** " + _cap("; ".join(parts)) + "."


def _paper_sentence(ablation: dict[str, Any]) -> str | None:
    sig = num.paper_signature(ablation)
    if not sig:
        return None
    remedies = {a["label"]: a["remedies"] for a in ablation["arms"]}
    deciding = {f for d in num.ablation_findings(ablation) for f in d["sufficient"] + d["necessary"]}
    with_sig = [lab for x in sig for lab in x["signature"]]
    lacking = sorted(set.intersection(*({f for f, on in remedies[lab].items() if not on} for lab in with_sig))
                     & deciding) if with_sig else []
    parts = [f"on {x['set']} {_names(x['signature'])}" for x in sig]
    lead = f"an RQ-VAE without {_names(lacking)}. " if lacking else ""
    return (f"**What the paper most likely ran:** {lead}The arms with Table 3's signature (search ceiling ≤ "
            f"{num.SIGNATURE_MAX_SEARCH} while rec keeps at least {num.SIGNATURE_REC_OVER_SEARCH:.0f}× as much) are "
            + "; ".join(parts) + ". An inference from ceilings, not a statement of the paper.")


def _downstream_sentence(down: dict[str, Any] | None) -> str:
    if not down or not down.get("groups"):
        return "**Downstream:** no generative run was read; the table below is empty."
    unlearned = sorted({g["dataset"] for g in down["groups"] if not num.learned_search(g)})
    if unlearned:
        return (f"**Downstream: not yet measurable.** In the run read here ({down['run']}), on {', '.join(unlearned)} "
                "no quantizer's generative model beats untrained random IDs on search, so the downstream search gap "
                "cannot be read from it; the run with the generative model that learns search (issue 13, part 1) "
                "replaces the downstream table.")
    return "**Downstream:** " + " ".join(downstream_answer(down, 30, tasks=("search",)))


def answer_section(study: dict[str, Any], ablation: dict[str, Any] | None, down: dict[str, Any] | None) -> list[str]:
    """The verdict: one bullet per question, each from the measurements below."""
    bullets = [_mechanism_sentence(study), _ablation_sentence(ablation) if ablation else None,
               _paper_sentence(ablation) if ablation else None, _downstream_sentence(down)]
    return ["## Answer", ""] + [f"- {b}" for b in bullets if b] + [""]


# ------------------------------------------------------------------ sections
def mechanism_section(study: dict[str, Any]) -> list[str]:
    a, k = study["arithmetic"]["paper"], study["k"]
    return ["## 1. Mechanism: collapse, not the size of the ID space", "",
            f"The paper's 2 × {study['codebook_size']} = {a['n_ids']:,} IDs for {a['n_items']:,} items force collisions "
            f"even under uniform random assignment ({a['share_colliding']:.0%} of items share an ID), but those buckets "
            f"stay tiny (expected largest {a['expected_max_bucket']}), so the oracle Recall@{k} ceiling is "
            f"{a['search_ceiling']:.3f}. Only a quantizer that uses far fewer IDs than it has makes buckets larger than "
            f"{k}. The ceiling is the share of test targets whose position in their bucket (popularity order) is under "
            f"{k}: an upper bound on Recall@{k} for a model that always generates the target's ID first.", "",
            *tab.mechanism_table(study), ""]


def ablation_section(ablation: dict[str, Any] | None) -> list[str]:
    if not ablation or not ablation.get("records"):
        return ["## 2. Ablation: which setting decides collapse", "",
                "Not run yet: `semid study rqvae-ablation` (see Method), then regenerate with `--ablation`.", ""]
    out = ["## 2. Ablation: which setting decides collapse", "",
           "Embeddings: " + "; ".join(f"{s['name']} `{s['source']}`" for s in ablation["sets"]) + ". "
           f"Each arm differs from its base preset in exactly one factor; mean ± std over seeds {ablation['seeds']}, "
           f"epochs × {ablation['epoch_scale']} (naive {round(20 * ablation['epoch_scale'])}, robust "
           f"{round(60 * ablation['epoch_scale'])}). *Collapsed*: seeds whose first level uses fewer than "
           f"{ablation['collapse_share']:.0%} of its codes. Codes, IDs and buckets are seed means; every seed is in the "
           "appendix.", ""]
    for s in ablation["sets"]:
        out += [f"**{s['name']}** ({s['n_items']:,} items × {s['dim']})", "", *tab.ablation_table(ablation, s["name"]), ""]
    harmful = [f"{f['set']}: {_names(f['harmful'])}" for f in num.ablation_findings(ablation) if f["harmful"]]
    if harmful:
        out.append("Remedies that collapse robust when added: " + "; ".join(harmful) + ".")
    return out + [""]


def paper_section(ablation: dict[str, Any] | None) -> list[str]:
    if not ablation or not ablation.get("records"):
        return []
    out = ["## 3. What the paper most likely ran", "",
           "Table 3: RQ-VAE search 0.002 = 4% of RQ-KMeans's 0.046, rec 0.024 = 49% of 0.049. RQ-KMeans's own ceilings "
           f"are ~1 on every set here, so an arm reproduces the signature when its search ceiling is at most "
           f"{num.SIGNATURE_MAX_SEARCH} and its rec ceiling at least {num.SIGNATURE_REC_OVER_SEARCH:.0f}× the search one "
           "(seed means).", ""]
    n_items = {s["name"]: s["n_items"] for s in ablation["sets"]}
    k = ablation["k"]
    out += ["A quantizer that puts every item behind one ID has a search ceiling of k / N ("
            + ", ".join(f"{k / n:.4f} on {name}" for name, n in n_items.items())
            + f"; {k / 62_138:.4f} at the paper's 62,138 movies, against its measured 0.002) and a rec ceiling equal to the "
            f"share of rec targets among the {k} most popular items: the popularity list.", ""]
    for x in num.paper_signature(ablation):
        nv = x["naive"]
        moves = "; ".join(f"`{f}` {m['search']:+.3f} / {m['rec']:+.3f}" for f, m in x["moves"].items())
        out.append(f"- **{x['set']}**: signature in {_names(x['signature'])}; naive's ceilings "
                   f"{nv.get('search', float('nan')):.3f} / {nv.get('rec', float('nan')):.3f}. Each remedy added alone to "
                   f"naive moves search / rec by: {moves}.")
    return out + [""]


def downstream_answer(down: dict[str, Any], k: int = 30, tasks: tuple[str, ...] = ("search", "rec")) -> list[str]:
    """Per (dataset, collisions, task): RQ-KMeans, naive and robust Recall@k, the naive vs RQ-KMeans test and the
    share of the gap robust closes (paired by example, Bonferroni)."""
    out = []
    for g in down.get("groups") or []:
        tests = g.get("tests") or []
        for task in tasks:
            key = f"{task}_recall@{k}"
            km, nv, rb = (num.downstream_means(g, q, k)[key] for q in _QS)
            if any(v != v for v in (km, nv, rb)):
                continue
            t_kn, t_rn = num.find_test(tests, "rq-kmeans", "rq-vae-naive", key), num.find_test(tests, "rq-vae-robust", "rq-vae-naive", key)
            line = f"{g['dataset']} ({g['collisions']}) {task} R@{k}: RQ-KMeans {km:.4f}, naive {nv:.4f}, robust {rb:.4f}"
            if t_kn is not None:
                line += f"; naive vs RQ-KMeans p = {tab._p(t_kn['p_bonferroni'])}"
            closed = num.gap_closed(nv, rb, km, min_gap=1e-9)
            if t_kn is not None and t_kn["significant"] and closed is not None:
                line += f"; Robust closes {closed:.0%} of the naive gap"
                line += f" (robust vs naive p = {tab._p(t_rn['p_bonferroni'])})" if t_rn else ""
            out.append(line + ".")
    return out


def downstream_section(down: dict[str, Any] | None, k: int) -> list[str]:
    out = ["## 4. Downstream: generative Recall@30", "",
           "<!-- the downstream table: fed by `--run RUN` (semid.studies.rqvae_downstream.downstream_results); the run of issue 13 "
           "part 1 (the generative model that learns search) replaces the one below -->"]
    if not down or not down.get("groups"):
        return out + ["", "No downstream run was read. Regenerate with `--run RUN` once `semid run "
                      "configs/rqvae-study.toml --out RUN` has finished.", ""]
    out += ["", tab.setup_line(down), "", *tab.downstream_table(down, k), ""]
    out += [f"- {line}" for line in downstream_answer(down, k, tasks=("search",))]
    return out + ["", "Rec, every test and the ceilings of each run's IDs: appendix, Downstream.", ""]


def figures_section(figures: dict[str, list[str]], rel: Path) -> list[str]:
    out = ["## Figures", ""]
    for fn in figures.get("_ablation", []) + figures.get("_all", []):
        out.append(f"![{fn}]({rel / fn})")
    if any(not key.startswith("_") for key in figures):
        out += ["", "Per embedding set (code usage, bucket sizes, training curves): the appendix."]
    return out + [""]


def method_section(study: dict[str, Any], ablation: dict[str, Any] | None, command: str) -> list[str]:
    out = ["## Method", "",
           f"- Quantizers: {study['levels']} levels × {study['codebook_size']} codes, `collisions=none`, buckets in "
           "popularity order: " + ", ".join(f"`{m['label']}`" for m in study["methods"]) + f"; seeds {study['seeds']} "
           "(the mechanism table shows seed means).",
           "- Embedding sets of the mechanism table: " + "; ".join(
               f"{s['name']} ({s['n_items']:,} × {s['dim']}; targets: {s['targets']})" for s in study["sets"]) + "."]
    if ablation:
        out.append("- Ablation sets: " + "; ".join(f"{s['name']} ({s['n_items']:,} × {s['dim']}, `{s['source']}`; "
                                                   f"targets: {s['targets']})" for s in ablation["sets"]) + ".")
        out.append("- Ablation: `semid study rqvae-ablation`; its exact command, tables and raw records are in "
                   "`docs/results/rqvae-ablation/` (README.md, ablation.json; how the records were fitted: RUN_LOG.md).")
        out += [f"  - {note}" for note in ablation.get("notes") or []]
    out += [f"- Quantizer study: `{study.get('command', 'semid study rqvae ...')}`.",
            f"- This report and its appendix: `{command}` (reads the saved JSON; fits nothing).", ""]
    return out


# ------------------------------------------------------------------ appendix
def _appendix_mechanism(study: dict[str, Any], figures: dict[str, list[str]], rel: Path) -> list[str]:
    out = ["## Mechanism, per embedding set", "", "### ID-space arithmetic", "", *tab.arithmetic_table(study), ""]
    for s in study["sets"]:
        name = s["name"]
        out += [f"### {name}: diagnostics", "", f"{s['n_items']:,} × {s['dim']} from `{s['source']}`; targets: "
                f"{s['targets']}. Mean ± std over seeds (codes used and perplexity: level 1 / level 2).", "",
                *tab.diag_table(study, name), "", f"#### {name}: oracle ceilings", "", *tab.ceiling_table(study, name), ""]
        ct = tab.curve_table(study, name)
        if ct:
            out += [f"#### {name}: RQ-VAE training", "", *ct, ""]
        out += [f"![{fn}]({rel / fn})" for fn in figures.get(name, [])] + [""]
    return out


def _appendix_ablation(ablation: dict[str, Any] | None) -> list[str]:
    if not ablation or not ablation.get("records"):
        return []
    out = ["## Ablation, every record", "", "Options of each arm (epochs after `epoch_scale`):", "",
           "| arm | options |", "| --- | --- |"]
    out += [f"| {lab} | {', '.join(f'{k}={v}' for k, v in sorted(o.items()))} |" for lab, o in ablation["specs"].items()]
    for s in ablation["sets"]:
        out += ["", f"### {s['name']}", "", *tab.ablation_seed_table(ablation, s["name"])]
    return out + [""]


def _appendix_downstream(down: dict[str, Any] | None, k: int) -> list[str]:
    if not down or not down.get("groups"):
        return []
    out = ["## Downstream, every group and test", "", tab.setup_line(down), "",
           *[f"- {line}" for line in downstream_answer(down, k)], "",
           "Ceilings from the saved bucket ranks on the evaluated examples: `(IDs)` bounds the IDs the model was "
           "trained on (1 with the suffix); `bucket ceiling` is the quantizer's buckets without the suffix.", ""]
    for g in down["groups"]:
        out += [f"### {g['dataset']}, collisions = {g['collisions']}", "", *tab.group_table(g, k)]
    ct = [t for t in down.get("collision_tests") or [] if "error" not in t]
    if ct:
        out += tab.tests_table("### Suffix vs none, per quantizer (Bonferroni within each quantizer and pairing)", ct,
                               lead=["dataset", "quantizer"])
    return out + [""]


def render_report(study: dict[str, Any], down: dict[str, Any] | None, ablation: dict[str, Any] | None,
                  figures: dict[str, list[str]], fig_dir: Path, out: Path, command: str) -> tuple[str, str]:
    """The report and its appendix as Markdown (figure links relative to ``out``); the appendix is written
    beside the report as ``<stem>-appendix.md``."""
    rel = Path(os.path.relpath(fig_dir, out.parent))
    appendix_name = f"{out.stem}-appendix.md"
    head = ["# Why RQ-VAE collapsed against RQ-KMeans", "",
            f"*Generated by `{command}`; do not edit by hand. Every per-cell table: [{appendix_name}]({appendix_name}). "
            f"Raw numbers: `{rel / 'study.json'}`" + (", `docs/results/rqvae-ablation/ablation.json`" if ablation else "")
            + ".*", "",
            "Penha et al. (RecSys 2025, Table 3; multi-task embeddings, 2 × 256 codes, 62,138 movies), Recall@30 "
            "search / rec: " + ", ".join(f"{q} {s:.3f} / {r:.3f}" for q, (s, r) in PAPER_TABLE3.items())
            + ". Why did RQ-VAE's search collapse while its rec survived?", ""]
    main = (head + answer_section(study, ablation, down) + mechanism_section(study) + ablation_section(ablation)
            + paper_section(ablation) + downstream_section(down, study["k"]) + figures_section(figures, rel)
            + method_section(study, ablation, command))
    appendix = (["# Why RQ-VAE collapsed against RQ-KMeans: appendix", "",
                 f"*Generated by `{command}` with [{out.name}]({out.name}); do not edit by hand.*", ""]
                + _appendix_mechanism(study, figures, rel) + _appendix_ablation(ablation)
                + _appendix_downstream(down, study["k"]))
    return "\n".join(main) + "\n", "\n".join(appendix) + "\n"
