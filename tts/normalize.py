"""Text normalization before the front end: written text -> the words a reader says ("$5.99" -> "five dollars
and ninety-nine cents").

``normalize(text)`` is what the model speaks, what ``tts synth`` stores as ``text`` in results.jsonl and what a
benchmark scores against. Steps:

1. ``clean``: ANSI escape sequences and markup (SSML/HTML tags, ``&amp;``-style entities) are removed; any other
   control character is refused (``TextError`` naming it as ``U+0000``), as ``tts synth`` refuses it in a list.
2. ``tts.text.normalize_text``: Unicode NFKC, typographic quotes and dashes to ASCII, whitespace collapsed.
3. Sentences (``tts.longtext.split_sentences``, pysbd), then ``verbalize`` each one: URLs and e-mail addresses,
   phone numbers, dates, times, money, percentages, measurements, ordinals, fractions, ranges, decades and
   years, decimals, cardinals, title and street abbreviations (Dr., St., Mr., etc., e.g.), acronyms in capitals
   (spelled out, "FBI" -> "F B I", unless read as a word: NASA) and symbols (&, +, =, @, #). Case is kept.

The number words come from num2words (cardinals, ordinals, years: "nineteen oh-five", "twenty twenty-four");
this module is the thin layer that finds the numbers and says what they are. Why num2words, measured on the
2-core development machine (Python 3.11, 2026-12-08):

- nemo-text-processing 1.2 (NVIDIA's WFST grammars): 1.1 GB installed with its dependencies (pynini 2.1.6 alone
  650 MB), and it would replace the venv's transformers 4.57 / huggingface_hub 0.36 with 5.x / 2.x; the English
  grammars compile for 83 s on first use (a cache on disk afterwards) and then take ~360 ms a sentence. Its
  output is not better on what users type here: "apt." and "https://" are left as written, months lowercased.
- WeTextProcessing: the same pynini dependency, and its English grammar is the smaller part of a
  Chinese-first package.
- inflect 7.6: 0.3 MB, but importing it takes ~7 s here (typeguard instruments it at import): every
  ``tts say`` would pay that.
- num2words 0.5.14: 1.3 MB (+ docopt), imports in 0.1 s, 0.13 ms a number, has year and ordinal readings.
"""

from __future__ import annotations

import html
import re
import unicodedata
from functools import lru_cache

from tts.text import TextError, normalize_text

# ------------------------------------------------------------------------------------------------ cleaning

_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")
_TAG = re.compile(r"</?[A-Za-z][\w:.-]*(?:\s[^<>]*)?/?>|<!--.*?-->|<\?[^<>]*\?>", re.S)
_ENTITY = re.compile(r"&(?:#\d+|#x[0-9A-Fa-f]+|[A-Za-z]+);")


def clean(text: str) -> str:
    """``text`` without ANSI escape sequences, markup tags and HTML entities (decoded); TextError naming any
    other control character (``U+0000``, ...). Line breaks and tabs become spaces."""
    text = _ANSI.sub("", text)
    text = _TAG.sub(" ", text)
    if _ENTITY.search(text):  # "&lt;b&gt;" is a tag too once decoded
        text = _TAG.sub(" ", html.unescape(text))
    bad = dict.fromkeys(c for c in text if unicodedata.category(c) in ("Cc", "Cs") and c not in "\t\n\r")
    if bad:
        named = ", ".join(f"U+{ord(c):04X}" for c in bad)
        raise TextError(f"text has control character(s) {named}: remove them")
    return text


# ------------------------------------------------------------------------------------------------- numbers


@lru_cache(maxsize=1)
def _num2words():
    from num2words import num2words

    return num2words


def cardinal(n: int | str) -> str:
    """``1234`` -> "one thousand, two hundred and thirty-four" without the commas; long digit strings
    (over 15 digits) and numbers with a leading zero are read digit by digit."""
    s = str(n)
    if s.startswith("-"):
        return "minus " + cardinal(s[1:])
    if len(s) > 15 or (len(s) > 1 and s[0] == "0"):
        return digits(s)
    return _num2words()(int(s)).replace(",", "")


def ordinal(n: int | str) -> str:
    return _num2words()(int(n), to="ordinal").replace(",", "")


