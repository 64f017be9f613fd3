"""The schema itself: complete, consistent, and the files generated from it are up to date."""

from __future__ import annotations

import json

import pytest

from analysis import TimelineError, docs
from analysis.schema import TABLES, TABLES_BY_NAME, datapackage


@pytest.mark.parametrize("table", TABLES, ids=lambda t: t.name)
def test_every_field_is_described_and_typed(table):
    for spec in table.fields:
        assert spec.description.strip(), f"{table.name}.{spec.name} has no description"
        assert spec.type in {"string", "integer", "date"}
        if spec.enum:
            assert all(meaning.strip() for meaning in spec.enum.values())
    assert len(set(table.field_names)) == len(table.field_names)


@pytest.mark.parametrize("table", TABLES, ids=lambda t: t.name)
def test_keys_name_real_fields(table):
    assert set(table.primary_key) <= set(table.field_names)
    for spec in (table.field(name) for name in table.primary_key):
        assert spec.required
    for fk in table.foreign_keys:
        assert set(fk.fields) <= set(table.field_names)
        parent = TABLES_BY_NAME[fk.table]
        assert fk.reference == parent.primary_key


@pytest.mark.parametrize("table", TABLES, ids=lambda t: t.name)
def test_verbatim_fields_can_find_their_source(table):
    if any(spec.verbatim for spec in table.fields):
        assert "source_id" in table.field_names


def test_contract_fields_named_in_the_issue_are_kept():
    contract = {
        "sources": {"source_id", "title", "published"},
        "events": {
            "event_id",
            "title",
            "summary",
            "category",
            "start",
            "end",
            "date_precision",
            "date_basis",
            "date_note",
            "date_text",
            "location",
            "location_quote",
            "source_id",
            "quote",
        },
        "actors": {"actor_id", "name", "kind"},
        "event_actors": {"event_id", "actor_id", "role"},
        "figures": {"figure_id", "event_id", "measure", "low", "best", "high", "qualifier", "rule", "quote"},
    }
    for name, fields in contract.items():
        assert fields <= set(TABLES_BY_NAME[name].field_names), name


def test_committed_descriptor_and_dictionary_are_generated_from_the_schema():
    assert docs.write_schema_files(check_only=True) == []


def test_descriptor_matches_the_csv_headers():
    package = json.loads(docs.descriptor_path().read_text(encoding="utf-8"))
    folder = docs.descriptor_path().parent
    for resource in package["resources"]:
        header = (folder / resource["path"]).read_text(encoding="utf-8").split("\n", 1)[0]
        assert header.split(",") == [f["name"] for f in resource["schema"]["fields"]]


def test_frictionless_validates_the_shipped_package():
    import frictionless

    report = frictionless.validate(str(docs.descriptor_path()))
    errors = [error.message for task in report.tasks for error in task.errors]
    assert report.valid, errors


def test_date_fields_are_declared_as_dates():
    descriptor = datapackage()
    types = {(r["name"], f["name"]): f["type"] for r in descriptor["resources"] for f in r["schema"]["fields"]}
    assert types[("events", "start")] == types[("events", "end")] == types[("sources", "published")] == "date"


def test_the_timeline_container_has_one_frame_per_table():
    from dataclasses import fields

    from analysis.load import Timeline

    frames = {f.name for f in fields(Timeline)} - {"source_texts"}
    assert frames == set(TABLES_BY_NAME)


@pytest.mark.parametrize(
    ("readme", "missing"),
    [
        ("# Data\n\nNo dictionary here.\n", f"the lines {docs.BEGIN} and {docs.END} are missing"),
        (f"# Data\n\n{docs.BEGIN}\nold dictionary, never ended\n", f"the line {docs.END} is missing"),
    ],
)
def test_a_readme_without_the_dictionary_s_markers_is_refused_not_cut(readme, missing):
    with pytest.raises(TimelineError) as refused:
        docs._with_dictionary(readme)
    assert f"README.md: {missing}: the dictionary goes between" in str(refused.value)
