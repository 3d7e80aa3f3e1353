"""One error tree for every boundary.

Each class carries how it surfaces on each transport: an HTTP status, a gRPC status code name and a CLI exit code,
so REST, gRPC and the CLI map errors the same way without a table of their own. Third-party exceptions are caught at
the edge where they occur (SQLAlchemy in the store, fsspec in the artifact store, runtimes in the loaders) and
re-raised as one of these, never leaked.
"""

from __future__ import annotations


class ModelyardError(Exception):
    """Base of every error modelyard raises on purpose."""

    http_status: int = 500
    grpc_code: str = "INTERNAL"
    exit_code: int = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InvalidArgument(ModelyardError):
    """The caller sent something malformed: a bad tensor, an unparsable reference, a bad option."""

    http_status = 400
    grpc_code = "INVALID_ARGUMENT"
    exit_code = 2


class MethodNotAllowed(InvalidArgument):
    """A route that exists, called with another method (GET on .../infer): 405 with the methods it takes."""

    http_status = 405
    grpc_code = "UNIMPLEMENTED"

    def __init__(self, message: str, allow: str) -> None:
        super().__init__(message)
        self.allow = allow


class InvalidPackage(InvalidArgument):
    """A model package whose manifest contradicts its artifact, or whose artifact cannot be read."""


class PayloadTooLarge(InvalidArgument):
    """A request body over the server's limit: refused before it is read, so it costs no memory."""

    http_status = 413


class NotFound(ModelyardError):
    http_status = 404
    grpc_code = "NOT_FOUND"
    exit_code = 3


class AlreadyExists(ModelyardError):
    http_status = 409
    grpc_code = "ALREADY_EXISTS"
    exit_code = 4


class PortInUse(AlreadyExists):
    """Another process listens on an address a server was told to use (exit 4, whatever starts the server)."""


class FailedPrecondition(ModelyardError):
    """The request is well formed but the current state forbids it (delete a version an alias points at)."""

    http_status = 409
    grpc_code = "FAILED_PRECONDITION"
    exit_code = 5


class Unauthenticated(ModelyardError):
    """A control call without the credential the server requires (its control token)."""

    http_status = 401
    grpc_code = "UNAUTHENTICATED"
    exit_code = 10


class PermissionDenied(ModelyardError):
    """The caller may not do this: a wrong control token, or a load the operator did not allow."""

    http_status = 403
    grpc_code = "PERMISSION_DENIED"
    exit_code = 11


class Unavailable(ModelyardError):
    """Transient: overloaded, not ready yet, or a backend that does not answer. Retrying may succeed."""

    http_status = 503
    grpc_code = "UNAVAILABLE"
    exit_code = 6


class DeadlineExceeded(Unavailable):
    http_status = 504
    grpc_code = "DEADLINE_EXCEEDED"


class ModelExecutionError(ModelyardError):
    """The model itself raised while predicting; the message is the model's own."""

    http_status = 500
    grpc_code = "INTERNAL"
    exit_code = 7


class StorageError(ModelyardError):
    """The registry database or the artifact store failed in a way the caller cannot fix by changing input."""

    http_status = 500
    grpc_code = "INTERNAL"
    exit_code = 8


class MissingDependency(ModelyardError):
    """An optional extra (torch, scikit-learn, s3fs) is needed for this model format but not installed."""

    http_status = 500
    grpc_code = "FAILED_PRECONDITION"
    exit_code = 9

    @classmethod
    def for_extra(cls, module: str, extra: str) -> MissingDependency:
        return cls(f"{module} is not installed; install it with: pip install 'modelyard[{extra}]'")


class ServerUnreachable(Unavailable):
    """The client reached no server: connections refused, reset or timed out before a reply, on every attempt."""


class NoServers(Unavailable):
    """Discovery found no live, ready server for the model in the registry."""


_BY_STATUS: dict[int, type[ModelyardError]] = {
    400: InvalidArgument,
    401: Unauthenticated,
    403: PermissionDenied,
    404: NotFound,
    409: FailedPrecondition,
    413: PayloadTooLarge,
    500: ModelExecutionError,
    503: Unavailable,
    504: DeadlineExceeded,
}
_BY_GRPC: dict[str, type[ModelyardError]] = {
    "INVALID_ARGUMENT": InvalidArgument,
    "NOT_FOUND": NotFound,
    "UNAUTHENTICATED": Unauthenticated,
    "PERMISSION_DENIED": PermissionDenied,
    "FAILED_PRECONDITION": FailedPrecondition,
    "INTERNAL": ModelExecutionError,
    "UNAVAILABLE": Unavailable,
    "DEADLINE_EXCEEDED": DeadlineExceeded,
}


def from_http(status: int, message: str) -> ModelyardError:
    """The error a server's reply stands for (clients raise the same classes the server raised)."""
    return _BY_STATUS.get(status, ModelyardError)(message or f"HTTP {status}")


def from_grpc(code: str, message: str) -> ModelyardError:
    return _BY_GRPC.get(code, ModelyardError)(message or code)
