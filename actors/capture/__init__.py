"""Capture: the audio edge where the user's voice (microphone, WAV file, script, generator) enters."""
