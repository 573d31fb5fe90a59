"""Playback: the audio edge where the assistant's voice leaves the pipeline (speaker, WAV file, or nowhere)."""
