"""The benchmark's scoring: what counts as a word error and what is only a writing convention."""

from benchmarks.metrics import score, words_for_wer


def test_sizes_written_with_x_or_by_score_the_same():
    assert words_for_wer("Measures 11 x 8 mm.") == words_for_wer("measures 11 by 8 mm") == "measures 11 by 8 mm"
    assert words_for_wer("2.3x1.1 cm") == "2.3 by 1.1 cm"
    assert score("a 7 by 8 mm cyst", "A 7 x 8 mm cyst.", set()).errors == 0


def test_spine_levels_in_either_convention_score_the_same():
    assert words_for_wer("L4-L5") == words_for_wer("l4 - 5") == "l4 5"
    assert words_for_wer("C5-C6 and L5-S1, T12-L1") == "c5 6 and l5 s1 t12 l1"
    assert score("disc bulge at l4 - 5", "Disc bulge at L4-L5.", set()).errors == 0


def test_real_differences_still_count():
    # the conventions must not hide a wrong level, a wrong size or a lost word
    assert score("l4 - 5", "L3-L4", set()).errors == 2
    assert score("7 by 8 mm", "7 x 9 mm", set()).errors == 1
    assert score("the x ray is normal", "the ray is normal", set()).errors == 1
    c = score("no new fracture at left l4", "new fracture at right L4", set())
    assert c.errors == 2 and c.critical_errors == 2 and c.critical_words == 3


def test_radiopaedia_text_is_read_as_dictated():
    from benchmarks.asr import _readable

    text = _readable("osteochondral defect measuring approximately 3 . 5 mm by 2 cm . mm is seen")
    assert text == "osteochondral defect measuring approximately 3.5 millimeters by 2 centimeters. mm is seen"


def test_a_decimal_point_written_apart_is_one_number():
    # the Radiopaedia CSV splits every "." off, decimal points too
    assert words_for_wer("measuring 3 . 5 mm . no fracture .") == "measuring 3.5 mm no fracture"
    assert score("measuring 3 . 5 mm .", "Measuring 3.5 mm.", set()).errors == 0
    assert score("measuring 3 . 5 mm .", "Measuring 3 mm.", set()).errors == 1


def test_unseen_material_counts_errors_by_the_category_of_the_word():
    from benchmarks.unseen import Counts, _part, _spoken

    c = Counts()
    c.add("No left pleural effusion, 3 mm nodule.", "Now left plural effusion 3 mm nodule", {"pleural", "effusion", "nodule"})
    assert c.words == 7 and c.errors == 2
    assert c.by_category["negation"] == [1, 1] and c.by_category["medical"] == [3, 1]
    assert c.by_category["laterality"] == [1, 0] and c.by_category["numbers"] == [1, 0]
    # An inserted word counts against its category: "right" said by nobody.
    c.add("Lungs are clear.", "Right lungs are clear.", set())
    assert c.by_category["laterality"] == [1, 1]
    # Said without spoken punctuation; a decimal point stays.
    assert _spoken("A 3.5 cm cyst, stable. No effusion.") == "A 3.5 cm cyst stable No effusion"
    # The split is by report uid, by its hash: both parts get reports.
    assert {_part(str(uid)) for uid in range(20)} == {"tune", "test"}


def test_critical_word_errors_count_a_meaning_changed_once():
    from benchmarks.metrics import critical_errors

    assert critical_errors("No joint effusion.", "now join the fusion") == 1  # the "no" lost
    assert critical_errors("Small left effusion.", "Small right effusion.") == 1  # one word swapped, once
    assert critical_errors("Lungs are clear.", "Lungs are not clear.") == 1  # a negation nobody said
    assert critical_errors("Measures 11 mm.", "Measures 12 mm.") == 1
    assert critical_errors("No effusion, 11 mm nodule.", "No effusion 11 mm nodule") == 0
    assert critical_errors("Mild cardiomegaly.", "Mild cardiac megaly.") == 0  # wrong, but no meaning word


def test_the_learned_corrections_are_the_pairs_typed_twice_that_a_lead_would_accept():
    from collections import Counter

    from benchmarks.unseen import _learned_pipeline
    from dictation.speech.transcript import Transcript
    from dictation.text.pipeline import TextPipeline

    base = TextPipeline(group="chest")
    typed = Counter({("plurel", "pleural"): 2, ("the", "a"): 3, ("fuzion", "effusion"): 1})
    learned = _learned_pipeline(base, typed)
    text = learned.written(Transcript("the plurel fuzion", (), 1.0))[0]
    assert "pleural" in text.lower() and text.lower().startswith("the")  # "the" → "a" refused
    assert learned.corrector.corrections.phrases.get("plurel") == "pleural" and "fuzion" not in learned.corrector.corrections.phrases


def test_spoken_commas_are_said_and_counted_as_written_left_or_extra():
    from benchmarks.punctuation import Tally, spoken

    sentence = "Low lung volumes bilaterally, with lungs otherwise grossly clear."
    assert spoken(sentence) == "Low lung volumes bilaterally comma with lungs otherwise grossly clear period"
    t = Tally()
    t.add(sentence, "Low lung volumes bilaterally, with lungs otherwise grossly clear.")
    t.add(sentence, "Low lung volumes bilaterally common with lungs otherwise grossly clear.")
    t.add("Heart is normal.", "Heart, is, normal.")
    assert (t.said, t.written, t.left, t.extra) == (2, 1, 1, 2)
    assert t.errors == 1 and t.words == 2 * 9 + 3  # "common" inserted; marks are not words
    t.add("Heart is normal.", "Heart is normal aorta")  # the full stop written as a word
    assert (t.stops, t.sentences) == (3, 4)
