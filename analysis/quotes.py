"""Find a quote verbatim in a source text, comparing words, not Markdown link markup or white space.

Two normalizations only, both documented in data/README.md: a Markdown link ``[words](target)``
counts as its words, and any run of ASCII white space (space, tab, line break) counts as one space.
Everything else (no-break spaces, curly versus straight quotes, dashes, accents, composed versus
decomposed letters) must match exactly; a mismatch is reported at the first character that differs.
"""

from __future__ import annotations

import bisect
import functools
import re
import unicodedata

_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_ASCII_WHITESPACE = " \t\n\r\f\v"
_WHITESPACE = re.compile(f"[{_ASCII_WHITESPACE}]+")
_PARAGRAPH = re.compile(r"[^\s](?:.|\n(?![ \t\r]*\n))*")  # from a line's first character to the next blank line
_SENTENCE_END = re.compile(r"[.!?][\"”’)]* (?=[A-Z0-9“\"‘(])")  # the end, and the space after it
_ABBREVIATIONS = {"Mr.", "Mrs.", "Ms.", "Dr.", "St.", "No.", "Gen.", "Maj.", "Col.", "Lt.", "Sgt.", "Amb.", "e.g.", "i.e."}


_QUOTATION = re.compile(r"“([^“”]*)”")
_EDIT = re.compile(r"\[[^\[\]]*\]")  # our own letters or words inside a quotation: "revise[d]", "[…]"
_WORD = re.compile(r"\w+(?:[’'-]\w+)*")
QUOTED_RUN = 4  # this many words in a row, quoted in the source, must be in quotation marks in our sentence too


def normalize_quote(quote: str) -> str:
    return _WHITESPACE.sub(" ", quote).strip()


def excerpt(text: str, limit: int = 60) -> str:
    """The text as it is, or cut to at most ``limit`` characters ending in an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _describe(char: str) -> str:
    name = unicodedata.name(char, "unnamed character")
    return f"U+{ord(char):04X} {name} ({char!r})"


class SourceText:
    """A source's text, normalized once, with a map back to line and column of the original."""

    def __init__(self, original: str, label: str):
        self.original = original
        self.label = label
        chars: list[str] = []
        offsets: list[int] = []
        position = 0
        for match in _LINK.finditer(original):
            self._append(original, position, match.start(), chars, offsets)
            self._append(original, match.start(1), match.end(1), chars, offsets)
            position = match.end()
        self._append(original, position, len(original), chars, offsets)
        self.text = "".join(chars)
        self._offsets = offsets
        self._starts: list[int] | None = None  # where its sentences begin, found when first asked

    @staticmethod
    def _append(original: str, start: int, stop: int, chars: list[str], offsets: list[int]) -> None:
        for index in range(start, stop):
            char = original[index]
            if char in _ASCII_WHITESPACE:
                if chars and chars[-1] == " ":
                    continue
                char = " "
            chars.append(char)
            offsets.append(index)

    def paragraph_of(self, quote: str) -> int | None:
        """The paragraph in which the quote begins, counting from 1; None if it is not in the text, or in a heading.

        Paragraphs are the blocks of text between blank lines; Markdown headings ("# …") are not counted.
        """
        index = self.text.find(normalize_quote(quote))
        if index < 0 or not self._offsets:
            return None
        offset = self._offsets[index]
        number = 0
        for match in _PARAGRAPH.finditer(self.original):
            if match.start() > offset:
                break
            heading = match.group().startswith("#")
            if match.end() >= offset and heading:
                return None
            number += not heading
        return number

    def sentences_of(self, quote: str) -> list[str] | None:
        """The whole sentence the quote is in, or each of those it runs across, as normalized; None if it is not in the text.

        A sentence ends at ".", "!" or "?" (and a closing quotation mark) before a space and a capital
        letter, an opening quotation mark or a digit, within a paragraph; not after an abbreviation such as
        "Mr." or an initial. A quote in a heading is its own sentence.
        """
        wanted = normalize_quote(quote)
        index = self.text.find(wanted)
        if index < 0:
            return None
        if self.paragraph_of(wanted) is None:  # in a heading, which is no sentence
            return [wanted]
        starts = self._sentence_starts()
        first = max(bisect.bisect_right(starts, index) - 1, 0)
        last = bisect.bisect_left(starts, index + len(wanted)) - 1
        bounds = [*starts[first : last + 1], starts[last + 1] if last + 1 < len(starts) else len(self.text)]
        return [self.text[start:end].strip() for start, end in zip(bounds, bounds[1:], strict=False)]

    def _sentence_starts(self) -> list[int]:
        """Where each sentence of the normalized text begins: after a sentence's end, and at each paragraph."""
        if self._starts is not None:
            return self._starts
        starts = {0}
        for match in _PARAGRAPH.finditer(self.original):  # a paragraph (or a heading) begins a sentence
            starts.add(bisect.bisect_left(self._offsets, match.start()))
            starts.add(bisect.bisect_left(self._offsets, match.end()))
        for match in _SENTENCE_END.finditer(self.text):
            word = self.text[: match.start() + 1].rsplit(" ", 1)[-1]
            if word not in _ABBREVIATIONS and not re.fullmatch(r"(?:[A-Z]\.)+", word):
                starts.add(match.end())
        self._starts = sorted(start for start in starts if start < len(self.text))
        return self._starts

    @functools.cached_property
    def quoted_runs(self) -> list[tuple[str, ...]]:
        """Every ``QUOTED_RUN`` words in a row, in lower case and in order, of what the source has inside
        quotation marks (“…”): someone's own words. Read once a source, for every row checked against it."""
        return [run for quotation in _QUOTATION.findall(self.text) for run in _runs(quotation)]

    def quoted_runs_pattern(self) -> str:
        """An RE2 pattern that finds a quotation mark, or, case aside, any ``QUOTED_RUN`` words in a row of the
        source's quotations: a fast first pass over many rows, finding every row the exact check could refuse.

        Each letter is a class of its two cases and words are parted by ASCII ``\\W+`` (which takes in any
        character outside [A-Za-z0-9_], so every separator of _WORD's words): RE2 compiles that in a
        millisecond, where ``(?i)`` and Unicode classes took a tenth of a second a field.
        """
        return "[“”]" + "".join(sorted({"|" + r"\W+".join(map(_either_case, run)) for run in self.quoted_runs}))

    def line_column(self, normalized_index: int) -> tuple[int, int]:
        offset = self._offsets[min(normalized_index, len(self._offsets) - 1)] if self._offsets else 0
        line = self.original.count("\n", 0, offset) + 1
        column = offset - (self.original.rfind("\n", 0, offset) + 1) + 1
        return line, column

    def find_divergence(self, quote: str) -> str | None:
        """None if the quote is in the text; otherwise where the closest passage differs."""
        wanted = normalize_quote(quote)
        if wanted in self.text:
            return None
        shown = excerpt(wanted)
        low, high = 0, len(wanted)
        while low < high:  # longest prefix of the quote that occurs in the text
            middle = (low + high + 1) // 2
            if wanted[:middle] in self.text:
                low = middle
            else:
                high = middle - 1
        if low == 0:
            return (
                f"quote {shown!r} not found verbatim in {self.label}; "
                f"no passage starts with its first character {_describe(wanted[0])}"
            )
        start = self.text.find(wanted[:low])
        line, column = self.line_column(start)
        stop = start + low
        source_char = _describe(self.text[stop]) if stop < len(self.text) else "the end of the text"
        return (
            f"quote {shown!r} not found verbatim in {self.label}; the closest passage, at line "
            f"{line}:{column}, differs at character {low + 1} of the quote: the quote has "
            f"{_describe(wanted[low])} where the source has {source_char}"
        )


