"""CLI: `model-server` — one packaged model for the team, served over the OpenAI API by llama.cpp's own HTTP
server (through xllamacpp), so several app processes share one loaded model (backend=openai)."""

from __future__ import annotations

import argparse
import ipaddress
import socket
import sys
import threading
from typing import Any

from app.commands.common import command
from app.errors import BadInputError, ModelUnavailableError
from app.llm.model_files import CATALOG, ensure_model_file


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `model-server` subcommand."""
    server = command(
        sub, "model-server", help="Serve a packaged model over the OpenAI API (for backend=openai).",
        handler=run_model_server, json_help=None,
    )
    server.add_argument("--address", default="127.0.0.1", help="Address to listen on (default 127.0.0.1).")
    server.add_argument("--port", type=int, default=8080, help="Port to listen on (default 8080).")
    server.add_argument("--model", dest="server_model", choices=tuple(CATALOG), metavar="KEY",
                        help=f"Packaged model to serve ({', '.join(CATALOG)}); default: the embedded model setting.")
    server.add_argument("--parallel", type=int, default=2, help="Requests answered at once (default 2).")
    server.add_argument("--allow-remote", action="store_true",
                        help="Listen on a non-loopback address too (the server has no authentication).")


def is_loopback(address: str) -> bool:
    """True for 127.x, ::1 and localhost."""
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def _check(args: argparse.Namespace) -> None:
    if not is_loopback(args.address) and not args.allow_remote:
        raise BadInputError(
            f"Refusing to serve on {args.address}: the model server has no authentication, anyone who reaches "
            "it can use it.",
            "Add --allow-remote to serve other machines anyway (behind a firewall or a proxy with auth).",
        )
    if not 1 <= args.port <= 65535:
        raise BadInputError(f"--port must be between 1 and 65535, not {args.port}.", "Pick a free port.")
    if not 1 <= args.parallel <= 64:
        raise BadInputError(f"--parallel must be between 1 and 64, not {args.parallel}.", "Use 1 to 64.")
    with socket.socket(socket.AF_INET6 if ":" in args.address else socket.AF_INET) as probe:
        try:
            probe.bind((args.address, args.port))
        except OSError as exc:
            raise BadInputError(f"Cannot listen on {args.address}:{args.port} ({exc.strerror}).",
                                "Pick another --port, or stop what is using it.") from exc


def _params(path: Any, key: str, args: argparse.Namespace, settings: Any) -> Any:
    import xllamacpp  # heavy import kept out of start-up

    params = xllamacpp.CommonParams()
    params.model.path = str(path)
    params.model_alias = {key}
    params.n_parallel = args.parallel
    params.n_ctx = settings.embedded_ctx * args.parallel  # llama.cpp splits the context between the slots
    params.cpuparams.n_threads = settings.embedded_threads
    params.cpuparams_batch.n_threads = settings.embedded_batch_threads
    params.use_jinja = True  # the model's own chat template, with native tool calls
    params.hostnames = [args.address]
    params.port = args.port
    params.verbosity = -1
    params.warmup = False
    return params


def run_model_server(args: argparse.Namespace, services: Any) -> int:
    """Load the model, listen until interrupted (Ctrl-C or SIGTERM)."""
    _check(args)
    settings = services.settings
    key = args.server_model or settings.embedded_model
    path = ensure_model_file(key, settings.resolved_models_dir)
    import xllamacpp

    try:
        server = xllamacpp.Server(_params(path, key, args, settings))
    except Exception as exc:  # noqa: BLE001 - llama.cpp reports a failed load as a plain exception
        raise ModelUnavailableError(f"The model server could not start: {exc}",
                                    "Check the port and the free memory.") from exc
    url = f"http://{args.address}:{args.port}/v1"
    sys.stdout.write(f"Serving {key} at {url} (OpenAI API). Use it with:\n"
                     f"  ANALYST_BACKEND=openai ANALYST_OPENAI_BASE_URL={url} ANALYST_OPENAI_MODEL={key}\n"
                     "Stop with Ctrl-C.\n")
    sys.stdout.flush()
    try:
        threading.Event().wait()
    finally:
        del server
    return 0
