"""From sound to words: audio sources, the segmenter (Silero VAD), the recogniser (faster-whisper)
and the live dictation session that wires them to a report.

    audio.py        AudioSource: microphone (sounddevice), a file paced like one, arrays; decoding files
    segmenter.py    utterance boundaries from the samples (Silero VAD)
    recognizer.py   the speech model: loading, guards against Whisper's hallucinations, streaming push API
    session.py      DictationSession: audio thread -> utterances -> recogniser -> controller, as events
"""
