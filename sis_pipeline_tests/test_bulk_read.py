"""read_text_frame: PostgreSQL's COPY path gives the very frame fetched rows give, awkward text included."""

from datetime import date

import pandas as pd
from sqlalchemy import Column, Date, MetaData, String, Table, create_engine, insert, select, text

from sis_pipeline.warehouse.bulk_read import read_text_frame
from sis_pipeline.warehouse.student_mappings import read_identity_index

AWKWARD = ["plain", "", None, "comma, inside", 'a "quote"', "two\nlines", "Zoë 山田", "\\N", "NULL", " spaced "]


def people_table(engine) -> Table:
    metadata = MetaData()
    table = Table("people", metadata, Column("source_id", String, primary_key=True), Column("name", String), Column("born", Date))
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(table), [
            {"source_id": f"s{n}", "name": value, "born": None if n % 3 == 0 else date(2010 + n, 1 + n, 2 * n + 1)}
            for n, value in enumerate(AWKWARD)
        ])
    return table


def fetched(engine, query, columns) -> pd.DataFrame:
    with engine.connect() as conn:
        frame = pd.DataFrame(conn.execute(query).all(), columns=columns, dtype=object)
    frame["born"] = frame["born"].map(lambda day: None if day is None else day.isoformat())
    return frame


def test_copy_gives_the_fetched_rows_frame(postgres_url):
    engine = create_engine(postgres_url)
    with engine.begin() as conn:  # a server set to print dates the other way round must not matter
        conn.execute(text(f"ALTER DATABASE {engine.url.database} SET datestyle = 'SQL, DMY'"))
    engine.dispose()
    table = people_table(engine)
    query = select(table.c.source_id, table.c.name, table.c.born).where(table.c.source_id != "nobody").order_by(table.c.source_id)
    copied = read_text_frame(engine, query, ["source_id", "name", "born"])
    pd.testing.assert_frame_equal(copied, fetched(engine, query, ["source_id", "name", "born"]))
    assert copied["name"].tolist().count(None) == 1 and "" in copied["name"].tolist()  # NULL and "" kept apart
    empty = read_text_frame(engine, query.where(table.c.source_id == "nobody"), ["source_id", "name", "born"])
    assert list(empty.columns) == ["source_id", "name", "born"] and len(empty) == 0


def test_the_identity_index_is_read_by_copy_on_postgresql(postgres_url, monkeypatch):
    """Guards the test above from testing a path the identity step does not take."""
    import sis_pipeline.warehouse.bulk_read as bulk_read
    from sis_pipeline.warehouse.schema import ensure_schema

    engine = create_engine(postgres_url)
    ensure_schema(engine)
    copies = []
    real_read_csv = bulk_read.pa_csv.read_csv
    monkeypatch.setattr(bulk_read.pa_csv, "read_csv", lambda *a, **k: copies.append(1) or real_read_csv(*a, **k))
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO student_mappings (integration, id_type, source_id, student_uid, rule, linked_at) "
            "VALUES ('d', 'source_id', 's1', 'u1', 'new', now())"
        ))
    index = read_identity_index(engine, "d")
    assert index.mappings.to_dict("records") == [{"id_type": "source_id", "source_id": "s1", "student_uid": "u1"}]
    assert len(copies) == 1  # the mappings (the people table is empty: nothing to parse)
