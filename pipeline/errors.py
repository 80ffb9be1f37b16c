"""The one exception type the CLI turns into a clean one-line message and exit code 1.

Library code raises SegError with a message that names the file or option at fault and
says how to fix it. Anything else reaching the CLI is a bug and keeps its traceback.
"""


class SegError(Exception):
    """A user-facing error: bad input, missing file, wrong option."""
