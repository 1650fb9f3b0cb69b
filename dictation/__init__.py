"""radscribe's dictation engine, importable without the terminal UI.

Modules, one job each: ``audio`` (sources), ``segmenter`` (Silero VAD utterances),
``recognizer`` (faster-whisper, streaming push API), ``spoken`` (spoken → written rules),
``correction`` (lexicon, prompts, corrector), ``transcribe`` (the text stages, whole files),
``session`` (the live DictationSession and its events), ``errors`` (the error tree),
``testing`` (fakes for unit tests), ``cli`` (the ``radscribe`` command).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("radscribe")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