def year(n: int | str) -> str:
    """``1999`` -> "nineteen ninety-nine", ``2005`` -> "two thousand and five", ``1905`` -> "nineteen oh-five"."""
    return _num2words()(int(n), to="year").replace(",", "")


_DIGIT_WORDS = "zero one two three four five six seven eight nine".split()


def digits(s: str) -> str:
    """Each digit of ``s`` as a word: "555" -> "five five five"."""
    return " ".join(_DIGIT_WORDS[int(c)] for c in s if c.isdigit())


def decimal(s: str) -> str:
    """``"3.14"`` -> "three point one four"; ``".5"`` -> "point five"; commas in the integer part are ignored."""
    whole, _, frac = s.replace(",", "").partition(".")
    head = cardinal(whole) if whole not in ("", "-") else ("minus" if whole == "-" else "")
    return " ".join(w for w in (head, "point", digits(frac)) if w) if frac else head


def number(s: str) -> str:
    """A plain number as written (``"1,234"``, ``"3.5"``, ``"-2"``) -> words."""
    return decimal(s) if "." in s else cardinal(s.replace(",", ""))


def plural_s(word: str) -> str:
    """The plural of a number word for decades and fractions: "ninety" -> "nineties", "six" -> "sixes"."""
    if word.endswith("y"):
        return word[:-1] + "ies"
    return word + ("es" if word.endswith(("s", "x")) else "s")


# --------------------------------------------------------------------------------------------- the rules

MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]  # fmt: skip
_MONTH_ABBR = {m[:3].lower(): m for m in MONTHS} | {"sept": "September"}
_MONTH = r"(?P<month>(?:" + "|".join(MONTHS) + r")|(?:Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)\.?)"


def _month_name(s: str) -> str:
    s = s.rstrip(".")
    return _MONTH_ABBR.get(s.lower(), s) if len(s) <= 4 else s


def _date_words(month: int, day: int, yr: str | None, day_first: bool = False) -> str:
    name = MONTHS[month - 1]
    said = f"the {ordinal(day)} of {name}" if day_first else f"{name} {ordinal(day)}"
    if yr is None:
        return said
    return f"{said}, {year(yr) if len(yr) == 4 else cardinal(yr)}"


def _numeric_date(m: re.Match) -> str:
    a, b, yr = int(m["a"]), int(m["b"]), m["y"]
    if 1 <= a <= 12 and 1 <= b <= 31:
        return _date_words(a, b, yr)
    if 1 <= b <= 12 and 1 <= a <= 31:
        return _date_words(b, a, yr, day_first=True)
    return m[0]


def _iso_date(m: re.Match) -> str:
    mo, d = int(m["mo"]), int(m["d"])
    return _date_words(mo, d, m["y"]) if 1 <= mo <= 12 and 1 <= d <= 31 else m[0]


def _month_day(m: re.Match) -> str:
    yr = m["y"]
    return f"{_month_name(m['month'])} {ordinal(m['d'])}" + (f", {year(yr)}" if yr else "")


def _day_month(m: re.Match) -> str:
    yr = m["y"]
    return f"the {ordinal(m['d'])} of {_month_name(m['month'])}" + (f", {year(yr)}" if yr else "")


def _time(m: re.Match) -> str:
    h, mins, secs, ampm = int(m["h"]), m["m"], m["s"], m["ampm"]
    if h > 24 or int(mins) > 59:
        return m[0]
    said = cardinal(h)
    if mins == "00":
        said += "" if ampm or secs else " o'clock"
    elif mins.startswith("0"):
        said += f" oh {cardinal(mins[1])}"
    else:
        said += f" {cardinal(mins)}"
    if secs:
        said += f" and {cardinal(int(secs))} seconds"
    if ampm:
        said += " " + _ampm(m, ampm)
    return said


def _ampm(m: re.Match, ampm: str) -> str:
    """"p.m." -> "p m"; the period stays when it also ended the sentence."""
    at_end = ampm.endswith(".") and not m.string[m.end():].strip()
    return " ".join(c for c in ampm.lower() if c.isalpha()) + ("." if at_end else "")


