"""metrics: pure functions over tiny hand-made timelines, expected values worked out by hand."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pandas as pd
import pytest
from conftest import frame
from hypothesis import given, settings
from hypothesis import strategies as st
from pandas.testing import assert_frame_equal

from analysis import ParameterError, load_timeline, metrics
from analysis.load import Timeline
from analysis.schema import REFORM_AREAS, TABLES

SOURCE = "src"


def make_timeline(events=(), actors=(), event_actors=(), figures=(), claims=()) -> Timeline:
    sources = [
        {
            "source_id": SOURCE,
            "title": "A source",
            "published": "2017-04-19",
            "kind": "news-article",
            "sha256": "0" * 64,
        }
    ]
    return Timeline(
        sources=frame("sources", sources),
        events=frame("events", events),
        actors=frame("actors", actors),
        event_actors=frame("event_actors", event_actors),
        figures=frame("figures", figures),
        claims=frame("claims", claims),
    )


def event(event_id: str, category: str, start: str, end: str, area: str = "") -> dict:
    return {
        "event_id": event_id,
        "title": f"Title of {event_id}",
        "summary": f"Summary of {event_id}.",
        "category": category,
        "area": area,
        "start": start,
        "end": end,
        "date_precision": "approximate",
        "date_basis": "stated",
        "source_id": SOURCE,
        "quote": f"Quote of {event_id}.",
    }


def actor(actor_id: str, name: str) -> dict:
    return {"actor_id": actor_id, "name": name, "kind": "un-body", "source_id": SOURCE, "quote": name}


def role(event_id: str, actor_id: str, role_: str) -> dict:
    return {"event_id": event_id, "actor_id": actor_id, "role": role_}


def figure(figure_id: str, event_id: str, low=None, best=None, high=None, measure: str = "killed") -> dict:
    return {
        "figure_id": figure_id,
        "event_id": event_id,
        "measure": measure,
        "low": low,
        "best": best,
        "high": high,
        "qualifier": f"words of {figure_id}",
        "rule": f"rule of {figure_id}",
        "source_id": SOURCE,
        "quote": f"Quote of {figure_id}.",
    }


def claim(claim_id: str, event_id: str, actor_id: str, kind: str, statement: str) -> dict:
    return {
        "claim_id": claim_id,
        "event_id": event_id,
        "actor_id": actor_id,
        "kind": kind,
        "statement": statement,
        "source_id": SOURCE,
        "quote": f"Quote of {claim_id}.",
    }


# The shared tiny timeline, in deliberately shuffled file order.
EVENTS = [
    event("e-posture", "reform", "2016-12-01", "2016-12-31", "posture"),
    event("e-poc-late", "reform", "2017-02-01", "2017-02-28", "protection-of-civilians"),
    event("e-crisis", "operation", "2016-11-25", "2017-01-10", "crisis-response"),
    event("e-poc-early", "operation", "2016-11-01", "2016-11-30", "protection-of-civilians"),
    event("e-violence", "violence", "2016-07-08", "2016-07-12"),
    event("e-letter", "communication", "2017-04-01", "2017-04-19"),
]
ACTORS = [actor("a", "Alpha"), actor("b", "Beta"), actor("c", "Gamma"), actor("d", "Delta")]
EVENT_ACTORS = [
    role("e-posture", "b", "implementer"),
    role("e-posture", "a", "implementer"),
    role("e-poc-late", "a", "leader"),
    role("e-violence", "a", "party"),
    role("e-violence", "a", "subject"),
    role("e-poc-early", "c", "implementer"),
    role("e-letter", "b", "author"),
]
FIGURES = [figure("f-killed", "e-violence", low=100), figure("f-raped", "e-violence", low=201, measure="raped")]
CLAIMS = [
    claim("k-effect", "e-poc-early", "a", "effect", "Crime fell."),
    claim("k-assessment", "e-poc-early", "b", "assessment", "Good work."),
    claim("k-remaining-crisis", "e-crisis", "b", "remaining", "More planning needed."),
    claim("k-basis", "e-posture", "a", "basis", "Based on a visit."),
    claim("k-late", "e-poc-late", "a", "assessment", "Late work noted."),
    claim("k-remaining", "e-letter", "b", "remaining", "More to do."),
]


@pytest.fixture
def timeline() -> Timeline:
    return make_timeline(EVENTS, ACTORS, EVENT_ACTORS, FIGURES, CLAIMS)


def ids(frame_: pd.DataFrame, column: str) -> list[str]:
    return list(frame_[column])


def test_hand_made_frames_have_the_loaders_dtypes():
    real = load_timeline()
    for table in TABLES:
        assert_frame_equal(frame(table.name), real.table(table.name).iloc[:0], check_index_type=False)


# --- filter_timeline ---------------------------------------------------------------------------


def test_filter_without_parameters_keeps_everything(timeline):
    kept = metrics.filter_timeline(timeline)
    for name in ("events", "actors", "event_actors", "figures", "claims", "sources"):
        assert_frame_equal(kept.table(name), timeline.table(name))


def test_filter_by_window_keeps_events_overlapping_either_edge(timeline):
    # e-violence ends on the window's first day, e-poc-early starts on its last day: both overlap.
    kept = metrics.filter_timeline(timeline, "2016-07-12", "2016-11-01")
    assert_frame_equal(kept.events, timeline.events.iloc[[3, 4]].reset_index(drop=True))
    assert ids(kept.event_actors, "event_id") == ["e-violence", "e-violence", "e-poc-early"]
    assert ids(kept.event_actors, "role") == ["party", "subject", "implementer"]
    assert ids(kept.figures, "figure_id") == ["f-killed", "f-raped"]
    assert ids(kept.claims, "claim_id") == ["k-effect", "k-assessment"]


def test_filter_by_window_drops_events_a_day_outside(timeline):
    kept = metrics.filter_timeline(timeline, "2016-07-13", "2016-10-31")
    assert kept.events.empty
    assert kept.event_actors.empty and kept.figures.empty and kept.claims.empty
    assert list(kept.events.columns) == list(timeline.events.columns)


def test_filter_keeps_an_event_spanning_the_whole_window(timeline):
    # e-crisis runs 2016-11-25 to 2017-01-10; e-posture covers December; the window is inside both.
    kept = metrics.filter_timeline(timeline, pd.Timestamp("2016-12-15"), pd.Timestamp("2016-12-20"))
    assert ids(kept.events, "event_id") == ["e-posture", "e-crisis"]


def test_filter_within_keeps_only_events_whose_every_possible_day_is_in_the_window(timeline):
    # December 2016: e-posture (1-31 December) lies within; e-crisis (25 Nov to 10 Jan) only overlaps.
    assert ids(metrics.filter_timeline(timeline, "2016-12-01", "2016-12-31").events, "event_id") == ["e-posture", "e-crisis"]
    within = metrics.filter_timeline(timeline, "2016-12-01", "2016-12-31", dates="within")
    assert ids(within.events, "event_id") == ["e-posture"]
    assert ids(within.event_actors, "event_id") == ["e-posture", "e-posture"] and ids(within.claims, "claim_id") == ["k-basis"]
    # The edges count as inside; one side open.
    assert ids(metrics.filter_timeline(timeline, "2016-07-08", "2016-07-12", dates="within").events, "event_id") == ["e-violence"]
    assert ids(metrics.filter_timeline(timeline, start="2017-02-01", dates="within").events, "event_id") == [
        "e-poc-late",
        "e-letter",
    ]
    with pytest.raises(ParameterError, match="parameter 'dates' must be one of overlap, within, got 'inside'"):
        metrics.filter_timeline(timeline, dates="inside")


def test_filter_with_one_side_open(timeline):
    assert ids(metrics.filter_timeline(timeline, start="2017-02-28").events, "event_id") == ["e-poc-late", "e-letter"]
    assert ids(metrics.filter_timeline(timeline, end="2016-11-25").events, "event_id") == [
        "e-crisis",
        "e-poc-early",
        "e-violence",
    ]
    assert len(metrics.filter_timeline(timeline, start="", end=None).events) == len(EVENTS)


@pytest.mark.parametrize("bound", ["03/04/2016", "July 2016", "2016-7-1", "2016-02-30", 20160701])
def test_filter_never_guesses_a_day_from_text_that_is_not_yyyy_mm_dd(timeline, bound):
    with pytest.raises(ParameterError, match="parameter 'end' "):
        metrics.filter_timeline(timeline, end=bound)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"start": "2017-04-01", "end": "2017-03-01"}, "start 2017-04-01 is after end 2017-03-01"),
        ({"actors": ["alpah"]}, "unknown actor 'alpah'; known: a, b, c, d"),
        ({"actors": ["b", "zz", "a"]}, "unknown actor 'zz'; known: a, b, c, d"),
        ({"actors": "a"}, "actors must be a list of ids, not the text 'a': write ['a']"),
        ({"categories": ["reforms"]}, "unknown category 'reforms' (did you mean 'reform'?)"),
        ({"categories": "reform"}, "categories must be a list of ids, not the text 'reform'"),
    ],
)
def test_filter_refuses_what_a_report_refuses_instead_of_keeping_nothing(timeline, arguments, message):
    with pytest.raises(ParameterError) as caught:
        metrics.filter_timeline(timeline, **arguments)
    assert message in str(caught.value)


def test_filter_takes_a_date_object_as_it_is(timeline):
    by_text = metrics.filter_timeline(timeline, start="2016-12-15", end="2016-12-20")
    by_date = metrics.filter_timeline(timeline, start=dt.date(2016, 12, 15), end=dt.datetime(2016, 12, 20))
    assert_frame_equal(by_date.events, by_text.events)


def test_filter_by_actors_keeps_every_role_in_the_kept_events(timeline):
    kept = metrics.filter_timeline(timeline, actors=["c"])
    assert ids(kept.events, "event_id") == ["e-poc-early"]
    assert_frame_equal(kept.event_actors, frame("event_actors", [EVENT_ACTORS[5]]))
    # Alpha's and Beta's claims about e-poc-early stay: the claims of kept events, not only the chosen actor's.
    assert ids(kept.claims, "claim_id") == ["k-effect", "k-assessment"]


def test_filter_by_actors_keeps_the_events_they_make_a_claim_about(timeline):
    # Beta has a role in e-posture and e-letter, and makes claims about e-poc-early, e-crisis and e-letter.
    kept = metrics.filter_timeline(timeline, actors=["b"])
    assert ids(kept.events, "event_id") == ["e-posture", "e-crisis", "e-poc-early", "e-letter"]
    expected_roles = frame("event_actors", [EVENT_ACTORS[0], EVENT_ACTORS[1], EVENT_ACTORS[5], EVENT_ACTORS[6]])
    assert_frame_equal(kept.event_actors, expected_roles)
    assert kept.figures.empty
    assert ids(kept.claims, "claim_id") == ["k-effect", "k-assessment", "k-remaining-crisis", "k-basis", "k-remaining"]


def test_filter_by_several_actors_is_a_union(timeline):
    kept = metrics.filter_timeline(timeline, actors=("c", "a"))
    # Alpha: roles in e-posture, e-poc-late, e-violence; claims about e-poc-early, e-posture, e-poc-late.
    assert ids(kept.events, "event_id") == ["e-posture", "e-poc-late", "e-poc-early", "e-violence"]


def test_filter_by_an_actor_in_no_event_keeps_nothing(timeline):
    kept = metrics.filter_timeline(timeline, actors=["d"])
    assert kept.events.empty and kept.event_actors.empty and kept.claims.empty


def test_filter_by_categories(timeline):
    kept = metrics.filter_timeline(timeline, categories=["reform"])
    assert ids(kept.events, "event_id") == ["e-posture", "e-poc-late"]
    assert ids(kept.claims, "claim_id") == ["k-basis", "k-late"]
    assert kept.figures.empty
    kept = metrics.filter_timeline(timeline, categories=["violence", "communication"])
    assert ids(kept.events, "event_id") == ["e-violence", "e-letter"]
    assert ids(kept.figures, "figure_id") == ["f-killed", "f-raped"]


def test_filters_combine_as_and(timeline):
    # Alpha takes part in e-posture, e-poc-late and e-violence, and makes claims about e-poc-early too; of
    # those, reform/operation are all but e-violence; of those, only e-posture overlaps December 2016.
    kept = metrics.filter_timeline(timeline, actors=["a"], categories=["reform", "operation"])
    assert ids(kept.events, "event_id") == ["e-posture", "e-poc-late", "e-poc-early"]
    kept = metrics.filter_timeline(timeline, "2016-12-01", "2016-12-31", actors=["a"], categories=["reform", "operation"])
    assert ids(kept.events, "event_id") == ["e-posture"]
    assert ids(kept.event_actors, "actor_id") == ["b", "a"]
    assert ids(kept.claims, "claim_id") == ["k-basis"]


def test_filter_keeps_actors_and_sources_whole_and_leaves_the_input_alone(timeline):
    before = replace(timeline, events=timeline.events.copy(), event_actors=timeline.event_actors.copy())
    kept = metrics.filter_timeline(timeline, categories=["violence"])
    assert_frame_equal(kept.actors, timeline.actors)
    assert_frame_equal(kept.sources, timeline.sources)
    assert_frame_equal(timeline.events, before.events)
    assert_frame_equal(timeline.event_actors, before.event_actors)
    assert list(kept.events.index) == [0]


def test_filter_on_the_real_timeline():
    real = load_timeline()
    july = metrics.filter_timeline(real, "2016-07-01", "2016-07-31")
    assert ids(july.events, "event_id") == ["juba-fighting", "special-investigation"]
    assert ids(july.figures, "figure_id") == ["juba-killed", "juba-raped"]
    assert july.claims.empty
    guterres = metrics.filter_timeline(real, actors=["guterres"])
    assert ids(guterres.events, "event_id") == [  # his letter, what he says remains, and the events he assesses
        "reform-protection-of-civilians",
        "reform-crisis-response",
        "reform-staff-safety",
        "weapons-free-zone",
        "posture-corrective-actions",
        "sg-letter",
        "more-to-be-done",
    ]
    assert sorted(guterres.claims["actor_id"]) == ["guterres"] * 7
    # The letter went to Haley as President of the Council; the article does not say the Council received it.
    letter = guterres.event_actors[guterres.event_actors["event_id"] == "sg-letter"]
    assert sorted(letter["actor_id"]) == ["guterres", "haley"]


# --- summarize_phases --------------------------------------------------------------------------


def test_summarize_phases_spans_counts_and_gaps():
    events = frame(
        "events",
        [
            event("c", "communication", "2017-04-01", "2017-04-19"),
            event("r", "reform", "2016-12-01", "2016-12-31"),
            event("v", "violence", "2016-07-08", "2016-07-12"),
            event("o", "operation", "2016-11-25", "2017-01-10"),
            event("a", "assessment", "2017-03-01", "2017-03-31"),
            event("i", "investigation", "2016-07-10", "2016-11-19"),
        ],
    )
    expected = pd.DataFrame(
        {
            "phase": ["crisis", "investigation", "implementation", "assessment"],
            "label": [
                "Crisis: the July 2016 fighting",
                "Investigation",
                "Reforms and operations",
                "Follow-up and assessment",
            ],
            "start": pd.to_datetime(["2016-07-08", "2016-07-10", "2016-11-25", "2017-03-01"]).astype("datetime64[ns]"),
            "end": pd.to_datetime(["2016-07-12", "2016-11-19", "2017-01-10", "2017-04-19"]).astype("datetime64[ns]"),
            "events": [1, 1, 2, 2],
            "event_ids": [("v",), ("i",), ("o", "r"), ("a", "c")],
            # 10 July - 12 July = -2 (overlap); 25 Nov - 19 Nov = 6; 1 March 2017 - 10 January 2017 = 21 + 28 + 1 = 50.
            "gap_days": pd.array([pd.NA, -2, 6, 50], dtype="Int64"),
        }
    )
    assert_frame_equal(metrics.summarize_phases(events), expected)


def test_summarize_phases_skips_phases_without_events_and_measures_from_the_previous_one():
    events = frame(
        "events",
        [
            event("late", "assessment", "2016-09-01", "2016-09-30"),
            event("fight", "violence", "2016-07-08", "2016-07-12"),
        ],
    )
    phases = metrics.summarize_phases(events)
    assert list(phases["phase"]) == ["crisis", "assessment"]
    assert list(phases["events"]) == [1, 1]
    assert phases["gap_days"].isna().tolist() == [True, False]
    assert phases["gap_days"].iloc[1] == 19 + 31 + 1  # 12 July to 1 September 2016


def test_summarize_phases_of_no_events_is_empty_with_the_columns():
    phases = metrics.summarize_phases(frame("events"))
    assert phases.empty
    assert list(phases.columns) == ["phase", "label", "start", "end", "events", "event_ids", "gap_days"]


def test_summarize_phases_of_the_real_timeline():
    phases = metrics.summarize_phases(load_timeline().events)
    assert list(phases["phase"]) == ["crisis", "investigation", "implementation", "assessment"]
    assert list(phases["events"]) == [1, 1, 8, 3]
    # crisis 8-12 July 2016; investigation from 8 July: -4; implementation from 1 November 2016
    # after 19 April 2017: -169; assessment from 1 March 2017 after 19 April 2017: -49.
    assert phases["gap_days"].tolist() == [pd.NA, -4, -169, -49]
    assert phases["event_ids"].iloc[3] == ("follow-up-mission", "sg-letter", "more-to-be-done")


# --- actor_roles -------------------------------------------------------------------------------


def test_actor_roles_rows_for_involved_actors_columns_in_date_order(timeline):
    expected = pd.DataFrame(
        {
            "e-violence": ["party, subject", "", ""],
            "e-poc-early": ["", "", "implementer"],
            "e-crisis": ["", "", ""],
            "e-posture": ["implementer", "implementer", ""],
            "e-poc-late": ["leader", "", ""],
            "e-letter": ["", "author", ""],
        },
        index=pd.Index(["Alpha", "Beta", "Gamma"], name="actor"),
    )
    expected.columns.name = "event_id"
    # Delta takes part in nothing: no row. Rows follow actors.csv, not the order of first involvement.
    assert_frame_equal(metrics.actor_roles(timeline), expected)


def test_actor_roles_follows_the_filter(timeline):
    table = metrics.actor_roles(metrics.filter_timeline(timeline, categories=["reform"]))
    assert list(table.columns) == ["e-posture", "e-poc-late"]
    assert list(table.index) == ["Alpha", "Beta"]
    assert table.loc["Beta"].tolist() == ["implementer", ""]


def test_actor_roles_without_involvement_is_empty_with_the_event_columns(timeline):
    table = metrics.actor_roles(replace(timeline, event_actors=frame("event_actors")))
    assert table.empty and table.index.name == "actor"
    assert list(table.columns) == ["e-violence", "e-poc-early", "e-crisis", "e-posture", "e-poc-late", "e-letter"]


# --- human_cost --------------------------------------------------------------------------------


def test_human_cost_bounds_and_open_ends():
    timeline = make_timeline(
        events=[event("e1", "violence", "2016-07-08", "2016-07-12")],
        figures=[
            figure("lower-only", "e1", low=100),
            figure("both", "e1", low=100, high=300),
            figure("best-only", "e1", best=150, measure="raped"),
            figure("all-three", "e1", low=1000, best=1500, high=2000),
            figure("upper-only", "e1", high=50),
            figure("none", "e1"),
        ],
    )
    names = ["lower-only", "both", "best-only", "all-three", "upper-only", "none"]
    expected = pd.DataFrame(
        {
            "figure_id": names,
            "event_id": ["e1"] * 6,
            "event_title": ["Title of e1"] * 6,
            "measure": ["killed", "killed", "raped", "killed", "killed", "killed"],
            "low": pd.array([100, 100, pd.NA, 1000, pd.NA, pd.NA], dtype="Int64"),
            "best": pd.array([pd.NA, pd.NA, 150, 1500, pd.NA, pd.NA], dtype="Int64"),
            "high": pd.array([pd.NA, 300, pd.NA, 2000, 50, pd.NA], dtype="Int64"),
            "qualifier": [f"words of {name}" for name in names],
            "rule": [f"rule of {name}" for name in names],
            "source_id": [SOURCE] * 6,
            "quote": [f"Quote of {name}." for name in names],
            "is_open_ended": [True, False, True, False, False, True],
            "bounds": [
                "at least 100",
                "100 to 300",
                "best estimate 150",
                "1,000 to 2,000; best estimate 1,500",
                "at most 50",
                "no number given",
            ],
        }
    )
    assert_frame_equal(metrics.human_cost(timeline), expected)


def test_a_number_given_alone_is_recorded_as_exact():
    figures = [figure("exact", "e1", low=250, best=250, high=250), figure("range", "e1", low=250, best=260, high=250)]
    timeline = make_timeline(events=[event("e1", "violence", "2016-07-08", "2016-07-12")], figures=figures)
    assert metrics.human_cost(timeline)["bounds"].tolist() == ["exactly 250", "250 to 250; best estimate 260"]


def test_human_cost_of_the_real_timeline():
    cost = metrics.human_cost(load_timeline())
    assert cost["figure_id"].tolist() == ["juba-killed", "juba-raped"]
    assert cost["bounds"].tolist() == ["at least 200", "at least 201"]
    assert cost["is_open_ended"].tolist() == [True, True]
    assert cost["qualifier"].tolist() == ["Hundreds", "more than 200"]
    assert cost["event_title"].tolist() == ["Fighting between the SPLA and the SPLM/A-IO"] * 2


def test_human_cost_without_figures_is_empty(timeline):
    cost = metrics.human_cost(replace(timeline, figures=frame("figures")))
    assert cost.empty
    assert list(cost.columns)[-2:] == ["is_open_ended", "bounds"]


# --- reform_tracker ----------------------------------------------------------------------------


def test_reform_tracker_by_area_with_implementers_and_reported_effects(timeline):
    expected = pd.DataFrame(
        {
            "event_id": ["e-poc-early", "e-poc-late", "e-crisis", "e-posture"],
            "area": ["protection-of-civilians", "protection-of-civilians", "crisis-response", "posture"],
            "title": ["Title of e-poc-early", "Title of e-poc-late", "Title of e-crisis", "Title of e-posture"],
            "category": ["operation", "reform", "operation", "reform"],
            # e-poc-late has only a leader, e-crisis nobody: 'not stated'. Implementers in file order.
            "implemented_by": ["Gamma", "not stated", "not stated", "Beta, Alpha"],
            # Only effect and assessment claims count; 'remaining' and 'basis' do not.
            "reported_effect": ["Alpha: Crime fell. Beta: Good work.", "Alpha: Late work noted.", "", ""],
            # e-poc-early has an effect (and an assessment); e-poc-late only an assessment.
            "status": [
                "effect reported",
                "assessed, no effect reported",
                "no effect or assessment reported",
                "no effect or assessment reported",
            ],
            "quote": ["Quote of e-poc-early.", "Quote of e-poc-late.", "Quote of e-crisis.", "Quote of e-posture."],
        }
    )
    assert_frame_equal(metrics.reform_tracker(timeline), expected)


def test_speaker_is_the_actor_s_name_or_the_article_capitalised_where_a_sentence_starts():
    names = {"a": "troop and police contributing countries", "b": "Beta"}
    assert metrics.speaker("b", names) == "Beta"
    assert metrics.speaker("a", names, starts_a_sentence=True) == "Troop and police contributing countries"
    assert metrics.speaker("zz", names, starts_a_sentence=True) == "Zz"  # an unknown actor: its id
    assert metrics.speaker("", names) == "the article" and metrics.speaker(None, names) == "the article"
    assert metrics.speaker(pd.NA, names, starts_a_sentence=True) == "The article"


def test_reform_tracker_orders_areas_as_the_schema_not_alphabetically():
    areas = list(REFORM_AREAS)
    assert areas == ["protection-of-civilians", "crisis-response", "staff-safety", "training-and-monitoring", "posture"]
    # Written in reverse schema order, and with later dates for earlier areas.
    events = [
        event(f"m-{area}", "reform", f"2016-{12 - position:02d}-01", f"2016-{12 - position:02d}-28", area)
        for position, area in enumerate(areas)
    ][::-1]
    tracker = metrics.reform_tracker(make_timeline(events))
    assert tracker["area"].tolist() == areas
    assert tracker["implemented_by"].tolist() == ["not stated"] * 5
    assert tracker["status"].tolist() == ["no effect or assessment reported"] * 5
    assert tracker.dtypes.map(str).tolist() == ["str"] * 8  # text columns, even when nothing is found


def test_reform_tracker_of_the_real_timeline():
    tracker = metrics.reform_tracker(load_timeline())
    assert tracker["event_id"].tolist() == [
        "reform-protection-of-civilians",
        "weapons-free-zone",
        "dismounted-patrols",
        "cordon-and-search",
        "reform-crisis-response",
        "reform-staff-safety",
        "training-and-monitoring",
        "posture-corrective-actions",
    ]
    # Effects: the drop in crime, and the "positive change" "as a result of corrective actions"; "significant
    # work" and "important changes" only assess.
    statuses = dict(zip(tracker["event_id"], tracker["status"], strict=True))
    effects = [event_id for event_id, status in statuses.items() if status == "effect reported"]
    assert effects == ["weapons-free-zone", "posture-corrective-actions"]
    assert [event_id for event_id, status in statuses.items() if status == "no effect or assessment reported"] == [
        "dismounted-patrols",
        "cordon-and-search",
    ]
    implementers = dict(zip(tracker["event_id"], tracker["implemented_by"], strict=True))
    assert implementers["weapons-free-zone"] == "not stated"
    assert implementers["training-and-monitoring"] == "Department of UN Peacekeeping Operations, Department of Field Support"
    assert implementers["posture-corrective-actions"] == (
        "United Nations peacekeeping mission in South Sudan, troop and police contributing countries"
    )


def test_reform_tracker_without_areas_is_empty(timeline):
    tracker = metrics.reform_tracker(metrics.filter_timeline(timeline, categories=["violence"]))
    assert tracker.empty
    assert tracker.dtypes.map(str).tolist() == ["str"] * 8  # text columns still: a table can take .str of them
    assert list(tracker.columns) == [
        "event_id",
        "area",
        "title",
        "category",
        "implemented_by",
        "reported_effect",
        "status",
        "quote",
    ]


# --- remaining_work, reported_effects ----------------------------------------------------------------------------


def test_remaining_work_is_the_remaining_claims_in_file_order(timeline):
    columns = ["claim_id", "event_id", "actor_id", "kind", "statement", "source_id", "quote"]
    expected = frame("claims", [CLAIMS[2], CLAIMS[5]])[columns]
    assert_frame_equal(metrics.remaining_work(timeline), expected)
    assert metrics.remaining_work(metrics.filter_timeline(timeline, categories=["reform"])).empty


def test_a_claim_s_speaker_says_when_the_article_quotes_words_it_does_not_attribute():
    names = {"sg": "The Secretary-General"}
    assert metrics.speaker("sg", names, statement="He made “important changes”.") == "The Secretary-General"
    assert metrics.speaker("", names, statement="The letter is based on a visit.") == "the article"
    quoted = metrics.speaker(pd.NA, names, starts_a_sentence=True, statement="They made “important changes”.")
    assert quoted == "The article, quoting an unnamed speaker"


def test_reported_effects_are_the_effect_claims(timeline):
    columns = ["claim_id", "event_id", "actor_id", "kind", "statement", "source_id", "quote"]
    assert_frame_equal(metrics.reported_effects(timeline), frame("claims", [CLAIMS[0]])[columns])
    assert metrics.reported_effects(metrics.filter_timeline(timeline, categories=["violence"])).empty


def test_remaining_work_of_the_real_timeline():
    remaining = metrics.remaining_work(load_timeline())
    assert remaining["claim_id"].tolist() == ["more-needs-to-be-done"]
    assert remaining["statement"].iloc[0] == (
        "“[W]hile much has been achieved, more needs to be done to raise and sustain the performance bar,” "
        "including through ongoing reviews and revise[d] strategies."
    )


def test_every_date_basis_has_words_for_the_reader():
    from analysis.schema import DATE_BASES

    assert list(metrics.DATING_WORDS) == list(DATE_BASES)


TEXTS = st.text(alphabet=st.sampled_from(["a", "b", "é", " ", "\u0301"]), max_size=3)


@settings(max_examples=200, deadline=None)
@given(values=st.lists(TEXTS, max_size=20), allowed=st.lists(TEXTS, max_size=8))
def test_isin_text_is_pandas_isin(values, allowed):
    # Arrow's hash lookup, for speed: the same answer as pandas' own, exact text (no Unicode folding).
    column = pd.Series(values, dtype="str")
    expected = column.isin(allowed).to_numpy()
    assert metrics.isin_text(column, allowed).tolist() == expected.tolist()
    assert metrics.isin_text(column, pd.Series(allowed, dtype="str")).tolist() == expected.tolist()
