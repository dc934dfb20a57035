from messaging.encoding import GSM7, UCS2, strip_diacritics, text_info


def test_plain_text_of_160_characters_is_one_gsm7_segment():
    info = text_info("a" * 160)
    assert (info.encoding, info.length, info.segments) == (GSM7, 160, 1)


def test_161_characters_take_two_segments_of_153():
    info = text_info("a" * 161)
    assert (info.segments, info.per_segment) == (2, 153)
    assert text_info("a" * 306).segments == 2
    assert text_info("a" * 307).segments == 3


def test_extension_characters_count_twice():
    info = text_info("{" * 80)
    assert (info.encoding, info.length, info.segments) == (GSM7, 160, 1)
    assert text_info("{" * 80 + "a").segments == 2


def test_an_escape_pair_is_never_split_across_parts():
    # 152 plain septets then "€" (2 septets): the pair moves to the second part.
    text = "a" * 152 + "€" + "a" * 152
    info = text_info(text)
    assert info.length == 306
    assert info.segments == 3


def test_one_vietnamese_letter_makes_the_text_ucs2():
    info = text_info("Quý khách")
    assert (info.encoding, info.length, info.segments) == (UCS2, 9, 1)
    assert text_info("ý" * 70).segments == 1
    assert text_info("ý" * 71).segments == 2
    assert text_info("ý" * 134).segments == 2
    assert text_info("ý" * 135).segments == 3


def test_emoji_take_two_ucs2_units_and_are_not_split():
    info = text_info("😀" * 35)
    assert (info.encoding, info.length, info.segments) == (UCS2, 70, 1)
    # 134 units would fit two parts of 67, but the pair straddling the first
    # boundary moves whole to the second part, which then overflows.
    text = "x" * 66 + "😀" + "x" * 66
    assert (text_info(text).length, text_info(text).segments) == (134, 3)


def test_stripping_diacritics_handles_d_with_stroke():
    assert strip_diacritics("Quý khách Đỗ Văn Đức đã được tặng quà") == (
        "Quy khach Do Van Duc da duoc tang qua"
    )
    assert strip_diacritics("Ảnh chụp CCCD “mặt trước” – 500.000 đồng") == (
        'Anh chup CCCD "mat truoc" - 500.000 dong'
    )


def test_stripped_vietnamese_is_gsm7():
    text = strip_diacritics("Kính mời Quý khách truy cập địa chỉ cskh.mobifone.vn")
    assert text_info(text).encoding == GSM7