CURRENCIES = {"$": ("dollar", "dollars", "cent", "cents"), "£": ("pound", "pounds", "penny", "pence"),
              "€": ("euro", "euros", "cent", "cents"), "¥": ("yen", "yen", "sen", "sen"),
              "₹": ("rupee", "rupees", "paisa", "paise")}  # fmt: skip
_SCALES = {"thousand": "thousand", "million": "million", "billion": "billion", "trillion": "trillion",
           "k": "thousand", "K": "thousand", "m": "million", "M": "million", "mn": "million", "b": "billion",
           "B": "billion", "bn": "billion"}  # fmt: skip


def _money(m: re.Match) -> str:
    one, many, cent, cents = CURRENCIES[m["cur"]]
    amount, scale = m["amt"].replace(",", ""), m["scale"]
    if scale:
        return f"{number(amount)} {_SCALES[scale]} {many}"
    whole, _, frac = amount.partition(".")
    whole = whole or "0"
    if frac and len(frac) != 2:
        return f"{decimal(amount)} {many}"
    units = f"{cardinal(whole)} {one if int(whole) == 1 else many}"
    if not frac or int(frac) == 0:
        return units
    sub = f"{cardinal(int(frac))} {cent if int(frac) == 1 else cents}"
    return sub if int(whole) == 0 else f"{units} and {sub}"


UNITS = {
    "km": ("kilometer", "kilometers"), "m": ("meter", "meters"), "cm": ("centimeter", "centimeters"),
    "mm": ("millimeter", "millimeters"), "mi": ("mile", "miles"), "ft": ("foot", "feet"), "yd": ("yard", "yards"),
    "kg": ("kilogram", "kilograms"), "g": ("gram", "grams"), "mg": ("milligram", "milligrams"),
    "lb": ("pound", "pounds"), "lbs": ("pound", "pounds"), "oz": ("ounce", "ounces"),
    "L": ("liter", "liters"), "l": ("liter", "liters"), "ml": ("milliliter", "milliliters"),
    "mL": ("milliliter", "milliliters"), "mph": ("mile per hour", "miles per hour"),
    "km/h": ("kilometer per hour", "kilometers per hour"), "kph": ("kilometer per hour", "kilometers per hour"),
    "°C": ("degree Celsius", "degrees Celsius"), "°F": ("degree Fahrenheit", "degrees Fahrenheit"),
    "°": ("degree", "degrees"), "KB": ("kilobyte", "kilobytes"), "MB": ("megabyte", "megabytes"),
    "GB": ("gigabyte", "gigabytes"), "TB": ("terabyte", "terabytes"), "Hz": ("hertz", "hertz"),
    "kHz": ("kilohertz", "kilohertz"), "MHz": ("megahertz", "megahertz"), "GHz": ("gigahertz", "gigahertz"),
    "W": ("watt", "watts"), "kW": ("kilowatt", "kilowatts"), "kWh": ("kilowatt hour", "kilowatt hours"),
    "V": ("volt", "volts"), "ms": ("millisecond", "milliseconds"), "sec": ("second", "seconds"),
    "min": ("minute", "minutes"), "h": ("hour", "hours"), "hr": ("hour", "hours"), "hrs": ("hour", "hours"),
}  # fmt: skip
_UNIT = "|".join(re.escape(u) for u in sorted(UNITS, key=len, reverse=True))


def _measure(m: re.Match) -> str:
    one, many = UNITS[m["unit"]]
    amount = m["num"]
    return f"{number(amount)} {one if amount in ('1', '-1') else many}"


_FRACTIONS = {2: ("half", "halves"), 4: ("quarter", "quarters")}


def _fraction(m: re.Match) -> str:
    num, den = int(m["n"]), int(m["d"])
    if num >= den or den > 100:  # "50/50", "24/7": both numbers
        return f"{cardinal(num)} {cardinal(den)}"
    one, many = _FRACTIONS.get(den, (ordinal(den), plural_s(ordinal(den))))
    return f"{cardinal(num)} {one if num == 1 else many}"


def _decade(m: re.Match) -> str:
    n = m["n"]
    words = year(n) if len(n) == 4 else cardinal(n)
    head, _, last = words.rpartition(" ")
    return f"{head} {plural_s(last)}".strip()


