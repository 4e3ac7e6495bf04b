"""The base of every error liberica reports in one line.

A :class:`LibericaError` means the work cannot go on as asked: bad input (a
definition, fileset, file, model, option or cluster profile) or a fit that did
not converge within its budget. Its message is complete on one line and names
the file, key, option or step, so the command line prints it and exits 2, and a
notebook can catch every such case with one ``except``. Each subclass also
derives from the builtin that fits it (``ValueError``, ``OSError``, ...).
"""


class LibericaError(Exception):
    """An error whose message is a complete one-line diagnosis."""
