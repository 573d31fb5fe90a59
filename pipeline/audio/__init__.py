"""The offline audio toolkit shared by the embedded Realtime server and the client pipeline.

All audio is 24 kHz mono PCM16 LE bytes unless a name says otherwise.

- ``pipeline.audio.resample``: soxr resampling (one-shot and streaming) and sample-format helpers.
- ``pipeline.audio.wav``: read any PCM/float WAV as 24 kHz mono; write WAV files whole or streamed.
- ``pipeline.audio.tts``: espeak-ng speech synthesis (deterministic, thread-safe, cached).
- ``pipeline.audio.asr``: Whisper (faster-whisper, pinned offline weights) speech recognition of whole utterances.

Import the submodules directly; this package imports nothing so that ``import pipeline.audio.wav`` does not
load the speech engines.
"""
