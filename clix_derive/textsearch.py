"""MongoDB's ``$text`` search over one string field, as the MIT script runs it on
``Benchmarks.calling_url`` (a text index with ``default_language: english``, MongoDB 3.x, index
version 3): the field and the query are cut into words, each word case-folded, English stop
words dropped, the rest stemmed with Snowball's English stemmer; a document matches when one of
its stems is one of the query's stems. Version 2 indexes (MongoDB 2.6/3.0) give the same stems
for ASCII text, which is all that ``calling_url`` holds.
"""

from __future__ import annotations

import functools
import re
import string
import unicodedata

import snowballstemmer

# mongo src/mongo/db/fts/stop_words_english.txt
_STOP_WORDS_FILE = """
a about above after again against all am an and any are aren't as at be because been before being below
between both but by can't cannot could couldn't did didn't do does doesn't doing don't down during each few
for from further had hadn't has hasn't have haven't having he he'd he'll he's her here here's hers herself
him himself his how how's i i'd i'll i'm i've if in into is isn't it it's its itself let's me more most
mustn't my myself no nor not of off on once only or other ought our ours ourselves out over own same shan't
she she'd she'll she's should shouldn't so some such than that that's the their theirs them themselves then
there there's these they they'd they'll they're they've this those through to too under until up very was
wasn't we we'd we'll we're we've were weren't what what's when when's where where's which while who who's
whom why why's with won't would wouldn't you you'd you'll you're you've your yours yourself yourselves
"""
STOP_WORDS = frozenset(_STOP_WORDS_FILE.split())

# ASCII: whitespace and punctuation cut words, except '_' (not Pattern_Syntax) and, in English,
# the apostrophe. Beyond ASCII the v3 tokenizer cuts at White_Space, Dash, Hyphen, Quotation_Mark,
# Terminal_Punctuation, Pattern_Syntax and STerm; Unicode's separator and punctuation categories
# (less connector punctuation) plus Pattern_Syntax's symbol blocks approximate that set.
_ASCII_DELIMITERS = frozenset(string.whitespace + string.punctuation) - {"_", "'"}
_PATTERN_SYNTAX_BLOCKS = ((0x2190, 0x245F), (0x2500, 0x2775), (0x2794, 0x2BFF), (0x2E00, 0x2E7F), (0x3001, 0x3003),
                          (0x3008, 0x3020))


def _is_delimiter(ch: str) -> bool:
    if ch < "\x80":
        return ch in _ASCII_DELIMITERS
    category = unicodedata.category(ch)
    if category[0] == "Z" or (category[0] == "P" and category != "Pc"):
        return True
    code = ord(ch)
    return any(low <= code <= high for low, high in _PATTERN_SYNTAX_BLOCKS)


_ASCII_SPLIT = re.compile("[" + re.escape("".join(sorted(_ASCII_DELIMITERS))) + "]+")


def words(text: str) -> list[str]:
    """The maximal runs of non-delimiters, case-folded with diacritics stripped."""
    if text.isascii():
        return [w.lower() for w in _ASCII_SPLIT.split(text) if w]
    out, word = [], []
    for ch in text + " ":
        if _is_delimiter(ch):
            if word:
                out.append(_fold("".join(word)))
                word = []
        else:
            word.append(ch)
    return out


def _fold(word: str) -> str:
    if word.isascii():
        return word.lower()
    decomposed = unicodedata.normalize("NFD", word.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


_stem_word = snowballstemmer.stemmer("english").stemWord


@functools.lru_cache(maxsize=65536)
def stem(word: str) -> str:
    return _stem_word(word)


def stems(text: str) -> frozenset[str]:
    """The stems a text index keeps for ``text`` (stop words dropped)."""
    return frozenset(stem(w) for w in words(text) if w not in STOP_WORDS)


def query_terms(search: str) -> frozenset[str]:
    """The terms of a ``$search`` string without phrases or negations. A ``-`` inside a word is
    no negation (only after whitespace), so ``'my-desk'`` is the words ``my`` (a stop word) and
    ``desk``."""
    return stems(search)


@functools.lru_cache(maxsize=65536)
def matches(text: object, terms: frozenset[str]) -> bool:
    """Whether a document whose indexed field holds ``text`` matches a ``$text`` search for
    ``terms`` (an OR of them). A missing or non-string field is not indexed: no match."""
    if not isinstance(text, str):
        return False
    prefixes = _stem_prefixes(terms)
    return any(w not in STOP_WORDS and w.removeprefix("'").startswith(prefixes) and stem(w) in terms
               for w in words(text))


@functools.lru_cache(maxsize=64)
def _stem_prefixes(terms: frozenset[str]) -> tuple[str, ...]:
    """Stemming only rewrites a word's last few letters (and drops one leading apostrophe), so a word
    can stem to a term only if it starts like the term but for its last three letters: the others
    need no stemming, which is the costly part (checked on 400k words)."""
    return tuple("" if t.startswith("'") else t[:max(1, len(t) - 3)] for t in terms)
