import pytest

from tts.text import FILLER_ID, TextError, UnknownCharacterError, Vocab, normalize_text, utf8_len


def test_normalize_maps_typography_and_whitespace_and_keeps_case():
    assert normalize_text("  \u201cHello\u201d \u2014  World\u2026 ") == '"Hello" - World...'
    assert normalize_text("ﬁne") == "fine"  # NFKC ligature


def test_encode_decode_round_trip():
    v = Vocab()
    text = "Why did the baker close his shop, at 7?"
    ids = v.encode(text)
    assert FILLER_ID not in ids
    assert v.decode(ids) == text


def test_vocab_save_load_keeps_ids(tmp_path):
    v = Vocab.build(["naïve café"])
    path = tmp_path / "vocab.json"
    v.save(path)
    w = Vocab.load(path)
    assert w.symbols == v.symbols
    assert w.encode("naïve café") == v.encode("naïve café")
    assert w.symbols[0] == "<f>"


def test_build_extends_base_so_english_ids_are_stable():
    assert Vocab.build(["été"]).encode("hello") == Vocab().encode("hello")


def test_unknown_characters_are_named_or_dropped():
    v = Vocab()
    with pytest.raises(UnknownCharacterError, match="'é'.*utt7"):
        v.encode("café", utt_id="utt7")
    assert v.decode(v.encode("café", on_unknown="drop")) == "caf"


def test_empty_text_is_refused():
    with pytest.raises(TextError, match="empty"):
        Vocab().encode("   ")


def test_utf8_len_counts_bytes():
    assert utf8_len("é") == 2 and utf8_len("ab") == 2
