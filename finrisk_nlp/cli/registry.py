"""The ``finrisk registry`` commands: publish, list, show, promote and compare model versions.

    finrisk registry push runs/credit_text --name credit-text          # -> credit-text version N
    finrisk registry push runs/credit_text --hub my-bank/credit-text   # private Hugging Face repo
    finrisk registry promote credit-text 3 --stage production
    finrisk registry list | show credit-text@production | diff credit-text 2 3

The registry itself (versions, stages, references) is :mod:`finrisk_nlp.registry.local`; this module only parses
arguments and prints.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from finrisk_nlp.registry.local import (
    DEFAULT_ROOT,
    REGISTRY_ENV,
    ModelRegistry,
    default_name,
    diff_versions,
    parse_registry_ref,
)
from finrisk_nlp.registry.model_card import DEFAULT_LICENSE
from finrisk_nlp.registry.release import read_run


def _cmd_push(args: argparse.Namespace) -> int:
    run_dir = Path(args.run_dir)
    if args.hub:
        from finrisk_nlp.registry.hub import push_to_hub

        url = push_to_hub(run_dir, args.hub, private=not args.public, merged=args.merged, license=args.license)
        sys.stdout.write(f"pushed {run_dir} to {url}\n")
    if args.name or not args.hub:
        name = args.name or default_name(read_run(run_dir)[0].summary_task().name)
        registry = ModelRegistry(args.root)
        version = registry.publish(run_dir, name, version=args.version, merged=args.merged, license=args.license)
        sys.stdout.write(f"published {run_dir} as registry:{name}@{version} in {registry.root}\n")
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    registry = ModelRegistry(args.root)
    for name in [args.name] if args.name else registry.names():
        by_version: dict[int, list[str]] = {}
        for stage, version in registry.aliases(name).items():
            by_version.setdefault(version, []).append(stage)
        for version in registry.versions(name):
            info = registry.info(name, version)
            metric = info["metrics"].get("primary_metric")
            score = (info["metrics"].get("test") or {}).get(metric)
            shown = f"test {metric} {score:.4f}" if isinstance(score, float) else ""
            stages = ",".join(sorted(by_version.get(version, []))) or "-"
            sys.stdout.write(f"{name:<20} {version:>4}  {stages:<20} {info['release']['published_at']}  {shown}\n")
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    name, ref = parse_registry_ref(args.ref)
    sys.stdout.write(json.dumps(ModelRegistry(args.root).info(name, ref), indent=2, default=str) + "\n")
    return 0


def _cmd_promote(args: argparse.Namespace) -> int:
    previous = ModelRegistry(args.root).promote(args.name, args.version, args.stage)
    before = f" (was version {previous})" if previous is not None else ""
    sys.stdout.write(f"{args.name}@{args.stage} -> version {args.version}{before}\n")
    return 0


def _cmd_diff(args: argparse.Namespace) -> int:
    registry = ModelRegistry(args.root)
    for section, changes in diff_versions(registry, args.name, args.a, args.b).items():
        sys.stdout.write(f"{section}: {len(changes)} difference(s) between {args.a} and {args.b}\n")
        for key, (va, vb) in changes.items():
            if isinstance(va, float) and isinstance(vb, float):
                sys.stdout.write(f"  {key:<40} {va:.4f} -> {vb:.4f} ({vb - va:+.4f})\n")
            else:
                sys.stdout.write(f"  {key:<40} {va!r} -> {vb!r}\n")
    return 0


def add_registry_command(subparsers: argparse._SubParsersAction) -> None:
    """Register ``finrisk registry {push,list,show,promote,diff}``."""
    parser = subparsers.add_parser("registry", help="publish, list, promote and compare model versions")
    sub = parser.add_subparsers(dest="registry_command", required=True)
    root_help = f"registry directory (default: ${REGISTRY_ENV}, else ./{DEFAULT_ROOT})"

    p = sub.add_parser("push", help="publish a finished run as a new version (and/or to the Hub)")
    p.add_argument("run_dir")
    p.add_argument("--name", help="registry name (default: the task name with '-' for '_')")
    p.add_argument("--hub", metavar="ORG/NAME", help="push to this Hugging Face Hub repo (token: HF_TOKEN or login)")
    p.add_argument("--public", action="store_true", help="create a new Hub repo public (default: private)")
    p.add_argument("--merged", action="store_true",
                   help="also publish the adapter merged into the base weights (a Hub push of a single-task model is "
                        "always merged: the Hub format)")
    p.add_argument("--version", type=int, help="publish as this number; refused if it exists")
    p.add_argument("--license", default=DEFAULT_LICENSE, help="license id for the model card (default: %(default)s)")
    p.add_argument("--root", help=root_help)
    p.set_defaults(func=_cmd_push)

    p = sub.add_parser("list", help="versions with their stages and test score")
    p.add_argument("name", nargs="?")
    p.add_argument("--root", help=root_help)
    p.set_defaults(func=_cmd_list)

    p = sub.add_parser("show", help="everything recorded about NAME[@VERSION|@STAGE] (JSON)")
    p.add_argument("ref")
    p.add_argument("--root", help=root_help)
    p.set_defaults(func=_cmd_show)

    p = sub.add_parser("promote", help="point a stage (production, staging, ...) at a version")
    p.add_argument("name")
    p.add_argument("version", type=int)
    p.add_argument("--stage", required=True)
    p.add_argument("--root", help=root_help)
    p.set_defaults(func=_cmd_promote)

    p = sub.add_parser("diff", help="metrics and config that differ between two versions")
    p.add_argument("name")
    p.add_argument("a", help="version or stage")
    p.add_argument("b", help="version or stage")
    p.add_argument("--root", help=root_help)
    p.set_defaults(func=_cmd_diff)
