"""A rare search term asks the trigram index for its rarest trigrams only (PostgreSQL).

`search_text LIKE '%cardiotrack%'` makes the trigram index intersect the posting lists
of the term's nine trigrams, and some of them (`car`, `dio`, `tra`) are in a sixth of the
candidatures: at 1M candidatures the index scan alone took 7.5 ms for 3,463 matches, most
of the page's search. Asked for the term's three rarest trigrams (`iot`, `otr`, `rdi`),
it reads a tenth of the entries for about as many candidates (3,890 instead of 3,883),
2.2 ms; every candidate is then checked against the whole term, so the rows found are
exactly the same (docs/benchmarks/queues-1m.md). Trigrams next to each other in the term
are asked as one part (`rdi`, `iotr`): each part is one more check per candidate.

How rare a trigram is comes from PostgreSQL's own statistics of the column: the sample
of search texts ANALYZE keeps (`pg_stats`, up to 1,001 values: migration 0032), read
once per process every few minutes. A term frequent in that sample keeps its whole
pattern: the planner walks the sort's index then, and stops after a page and a count.
Without statistics (a new table), or on SQLite, nothing changes."""

from __future__ import annotations

import functools
import re
import time
from typing import Any

from sqlalchemy import text

GRAMS = 3  # the index is asked for this many trigrams (measured: 2 let 3× more candidates in)
FREQUENT_SHARE = 0.02  # a term in 2 % of the sample or more is walked, not narrowed
MIN_SAMPLE = 100  # fewer search texts in the statistics: they tell nothing
SAMPLE_SECONDS = 600.0  # the sample is read again after this (ANALYZE refreshes it)

WEIGHED = 40  # a long term: the rarest among its first 40 trigrams (each is a count)

# pg_trgm's trigrams are made of letters and digits, and which other characters count as
# letters depends on the database's locale: only ASCII ones are chosen, trigrams to it
# whatever the locale
_GRAM = re.compile(r"[a-z0-9]{3}")

_SAMPLE_SQL = text(
    "SELECT histogram_bounds::text::text[], most_common_vals::text::text[] FROM pg_stats "
    "WHERE schemaname = current_schema() AND tablename = 'candidature' "
    "AND attname = 'search_text'")
_samples: dict[str, tuple[float, str, int]] = {}


def sample(connection: Any) -> tuple[str, int]:
    """The search texts of the column's statistics, one per line, and how many there
    are ("" and 0 without statistics); read again every SAMPLE_SECONDS."""
    key = connection.engine.url.render_as_string(hide_password=True)
    cached = _samples.get(key)
    if cached is not None and time.monotonic() - cached[0] < SAMPLE_SECONDS:
        return cached[1], cached[2]
    row = connection.execute(_SAMPLE_SQL).first()
    texts = [t for t in ((row[0] or []) + (row[1] or [])) if t] if row else []
    _samples[key] = (time.monotonic(), "\n".join(texts), len(texts))
    return _samples[key][1], _samples[key][2]


def forget_samples() -> None:
    """Read the statistics again at the next search (after an ANALYZE, in tests)."""
    _samples.clear()


def frequent(term: str, texts: str, count: int) -> bool:
    """Whether the term is in FREQUENT_SHARE of a sample of `count` search texts or more
    (False when the sample is too small to tell)."""
    return count >= MIN_SAMPLE and texts.count(term) >= FREQUENT_SHARE * count


def rarest_grams(term: str, texts: str, count: int) -> tuple[str, ...]:
    """The GRAMS rarest trigrams of a term (lowered) in a sample of `count` search texts
    (one per line), or () when the whole term is to be asked: it has GRAMS trigrams or
    fewer, the sample is too small, or the term is frequent in it."""
    grams = list(dict.fromkeys(
        term[i:i + 3] for i in range(len(term) - 2) if _GRAM.fullmatch(term[i:i + 3])))
    if len(grams) <= GRAMS or count < MIN_SAMPLE or frequent(term, texts, count):
        return ()
    return tuple(sorted(grams[:WEIGHED], key=lambda g: (texts.count(g), g))[:GRAMS])


def pieces(term: str, grams: tuple[str, ...]) -> tuple[str, ...]:
    """The parts of the term that hold these trigrams and no other, in the term's order:
    trigrams next to each other are one LIKE (« iot » and « otr »: « iotr »), one check
    less per candidate."""
    runs: list[list[int]] = []  # [first, last] start of each run of trigrams
    for i in range(len(term) - 2):
        if term[i:i + 3] not in grams:
            continue
        if runs and i == runs[-1][1] + 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    return tuple(dict.fromkeys(term[first:last + 3] for first, last in runs))


def how_to_search(connection: Any, term: str) -> tuple[tuple[str, ...], bool]:
    """For a term (lowered): the parts the index is asked for instead of the whole term
    (see above; () to ask for it whole), and whether the term is frequent (PostgreSQL's
    sample says so: « Suivis » then counts along the user's follows)."""
    if connection.dialect.name != "postgresql":
        return (), False
    return _decided(term, *sample(connection))


@functools.lru_cache(maxsize=1024)  # a page asks up to three times (page, count)
def _decided(term: str, texts: str, count: int) -> tuple[tuple[str, ...], bool]:
    return pieces(term, rarest_grams(term, texts, count)), frequent(term, texts, count)