def _phone(m: re.Match) -> str:
    groups = [g for g in re.split(r"\D+", m[0]) if g]
    return ", ".join(digits(g) for g in groups)


_URL_WORDS = {".": " dot ", "/": " slash ", "-": " dash ", "_": " underscore ", ":": " colon ", "@": " at ",
              "?": " question mark ", "=": " equals ", "&": " and ", "#": " hash ", "~": " tilde ", "+": " plus ",
              "%": " percent "}  # fmt: skip


def _spell_address(s: str) -> str:
    """A URL or e-mail address read out: "www.example.com/a" -> "w w w dot example dot com slash a"."""
    out = []
    for part in re.split(r"([./\-_:@?=&#~+%])", s):
        if not part:
            continue
        if part in _URL_WORDS:
            out.append(_URL_WORDS[part].strip())
        elif part.lower() == "www":
            out.append("w w w")
        elif part.isdigit():
            out.append(cardinal(part) if len(part) < 5 else digits(part))
        else:
            out.append(part.lower())
    return " ".join(out)


def _url(m: re.Match) -> str:
    s = re.sub(r"^[A-Za-z][A-Za-z0-9+.-]*://", "", m[0]).rstrip("/")
    return _spell_address(s)


# Acronyms read as words, not letters.
WORD_ACRONYMS = {"NASA", "NATO", "UNESCO", "UNICEF", "OPEC", "FIFA", "LASER", "RADAR", "SCUBA", "AIDS", "COVID",
                 "IKEA", "GIF", "JPEG", "PIN", "SIM", "ASAP", "NAFTA", "OSHA", "FEMA", "WHO", "SWAT", "POTUS"}  # fmt: skip
ROMAN = {"II": 2, "III": 3, "IV": 4, "VI": 6, "VII": 7, "VIII": 8, "IX": 9, "XI": 11, "XII": 12, "XIII": 13,
         "XIV": 14, "XV": 15, "XVI": 16, "XX": 20}  # fmt: skip


def _acronym(m: re.Match) -> str:
    word, plural = m["w"], m["s"] or ""
    if word in WORD_ACRONYMS:
        return word + plural
    if word in ROMAN and not plural:
        return cardinal(ROMAN[word])
    return " ".join(word) + (f"'{plural}" if plural else "")


# Abbreviations with one reading (the period kept when the abbreviation ends the sentence).
ABBREVIATIONS = {
    "Mr.": "Mister", "Mrs.": "Missus", "Ms.": "Miz", "Prof.": "Professor", "Jr.": "Junior", "Sr.": "Senior",
    "Gen.": "General", "Capt.": "Captain", "Lt.": "Lieutenant", "Sgt.": "Sergeant", "Gov.": "Governor",
    "Sen.": "Senator", "Rep.": "Representative", "Rev.": "Reverend", "Hon.": "Honorable", "Mt.": "Mount",
    "Ave.": "Avenue", "Rd.": "Road", "Blvd.": "Boulevard", "Ln.": "Lane", "Hwy.": "Highway", "Apt.": "apartment",
    "apt.": "apartment", "Dept.": "Department", "Univ.": "University", "Inc.": "Incorporated", "Ltd.": "Limited",
    "Corp.": "Corporation", "Co.": "Company", "Bros.": "Brothers", "etc.": "et cetera", "e.g.": "for example",
    "i.e.": "that is", "vs.": "versus", "vs": "versus", "approx.": "approximately", "est.": "established",
    "dept.": "department", "min.": "minutes", "max.": "maximum", "fig.": "figure", "Fig.": "Figure",
    "U.S.": "U S", "U.K.": "U K", "U.S.A.": "U S A", "a.m.": "a m", "p.m.": "p m", "A.M.": "a m", "P.M.": "p m",
}  # fmt: skip
_ABBR = re.compile(r"(?<![\w.])(" + "|".join(re.escape(a) for a in sorted(ABBREVIATIONS, key=len, reverse=True))
                   + r")(?=[\s,;:!?)]|$)")  # fmt: skip


def _abbreviation(m: re.Match) -> str:
    word = ABBREVIATIONS[m[1]]
    at_end = m[1].endswith(".") and not m.string[m.end():].strip()
    return word + ("." if at_end else "")


