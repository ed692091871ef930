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

from semid.generative.config import DEFAULT_K
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


def _downstream_sentence(down: dict[str, Any] | None, k: int) -> str:
    if not down or not down.get("groups"):
        return "**Downstream:** no generative run was read; the table below is empty."
    if not down.get("families"):  # a study.json of an older semid: no family of paired tests
        return "**Downstream:** the saved run has no paired tests; regenerate with `--run RUN`."
    below: dict[str, list[str]] = {}
    not_below: dict[str, list[str]] = {}
    closes = []
    for ds in num.downstream_datasets(down):
        for r in num.answer_rows(down, ds, k):
            if r["task"] != "search" or not r["gap_test"]:
                continue
            significant = r["gap_test"]["significant"] and r["naive"] < r["reference"]
            (below if significant else not_below).setdefault(ds, []).append(r["collisions"])
            if significant and r["closed"] is not None:
                closes.append(f"{r['closed']:.0%} ({ds}, {r['collisions']})")

    def where(d: dict[str, list[str]]) -> str:
        return _join([f"{ds} ({' and '.join(modes)})" for ds, modes in d.items()])

    lead = (f"naive RQ-VAE's generative search R@{k} is significantly below RQ-KMeans's on {where(below) or 'no set'}"
            + (f"; not on {where(not_below)}" if not_below else "") + ".")
    lead += f" Robust RQ-VAE closes {_join(closes)} of that gap." if closes else ""
    # search only here (the question); rec's gap and share closed are in section 4 and the appendix
    details = [line for ds in num.downstream_datasets(down) for line in downstream_answer(down, ds, k)
               if line.startswith(f"{ds} search")]
    return (f"**Downstream: {lead}** Search, seed means without / with the suffix, p as in section 4 (rec: section 4): "
            + " ".join(details))


def _join(items: list[str]) -> str:
    return ", ".join(items[:-1]) + " and " + items[-1] if len(items) > 1 else "".join(items)


def downstream_answer(down: dict[str, Any], dataset: str, k: int = DEFAULT_K) -> list[str]:
    """One line per task of ``dataset``: naive vs RQ-KMeans Recall@k and its p-value, then robust and the
    share of the gap it closes with the robust vs naive p-value; each value without / with the suffix."""
    rows = num.answer_rows(down, dataset, k)
    out = []
    for task in ("search", "rec"):
        rs = [r for r in rows if r["task"] == task]
        # a quantizer absent in every collisions mode is named; absent in one mode, its value there is '–'
        absent = sorted(set.intersection(*(set(r["absent"]) for r in rs))) if rs else []
        if not rs or not set(absent).isdisjoint(("rq-kmeans", "rq-vae-naive")):
            out.append(f"{dataset} {task}: no records of {', '.join(absent) or 'any quantizer'} yet.")
            continue
        line = f"{dataset} {task}: naive {_each(rs, 'naive')} vs RQ-KMeans {_each(rs, 'reference')} (p = {_each(rs, 'gap_test')})"
        out.append(line + (f"; robust {_each(rs, 'robust')} closes {_each(rs, 'closed')} (vs naive p = "
                           f"{_each(rs, 'robust_test')})." if not absent else "; no records of rq-vae-robust yet."))
    return out


def _each(rows: list[dict[str, Any]], key: str) -> str:
    """One answer-row value per collisions mode, ``a / b``: numbers to 3 decimals, shares as %, tests as
    their Bonferroni p-value, '–' where absent (no test, no gap to close)."""
    def one(v: Any) -> str:
        if isinstance(v, dict):
            return tab._p(v.get("p_bonferroni"))
        if v is None or v != v:  # no test, no gap to close, no records in this collisions mode
            return "–"
        if key == "closed":
            return f"{v:.0%}"
        return f"{v:.3f}" if isinstance(v, float) else str(v)

    return " / ".join(one(r[key]) for r in rows)


def _coherence_sentence(down: dict[str, Any] | None) -> str | None:
    """Why robust RQ-VAE, with every code in use, still trails on search: its IDs' neighbour coherence
    (:mod:`semid.studies.rqvae_coherence`) against RQ-KMeans's, per dataset."""
    coh = (down or {}).get("coherence") or {}
    parts = [f"{ds} {c['rq-vae-robust']['l1']:.2f} / {c['rq-vae-robust']['id']:.3f} against RQ-KMeans's "
             f"{c['rq-kmeans']['l1']:.2f} / {c['rq-kmeans']['id']:.3f}"
             for ds, c in sorted(coh.items()) if "rq-vae-robust" in c and "rq-kmeans" in c]
    if not parts:
        return None
    return ("**Why robust training does not restore search: its codes scatter neighbours.** Of each item's 10 nearest "
            f"neighbours, the share with its first-level code / whole ID is {_join(parts)}: robust RQ-VAE uses every "
            "code but gives similar items unrelated IDs, so learning one item does not carry to its neighbours.")


