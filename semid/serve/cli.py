"""``semid serve MODEL``: the HTTP API (semid.serve.app) on uvicorn."""

from __future__ import annotations

import argparse
import logging
from typing import Any

logger = logging.getLogger(__name__)

__all__ = ["register"]

EPILOG = """examples:
  semid serve runs/quickstart/synthetic/model/multi-task__rq-kmeans__suffix__s0
  semid serve MODEL --port 8080 --new-items new-items     # with items added by `semid ids encode`

  curl -s localhost:8000/search -H 'content-type: application/json' -d '{"query": "a funny space adventure", "k": 5}'
  curl -s localhost:8000/recommend -H 'content-type: application/json' -d '{"history": [3, 17, 42]}'
  curl -s localhost:8000/items/42
  open http://localhost:8000/docs for the API (OpenAPI)

The model loads before the port opens; one thread runs it, answering concurrent requests in one batch."""


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from semid.generative.api import Retriever
    from semid.serve.app import create_app

    if not 0 <= args.port <= 65535:
        raise ValueError(f"--port {args.port} is not a port number (0..65535)")
    if args.max_batch < 1 or args.max_wait_ms < 0:
        raise ValueError(f"--max-batch must be >= 1 and --max-wait-ms >= 0, got {args.max_batch} and {args.max_wait_ms}")
    retriever = Retriever.load(args.model, device=args.device)
    for d in args.new_items or []:
        logger.info("added %s from %s", retriever.add_items(d), d)
    retriever.search(["warm up"], k=1)  # loads the text encoder now, not on the first request
    app = create_app(retriever, model_name=str(args.model), max_batch=args.max_batch, max_wait_s=args.max_wait_ms / 1000)
    logger.info("serving %s (%d items, %s) on http://%s:%d (docs at /docs)", args.model, retriever.n_items,
                retriever.device, args.host, args.port)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, access_log=not args.no_access_log)
    return 0


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("serve", help="serve a trained model over HTTP (search, recommend, items)",
                              description="Answer search and recommendation requests over HTTP (FastAPI + uvicorn).",
                              epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="trained model directory (semid train --out, or RUN/DATASET/model/VARIANT)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--device", help="cpu, cuda, ... (default: cuda when available)")
    p.add_argument("--new-items", action="append", metavar="DIR",
                   help="add items encoded by `semid ids encode` before serving (repeatable)")
    p.add_argument("--max-batch", type=int, default=64, help="most queries/histories decoded together (default 64)")
    p.add_argument("--max-wait-ms", type=float, default=2.0,
                   help="how long the model thread waits for more requests to batch once it has one (default 2)")
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"],
                   help="uvicorn log level (default info)")
    p.add_argument("--no-access-log", action="store_true", help="do not log every request")
    p.set_defaults(func=_serve)
