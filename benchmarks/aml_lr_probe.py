"""The first optimizer steps of the aml_alert recipe at several learning rates: does the model learn or collapse?

    python benchmarks/aml_lr_probe.py --steps 20 --lrs 5e-4,2e-3 --out benchmarks/results/aml_lr_probe.md

Builds the recipe's model and loss (class weights, attention pooling, LoRA r=8) and trains it on the same batches
for each rate, with the recipe's warmup (6% of a 4-epoch run). Per step it records the weighted training loss, the
gradient norm before clipping (and how much of it the head carries), and the spread of the batch's logits (the
standard deviation over documents of logit(escalate) - logit(close)): a spread near 0 with a loss near ln 2 = 0.693
is a constant prediction, the "collapse" the recipe's lr comment describes.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from bench_utils import emit, machine_description, recipe_config
from transformers import get_linear_schedule_with_warmup

from finrisk_nlp.data.loaders import DocumentCollator, build_dataloader, tokenize_documents
from finrisk_nlp.data.tables import load_splits
from finrisk_nlp.modeling import build_model
from finrisk_nlp.tasks import get_task
from finrisk_nlp.training.losses import build_loss


def probe(lr: float, args: argparse.Namespace) -> list[dict[str, float]]:
    cfg = recipe_config("aml_alert", [f"model.max_chunks={args.max_chunks}"])
    torch.manual_seed(cfg.seed)
    task, splits = load_splits(cfg.data, get_task("aml_alert"), cfg.seed)
    model, tokenizer = build_model(cfg.model, cfg.lora, {task.name: task})
    docs = tokenize_documents(splits["train"], tokenizer, task, cfg.model.max_length, stride=cfg.model.stride,
                              max_chunks=cfg.model.max_chunks)
    loader = build_dataloader(docs, DocumentCollator(tokenizer, False), args.batch_size, shuffle=True, seed=cfg.seed,
                              group_by_length=False)
    loss_fn = build_loss(cfg.loss, task, splits["train"]["labels"])
    params = [p for p in model.parameters() if p.requires_grad]
    head = [p for n, p in model.named_parameters() if p.requires_grad and n.startswith("heads.")]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=cfg.train.weight_decay)
    run_steps = 4 * len(loader)  # the recipe's 4 epochs at this batch size
    scheduler = get_linear_schedule_with_warmup(optimizer, int(cfg.train.warmup_ratio * run_steps), run_steps)
    model.train()
    out = []
    for step, batch in enumerate(loader):
        if step == args.steps:
            break
        labels = batch.pop("labels")
        batch.pop("rows", None)
        logits = model(**batch, num_docs=labels.shape[0], task=task.name).logits
        loss = loss_fn(logits, labels)
        loss.backward()
        head_norm = torch.norm(torch.stack([p.grad.norm() for p in head if p.grad is not None])).item()
        total = torch.nn.utils.clip_grad_norm_(params, cfg.train.max_grad_norm).item()
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
        margin = (logits[:, 1] - logits[:, 0]).detach()
        out.append({"step": step + 1, "lr": scheduler.get_last_lr()[0], "loss": loss.item(), "grad": total,
                    "head_share": head_norm / max(total, 1e-12), "spread": margin.std().item(),
                    "mean_margin": margin.mean().item()})
        print(f"lr {lr:g} " + " ".join(f"{k} {v:.4g}" for k, v in out[-1].items()), flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--lrs", default="5e-4,2e-3")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-chunks", type=int, default=4)
    parser.add_argument("--out")
    args = parser.parse_args()
    started = time.perf_counter()
    lines = [f"Machine: {machine_description()}. Batch {args.batch_size} notes, max_chunks {args.max_chunks}.\n",
             "| lr | steps | loss first 5 | loss last 5 | grad norm (median) | head share of grad | logit spread "
             "last 5 |", "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for lr in (float(x) for x in args.lrs.split(",")):
        rows = probe(lr, args)
        first, last = rows[:5], rows[-5:]
        lines.append(f"| {lr:g} | {len(rows)} | {np.mean([r['loss'] for r in first]):.3f} | "
                     f"{np.mean([r['loss'] for r in last]):.3f} | {np.median([r['grad'] for r in rows]):.2f} | "
                     f"{np.median([r['head_share'] for r in rows]):.2f} | "
                     f"{np.mean([r['spread'] for r in last]):.3f} |")
    lines.append(f"\nWall time {time.perf_counter() - started:.0f} s.")
    emit("\n".join(lines) + "\n", args.out)


if __name__ == "__main__":
    main()