def _title_or_place(m: re.Match, title: str, place: str) -> str:
    """"Dr." / "St." before a capitalized name -> the title (Doctor, Saint); after one -> the place (Drive, Street)."""
    before, after = m.string[: m.start()], m.string[m.end():]
    next_is_name = re.match(r"\s+[A-Z]", after) is not None
    prev_is_name = re.search(r"[A-Z][a-z]+\s+$", before) is not None
    word = place if prev_is_name and not next_is_name else title
    return word + ("." if not after.strip() else "")


_INT = r"\d{1,3}(?:,\d{3})+(?!\d)|\d+"  # 1,234,567 or 1234567 (a comma that ends a clause is not part of it)
_NUM = r"-?(?:" + _INT + r")(?:\.\d+)?|-?\.\d+"
# (pattern, replacement) in the order they run: each rule sees the text the earlier ones left.
RULES: list[tuple[re.Pattern, object]] = [
    (re.compile(r"\b[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+\b"), lambda m: _spell_address(m[0])),
    (re.compile(r"\b(?:https?://|www\.)[^\s<>\"]+?(?=[.,;:!?)]*(?:\s|$))"), _url),
    (re.compile(r"\b[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:com|org|net|edu|gov|io|ai|dev|co\.uk|uk|de|fr)\b"), _url),
    (re.compile(r"(?<![\w.])(?:\+?1[-.\s])?(?:\(\d{3}\)\s?|\d{3}[-.])\d{3}[-.]\d{4}(?![\d.]\d)"), _phone),
    (re.compile(r"(?<![\d/])(?P<a>\d{1,2})/(?P<b>\d{1,2})/(?P<y>\d{4}|\d{2})(?![\d/])"), _numeric_date),
    (re.compile(r"(?<![\d-])(?P<y>\d{4})-(?P<mo>\d{2})-(?P<d>\d{2})(?![\d-])"), _iso_date),
    (re.compile(_MONTH + r"\s+(?P<d>\d{1,2})(?:st|nd|rd|th)?(?:,?\s+(?P<y>\d{4}))?(?!\d)"), _month_day),
    (re.compile(r"(?<!\d)(?P<d>\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?" + _MONTH + r"(?:,?\s+(?P<y>\d{4}))?(?!\d)"),
     _day_month),
    (re.compile(r"(?<![\d:])(?P<h>\d{1,2}):(?P<m>\d{2})(?::(?P<s>\d{2}))?(?![\d:])"
                r"(?:\s*(?P<ampm>[ap]\.m\.|[AaPp]\.?[Mm]\.?(?![A-Za-z])))?"), _time),
    (re.compile(r"(?<![\d:.])(?P<a>\d+):(?P<b>\d+)(?![\d:])"), lambda m: f"{cardinal(m['a'])} to {cardinal(m['b'])}"),
    (re.compile(r"(?<![\d.])\d+(?:\.\d+){2,}(?![\d.]\d)"), lambda m: " point ".join(cardinal(p) for p in m[0].split("."))),
    (re.compile(r"(?<![\d:])(?P<h>\d{1,2})(?P<m>)(?P<s>)\s*(?P<ampm>[ap]\.m\.|[AaPp][Mm](?![A-Za-z]))"),
     lambda m: f"{cardinal(m['h'])} {_ampm(m, m['ampm'])}"),
    (re.compile(r"(?P<cur>[$£€¥₹])\s?(?P<amt>(?:" + _INT + r")(?:\.\d+)?|\.\d+)"
                r"(?:\s?(?P<scale>thousand|million|billion|trillion|bn|mn|[kKmMbB])\b)?"), _money),
    (re.compile(r"(?P<num>" + _NUM + r")\s?%"), lambda m: f"{number(m['num'])} percent"),
    (re.compile(r"(?P<num>" + _NUM + r")\s?(?P<unit>" + _UNIT + r")(?![\w°])"), _measure),
    (re.compile(r"(?<![\w.])(?P<n>\d+)(?:st|nd|rd|th)\b"), lambda m: ordinal(m["n"])),
    (re.compile(r"(?:\bNo\.|#)\s?(?P<n>\d+)\b"), lambda m: f"{'N' if m.start() == 0 else 'n'}umber {cardinal(m['n'])}"),
    (re.compile(r"(?<![\w/.])(?P<n>\d{1,3})/(?P<d>\d{1,3})(?![\w/])"), _fraction),
    (re.compile(r"(?<![\w.,-])(?P<a>" + _NUM + r")\s?-\s?(?P<b>" + _NUM + r")(?![\w.,]\d|-)"),
     lambda m: f"{m['a']} to {m['b']}"),
    (re.compile(r"(?<![\w'])'?(?P<n>(?:1[1-9]|20)?[0-9]0)'?s\b"), _decade),
    (re.compile(r"(?<![\w.,$])(?P<y>1[1-9]\d\d|20\d\d)(?![\w.,]\d|\d)"), lambda m: year(m["y"])),
    (re.compile(r"(?<=[A-Za-z])-?(?=\d)|(?<=\d)(?=[A-Za-z])"), lambda m: " "),
    (re.compile(r"(?<![\w.])(?:" + _NUM + r")"), lambda m: number(m[0])),
    (re.compile(r"\bDr\.(?=\s|$|[,;:!?])"), lambda m: _title_or_place(m, "Doctor", "Drive")),
    (re.compile(r"\bSt\.(?=\s|$|[,;:!?])"), lambda m: _title_or_place(m, "Saint", "Street")),
    (_ABBR, _abbreviation),
    (re.compile(r"\b(?:[A-Z]\.){2,}(?=\s|$|[,;:!?])"), lambda m: " ".join(m[0].replace(".", ""))),
    (re.compile(r"(?<![\w'])(?P<w>[A-Z]{2,5})(?P<s>'?s)?(?![\w'])"), _acronym),
    (re.compile(r"\s*&\s*"), lambda m: " and "),
    (re.compile(r"\s+\+\s+|(?<=\w)\+(?=\w)"), lambda m: " plus "),
    (re.compile(r"\s+=\s+"), lambda m: " equals "),
    (re.compile(r"\s@\s?"), lambda m: " at "),
    (re.compile(r"#(?=\w)"), lambda m: "hashtag "),
    (re.compile(r"(?<=[A-Za-z])/(?=[A-Za-z])"), lambda m: " or "),
    (re.compile(r"[*_~^|\\<>{}\[\]`]+|#+"), lambda m: " "),
]


