"""From heard words to written report text.

    spoken.py       spoken forms -> written ("period", numbers, units, spine levels, lists)
    correction.py   the term lexicon, recognition prompts, and the vocabulary corrector
    pipeline.py     TextPipeline: the stages in order, and whole-file transcription
"""
