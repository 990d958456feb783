"""Text normalization (tts.normalize) and long text (tts.longtext): the table of written -> spoken forms, cleaning,
sentence splitting, packing into chunks and the cross-fade join."""

from __future__ import annotations

import pytest
import torch

from tts.longtext import crossfade, pack, split_sentences
from tts.normalize import clean, normalize
from tts.text import TextError

# written -> what the model is to speak (one or more cases of every class the normalizer handles)
TABLE = [
    ('I have 2 cats.', 'I have two cats.'),
    ('There are 13 apples and 100 pears.', 'There are thirteen apples and one hundred pears.'),
    ('It cost 1,234,567 votes.', 'It cost one million two hundred and thirty-four thousand five hundred and sixty-seven votes.'),
    ('He counted to 1005.', 'He counted to one thousand and five.'),
    ('Her number was 007.', 'Her number was zero zero seven.'),
    ('It fell to -7 today.', 'It fell to minus seven today.'),
    ('Pi is 3.14.', 'Pi is three point one four.'),
    ('Only .5 of it.', 'Only point five of it.'),
    ('Version 2.0 is out.', 'Version two point zero is out.'),
    ('Section 4.2.1 applies.', 'Section four point two point one applies.'),
    ('He finished 1st, she 2nd, they 3rd.', 'He finished first, she second, they third.'),
    ('The 21st century began.', 'The twenty-first century began.'),
    ('He was the 100th visitor.', 'He was the one hundredth visitor.'),
    ('It costs $5.99.', 'It costs five dollars and ninety-nine cents.'),
    ('I paid $1.', 'I paid one dollar.'),
    ('Just $0.50 left.', 'Just fifty cents left.'),
    ('A $1.5 million house.', 'A one point five million dollars house.'),
    ('Tickets are $20 each.', 'Tickets are twenty dollars each.'),
    ('It costs €20 or £15.50.', 'It costs twenty euros or fifteen pounds and fifty pence.'),
    ('They raised $2,000,000.', 'They raised two million dollars.'),
    ('It grew 12.5% this year.', 'It grew twelve point five percent this year.'),
    ('Only 3% agreed.', 'Only three percent agreed.'),
    ('He scored 100% on the test.', 'He scored one hundred percent on the test.'),
    ('Born on 12/25/2024.', 'Born on December twenty-fifth, twenty twenty-four.'),
    ('The deadline is 2019-03-15.', 'The deadline is March fifteenth, twenty nineteen.'),
    ('We met on Jan. 5th, 2021.', 'We met on January fifth, twenty twenty-one.'),
    ('It happened on July 4, 1776.', 'It happened on July fourth, seventeen seventy-six.'),
    ('She was born on 4 July 1990.', 'She was born on the fourth of July, nineteen ninety.'),
    ('The party is on March 3rd.', 'The party is on March third.'),
    ('Meet me at 3:30 pm.', 'Meet me at three thirty p m.'),
    ('Lunch is at 12:00.', "Lunch is at twelve o'clock."),
    ('The bus leaves at 6:05 a.m. daily.', 'The bus leaves at six oh five a m daily.'),
    ('Wake me at 7am.', 'Wake me at seven a m.'),
    ('The train left at 15:45.', 'The train left at fifteen forty-five.'),
    ('In 1999 it rained.', 'In nineteen ninety-nine it rained.'),
    ('That was 2005.', 'That was two thousand and five.'),
    ('In 2024 we moved.', 'In twenty twenty-four we moved.'),
    ('The year 1905 was odd.', 'The year nineteen oh-five was odd.'),
    ('He was born in the 1990s.', 'He was born in the nineteen nineties.'),
    ("Music from the '80s.", 'Music from the eighties.'),
    ('The years 1990-1995 were good.', 'The years nineteen ninety to nineteen ninety-five were good.'),
    ('Pages 10-20 are missing.', 'Pages ten to twenty are missing.'),
    ('The ratio is 3:1.', 'The ratio is three to one.'),
    ('Call (555) 123-4567 today.', 'Call five five five, one two three, four five six seven today.'),
    ('Call 555-123-4567 now.', 'Call five five five, one two three, four five six seven now.'),
    ('Dial 1-800-555-0199.', 'Dial one, eight zero zero, five five five, zero one nine nine.'),
    ('Run 5 km daily.', 'Run five kilometers daily.'),
    ('It weighs 2.5 kg.', 'It weighs two point five kilograms.'),
    ('A 1 km walk.', 'A one kilometer walk.'),
    ('It is 20°C outside.', 'It is twenty degrees Celsius outside.'),
    ('Set the oven to 350°F.', 'Set the oven to three hundred and fifty degrees Fahrenheit.'),
    ('The car did 60 mph.', 'The car did sixty miles per hour.'),
    ('It has 16 GB of memory.', 'It has sixteen gigabytes of memory.'),
    ('The flight is 2h 30min long.', 'The flight is two hours thirty minutes long.'),
    ('Add 1/2 cup of sugar.', 'Add one half cup of sugar.'),
    ('Add 3/4 cup of milk.', 'Add three quarters cup of milk.'),
    ('Use 2/3 of the dough.', 'Use two thirds of the dough.'),
    ("It's open 24/7.", "It's open twenty-four seven."),
    ('Dr. Smith is here.', 'Doctor Smith is here.'),
    ('He lives on Sunset Dr.', 'He lives on Sunset Drive.'),
    ('Mr. and Mrs. Jones came.', 'Mister and Missus Jones came.'),
    ('St. Louis is nice.', 'Saint Louis is nice.'),
    ('He lives on Baker St.', 'He lives on Baker Street.'),
    ('Apples, pears, etc.', 'Apples, pears, et cetera.'),
    ('Fruit, e.g. apples.', 'Fruit, for example apples.'),
    ('Cats vs. dogs.', 'Cats versus dogs.'),
    ('Mt. Everest is tall.', 'Mount Everest is tall.'),
    ('Ask Prof. Brown Jr.', 'Ask Professor Brown Junior.'),
    ('The FBI called.', 'The F B I called.'),
    ('NASA launched it.', 'NASA launched it.'),
    ('The CEO of IBM spoke.', 'The C E O of I B M spoke.'),
    ('She lives in the U.S.', 'She lives in the U S.'),
    ('World War II ended.', 'World War two ended.'),
    ('Watch the DVDs.', "Watch the D V D's."),
    ('Visit https://www.example.com/news.', 'Visit w w w dot example dot com slash news.'),
    ('Visit example.org today.', 'Visit example dot org today.'),
    ('Mail john.doe@example.com now.', 'Mail john dot doe at example dot com now.'),
    ('Tom & Jerry.', 'Tom and Jerry.'),
    ('2 + 2 = 4.', 'two plus two equals four.'),
    ('Try the MP3 player.', 'Try the M P three player.'),
    ('COVID-19 spread.', 'COVID nineteen spread.'),
    ('WATCH OUT FOR THE DOG', 'Watch out for the dog'),
    ('No. 5 is mine.', 'Number five is mine.'),
    ('Our #1 song.', 'Our number one song.'),
    ('Red <b>alert</b> now.', 'Red alert now.'),
    ('<speak>Hello <break time="1s"/> world</speak>', 'Hello world'),
    ('Fish &amp; chips.', 'Fish and chips.'),
    ('I said “hello” — twice…', 'I said "hello" - twice...'),
]


