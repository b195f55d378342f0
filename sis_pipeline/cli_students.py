"""`sis-pipeline students show UID | edit UID --set F=V --by NAME` and `conflicts list | resolve ID --take ... --by NAME`.

`students show` prints the child's golden record on request (it is what the command is for); nothing
here logs it. Edits and resolutions say who made them; the golden record shows them at once.
"""

import json
import sys


def add_student_parsers(commands) -> None:
    students = commands.add_parser("students", help="a child's golden record: show it, or correct a field locally")
    students.add_argument("action", choices=["show", "edit"])
    students.add_argument("uid", metavar="UID", help="the student_uid")
    students.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="edit: the corrected value (repeatable)")
    students.add_argument("--by", metavar="NAME", help="edit: who corrects it")
    students.add_argument("--reason", metavar="TEXT", help="edit: why")
    students.add_argument("--config", help="integrations.yaml, for the integrations' priorities (default: as for sync)")
    students.add_argument("--json", action="store_true")

    conflicts = commands.add_parser("conflicts", help="SIS changes to locally edited fields under conflict_strategy manual")
    conflicts.add_argument("action", choices=["list", "resolve"])
    conflicts.add_argument("conflict_id", nargs="?", type=int, metavar="ID")
    conflicts.add_argument("--take", metavar="sis|local|value=TEXT", help="resolve: which value the golden record keeps")
    conflicts.add_argument("--by", metavar="NAME", help="resolve: who decided")
    conflicts.add_argument("--integration", metavar="NAME", help="list: only this integration")
    conflicts.add_argument("--config", help="integrations.yaml, for the integrations' priorities (default: as for sync)")
    conflicts.add_argument("--json", action="store_true")


def students_command(args, parser) -> int:
    from sis_pipeline.warehouse.overrides import EditRefused, set_override, student_view

    if args.action == "edit" and (not args.set or not args.by):
        parser.error("students edit needs --set FIELD=VALUE and --by NAME")
    with _engine() as engine:
        try:
            if args.action == "edit":
                for assignment in args.set:
                    field, sep, value = assignment.partition("=")
                    if not sep:
                        parser.error(f"--set {assignment!r}: write FIELD=VALUE")
                    set_override(engine, args.uid, field.strip(), value, args.by, args.reason, _priorities(args))
            view = student_view(engine, args.uid)
        except EditRefused as exc:
            print(f"students {args.action} refused: {exc}", file=sys.stderr)
            return 1
    if args.json:
        print(json.dumps(view, indent=2, default=str))
        return 0
    profile = view["profile"]
    lines = [f"student {profile['student_uid']} ({'active' if profile['active'] else 'archived'}; golden row from {profile['integration']}/{profile['source_id']})"]
    lines += [f"  {key}: {value}" for key, value in profile.items() if key not in ("student_uid", "integration", "source_id") and value is not None]
    lines.append("sources:")
    lines += [f"  {s['integration']}/{s['source_id']} {'archived' if s['archived_at'] else s['status']}" for s in view["sources"]]
    lines.append("local edits:" if view["overrides"] else "local edits: none")
    lines += [
        f"  #{o['id']} {o['field']} = {o['value']!r} by {o['set_by']} at {o['set_at']:%Y-%m-%d %H:%M}"
        + (f" ({o['reason']})" if o["reason"] else "") + (f"; retired: {o['retired_why']}" if o["retired_at"] else "")
        for o in view["overrides"]
    ]
    print("\n".join(lines))
    return 0


def conflicts_command(args, parser) -> int:
    from sis_pipeline.warehouse.overrides import EditRefused, open_conflicts, resolve_conflict

    if args.action == "resolve" and (args.conflict_id is None or not args.take or not args.by):
        parser.error("conflicts resolve needs the conflict's id, --take sis|local|value=TEXT and --by NAME")
    with _engine() as engine:
        try:
            if args.action == "list":
                found = open_conflicts(engine, args.integration)
                if args.json:
                    print(json.dumps({"conflicts": found}, indent=2, default=str))
                    return 0
                print("\n".join(
                    f"{c['id']}  {c['integration']}/{c['source_id']} {c['field']}: SIS now {c['sis_value']!r} (was {c['base_value']!r}), local {c['local_value']!r}"
                    for c in found
                ) or "no open conflicts")
                return 0
            decided = resolve_conflict(engine, args.conflict_id, args.take, args.by, _priorities(args))
        except EditRefused as exc:
            print(f"conflicts {args.action} refused: {exc}", file=sys.stderr)
            return 1
    print(json.dumps(decided, indent=2, default=str) if args.json else
          f"conflict {decided['id']}: {decided['field']} keeps {decided['resolved_value']!r} ({decided['resolution']}, by {decided['resolved_by']})")
    return 0


class _engine:
    def __enter__(self):
        from sis_pipeline.warehouse.engine import create_warehouse_engine, warehouse_url
        from sis_pipeline.warehouse.schema import ensure_schema

        self.engine = create_warehouse_engine(warehouse_url())
        ensure_schema(self.engine)
        return self.engine

    def __exit__(self, *exc_info):
        self.engine.dispose()


def _priorities(args) -> dict[str, int]:
    """The configured integrations' priorities; without a readable configuration, every integration ranks alike."""
    from sis_pipeline.config import ConfigError, load_config

    try:
        return load_config(args.config).priorities
    except (ConfigError, OSError):
        return {}