def answer_section(study: dict[str, Any], ablation: dict[str, Any] | None, down: dict[str, Any] | None) -> list[str]:
    """The verdict: one bullet per question, each from the measurements below."""
    bullets = [_mechanism_sentence(study), _ablation_sentence(ablation) if ablation else None,
               _paper_sentence(ablation) if ablation else None, _downstream_sentence(down, study["k"]),
               _coherence_sentence(down)]
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


def downstream_section(down: dict[str, Any] | None, k: int) -> list[str]:
    out = ["## 4. Downstream: generative Recall@30", ""]
    if not down or not down.get("groups"):
        return out + ["No downstream run was read. Regenerate with `--run RUN` (one per dataset) once `semid run "
                      "configs/rqvae-study.toml --out RUN` has finished.", ""]
    out += ["Runs: " + "; ".join(f"`{r['run']}` ({', '.join(r['datasets'])})" for r in down["runs"]) + ". Mean ± std "
            f"over seeds; p: paired by example (hit@{k} averaged over seeds), Bonferroni per dataset; baselines vs "
            "RQ-KMeans (none). Settings, tests, ceilings: appendix.", ""]
    for ds in num.downstream_datasets(down):
        fam = (down.get("families") or {}).get(ds) or {}
        missing = (down.get("missing") or {}).get(ds) or []
        out += [f"**{ds}** ({fam.get('n_tests', 0)} tests"
                + (f"; {len(missing)} planned models not finished yet, absent here" if missing else "") + ")", "",
                *tab.dataset_table(down, ds, k), ""]
    return out


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
        out.append("- Ablation: `semid study rqvae-ablation`; its exact command, tables and raw records are in "
                   "`docs/results/rqvae-ablation/` (README.md, ablation.json; how the records were fitted: RUN_LOG.md); "
                   "its sets, targets and notes: appendix, Ablation.")
    out += [f"- Quantizer study: `{study.get('command', 'semid study rqvae ...')}`.",
            f"- This report and its appendix: `{command}` (reads the saved JSON and any `--run`; fits nothing).", ""]
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
    sets = [f"- {s['name']}: {s['n_items']:,} × {s['dim']}, `{s['source']}`; targets: {s['targets']}."
            for s in ablation["sets"]]
    out = ["## Ablation, every record", "", *sets, *[f"- {note}" for note in ablation.get("notes") or []], "",
           "Options of each arm (epochs after `epoch_scale`):", "", "| arm | options |", "| --- | --- |"]
    out += [f"| {lab} | {', '.join(f'{k}={v}' for k, v in sorted(o.items()))} |" for lab, o in ablation["specs"].items()]
    for s in ablation["sets"]:
        out += ["", f"### {s['name']}", "", *tab.ablation_seed_table(ablation, s["name"])]
    return out + [""]


def _appendix_downstream(down: dict[str, Any] | None, k: int) -> list[str]:
    if not down or not down.get("groups"):
        return []
    out = ["## Downstream, every group and test", "", *[f"- {tab.setup_line(r)}" for r in down.get("runs") or []], ""]
    for ds, coh in sorted((down.get("coherence") or {}).items()):
        out += [f"### {ds}: neighbour coherence of the IDs (collisions none, mean over seeds)", "",
                "Share of each item's 10 nearest neighbours (cosine, the embedding the IDs were built from) with the "
                "item's first-level code, and with its whole quantizer ID (`semid.studies.rqvae_coherence`).", "",
                "| quantizer | first-level codes used | neighbours sharing the first code | sharing the whole ID | seeds |",
                "| --- | --- | --- | --- | --- |",
                *[f"| {q} | {c['l1_codes']:.0f} | {c['l1']:.3f} | {c['id']:.3f} | {c['n_seeds']} |"
                  for q, c in sorted(coh.items())], ""]
    for ds in num.downstream_datasets(down):
        fam = (down.get("families") or {}).get(ds)
        out += [f"### {ds}: the answer", "", *tab.answer_table(num.answer_rows(down, ds, k)), ""]
        if fam:
            out += [f"### {ds}: the table's tests (paired by example, Bonferroni over {fam['n_tests']})", "",
                    *tab.family_table(fam), ""]
            out += [f"Without per-example hits, untested: {', '.join(fam['untested'])}.", ""] if fam["untested"] else []
        missing = (down.get("missing") or {}).get(ds)
        out += [f"Planned, not finished yet: {', '.join(missing)}.", ""] if missing else []
    out += ["Ceilings from the saved bucket ranks on the evaluated examples: `(IDs)` bounds the IDs the model was "
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
    from semid.studies.rqvae_downstream import as_merged

    down = as_merged(down)
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
