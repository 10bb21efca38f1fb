"""The project's one error base and the exit codes of the ``llava-ecg`` command.

Every error llava-ecg raises on purpose subclasses :class:`LlavaEcgError` (a ``ValueError``, so code that caught the
stages' ``ValueError`` subclasses keeps working). Its message names the file, option or subset and the problem; the
command line (``llava_ecg.cli.main``) prints it as one line and exits with the error's ``exit_code``:

====  ================================================================================================
code  meaning
====  ================================================================================================
0     success (also when the reader of a pipe, e.g. ``| head``, stops early)
1     the run failed for a reason that is not the input's: a stage or subprocess failed, items failed
2     the input is wrong: an option value, a missing/unreadable/wrong-kind file, an unknown name, a result that
      is empty because of the input (argparse's own usage errors are 2 as well)
130   interrupted (Ctrl-C)
====  ================================================================================================
"""
from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class LlavaEcgError(ValueError):
    """Base of every deliberate llava-ecg error: bad input by default (exit code 2)."""

    exit_code = EXIT_USAGE


class RunFailed(LlavaEcgError):
    """The input was fine but the run did not succeed (a stage or subprocess failed): exit code 1."""

    exit_code = EXIT_FAILED
