"""The timeline schema, declared once: tables, fields, types, allowed values and keys.

Everything else reads this module: the loader and its dtypes, validation, the Frictionless
descriptor ``data/timeline/datapackage.json``, the data dictionary in ``data/README.md``,
test fixtures and chart labels. A test proves the committed descriptor matches it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

SLUG_PATTERN = r"[a-z0-9]+(?:-[a-z0-9]+)*"
DATE_PATTERN = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"  # ASCII digits: \d would take any script's
SHA256_PATTERN = r"[0-9a-f]{64}"


@dataclass(frozen=True)
class Field:
    """One column of one table."""

    name: str
    type: str  # "string", "integer" or "date" (Table Schema types)
    description: str
    required: bool = False
    enum: dict[str, str] | None = None  # allowed value -> what it means
    pattern: str | None = None
    minimum: int | None = None
    verbatim: bool = False  # the value must be found word for word in the row's source
    # Our words, which mark in quotation marks what they take of the source's, found in the row's quote ("quote")
    # or anywhere in the source ("source"); and never take someone's own words without them (quotes.py).
    quotes_from: str | None = None

    @property
    def values(self) -> tuple[str, ...]:
        return tuple(self.enum) if self.enum else ()


@dataclass(frozen=True)
class ForeignKey:
    fields: tuple[str, ...]
    table: str
    reference: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    """One CSV file of the timeline."""

    name: str
    record: str  # what one row is called in messages: 'event "juba-fighting"'
    description: str
    fields: tuple[Field, ...]
    primary_key: tuple[str, ...]
    foreign_keys: tuple[ForeignKey, ...] = ()
    rules: tuple[str, ...] = field(default=())  # checks a Table Schema cannot say
    may_be_empty: bool = True

    @property
    def path(self) -> str:
        return f"{self.name}.csv"

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    def field(self, name: str) -> Field:
        for candidate in self.fields:
            if candidate.name == name:
                return candidate
        raise KeyError(name)


CATEGORIES = {
    "violence": "Armed fighting and the harm done to people.",
    "investigation": "An inquiry into what happened and how the UN responded.",
    "reform": (
        "A change in how the mission or the UN works, as the article reports it (it does not tie each "
        "change to a recommendation of the investigation)."
    ),
    "operation": "Something peacekeepers do on the ground, as a routine.",
    "assessment": "A review of progress, or a judgement on what has been achieved.",
    "communication": "A letter, statement or report from one actor to another.",
}

DATE_PRECISIONS = {
    "day": "A single known day: start equals end.",
    "range": "A stated span of days: start and end are its first and last day.",
    "month": "Known only to the month: start and end are the month's first and last day.",
    "approximate": (
        "Only bounds are known: start and end are the earliest and latest possible day, the bounds "
        'that a round figure of the article gives ("over the last five months"), or, for an assumed '
        "date, the period the event is placed in; date_note says which."
    ),
}

DATE_BASES = {
    "stated": "The article gives the date in its own words.",
    "inferred": "We derived the date from the article's words; date_note says how.",
    "assumed": (
        "The article gives no date; we place the event in the period of the work it is reported with, "
        "whose bounds start and end are. It may have begun earlier; date_note says why it is placed there."
    ),
}

REFORM_AREAS = {
    "protection-of-civilians": "Protecting civilians in and around the UN sites.",
    "crisis-response": "Planning and preparing the response to crisis situations.",
    "staff-safety": "The safety and security of staff.",
    "training-and-monitoring": "Training peacekeepers and monitoring their performance.",
    "posture": "The operations and posture of the military and police components.",
}

ACTOR_KINDS = {
    "un-body": "A body, mission or department of the United Nations.",
    "un-official": "A person holding a United Nations office.",
    "member-state-official": "A person representing a member state.",
    "member-states": "A group of member states.",
    "armed-force": "An army or armed movement that took part in fighting.",
    "person": "A person named in the article in another capacity.",
}

ROLES = {
    "party": "Took part in the fighting.",
    "author": "Wrote, issued or made the communication or statement.",
    "recipient": "Received the communication.",
    "leader": "Led the mission or investigation.",
    "implementer": "Carried out the measure.",
    "subject": "Was examined or acted upon.",
}

CLAIM_KINDS = {
    "assessment": "A judgement on the progress made.",
    "effect": "A reported result of a measure.",
    "basis": "What the observations rest on.",
    "remaining": "What the article says still needs to be done.",
}

SOURCE_KINDS = {
    "news-article": "A news story.",
}

MEASURES = {
    "killed": "People killed.",
    "raped": "People raped.",
}


def label(value: str) -> str:
    """A readable label for an enum value: 'protection-of-civilians' -> 'Protection of civilians'."""
    return value.replace("-", " ").capitalize()


def _id(name: str, description: str) -> Field:
    return Field(name, "string", description, required=True, pattern=SLUG_PATTERN)


def _ref(name: str, description: str, *, required: bool = True) -> Field:
    return Field(name, "string", description, required=required, pattern=SLUG_PATTERN)


_QUOTATION_RULE = (
    "{field}'s words in “quotation marks” are {where}, piece by piece around our edits in [square brackets];"
    " four words in a row that the source has in quotation marks, someone's own words, are in quotation marks in {field} too"
)


def _quote(description: str) -> Field:
    return Field("quote", "string", description, required=True, verbatim=True)


SOURCES = Table(
    name="sources",
    record="source",
    description="The documents the timeline is drawn from; the text of each is data/sources/<source_id>.md.",
    fields=(
        _id("source_id", "Stable identifier; the source's text is data/sources/<source_id>.md."),
        Field("title", "string", "The document's headline, as published.", required=True),
        Field("published", "date", "Day of publication (YYYY-MM-DD).", required=True),
        Field("publisher", "string", "Who published it, where known."),
        Field("kind", "string", "What sort of document it is.", required=True, enum=SOURCE_KINDS),
        Field("url", "string", "Where it was published; empty where not known."),
        Field(
            "sha256",
            "string",
            "SHA-256 of the source file's bytes; guards the text the quotes are checked against.",
            required=True,
            pattern=SHA256_PATTERN,
        ),
    ),
    primary_key=("source_id",),
    may_be_empty=False,
    rules=("the file data/sources/<source_id>.md exists and its SHA-256 equals sha256",),
)

EVENTS = Table(
    name="events",
    record="event",
    description="Everything that happened, one row per event, with the sentence that reports it.",
    fields=(
        _id("event_id", "Stable slug naming the event."),
        Field(
            "title",
            "string",
            "Short title, in our words; words of the source in “quotation marks”.",
            required=True,
            quotes_from="source",
        ),
        Field(
            "summary",
            "string",
            "What happened, in our words, staying within the quote; words taken from it in “quotation marks”.",
            required=True,
            quotes_from="quote",
        ),
        Field("category", "string", "What kind of event it is.", required=True, enum=CATEGORIES),
        Field(
            "area",
            "string",
            "For reforms and operations: the area of the mission's work they belong to.",
            enum=REFORM_AREAS,
        ),
        Field(
            "start", "date", "Earliest possible day of the event, or of the period it is assumed in (YYYY-MM-DD).", required=True
        ),
        Field("end", "date", "Latest possible day of the event, or of the period it is assumed in (YYYY-MM-DD).", required=True),
        Field("date_precision", "string", "How exactly the dates are known.", required=True, enum=DATE_PRECISIONS),
        Field(
            "date_basis",
            "string",
            "Whether the article states the date, we inferred it, or we assumed it.",
            required=True,
            enum=DATE_BASES,
        ),
        Field(
            "date_note",
            "string",
            "How the date was inferred or why it was assumed, from which words; required then. Words of the source in "
            "“quotation marks”.",
            quotes_from="source",
        ),
        Field("date_text", "string", "The article's own words for the time, verbatim, where it has any.", verbatim=True),
        Field("location", "string", "Where it happened, in the article's words; empty where not stated."),
        Field(
            "location_quote",
            "string",
            "Where the quote does not name the place: the words of another passage of the source that do, verbatim "
            "(the place is then inferred from them); empty otherwise.",
            verbatim=True,
        ),
        _ref("source_id", "The source that reports the event."),
        _quote("The sentence or clause of the source that reports the event, verbatim."),
    ),
    primary_key=("event_id",),
    foreign_keys=(ForeignKey(("source_id",), "sources", ("source_id",)),),
    may_be_empty=False,
    rules=(
        "end is not before start, and neither is after the source's published day",
        "date_basis stated means date_text gives the year of start and end, and, as date_precision requires, their month and day;"
        " its precision is its words' (a day names one day, a range two or more, a month none)",
        "date_basis inferred with a date_text that a rule of analysis/relative_dates.py reads ('last month', 'over the last"
        " five months', 'for April') means start and end are the days those words give, counted from the source's published day",
        "date_note is required when date_basis is inferred or assumed",
        "date_precision day means start equals end; month means the first to the last day of one month",
        "location is found as whole words in quote or, only where the quote does not name the place, in location_quote",
        "quote, date_text and location_quote are found verbatim in the source",
        _QUOTATION_RULE.format(field="summary", where="its quote's"),
        _QUOTATION_RULE.format(field="title", where="the source's"),
        _QUOTATION_RULE.format(field="date_note", where="the source's"),
    ),
)

ACTORS = Table(
    name="actors",
    record="actor",
    description="Everyone the article names as acting, deciding, writing or being examined.",
    fields=(
        _id("actor_id", "Stable slug naming the actor."),
        Field("name", "string", "The name as the article gives it.", required=True),
        Field("short_name", "string", "The article's abbreviation, where it gives one."),
        Field("kind", "string", "What sort of actor it is.", required=True, enum=ACTOR_KINDS),
        Field("role", "string", "Office, rank or affiliation as the article states it; empty where it states none."),
        _ref("source_id", "The source that names the actor."),
        _quote("Where the source names the actor, verbatim."),
    ),
    primary_key=("actor_id",),
    foreign_keys=(ForeignKey(("source_id",), "sources", ("source_id",)),),
)

EVENT_ACTORS = Table(
    name="event_actors",
    record="event-actor",
    description="Who has a role in which event (a party, author or subject, among others), with the words that say so.",
    fields=(
        _ref("event_id", "The event."),
        _ref("actor_id", "The actor."),
        Field("role", "string", "The actor's part in the event.", required=True, enum=ROLES),
        _ref("source_id", "The source that gives the actor this role."),
        _quote("The words of the source that give the actor this role, verbatim."),
    ),
    primary_key=("event_id", "actor_id", "role"),
    foreign_keys=(
        ForeignKey(("event_id",), "events", ("event_id",)),
        ForeignKey(("actor_id",), "actors", ("actor_id",)),
        ForeignKey(("source_id",), "sources", ("source_id",)),
    ),
    rules=("quote is found verbatim in the source",),
)

FIGURES = Table(
    name="figures",
    record="figure",
    description="Reported quantities, with their uncertainty stored as the article gives it (as UCDP GED).",
    fields=(
        _id("figure_id", "Stable slug naming the figure."),
        _ref("event_id", "The event in whose time the article reports the figure; rule says if it names a cause."),
        Field("measure", "string", "What was counted.", required=True, enum=MEASURES),
        Field("low", "integer", "Lowest number the words allow; empty where they give no basis.", minimum=0),
        Field("best", "integer", "Best estimate; empty unless the article gives one.", minimum=0),
        Field("high", "integer", "Highest number the words allow; empty where open-ended.", minimum=0),
        Field(
            "qualifier",
            "string",
            "The article's words for the number, verbatim; low, best and high must be what they allow, by the rule of "
            "their wording in analysis/quantities.py ('more than 200': low 201, no best, no high).",
            required=True,
            verbatim=True,
        ),
        Field("rule", "string", "How low, best and high were derived from the qualifier.", required=True),
        _ref("source_id", "The source that reports the figure."),
        _quote("The sentence that reports the figure, verbatim."),
    ),
    primary_key=("figure_id",),
    foreign_keys=(
        ForeignKey(("event_id",), "events", ("event_id",)),
        ForeignKey(("source_id",), "sources", ("source_id",)),
    ),
    rules=(
        "low <= best <= high wherever both are given",
        "low, best and high are what the qualifier's wording allows, by its rule in analysis/quantities.py; a wording with no"
        " rule is refused",
        "qualifier and quote are found verbatim in the source",
    ),
)

CLAIMS = Table(
    name="claims",
    record="claim",
    description="What the article reports someone judged, observed or asked for about an event.",
    fields=(
        _id("claim_id", "Stable slug naming the claim."),
        _ref("event_id", "The event the claim is about."),
        _ref(
            "actor_id",
            "Who makes the claim; empty where the article makes it in its own voice or quotes words without saying whose.",
            required=False,
        ),
        Field("kind", "string", "What sort of claim it is.", required=True, enum=CLAIM_KINDS),
        Field(
            "statement",
            "string",
            "The claim in our words, staying within the quote; words taken from it in “quotation marks”.",
            required=True,
            quotes_from="quote",
        ),
        _ref("source_id", "The source that reports the claim."),
        _quote("The words of the claim in the source, verbatim."),
    ),
    primary_key=("claim_id",),
    foreign_keys=(
        ForeignKey(("event_id",), "events", ("event_id",)),
        ForeignKey(("actor_id",), "actors", ("actor_id",)),
        ForeignKey(("source_id",), "sources", ("source_id",)),
    ),
    rules=("quote is found verbatim in the source", _QUOTATION_RULE.format(field="statement", where="its quote's")),
)

TABLES: tuple[Table, ...] = (SOURCES, EVENTS, ACTORS, EVENT_ACTORS, FIGURES, CLAIMS)
TABLES_BY_NAME = {table.name: table for table in TABLES}


def _field_descriptor(spec: Field) -> dict:
    descriptor: dict = {"name": spec.name, "type": spec.type, "description": spec.description}
    if spec.type == "date":
        descriptor["format"] = "default"
    constraints: dict = {}
    if spec.required:
        constraints["required"] = True
    if spec.enum:
        constraints["enum"] = list(spec.values)
    if spec.pattern:
        constraints["pattern"] = spec.pattern
    if spec.minimum is not None:
        constraints["minimum"] = spec.minimum
    if constraints:
        descriptor["constraints"] = constraints
    return descriptor


def datapackage() -> dict:
    """The Frictionless Data Package descriptor for ``data/timeline/``."""
    resources = []
    for table in TABLES:
        schema: dict = {
            "fields": [_field_descriptor(f) for f in table.fields],
            "missingValues": [""],
            "primaryKey": list(table.primary_key),
        }
        if table.foreign_keys:
            schema["foreignKeys"] = [
                {
                    "fields": list(fk.fields),
                    "reference": {"resource": fk.table, "fields": list(fk.reference)},
                }
                for fk in table.foreign_keys
            ]
        resources.append(
            {
                "name": table.name,
                "path": table.path,
                "profile": "tabular-data-resource",
                "format": "csv",
                "mediatype": "text/csv",
                "encoding": "utf-8",
                "description": table.description,
                "schema": schema,
            }
        )
    return {
        "profile": "tabular-data-package",
        "name": "south-sudan-protection-of-civilians-timeline",
        "title": "Source-cited timeline of the UN News article of 19 April 2017 on UNMISS",
        "description": (
            "Events, actors, reported figures and claims stated in the article, each row with the "
            "verbatim sentence it comes from. Generated from analysis/schema.py."
        ),
        "resources": resources,
    }


def datapackage_json() -> str:
    return json.dumps(datapackage(), indent=2, ensure_ascii=False) + "\n"


def data_dictionary() -> str:
    """The data dictionary as Markdown, for ``data/README.md``."""
    lines: list[str] = []
    for table in TABLES:
        lines += [f"### `{table.path}`", "", table.description, ""]
        key = ", ".join(f"`{name}`" for name in table.primary_key)
        lines += [f"Primary key: {key}.", ""]
        lines += ["| field | type | required | description |", "|---|---|---|---|"]
        for spec in table.fields:
            description = spec.description
            if spec.enum:
                allowed = "; ".join(f"`{value}`: {meaning}" for value, meaning in spec.enum.items())
                description += f" Allowed: {allowed}"
            if spec.verbatim:
                description += " Checked verbatim against the source; white space alone is refused."
            required = "yes" if spec.required else ""
            lines.append(f"| `{spec.name}` | {spec.type} | {required} | {description} |")
        lines.append("")
        for fk in table.foreign_keys:
            lines.append(f"- `{', '.join(fk.fields)}` refers to `{fk.table}.csv`.")
        for rule in table.rules:
            lines.append(f"- Rule: {rule}.")
        if table.foreign_keys or table.rules:
            lines.append("")
    return "\n".join(lines)
