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


# ---------------------------------------------------------------- phoneme tokenizer
def test_phoneme_vocab_matches_piper_id_map():
    piper_ids = pytest.importorskip("piper.phoneme_ids")
    from tts.text import FILLER

    ordered = [k for k, _ in sorted(piper_ids.DEFAULT_PHONEME_ID_MAP.items(), key=lambda kv: kv[1][0])]
    v = Vocab(kind="phoneme")
    assert v.symbols == [FILLER, *ordered[1:]]  # our filler takes piper's pad slot: ids equal piper's


def test_phonemize_and_phoneme_vocab_round_trip(tmp_path):
    pytest.importorskip("piper.phonemize_espeak")
    from tts.text import phonemize

    syms = phonemize("Hello there. How are you?")
    assert syms[0] == "^" and syms[-1] == "$" and syms.count("^") == 2 and syms.count("$") == 2
    assert "ð" in syms and " " in syms and "ˈ" in syms
    v = Vocab(kind="phoneme")
    ids = v.encode("Hello there. How are you?")
    assert FILLER_ID not in ids and v.decode_symbols(ids) == syms
    assert v.encode_symbols(syms) == ids
    path = tmp_path / "vocab.json"
    v.save(path)
    w = Vocab.load(path)
    assert w.kind == "phoneme" and w.symbols == v.symbols and w.encode("Hello there. How are you?") == ids


def test_unknown_phoneme_symbols_are_named():
    from tts.text import UnknownSymbolError

    v = Vocab(kind="phoneme")
    with pytest.raises(UnknownSymbolError, match="phoneme symbol.*'Q'.*utt3"):
        v.encode_symbols(["^", "h", "Q", "$"], utt_id="utt3")
    assert v.decode_symbols(v.encode_symbols(["^", "Q", "h", "$"], on_unknown="drop")) == ["^", "h", "$"]


def test_vocab_kind_is_checked_and_old_files_load_as_char():
    with pytest.raises(ValueError, match="kind"):
        Vocab(kind="bpe")
    assert Vocab.from_dict({"symbols": Vocab().symbols}).kind == "char"
    assert Vocab().to_dict()["kind"] == "char"
