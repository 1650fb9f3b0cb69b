"""Utterance segmentation with the real Silero VAD on synthesised speech."""

import numpy as np
import pytest

from dictation.speech.audio import SAMPLE_RATE
from dictation.speech.segmenter import SegmenterOptions, split_utterances
from tests.voice import synthesize


@pytest.fixture(scope="module")
def speech():
    return synthesize("there is a small left pleural effusion", lead=0.0, trail=0.0)


def silence(seconds):
    return np.zeros(int(seconds * SAMPLE_RATE), np.float32)


def test_pause_splits_utterances(speech):
    audio = np.concatenate([silence(0.5), speech, silence(1.0), speech, silence(1.0)])
    utterances = split_utterances(audio)
    assert len(utterances) == 2
    assert all(u.reason == "silence" for u in utterances)


def test_short_pause_within_a_sentence_does_not_split(speech):
    audio = np.concatenate([silence(0.5), speech, silence(0.3), speech, silence(1.0)])
    assert len(split_utterances(audio)) == 1


def test_end_silence_is_configurable(speech):
    audio = np.concatenate([silence(0.5), speech, silence(0.45), speech, silence(1.0)])
    assert len(split_utterances(audio, SegmenterOptions(end_silence_ms=300))) == 2
    assert len(split_utterances(audio, SegmenterOptions(end_silence_ms=800))) == 1


def test_preroll_keeps_the_first_syllable(speech):
    audio = np.concatenate([silence(1.0), speech, silence(1.0)])
    u = split_utterances(audio)[0]
    onset = 1.0  # where the speech really starts
    assert u.start < onset - 0.1  # pre-roll reaches back before the VAD fired
    assert u.end > onset + len(speech) / SAMPLE_RATE - 0.05  # nothing cut at the end


def test_long_speech_is_cut_at_max_length_and_nothing_is_lost(speech):
    audio = np.concatenate([silence(0.3)] + [speech, silence(0.15)] * 6 + [silence(1.0)])
    options = SegmenterOptions(max_utterance_s=6.0)
    utterances = split_utterances(audio, options)
    assert len(utterances) >= 2
    assert all(u.duration <= 6.0 + 0.05 for u in utterances)
    assert utterances[0].reason == "max_length"
    kept = sum(len(u.audio) for u in utterances)
    assert kept >= 6 * len(speech)  # every bit of speech is in some utterance


def test_silence_and_a_click_make_no_utterance():
    click = np.zeros(SAMPLE_RATE * 2, np.float32)
    click[SAMPLE_RATE : SAMPLE_RATE + 40] = 0.9
    assert split_utterances(click) == []
    assert split_utterances(silence(3.0)) == []
