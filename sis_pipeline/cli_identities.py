"""`sis-pipeline identities review | link ID --by NAME | split ID --by NAME`: possible duplicate children.

Only ids are printed (source id, candidate uid): deciding needs the SIS or `students show`, never a
name on a terminal that may be logged.
"""

import json
import sys


def identities_command(args, parser) -> int:
    from sis_pipeline.warehouse.engine import create_warehouse_engine, warehouse_url
    from sis_pipeline.warehouse.identity_reviews import ReviewNotFound, decide_review, open_reviews
    from sis_pipeline.warehouse.schema import ensure_schema

    if args.action != "review" and (args.review_id is None or not args.by):
        parser.error(f"identities {args.action} needs the review's id and --by NAME (see: sis-pipeline identities review)")
    engine = create_warehouse_engine(warehouse_url())
    try:
        ensure_schema(engine)
        if args.action == "review":
            reviews = open_reviews(engine, args.integration)
            if args.json:
                print(json.dumps({"reviews": reviews}, indent=2, default=str))
            elif not reviews:
                print("no open identity reviews")
            for r in reviews if not args.json else []:
                print(f"{r['id']}  {r['integration']}/{r['source_id']} may be {r['candidate_uid']}: {r['reason']}")
            return 0
        decided = decide_review(engine, args.review_id, "linked" if args.action == "link" else "split", args.by)
        outcome = (
            f"now shares student_uid {decided['candidate_uid']}" if args.action == "link" else f"kept apart from {decided['candidate_uid']}"
        )
        print(json.dumps(decided, indent=2, default=str) if args.json else f"{decided['integration']}/{decided['source_id']}: {outcome}")
        return 0
    except ReviewNotFound as exc:
        print(f"identities {args.action} refused: {exc.args[0]}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