def test_table_has_at_least_sixty_cases():
    assert len(TABLE) >= 60 and len({w for w, _ in TABLE}) == len(TABLE)


@pytest.mark.parametrize(("written", "spoken"), TABLE, ids=[w[:40] for w, _ in TABLE])
def test_normalize_reads_written_text_as_spoken(written, spoken):
    assert normalize(written) == spoken


def test_normalize_leaves_plain_sentences_as_they_are():
    plain = "I would like to book a table for four people on Saturday evening. Could you please turn off the lights?"
    assert normalize(plain) == plain


def test_normalize_is_idempotent_on_its_own_output():
    for _, spoken in TABLE:
        assert normalize(spoken) == spoken or normalize(normalize(spoken)) == normalize(spoken)


def test_ansi_escapes_and_markup_are_removed():
    assert clean("Red \x1b[31malert\x1b[0m now") == "Red alert now"
    assert normalize('<speak>Hi <prosody rate="slow">there</prosody>.</speak>') == "Hi there."
    assert normalize("&lt;b&gt;bold&lt;/b&gt; text") == "bold text"


@pytest.mark.parametrize("bad", ["nul \x00 here", "bell \x07", "del \x7f", "c1 \x85 char"])
def test_other_control_characters_are_refused_by_name(bad):
    with pytest.raises(TextError, match=r"control character\(s\) U\+00"):
        normalize(bad)


def test_line_breaks_are_spaces_and_blank_lines_end_sentences():
    assert normalize("one line\nwrapped here") == "one line wrapped here"
    assert split_sentences("A title\n\nThe body starts here.") == ["A title", "The body starts here."]


def test_sentences_are_not_cut_after_abbreviations():
    text = "Dr. Smith paid $5.99 on Jan. 5, 2021 at 221 Baker St., apt. 4. He left at 3 p.m. Mr. Jones stayed."
    assert split_sentences(text) == ["Dr. Smith paid $5.99 on Jan. 5, 2021 at 221 Baker St., apt. 4.",
                                     "He left at 3 p.m.", "Mr. Jones stayed."]


def test_pack_keeps_sentences_whole_and_under_the_budget():
    sentences = ["One two three.", "Four five.", "Six seven eight nine ten eleven twelve, thirteen fourteen.", "End."]
    chunks = pack(sentences, 30)
    assert all(len(c) <= 30 for c in chunks)
    assert " ".join(chunks).split() == " ".join(sentences).split()
    assert chunks[0] == "One two three. Four five."
    assert chunks[1] == "Six seven eight nine ten" and chunks[-1].endswith("End.")
    assert pack(["Alpha beta, gamma delta epsilon."], 22) == ["Alpha beta,", "gamma delta epsilon."]


def test_pack_cuts_a_long_sentence_between_words_and_keeps_an_overlong_word_whole():
    assert pack(["aaaa bbbb cccc dddd"], 9) == ["aaaa bbbb", "cccc dddd"]
    assert pack(["x " + "y" * 20 + " z"], 5) == ["x", "y" * 20, "z"]
    with pytest.raises(ValueError):
        pack(["a"], 0)


def test_crossfade_overlaps_pieces_linearly():
    a, b = torch.ones(100), torch.zeros(50)
    out = crossfade([a, b], 10)
    assert out.numel() == 140
    assert torch.all(out[:90] == 1) and torch.all(out[100:] == 0)
    assert torch.all(out[89:101].diff() <= 0)  # fades from one to the other
    assert crossfade([torch.ones(3), torch.ones(3)], 10).numel() == 5  # short pieces: overlap at most half
    assert crossfade([], 10).numel() == 0
