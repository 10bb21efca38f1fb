"""The project's error base: every typed error for bad input or configuration derives from it."""
from __future__ import annotations


class LlavaEcgError(ValueError):
    """Bad input or configuration; the message names the file or value and the problem.

    A ``ValueError`` so callers that caught ``ValueError`` before keep working; ``llava-ecg`` turns it into
    one message and one exit code.
    """
