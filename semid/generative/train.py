"""Joint training of the generative retriever (search + rec in one run), with resume.

``train_model`` writes into ``out_dir``:

- while training: ``out_dir/checkpoints/init/`` (tokenizer + model config, written once) and
  ``out_dir/checkpoints/step-N.pt`` (weights, optimizer, scheduler, step), the last two kept;
  rerunning the same call resumes from the newest checkpoint;
- at the end, atomically replacing the directory: ``config.json`` (TrainConfig, model
  source, IDs source and hash, timings, losses), ``model/``, ``tokenizer/``, ``ids/``
  (a copy of the SemanticIDs, so the model is self-contained) and ``popularity.npy``
  (training counts, which order the items of a shared ID).

A directory with ``config.json`` is a finished model; rerunning with the same settings
returns it unchanged.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import re
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from semid.config import to_dict
from semid.generative.config import TrainConfig
from semid.generative.examples import Examples, TaskEncoder, build_examples
from semid.ids.types import SemanticIDs
from semid.io import atomic_dir, atomic_write_bytes, hash_json, read_json, save_npy, write_json
from semid.threads import avoid_cpu_oversubscription

logger = logging.getLogger(__name__)

__all__ = ["train_model", "collate"]

FORMAT = "semid-generative-v1"


def collate(inputs: list[list[int]], labels: list[list[int]] | None, pad_id: int):
    """Right-pad a batch: input_ids/attention_mask int64 (B, S); labels int64 (B, T) with -100 padding."""
    import torch

    S = max(len(x) for x in inputs)
    ids = torch.full((len(inputs), S), pad_id, dtype=torch.long)
    mask = torch.zeros((len(inputs), S), dtype=torch.long)
    for i, x in enumerate(inputs):
        ids[i, :len(x)] = torch.as_tensor(x)
        mask[i, :len(x)] = 1
    if labels is None:
        return ids, mask, None
    T = max(len(y) for y in labels)
    lab = torch.full((len(labels), T), -100, dtype=torch.long)
    for i, y in enumerate(labels):
        lab[i, :len(y)] = torch.as_tensor(y)
    return ids, mask, lab


def _ids_fingerprint(ids: SemanticIDs) -> str:
    import hashlib

    h = hashlib.sha256(np.ascontiguousarray(ids.codes).tobytes())
    h.update(json.dumps([ids.level_names, ids.level_sizes, ids.tasks], sort_keys=True).encode())
    return h.hexdigest()[:12]


def _latest_checkpoint(ckpt_dir: Path) -> Path | None:
    found = []
    for p in ckpt_dir.glob("step-*.pt"):
        m = re.fullmatch(r"step-(\d+)\.pt", p.name)
        if m:
            found.append((int(m.group(1)), p))
    return max(found)[1] if found else None


def _split_val(n: int, cfg: TrainConfig) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(cfg.seed + 7919)
    perm = rng.permutation(n)
    n_val = min(int(round(cfg.val_fraction * n)), cfg.max_val_examples) if cfg.val_fraction > 0 else 0
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


def _val_loss(model, ex: Examples, pad_id: int, device, batch_size: int) -> float:
    import torch

    if len(ex) == 0:
        return float("nan")
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for s in range(0, len(ex), batch_size):
            ids, mask, lab = collate(ex.input_ids[s:s + batch_size], ex.labels[s:s + batch_size], pad_id)
            out = model(input_ids=ids.to(device), attention_mask=mask.to(device), labels=lab.to(device))
            n = int((lab != -100).sum())
            total += float(out.loss) * n
            count += n
    model.train()
    return total / max(count, 1)


def _prepare_init(dataset, ids: SemanticIDs, cfg: TrainConfig, init_dir: Path):
    """Build (or reload) the starting model and tokenizer; the first run saves them to ``init_dir``."""
    import torch
    from transformers import AutoConfig, AutoModelForSeq2SeqLM, AutoTokenizer

    from semid.generative.model import add_id_tokens, build_model

    if (init_dir / "done").exists():
        tok = AutoTokenizer.from_pretrained(init_dir / "tokenizer")
        model = AutoModelForSeq2SeqLM.from_config(AutoConfig.from_pretrained(init_dir / "model"))
        model.load_state_dict(torch.load(init_dir / "model" / "weights.pt", map_location="cpu", weights_only=True))
        return model, tok
    texts = dataset.texts + dataset.queries_for("train")["text"].tolist()
    model, tok = build_model(cfg.model, texts, seed=cfg.seed, **cfg.small_sizes())
    add_id_tokens(model, tok, ids, dataset.texts, seed=cfg.seed)
    with atomic_dir(init_dir) as tmp:
        tok.save_pretrained(tmp / "tokenizer")
        model.config.save_pretrained(tmp / "model")
        torch.save(model.state_dict(), tmp / "model" / "weights.pt")
        (tmp / "done").write_text("ok\n")
    return model, tok


def train_model(dataset, ids: SemanticIDs | str | os.PathLike, cfg: TrainConfig | None = None,
                out_dir: str | os.PathLike = "model", show_progress: bool = True,
                callback: Callable[[int, float], None] | None = None) -> Path:
    """Train the joint model and write it to ``out_dir`` (module docstring); returns ``out_dir``.

    ids: a SemanticIDs object or the directory it was saved in (recorded in config.json).
    callback: called as ``callback(step, loss)`` after each optimizer step (tests use it to
    interrupt a run).
    """
    import torch
    from accelerate import Accelerator
    from accelerate.utils import set_seed
    from tqdm.auto import tqdm
    from transformers import get_linear_schedule_with_warmup

    cfg = cfg or TrainConfig()
    ids_dir = None
    if not isinstance(ids, SemanticIDs):
        ids_dir = str(Path(ids).resolve())
        ids = SemanticIDs.load(ids)
    if ids.n_items != dataset.n_items:
        raise ValueError(f"the IDs cover {ids.n_items} items but the dataset has {dataset.n_items}; build IDs for this dataset")
    missing = [t for t in cfg.tasks if t not in ids.tasks]
    if missing:
        raise ValueError(f"the IDs define tasks {list(ids.tasks)}, but TrainConfig.tasks asks for {missing}")
    out_dir = Path(out_dir)
    key = {"train_config": to_dict(cfg), "ids": _ids_fingerprint(ids), "data": dataset.meta.get("source"),
           "n_items": dataset.n_items}
    run_key = hash_json(key)
    if (out_dir / "config.json").exists():
        done = read_json(out_dir / "config.json")
        if done.get("run_key") == run_key:
            logger.info("%s already holds this trained model (run key %s); reusing it", out_dir, run_key)
            return out_dir
        raise FileExistsError(f"{out_dir} holds a model trained with other settings; choose another --out or delete it")
    ckpt_dir = out_dir / "checkpoints"
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    key_file = ckpt_dir / "run_key"
    if key_file.exists() and key_file.read_text().strip() != run_key:
        raise FileExistsError(f"{ckpt_dir} holds checkpoints of a run with other settings; delete it or choose another --out")
    atomic_write_bytes(key_file, (run_key + "\n").encode())

    accelerator = Accelerator(mixed_precision=cfg.mixed_precision)
    if accelerator.device.type == "cpu":
        avoid_cpu_oversubscription()
    set_seed(cfg.seed)
    model, tok = _prepare_init(dataset, ids, cfg, ckpt_dir / "init")
    encoder = TaskEncoder(tok, ids, max_history=cfg.max_history, max_query_tokens=cfg.max_query_tokens)
    examples = build_examples(dataset, encoder, rec_targets=cfg.rec_targets, tasks=tuple(cfg.tasks))
    if len(examples) == 0:
        raise ValueError("no training examples: the dataset has no training queries or histories")
    tr_idx, val_idx = _split_val(len(examples), cfg)
    train_ex, val_ex = examples.subset(tr_idx), examples.subset(val_idx)
    pad_id = int(tok.pad_token_id)

    steps_per_epoch = max(1, math.ceil(len(train_ex) / cfg.batch_size))
    total_steps = max(1, int(math.ceil(steps_per_epoch * cfg.epochs)))
    no_decay = ("bias", "layer_norm", "LayerNorm")
    groups = [
        {"params": [p for n, p in model.named_parameters() if not any(k in n for k in no_decay)], "weight_decay": cfg.weight_decay},
        {"params": [p for n, p in model.named_parameters() if any(k in n for k in no_decay)], "weight_decay": 0.0},
    ]
    optim = torch.optim.AdamW(groups, lr=cfg.lr)
    sched = get_linear_schedule_with_warmup(optim, int(cfg.warmup_ratio * total_steps), total_steps)
    model, optim = accelerator.prepare(model, optim)
    step, history, train_time, n_seen = 0, [], 0.0, 0
    latest = _latest_checkpoint(ckpt_dir)
    if latest is not None:
        state = torch.load(latest, map_location="cpu", weights_only=False)
        accelerator.unwrap_model(model).load_state_dict(state["model"])
        optim.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        step, history, train_time = int(state["step"]), list(state["history"]), float(state["train_time"])
        n_seen = int(state.get("n_seen", 0))
        logger.info("resuming from %s (step %d of %d)", latest.name, step, total_steps)

    def save_checkpoint() -> None:
        if not accelerator.is_main_process:
            return
        import io

        buf = io.BytesIO()
        torch.save({"model": accelerator.unwrap_model(model).state_dict(), "optimizer": optim.state_dict(),
                    "scheduler": sched.state_dict(), "step": step, "history": history, "train_time": train_time, "n_seen": n_seen}, buf)
        atomic_write_bytes(ckpt_dir / f"step-{step}.pt", buf.getvalue())
        for old in sorted(ckpt_dir.glob("step-*.pt"), key=lambda p: int(p.stem.split("-")[1]))[:-2]:
            old.unlink(missing_ok=True)

    world, rank = accelerator.num_processes, accelerator.process_index
    stop = total_steps if cfg.max_steps is None else min(total_steps, cfg.max_steps)
    model.train()
    bar = tqdm(total=stop, initial=step, desc="train", disable=not (show_progress and accelerator.is_main_process))
    ema = None
    t0 = time.perf_counter()
    while step < stop:
        epoch, in_epoch = divmod(step, steps_per_epoch)
        perm = np.random.default_rng(cfg.seed + 1000 * epoch).permutation(len(train_ex))
        batch = perm[in_epoch * cfg.batch_size:(in_epoch + 1) * cfg.batch_size][rank::world]
        loss_sum = 0.0
        chunks = [c for c in np.array_split(batch, cfg.grad_accum) if len(c)]
        for ci, chunk in enumerate(chunks):
            ids_t, mask_t, lab_t = collate([train_ex.input_ids[i] for i in chunk], [train_ex.labels[i] for i in chunk], pad_id)
            ctx = accelerator.no_sync(model) if ci < len(chunks) - 1 else contextlib.nullcontext()
            with ctx:
                out = model(input_ids=ids_t.to(accelerator.device), attention_mask=mask_t.to(accelerator.device),
                            labels=lab_t.to(accelerator.device))
                loss = out.loss * (len(chunk) / max(len(batch), 1))
                accelerator.backward(loss)
            loss_sum += float(loss.detach())
        if cfg.max_grad_norm > 0:
            accelerator.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
        optim.step()
        sched.step()
        optim.zero_grad(set_to_none=True)
        step += 1
        n_seen += len(batch) * world
        if not math.isfinite(loss_sum):
            raise FloatingPointError(f"training loss became {loss_sum} at step {step}; lower TrainConfig.lr")
        ema = loss_sum if ema is None else 0.98 * ema + 0.02 * loss_sum
        bar.update(1)
        bar.set_postfix(loss=f"{ema:.3f}", epoch=epoch)
        end_of_epoch = step % steps_per_epoch == 0
        if end_of_epoch or step == stop:
            vl = _val_loss(accelerator.unwrap_model(model), val_ex, pad_id, accelerator.device, cfg.batch_size)
            history.append({"step": step, "epoch": step / steps_per_epoch, "train_loss": ema, "val_loss": vl})
            logger.info("step %d (epoch %.2f): train loss %.4f, validation loss %.4f", step, step / steps_per_epoch, ema, vl)
        if step % cfg.save_steps == 0 or end_of_epoch:
            train_time += time.perf_counter() - t0
            t0 = time.perf_counter()
            save_checkpoint()
        if callback is not None:
            callback(step, loss_sum)
    bar.close()
    train_time += time.perf_counter() - t0
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        unwrapped = accelerator.unwrap_model(model)
        with atomic_dir(out_dir) as tmp:
            unwrapped.save_pretrained(tmp / "model")
            tok.save_pretrained(tmp / "tokenizer")
            ids.save(tmp / "ids")
            save_npy(tmp / "popularity.npy", dataset.train_counts)
            write_json(tmp / "config.json", {
                "format": FORMAT, "run_key": run_key, "model_source": cfg.model, "ids_dir": ids_dir,
                "ids_fingerprint": key["ids"], "data_source": dataset.meta.get("source"), "train_config": to_dict(cfg),
                "n_train_examples": len(train_ex), "n_val_examples": len(val_ex),
                "n_search_examples": examples.task.count("search"), "n_rec_examples": examples.task.count("rec"),
                "steps": step, "total_steps": total_steps, "train_time_s": train_time,
                "examples_per_s": n_seen / train_time if train_time > 0 and n_seen else None,
                "history": history, "level_offsets": encoder.level_offset.tolist(),
                "n_parameters": int(sum(p.numel() for p in unwrapped.parameters())),
            })
        logger.info("trained %d steps in %.1f s; model in %s", step, train_time, out_dir)
    return out_dir
