"""Command line: `python -m app ...` — the same services as the UI, for scripting and benchmarks."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from app.access.serving import anonymous_refusal, is_loopback
from app.container import Services, build_access, build_services
from app.errors import AssistantError, BadInputError
from app.llm.selector import parse_model_spec
from app.settings import load_settings
from storage.file_modes import owner_only_umask

# Each module adds its subcommands with `register(subparsers)`; handlers take (args, services).
_COMMAND_MODULES = (
    "app.commands.chat", "app.commands.docs", "app.commands.tables", "app.commands.media", "app.commands.audit",
    "app.commands.evaluate", "app.commands.model_server", "app.commands.access", "app.commands.jobs",
    "app.commands.sql_examples", "app.commands.report", "app.commands.demo",
    "app.commands.pins",
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(prog="python -m app", description="Analyst Assistant — local, private.")
    parser.add_argument("--data-dir", type=Path, help="Where all state lives (or ANALYST_DATA_DIR).")
    parser.add_argument("--backend", choices=("auto", "ollama", "embedded", "openai"),
                        help="Chat backend for this run.")
    parser.add_argument("--model", help="Model for this run: an embedded model key or an Ollama model name "
                        "(embedded:KEY, ollama:NAME or openai:NAME to say which).")
    parser.add_argument("--user", dest="act_user", metavar="NAME",
                        help="Act as this user (their records, their workspaces); the CLI has admin trust.")
    parser.add_argument("--workspace", dest="act_workspace", metavar="NAME",
                        help="Work in this workspace (with --user; default: the user's private workspace).")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve = sub.add_parser("serve", help="Start the web app (Streamlit).")
    serve.add_argument("--port", type=int, default=8501)
    serve.add_argument("--address", default="127.0.0.1", help="Use 0.0.0.0 to serve the intranet (with sign-in).")
    serve.add_argument("--allow-anonymous", action="store_true",
                       help="Serve a non-loopback address without sign-in anyway (shown in the app and recorded).")
    serve.set_defaults(handler=None)
    for name in _COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def _overrides(args: argparse.Namespace) -> dict:
    overrides: dict = {"data_dir": args.data_dir, "backend": args.backend}
    spec = parse_model_spec(args.model)
    if spec:
        overrides.update(spec.overrides())
        overrides["backend"] = args.backend or overrides["backend"]  # an explicit --backend wins
    return overrides


def serve(args: argparse.Namespace) -> int:
    """Replace this process with `streamlit run` on the app's entry point."""
    entry = Path(__file__).resolve().parent / "streamlit_app.py"
    settings = load_settings(**_overrides(args))
    refusal = anonymous_refusal(settings.auth, args.address, args.allow_anonymous or settings.allow_anonymous)
    if refusal:
        sys.stderr.write(f"error: {refusal}\n")
        return 2
    if args.allow_anonymous and settings.auth == "none" and not is_loopback(args.address):
        os.environ["ANALYST_ALLOW_ANONYMOUS"] = "true"  # the app shows it in the sidebar and records it
    # The UI reads settings the same way; pass CLI overrides on as environment variables.
    for key, value in _overrides(args).items():
        if value is not None:
            os.environ[f"ANALYST_{key.upper()}"] = str(value)
    argv = [
        sys.executable, "-m", "streamlit", "run", str(entry),
        "--server.port", str(args.port), "--server.address", args.address,
        "--server.headless", "true", "--browser.gatherUsageStats", "false",
        "--server.maxUploadSize", "2048", "--client.toolbarMode", "minimal",
    ]
    os.execv(sys.executable, argv)
    return 0  # not reached


def _services_for(args: argparse.Namespace) -> Services:
    """The services for this run: the data dir as it is, or `--user` in their (or the named) workspace."""
    settings = load_settings(**_overrides(args))
    if args.act_workspace and not args.act_user:
        raise BadInputError("--workspace needs --user: a workspace is entered by someone.",
                            "Add --user NAME (see `python -m app users list`).")
    if not args.act_user:
        return build_services(settings)
    return build_services(settings, build_access(settings).actor(args.act_user, args.act_workspace))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; user errors exit 2 with one line on stderr."""
    owner_only_umask()  # every file this process (or `serve`'s Streamlit, which inherits it) creates: owner only
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        if args.command == "serve":
            return serve(args)
        services = _services_for(args)
        try:
            return int(args.handler(args, services) or 0)
        finally:
            services.close()
    except AssistantError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
