"""User-facing error types.

Each kind of user mistake has its own exception carrying a message that says what to do; the CLI turns
any `MasqueradeError` into one red line and exit code 2. Anything else is a bug and keeps its traceback.
"""


class MasqueradeError(Exception):
    """Base for errors caused by the user's input or environment, not by a bug."""


class MediaError(MasqueradeError):
    """A file is missing, unreadable, corrupt or not an image/video."""


class NoFaceError(MasqueradeError):
    """No usable face was found where one was needed."""


class FaceSetError(MasqueradeError):
    """A face set folder is missing, incomplete, or not what the command expects."""


class ModelError(MasqueradeError):
    """A model folder is missing, corrupt, or was built for other data."""


class ModelMismatchError(ModelError):
    """A model and a face set (or checkpoint) disagree about template, size or architecture."""


class OutputError(MasqueradeError):
    """The output path is unusable (equals the input, holds something else, not writable)."""


class ProvenanceError(MasqueradeError):
    """Signing credentials or provenance marks could not be created or read."""
