"""`sis-pipeline holds list | show RUN | approve RUN | discard RUN`: runs held by the safety limits."""

import json
import sys

from sis_pipeline.counts import LOAD_COUNTS


def holds_command(args, parser) -> int:
    from sis_pipeline.defs.holds import HoldRefused, approve, discard
    from sis_pipeline.defs.resources import StagingResource
    from sis_pipeline.warehouse.engine import create_warehouse_engine, warehouse_url
    from sis_pipeline.warehouse.errors import RunInProgressError
    from sis_pipeline.warehouse.holds import HoldNotFound, find_hold, pending_holds
    from sis_pipeline.warehouse.schema import ensure_schema

    if args.action != "list" and not args.run_id:
        parser.error(f"holds {args.action} needs the held run's id (see: sis-pipeline holds list)")
    engine = create_warehouse_engine(warehouse_url())
    staging = StagingResource()
    try:
        ensure_schema(engine)
        if args.action == "list":
            return _list(pending_holds(engine, args.integration), args.json)
        if args.action == "show":
            return _show(find_hold(engine, args.run_id, args.integration), args.json)
        if args.action == "approve":
            name, counts = approve(engine, staging, args.run_id, args.integration)
            entities = {entity: {c: getattr(n, c) for c in LOAD_COUNTS} for entity, n in counts.items()}
            result = {"integration": name, "run_id": args.run_id, "status": "success", "entities": entities}
            applied = "; ".join(
                f"{entity}: {c['inserted']} inserted, {c['updated']} updated, {c['archived']} archived"
                for entity, c in entities.items()
            )
            print(json.dumps(result, indent=2) if args.json else f"{name}: run {args.run_id} approved and applied ({applied})")
            return 0
        name = discard(engine, staging, args.run_id, args.integration)
        result = {"integration": name, "run_id": args.run_id, "decision": "discarded"}
        print(json.dumps(result, indent=2) if args.json else f"{name}: run {args.run_id} discarded; nothing was applied")
        return 0
    except (HoldNotFound, HoldRefused, RunInProgressError) as exc:
        print(f"holds {args.action} refused: {exc.args[0]}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()


def _list(holds: list[dict], as_json: bool) -> int:
    if as_json:
        rows = [_summary(hold) for hold in holds]
        print(json.dumps({"holds": rows}, indent=2, default=str))
    elif not holds:
        print("no held runs")
    for hold in holds if not as_json else []:
        print(f"{hold['run_id']}  {hold['integration']}  held {hold['held_at']:%Y-%m-%d %H:%M}: " + "; ".join(hold["report"]["reasons"]))
    return 0


def _show(hold: dict, as_json: bool) -> int:
    if as_json:
        print(json.dumps(_summary(hold) | {"report": hold["report"]}, indent=2, default=str))
        return 0
    state = hold["decision"] or ("pending" if hold["status"] == "held" else hold["status"])
    lines = [f"{hold['integration']}: run {hold['run_id']} held {hold['held_at']:%Y-%m-%d %H:%M} ({state})"]
    lines += [f"  {reason}" for reason in hold["report"]["reasons"]]
    lines.append(f"  {'entity':<12}{'active':>8}{'insert':>8}{'update':>8}{'archive':>8}   samples (source ids)")
    for entity, e in hold["report"]["entities"].items():
        samples = ", ".join(e["sample_archived"] + e["sample_changed"])
        lines.append(
            f"  {entity:<12}{e['active_before']:>8}{e['inserted']:>8}{e['updated']:>8}{e['archived_active']:>8}   {samples}"
        )
    print("\n".join(lines))
    return 0


def _summary(hold: dict) -> dict:
    return {
        "run_id": hold["run_id"],
        "integration": hold["integration"],
        "held_at": hold["held_at"],
        "state": hold["decision"] or ("pending" if hold["status"] == "held" else hold["status"]),
        "reasons": hold["report"]["reasons"],
    }