def quotation_marks_problem(sentence: str, source: SourceText, quote: str | None = None) -> str | None:
    """What is wrong with the quotation marks of ``sentence``, ours; None if nothing.

    Words in “quotation marks” must be the ``quote``'s (the row's), or the source's where no quote is given,
    piece by piece around our edits in square brackets ("revise[d]", "[s]ignificant", "[…]"); and no run of
    ``QUOTED_RUN`` words that the source has inside quotation marks, someone's own words, may stand outside
    them.
    """
    if sentence.count("“") != sentence.count("”") or _QUOTATION.sub("", sentence).count("”"):
        return "its quotation marks do not pair: every “ needs its ”"
    words, whose = (source.text, "the source's") if quote is None else (normalize_quote(quote), "the quote's")
    for quotation in _QUOTATION.findall(sentence):
        position = 0
        for piece in (normalize_quote(piece) for piece in _EDIT.split(quotation)):
            found = words.find(piece, position)
            if found < 0:
                return f"the words it puts in quotation marks, “{excerpt(quotation)}”, are not {whose}: {piece!r} is not there"
            position = found + len(piece)
    ours = {run for part in _QUOTATION.split(sentence)[::2] for run in _runs(part)}
    taken = next((run for run in source.quoted_runs if run in ours), None)
    return None if taken is None else f"“{' '.join(taken)}” are words the source quotes: put them in quotation marks"


def _either_case(word: str) -> str:
    """``word`` as a regular expression that matches it in either case, letter by letter."""
    return "".join(
        f"[{re.escape(char.lower())}{re.escape(char.upper())}]" if char.lower() != char.upper() else re.escape(char)
        for char in word
    )


def _runs(text: str) -> list[tuple[str, ...]]:
    """Every ``QUOTED_RUN`` words in a row of ``text``, in lower case."""
    words = [word.lower() for word in _WORD.findall(text)]
    return [tuple(words[index : index + QUOTED_RUN]) for index in range(len(words) - QUOTED_RUN + 1)]
