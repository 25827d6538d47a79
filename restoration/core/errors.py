"""Errors that are the user's to fix (bad file, unknown codec, out-of-range value).

The CLI prints them as one line and exits non-zero; the app shows them as a message.
Anything else is a bug and keeps its traceback.
"""


class UserInputError(ValueError):
    """Input the user can correct; the message says how."""
