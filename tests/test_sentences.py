"""The sentence grammar: deterministic, clean ASCII, large vocabulary, unique sentences."""

import hashlib

import pytest

from tts.corpus.sentences import (
    ALLOWED_CHARS,
    SentenceGenerator,
    generate_sentences,
    is_clean,
    load_lexicon,
    words,
)


def test_same_seed_same_sentences_and_other_seed_differs():
    a = generate_sentences(300, seed=7)
    assert a == generate_sentences(300, seed=7)
    assert a != generate_sentences(300, seed=8)


def test_generate_in_chunks_equals_one_call():
    gen = SentenceGenerator(seed=3)
    assert gen.generate(100) + gen.generate(150) == generate_sentences(250, seed=3)


# sha256 of the first 300 sentences of a seed ("\n"-joined), as the generator made them when the
# templates were still found by dir() reflection: a seed keeps meaning the same corpus.
PINNED = {0: "14862945de2f3e678a4546c0c57393c5d75126c7d3b5199cc31e8af3af143be1",
          7: "f6b8f9be16ada175a92c133448e5cb69f26606e0c4b8699b44be40928f6edec5"}


@pytest.mark.parametrize("seed", sorted(PINNED))
def test_a_seed_gives_the_pinned_sentences(seed):
    text = "\n".join(generate_sentences(300, seed=seed))
    assert hashlib.sha256(text.encode()).hexdigest() == PINNED[seed]


def test_allowed_chars_are_the_character_models_symbols():
    from tts.text import BASE_CHARS

    assert ALLOWED_CHARS == frozenset(BASE_CHARS)


def test_sentences_are_unique_clean_and_sized():
    sents = generate_sentences(2000, seed=0)
    assert len(set(sents)) == len(sents)
    for s in sents:
        assert is_clean(s) and set(s) <= ALLOWED_CHARS, s
        assert s[0].isupper() or s[0] == '"', s
        assert s[-1] in ".!?", s
        assert 5 <= len(words(s)) <= 30, s


def test_5000_sentences_cover_at_least_3000_distinct_words():
    vocab = {w for s in generate_sentences(5000, seed=0) for w in words(s)}
    assert len(vocab) >= 3000


def test_lexicon_has_well_over_3000_word_forms():
    lex = load_lexicon()
    assert len(lex.vocabulary()) > 4000
    assert all(v.objects for v in lex.transitive)


def test_inflection_rules():
    lex = load_lexicon()
    verbs = {v.base: v for v in lex.transitive + lex.intransitive}
    assert (verbs["stop"].past if "stop" in verbs else "stopped") == "stopped"
    assert verbs["carry"].s == "carries" and verbs["carry"].past == "carried"
    assert verbs["plan"].ing == "planning" and verbs["bake"].ing == "baking"
    assert verbs["write"].pp == "written" and verbs["lie"].ing == "lying"
    assert verbs["panic"].ing == "panicking" and verbs["wash"].s == "washes"
    nouns = {n.sg: n.pl for ns in lex.nouns.values() for n in ns}
    assert nouns["box"] == "boxes" and nouns["baby"] == "babies" and nouns["mouse"] == "mice"
    assert nouns["bus stop"] == "bus stops"


def test_split_by_text_keeps_test_sentences_out_of_training():
    sents = generate_sentences(1000, seed=1)
    test, train = set(sents[::20]), set(sents) - set(sents[::20])
    assert test and not test & train
