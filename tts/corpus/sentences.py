"""Grammatical English sentences from the project's own POS lexicon (data/sentences/lexicon).

A small phrase-structure grammar (noun phrases with agreement, tenses, modals, questions,
imperatives, relative and subordinate clauses, coordination, quotes, lists) draws words from
the lexicon files. Everything is driven by one ``random.Random(seed)``, so a seed gives the same
sentences in the same order. Sentences are unique, ASCII, and aimed at 2-12 s when spoken
(5-30 words). See data/sentences/README.md for the lexicon format.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tts.text import BASE_CHARS

LEXICON_DIR = Path(__file__).resolve().parents[2] / "data" / "sentences" / "lexicon"
# natural, hand-written sentences for a test split (corpus option ``test_sentences``); README there
TEST_SENTENCES = Path(__file__).resolve().parents[2] / "data" / "sentences" / "test_sentences.txt"
ALLOWED_CHARS = frozenset(BASE_CHARS)  # the character model's symbols: every sentence is spelled with them
MIN_WORDS, MAX_WORDS = 5, 30
NOUN_FILES = ("people", "animals", "things", "places", "food", "abstract", "time")
OBJECT_CLASSES = ("thing", "food", "animal", "person", "abstract", "place", "mass")

_WORD_RE = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")


def words(text: str) -> list[str]:
    """Lowercased word tokens of a sentence (punctuation dropped)."""
    return [w.lower() for w in _WORD_RE.findall(text)]


# ---------------------------------------------------------------- morphology
def _plural(noun: str) -> str:
    if re.search(r"(s|x|z|ch|sh)$", noun):
        return noun + "es"
    if re.search(r"[^aeiou]y$", noun):
        return noun[:-1] + "ies"
    return noun + "s"


def _third_person(verb: str) -> str:
    if re.search(r"(s|x|z|ch|sh|o)$", verb):
        return verb + "es"
    if re.search(r"[^aeiou]y$", verb):
        return verb[:-1] + "ies"
    return verb + "s"


def _regular_past(verb: str) -> str:
    if verb.endswith("e"):
        return verb + "d"
    if re.search(r"[^aeiou]y$", verb):
        return verb[:-1] + "ied"
    if re.fullmatch(r"[^aeiou]*[aeiou][^aeiouwxy]", verb):
        return verb + verb[-1] + "ed"
    return verb + "ed"


def _ing(verb: str, past: str) -> str:
    if verb.endswith("ie"):
        return verb[:-2] + "ying"
    if verb.endswith("c") and past.endswith("cked"):
        return verb + "king"
    if past == verb + verb[-1] + "ed":
        return verb + verb[-1] + "ing"
    if verb.endswith("e") and not re.search(r"(ee|ye|oe)$", verb):
        return verb[:-1] + "ing"
    return verb + "ing"


@dataclass(frozen=True)
class Noun:
    sg: str
    pl: str


@dataclass(frozen=True)
class Verb:
    base: str
    s: str
    past: str
    pp: str
    ing: str
    objects: tuple[str, ...] = ()


@dataclass
class Lexicon:
    """Word lists by part of speech; nouns by semantic class (people, animals, things, ...)."""

    nouns: dict[str, list[Noun]]
    mass: list[str]
    transitive: list[Verb]
    intransitive: list[Verb]
    clause_verbs: list[Verb]
    adjectives: list[str]
    adverbs: list[str]
    names: list[tuple[str, str]]
    place_names: list[str]
    by_object: dict[str, list[Verb]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_object = {c: [v for v in self.transitive if c in v.objects] for c in OBJECT_CLASSES}

    def vocabulary(self) -> set[str]:
        """Every distinct word form the lexicon can produce (lowercased)."""
        out: set[str] = set(self.mass) | set(self.adjectives) | set(self.adverbs) | set(self.place_names)
        for ns in self.nouns.values():
            for n in ns:
                out |= {n.sg, n.pl}
        for v in self.transitive + self.intransitive + self.clause_verbs:
            out |= {v.base, v.s, v.past, v.pp, v.ing}
        out |= {n for n, _ in self.names}
        return {w.lower() for phrase in out for w in words(phrase)}


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if line:
            yield i, line


def _unique(items: list) -> list:
    return list(dict.fromkeys(items))


def _read_nouns(path: Path) -> list[Noun]:
    out = []
    for i, line in _lines(path):
        parts = line.split()
        if len(parts) > 2:
            raise ValueError(f"{path}:{i}: expected 'singular [plural]', got {line!r}")
        sg = parts[0].replace("_", " ")
        pl = parts[1].replace("_", " ") if len(parts) == 2 else _plural(sg)
        out.append(Noun(sg, pl))
    return _unique(out)


def _read_verbs(path: Path) -> list[Verb]:
    out = []
    for i, line in _lines(path):
        forms, _, objs = line.partition(":")
        parts = forms.split()
        if not 1 <= len(parts) <= 3:
            raise ValueError(f"{path}:{i}: expected 'base [past [participle]] [: classes]', got {line!r}")
        base = parts[0]
        past = parts[1] if len(parts) > 1 else _regular_past(base)
        pp = parts[2] if len(parts) > 2 else past
        classes = tuple(objs.split()) or ("thing",)
        bad = set(classes) - set(OBJECT_CLASSES)
        if bad:
            raise ValueError(f"{path}:{i}: unknown object class(es) {sorted(bad)}; use {OBJECT_CLASSES}")
        out.append(Verb(base, _third_person(base), past, pp, _ing(base, past), classes))
    return _unique(out)


def load_lexicon(lexicon_dir: str | Path = LEXICON_DIR) -> Lexicon:
    """Read the lexicon files; ValueError names the file and line of a malformed entry."""
    d = Path(lexicon_dir)
    if not d.is_dir():
        raise FileNotFoundError(f"lexicon folder not found: {d}")

    def plain(name: str) -> list[str]:
        return _unique(line for _, line in _lines(d / name))

    names = []
    for i, line in _lines(d / "names.txt"):
        parts = line.split()
        if len(parts) != 2 or parts[1] not in ("f", "m"):
            raise ValueError(f"{d / 'names.txt'}:{i}: expected 'Name f|m', got {line!r}")
        names.append((parts[0], parts[1]))
    return Lexicon(
        nouns={k: _read_nouns(d / f"nouns_{k}.txt") for k in NOUN_FILES},
        mass=plain("nouns_mass.txt"),
        transitive=_read_verbs(d / "verbs_transitive.txt"),
        intransitive=_read_verbs(d / "verbs_intransitive.txt"),
        clause_verbs=_read_verbs(d / "verbs_clause.txt"),
        adjectives=plain("adjectives.txt"),
        adverbs=plain("adverbs.txt"),
        names=_unique(names),
        place_names=plain("place_names.txt"),
    )


# ---------------------------------------------------------------- grammar
@dataclass(frozen=True)
class NP:
    """A noun phrase with what agreement needs: plural, person (1, 2, 3) and its object form."""

    text: str
    plural: bool = False
    person: int = 3
    obj: str = ""

    @property
    def as_object(self) -> str:
        return self.obj or self.text


_PRONOUNS = [
    NP("I", False, 1, "me"), NP("you", False, 2, "you"), NP("he", False, 3, "him"),
    NP("she", False, 3, "her"), NP("we", True, 1, "us"), NP("they", True, 3, "them"),
]
_NUMBERS = ["two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "twelve", "twenty"]
_PREPS = ["in", "near", "behind", "outside", "inside", "across", "beside", "around", "past", "at"]
_MODALS = ["can", "could", "should", "might", "must", "would", "will"]
_TIMES_PAST = ["yesterday", "last night", "last {time}", "this morning", "a long time ago", "earlier today",
               "on {day}", "two days ago", "after lunch", "before dinner", "at noon"]
_TIMES_FUTURE = ["tomorrow", "next {time}", "tonight", "later today", "on {day}", "after lunch",
                 "in the morning", "before dinner", "soon", "at midnight"]
_TIMES_HABIT = ["every {time}", "on {days}", "every day", "twice a week", "most evenings", "in the summer",
                "once a month", "after school"]
_FREQ = ["always", "often", "usually", "sometimes", "rarely", "never"]
_CONJ = ["and", "but", "so", "because", "while", "although", "until", "after", "before", "since", "when"]
_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
_AN_EXCEPTIONS = ("uni", "use", "usu", "eu", "one", "ewe")
_AN_H = ("hour", "honest", "honor", "heir")


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _article(word: str) -> str:
    w = word.lower()
    if w.startswith(_AN_H):
        return "an"
    if w.startswith(_AN_EXCEPTIONS):
        return "a"
    return "an" if w[0] in "aeiou" else "a"


class SentenceGenerator:
    """Random grammatical sentences; ``sentence()`` draws one, ``generate(n)`` n unique ones."""

    def __init__(self, seed: int = 0, lexicon: Lexicon | None = None):
        self.lex = lexicon or load_lexicon()
        self.rng = random.Random(seed)
        self._seen: set[str] = set()
        # Every template, listed explicitly. A sentence is ``rng.choice(self.templates)()``, so this order is
        # part of what a seed means: reordering it, or adding a template anywhere, changes every generated
        # corpus (tests/test_sentences.py pins the sentences of two seeds). The long templates are listed
        # twice more so that they are drawn three times as often.
        self.templates = [
            self.t_adverb_front, self.t_colon, self.t_comparison, self.t_compound, self.t_conditional, self.t_copula,
            self.t_exclamation, self.t_existential, self.t_frequency, self.t_identity, self.t_imperative,
            self.t_list, self.t_paren, self.t_passive, self.t_quote, self.t_relative, self.t_relative_who,
            self.t_reported, self.t_reported_contrast, self.t_semicolon, self.t_simple, self.t_simple_time,
            self.t_story, self.t_subordinate, self.t_tag_question, self.t_travel, self.t_want, self.t_wh,
            self.t_what, self.t_yes_no,
        ]
        long = [self.t_compound, self.t_subordinate, self.t_conditional, self.t_story, self.t_reported_contrast]
        self.templates += long * 2

    # -- small helpers
    def pick(self, seq):
        return self.rng.choice(seq)

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def adj(self) -> str:
        return self.pick(self.lex.adjectives)

    def adv(self) -> str:
        return self.pick(self.lex.adverbs)

    def name(self) -> str:
        return self.pick(self.lex.names)[0]

    def time(self, kind: str) -> str:
        table = {"past": _TIMES_PAST, "future": _TIMES_FUTURE, "habit": _TIMES_HABIT}[kind]
        t = self.pick(table)
        times = [n.sg for n in self.lex.nouns["time"] if n.sg[0].islower()]
        return t.format(time=self.pick(times), day=self.pick(_DAYS), days=self.pick(_DAYS) + "s")

    # -- noun phrases
    def np(self, cls: str, plural: bool | None = None, det: str | None = None, adj_p: float = 0.4) -> NP:
        """A noun phrase of a semantic class; ``mass`` gives uncountable nouns, ``person`` may give names."""
        if cls == "mass":
            noun = self.pick(self.lex.mass)
            pre = self.pick(["the", "some", "the", "fresh", "more", "a little", "our", "their"])
            return NP(f"{pre} {self.adj() + ' ' if self.chance(adj_p / 2) else ''}{noun}".replace("  ", " "))
        if cls == "person" and det is None and self.chance(0.3):
            return NP(self.name())
        if plural is None:
            plural = self.chance(0.35)
        n = self.pick(self.lex.nouns["people" if cls == "person" else _NOUN_KEY[cls]])
        noun = n.pl if plural else n.sg
        if self.chance(adj_p):
            noun = f"{self.adj()} {noun}"
        if det is None:
            if plural:
                det = self.pick(["the", "the", "some", "these", "those", "my", "our", "their", "many", "a few",
                                 "several", "her", "his", "no", self.pick(_NUMBERS), "all the"])
            else:
                det = self.pick(["the", "the", "the", "a", "a", "this", "that", "my", "your", "his", "her",
                                 "our", "their", "every", "one"])
        if det == "a":
            det = _article(noun)
        return NP(f"{det} {noun}", plural)

    def subject(self, cls: str = "person") -> NP:
        if cls == "person" and self.chance(0.25):
            return self.pick(_PRONOUNS)
        return self.np(cls)

    def any_subject(self) -> NP:
        return self.subject(self.pick(["person", "person", "person", "animal"]))

    def place(self) -> str:
        if self.chance(0.25):
            return self.pick(["in", "near"]) + " " + self.pick(self.lex.place_names)
        return f"{self.pick(_PREPS)} {self.np('place', plural=False, adj_p=0.25).text}"

    # -- verbs
    def be(self, s: NP, tense: str) -> str:
        if tense == "past":
            return "were" if s.plural or s.person == 2 else "was"
        if s.person == 1 and not s.plural:
            return "am"
        return "are" if s.plural or s.person == 2 else "is"

    def have(self, s: NP) -> str:
        return "has" if s.person == 3 and not s.plural else "have"

    def copula(self, s: NP, tense: str) -> str:
        """"be" in a tense: is/was/has been/will be/might be ..."""
        if tense in ("past", "past_progressive"):
            return self.be(s, "past")
        if tense == "perfect":
            return f"{self.have(s)} been"
        if tense == "past_perfect":
            return "had been"
        if tense in ("future", "going_to"):
            return "will be"
        if tense == "modal":
            return f"{self.pick(_MODALS)} be"
        if tense == "negative":
            return f"{self.be(s, self.pick(['present', 'past']))} not"
        return self.be(s, "present")

    def present(self, s: NP, v: Verb) -> str:
        return v.s if s.person == 3 and not s.plural else v.base

    def inflect(self, s: NP, v: Verb, tense: str) -> str:
        """The verb group for a subject: present, past, progressive, perfect, future, modal, negative."""
        if tense == "present":
            return self.present(s, v)
        if tense == "past":
            return v.past
        if tense == "progressive":
            return f"{self.be(s, 'present')} {v.ing}"
        if tense == "past_progressive":
            return f"{self.be(s, 'past')} {v.ing}"
        if tense == "perfect":
            return f"{self.have(s)} {v.pp}"
        if tense == "past_perfect":
            return f"had {v.pp}"
        if tense == "future":
            return f"will {v.base}"
        if tense == "going_to":
            return f"{self.be(s, 'present')} going to {v.base}"
        if tense == "modal":
            return f"{self.pick(_MODALS)} {v.base}"
        if tense == "negative":
            aux = "does" if s.person == 3 and not s.plural else "do"
            return f"{self.pick([aux, 'did'])} not {v.base}"
        raise ValueError(tense)

    def tense(self) -> str:
        return self.pick(["present", "past", "past", "past", "progressive", "past_progressive", "perfect",
                          "past_perfect", "future", "going_to", "modal", "negative"])

    def transitive(self) -> tuple[Verb, str]:
        cls = self.pick(["thing", "thing", "food", "animal", "person", "abstract", "place", "mass"])
        verbs = self.lex.by_object[cls] or self.lex.transitive
        return self.pick(verbs), cls

    def vp(self, s: NP, tense: str | None = None, copula: bool = True) -> str:
        """Verb phrase agreeing with ``s``: transitive with an object, intransitive, or a copula."""
        tense = tense or self.tense()
        r = self.rng.random() * (1.0 if copula else 0.85)
        if r < 0.6:
            v, cls = self.transitive()
            out = f"{self.inflect(s, v, tense)} {self.np(cls).as_object}"
        elif r < 0.85:
            out = f"{self.inflect(s, self.pick(self.lex.intransitive), tense)}"
            if self.chance(0.5):
                out += " " + self.adv()
        else:
            out = f"{self.copula(s, tense)} {self.pick(['very ', 'quite ', 'so ', 'rather ', '', ''])}{self.adj()}"
        if self.chance(0.35):
            out += " " + self.place()
        return out

    def clause(self, tense: str | None = None) -> str:
        s = self.any_subject()
        return f"{s.text} {self.vp(s, tense)}"

    # -- sentence templates (each returns a sentence with final punctuation)
    def t_simple(self) -> str:
        return self.clause() + "."

    def t_simple_time(self) -> str:
        kind = self.pick(["past", "future", "habit"])
        tense = {"past": "past", "future": "future", "habit": "present"}[kind]
        if self.chance(0.5):
            return f"{_cap(self.time(kind))}, {self.clause(tense)}."
        return f"{self.clause(tense)} {self.time(kind)}."

    def t_frequency(self) -> str:
        s = self.any_subject()
        return f"{s.text} {self.pick(_FREQ)} {self.vp(s, 'present', copula=False)} {self.time('habit')}."

    def t_compound(self) -> str:
        return f"{self.clause()}, {self.pick(['and', 'but', 'so', 'yet'])} {self.clause()}."

    def t_subordinate(self) -> str:
        if self.chance(0.5):
            return f"{self.clause()} {self.pick(_CONJ[3:])} {self.clause()}."
        return f"{self.pick(['When', 'After', 'Before', 'Although', 'Because', 'While'])} {self.clause()}, " \
               f"{self.clause()}."

    def t_conditional(self) -> str:
        s1, s2 = self.any_subject(), self.any_subject()
        return f"If {s1.text} {self.vp(s1, 'present')}, {s2.text} {self.vp(s2, 'future')}."

    def t_reported(self) -> str:
        v = self.pick(self.lex.clause_verbs)
        s = self.subject("person")
        return f"{s.text} {self.inflect(s, v, self.pick(['past', 'present', 'perfect']))} that {self.clause()}."

    def t_yes_no(self) -> str:
        s = self.any_subject()
        v, cls = self.transitive()
        aux = self.pick(["did", "do", "will", "can", "could", "should", "would"])
        if aux == "do" and s.person == 3 and not s.plural:
            aux = "does"
        tail = f" {self.place()}" if self.chance(0.4) else ""
        return f"{aux} {s.text} {v.base} {self.np(cls).as_object}{tail}?"

    def t_wh(self) -> str:
        s = self.any_subject()
        wh = self.pick(["why", "where", "when", "how"])
        if self.chance(0.5):
            v, cls = self.transitive()
            aux = self.pick(["did", "will", "can", "should", "would", "could"])
            return f"{wh} {aux} {s.text} {v.base} {self.np(cls).as_object}?"
        v = self.pick(self.lex.intransitive)
        return f"{wh} {self.be(s, 'present')} {s.text} {v.ing} {self.place()}?"

    def t_what(self) -> str:
        s = self.subject("person")
        v = self.pick(self.lex.by_object["thing"])
        aux = "does" if s.person == 3 and not s.plural else "do"
        return self.pick([
            f"what {self.pick(['did', 'will', 'can'])} {s.text} {v.base} {self.place()}?",
            f"what kind of {self.pick(self.lex.nouns['things']).sg} {aux} {s.text} want?",
            f"who {v.past} the {self.adj()} {self.pick(self.lex.nouns['things']).sg}?",
            f"which {self.pick(self.lex.nouns['food']).sg} {aux} {s.text} like best?",
        ])

    def t_copula(self) -> str:
        s = self.np(self.pick(["thing", "animal", "place", "food", "person"]))
        return f"{s.text} {self.be(s, self.pick(['present', 'past']))} {self.pick(['very', 'too', 'quite', 'not', 'really'])} " \
               f"{self.adj()}{self.pick(['', ' and ' + self.adj(), ' today', ''])}."

    def t_identity(self) -> str:
        adj = self.adj()
        person = self.pick(self.lex.nouns["people"]).sg
        return f"{self.name()} {self.pick(['is', 'was'])} {_article(adj)} {adj} {person} from {self.pick(self.lex.place_names)}."

    def t_existential(self) -> str:
        if self.chance(0.5):
            n = self.np(self.pick(["thing", "animal", "food"]), plural=True,
                        det=self.pick(_NUMBERS + ["some", "many", "a few", "no"]))
            return f"there {self.pick(['are', 'were'])} {n.text} {self.place()}."
        n = self.np(self.pick(["thing", "animal"]), plural=False, det="a", adj_p=0.7)
        return f"there {self.pick(['is', 'was'])} {n.text} {self.place()}."

    def t_imperative(self) -> str:
        v, cls = self.transitive()
        pre = self.pick(["please ", "", "don't ", "never ", "always ", "let's "])
        tail = self.pick(["", " " + self.adv(), " " + self.place(), " " + self.time("future")])
        return f"{pre}{v.base} {self.np(cls).as_object}{tail}{self.pick(['.', '.', '!'])}"

    def t_exclamation(self) -> str:
        n = self.pick(self.lex.nouns[self.pick(["things", "animals", "places", "abstract"])]).sg
        adj = self.adj()
        return self.pick([f"what {_article(adj)} {adj} {n}!", f"how {adj} the {n} {self.pick(['is', 'was'])}!",
                          f"what {_article(adj)} {adj} {n} {self.name()} {self.pick(['has', 'found', 'made'])}!"])

    def t_relative(self) -> str:
        head = self.np(self.pick(["thing", "animal", "food"]), plural=False, det="the")
        s = self.any_subject()
        v = self.pick(self.lex.by_object["thing"])
        return f"{head.text} that {s.text} {v.past} {self.pick(['was', 'seemed', 'looked'])} {self.adj()}."

    def t_relative_who(self) -> str:
        head = self.np("person", plural=False, det="the")
        return f"{head.text} who {self.vp(head, 'past')} {self.pick(['is', 'was'])} {self.adj()}."

    def t_passive(self) -> str:
        cls = self.pick(["thing", "thing", "food", "animal", "abstract", "place"])
        v = self.pick(self.lex.by_object[cls])
        obj = self.np(cls)
        be = self.be(obj, self.pick(["past", "present"]))
        by = self.np("person").as_object if self.chance(0.6) else ""
        return f"{obj.text} {be} {v.pp}{' by ' + by if by else ''}{' ' + self.place() if self.chance(0.3) else ''}."

    def t_list(self) -> str:
        cls = self.pick(["food", "things", "animals"])
        items = [self.pick(self.lex.nouns[cls]).pl for _ in range(self.rng.randint(3, 4))]
        s = self.subject("person")
        verb = self.pick(["bought", "saw", "found", "counted", "sold", "packed", "drew", "wanted"])
        return f"{s.text} {verb} {', '.join(items[:-1])} and {items[-1]}."

    def t_colon(self) -> str:
        items = [_article(w) + " " + w for w in
                 (self.pick(self.lex.nouns["things"]).sg for _ in range(3))]
        return f"{self.subject('person').text} needed three things: {items[0]}, {items[1]} and {items[2]}."

    def t_semicolon(self) -> str:
        return f"{self.clause('past')}; {self.clause('past')}."

    def t_quote(self) -> str:
        said = self.pick(["said", "asked", "whispered", "shouted", "replied", "explained"])
        inner = self.clause()
        end = "?" if said == "asked" else ","
        if said == "asked":
            inner = self.t_yes_no()[:-1]
        return f"\"{inner[0].upper()}{inner[1:]}{end}\" {said} {self.name()}."

    def t_comparison(self) -> str:
        a, b = self.np(self.pick(["thing", "animal", "place"])), self.np(self.pick(["thing", "animal", "place"]))
        adj = self.adj()
        return self.pick([
            f"{a.text} {self.be(a, 'present')} as {adj} as {b.as_object}.",
            f"{a.text} {self.be(a, 'past')} not as {adj} as {b.as_object}.",
            f"{a.text} {self.be(a, 'present')} more {adj} than {b.as_object}.",
        ])

    def t_want(self) -> str:
        s = self.subject("person")
        v, cls = self.transitive()
        want = self.present(s, Verb("want", "wants", "wanted", "wanted", "wanting"))
        return f"{s.text} {self.pick([want, 'wanted', 'tried', 'decided', 'hoped', 'forgot'])} to {v.base} " \
               f"{self.np(cls).as_object}{' ' + self.time('future') if self.chance(0.3) else ''}."

    def t_paren(self) -> str:
        head = self.np(self.pick(["thing", "animal"]), plural=False, det="the", adj_p=0.0)
        return f"{head.text} (the {self.adj()} one) {self.be(head, 'past')} {self.place()}."

    def t_adverb_front(self) -> str:
        return f"{self.adv()}, {self.clause(self.pick(['past', 'past_progressive', 'past_perfect']))}."

    def t_travel(self) -> str:
        s = self.subject("person")
        verb = self.pick(["flew", "drove", "traveled", "walked", "moved", "went", "sailed"])
        return f"{s.text} {verb} from {self.pick(self.lex.place_names)} to {self.pick(self.lex.place_names)} " \
               f"{self.time('past')}{self.pick(['', ' with ' + self.np('person').as_object])}."

    def t_tag_question(self) -> str:
        s = self.np(self.pick(["thing", "place", "animal"]), plural=False, det="the")
        be = self.pick(["is", "was"])
        return f"{s.text} {be} {self.adj()}, {be}n't it?"

    def t_story(self) -> str:
        first = f"{_cap(self.time('past'))}, {self.clause('past')}"
        return f"{first}, and {self.clause('past')} {self.pick(['because', 'after', 'before', 'while'])} " \
               f"{self.clause(self.pick(['past', 'past_progressive', 'past_perfect']))}."

    def t_reported_contrast(self) -> str:
        s = self.subject("person")
        v = self.pick(self.lex.clause_verbs)
        return f"{s.text} {self.inflect(s, v, 'past')} that {self.clause()}, {self.pick(['but', 'and', 'so'])} " \
               f"{self.clause()}."

    # -- public API
    def sentence(self) -> str:
        """One sentence: capitalized, ASCII, with final punctuation (may repeat across calls)."""
        text = self.pick(self.templates)()
        text = " ".join(text.split())
        return text[0].upper() + text[1:]

    def exclude(self, texts) -> None:
        """Never generate any of ``texts`` (e.g. a test split's sentences)."""
        self._seen.update(texts)

    def generate(self, n: int, min_words: int = MIN_WORDS, max_words: int = MAX_WORDS) -> list[str]:
        """The next ``n`` sentences of ``min_words``..``max_words`` words, never repeating earlier ones.

        Deterministic for the seed: ``generate(a) + generate(b)`` equals a fresh ``generate(a + b)``.
        """
        seen = self._seen
        out: list[str] = []
        tries = 0
        while len(out) < n:
            tries += 1
            if tries > 50 * n + 1000:
                raise RuntimeError(f"could only make {len(out)} distinct sentences of the {n} asked for")
            s = self.sentence()
            if s in seen or not min_words <= len(words(s)) <= max_words:
                continue
            seen.add(s)
            out.append(s)
        return out


_NOUN_KEY = {"thing": "things", "food": "food", "animal": "animals", "place": "places", "abstract": "abstract"}


def generate_sentences(n: int, seed: int = 0, lexicon_dir: str | Path = LEXICON_DIR) -> list[str]:
    """``n`` distinct sentences, the same list for the same seed and lexicon."""
    return SentenceGenerator(seed, load_lexicon(lexicon_dir)).generate(n)


def load_sentence_list(path: str | Path = TEST_SENTENCES) -> list[str]:
    """The sentences of a list file, in file order: one per line; lines starting with ``#`` and blank lines skipped.

    ValueError names the file and line of a sentence with characters outside the model's base vocabulary,
    of fewer than MIN_WORDS or more than MAX_WORDS words, or repeated; FileNotFoundError names a missing file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"sentence list {path} does not exist")
    out: list[str] = []
    seen: dict[str, int] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        text = " ".join(line.split())
        if not text or text.startswith("#"):
            continue
        where = f"{path}:{n}"
        if not is_clean(text):
            bad = "".join(sorted(set(text) - ALLOWED_CHARS))
            raise ValueError(f"{where}: characters {bad!r} are outside the model's base vocabulary")
        if not MIN_WORDS <= len(words(text)) <= MAX_WORDS:
            raise ValueError(f"{where}: {len(words(text))} words; a sentence has {MIN_WORDS}-{MAX_WORDS}")
        if text in seen:
            raise ValueError(f"{where}: repeats line {seen[text]}")
        seen[text] = n
        out.append(text)
    if not out:
        raise ValueError(f"{path}: no sentences")
    return out


def is_clean(text: str) -> bool:
    """True when the text is nonempty and uses only the model's base characters."""
    return bool(text.strip()) and set(text) <= ALLOWED_CHARS