def _shouting(sentence: str) -> bool:
    """Three or more words in capitals (and more capitals than not): a sentence typed in capitals is read as words."""
    words = re.findall(r"[A-Za-z]{2,}", sentence)
    caps = [w for w in words if w.isupper()]
    return len(caps) >= 3 and len(caps) > len(words) / 2


def _leftover_numbers(text: str) -> str:
    return re.sub(r"\d+", lambda m: cardinal(m[0]), text)


def verbalize(sentence: str) -> str:
    """One cleaned sentence -> its spoken form (numbers, dates, money, abbreviations, acronyms, symbols in words)."""
    if _shouting(sentence):
        sentence = re.sub(r"[A-Z]{2,}", lambda m: m[0].capitalize() if m.start() == 0 else m[0].lower(), sentence)
    for pattern, repl in RULES:
        sentence = pattern.sub(repl, sentence)
    sentence = _leftover_numbers(sentence)
    sentence = "".join(c for c in sentence if unicodedata.category(c) not in ("So", "Sk", "Co", "Cn"))
    sentence = re.sub(r"\s+([,.;:!?])", r"\1", sentence)
    return " ".join(sentence.split())


def sentences(text: str) -> list[str]:
    """``text`` cleaned (``clean``), NFKC-normalized and split into sentences, each in its spoken form."""
    from tts.longtext import split_sentences

    cleaned = clean(text)  # blank lines end a sentence: normalize_text (which joins lines) runs per paragraph
    paragraphs = (normalize_text(p) for p in re.split(r"\n\s*\n", cleaned))
    out = [verbalize(s) for p in paragraphs for s in split_sentences(p)]
    return [s for s in out if s]


def normalize(text: str) -> str:
    """Written ``text`` -> the words the model is to speak (see the module doc). TextError: control characters."""
    return " ".join(sentences(text))
