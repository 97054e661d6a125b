"""Tests for lcm_widgets.errors: the tree, the attributes, the messages, pickling."""

from __future__ import annotations

import copy
import pickle

import pytest

import lcm_widgets
from lcm_widgets import errors
from lcm_widgets.errors import (
    BackendError,
    BackendUnavailable,
    ConnectionClosed,
    GenerationFailed,
    GenerationTimeout,
    InvalidImage,
    InvalidInput,
    LCMWidgetsError,
    ModelLoadError,
    ProtocolError,
    RemoteError,
    RemoteTimeout,
    ServerBusy,
    Superseded,
    Unauthorized,
)

TREE: dict[type[Exception], type[Exception]] = {
    InvalidInput: LCMWidgetsError,
    InvalidImage: InvalidInput,
    BackendError: LCMWidgetsError,
    BackendUnavailable: BackendError,
    ModelLoadError: BackendError,
    GenerationFailed: BackendError,
    GenerationTimeout: GenerationFailed,
    RemoteError: LCMWidgetsError,
    Unauthorized: RemoteError,
    ServerBusy: RemoteError,
    RemoteTimeout: RemoteError,
    ProtocolError: LCMWidgetsError,
    ConnectionClosed: LCMWidgetsError,
    Superseded: LCMWidgetsError,
}


@pytest.mark.parametrize(("cls", "parent"), TREE.items(), ids=lambda c: getattr(c, "__name__", ""))
def test_tree(cls: type[Exception], parent: type[Exception]) -> None:
    """Each class sits where the module docstring draws it, under LCMWidgetsError."""
    assert cls.__bases__[0] is parent
    assert issubclass(cls, LCMWidgetsError)
    assert cls.__name__ in (errors.__doc__ or "")


def test_root_is_an_exception() -> None:
    """LCMWidgetsError is a plain Exception subclass."""
    assert LCMWidgetsError.__bases__ == (Exception,)


def test_stdlib_mixins() -> None:
    """InvalidInput (and InvalidImage) are ValueErrors; BackendUnavailable is an ImportError."""
    assert issubclass(InvalidInput, ValueError)
    assert issubclass(InvalidImage, ValueError)
    assert issubclass(BackendUnavailable, ImportError)
    with pytest.raises(ValueError, match=r"^bad$"):
        raise InvalidInput("bad")
    with pytest.raises(ImportError, match=r"lcm-widgets\[local\]"):
        raise BackendUnavailable("torch is missing: pip install lcm-widgets[local]")
    others = set(TREE) - {InvalidInput, InvalidImage, BackendUnavailable}
    assert not any(issubclass(c, (ValueError, ImportError)) for c in others)


def test_all_is_the_tree() -> None:
    """__all__ lists exactly the classes of the tree."""
    classes: list[type[Exception]] = [LCMWidgetsError, *TREE]
    assert sorted(errors.__all__) == sorted(c.__name__ for c in classes)


@pytest.mark.parametrize("name", errors.__all__)
def test_package_reexports_every_error(name: str) -> None:
    """``from lcm_widgets import <Error>`` works for every class in the tree."""
    assert getattr(lcm_widgets, name, None) is getattr(errors, name)


def test_invalid_input_default_errors() -> None:
    """Without errors=, InvalidInput builds one FastAPI-shaped entry from field and message."""
    exc = InvalidInput("image_size.width: must be a multiple of 8, got 513",
                       field="image_size.width")
    assert str(exc) == "image_size.width: must be a multiple of 8, got 513"
    assert exc.field == "image_size.width"
    assert exc.errors == [{"loc": ["body", "image_size", "width"],
                           "msg": "image_size.width: must be a multiple of 8, got 513",
                           "type": "value_error"}]


def test_invalid_input_without_field() -> None:
    """With no field, the location is the whole body."""
    exc = InvalidInput("input: must be a map of fields, got list")
    assert exc.field is None
    assert exc.errors == [{"loc": ["body"], "msg": "input: must be a map of fields, got list",
                           "type": "value_error"}]


def test_invalid_input_explicit_errors() -> None:
    """errors= is kept as given."""
    given = [{"loc": ["body", "prompt"], "msg": "prompt: is required", "type": "missing"}]
    exc = InvalidImage("prompt: is required", errors=given, field="prompt")
    assert exc.errors is given
    assert exc.field == "prompt"


@pytest.mark.parametrize(("args", "message"), [
    ((500, "boom"), "500: boom"),
    (("INTERNAL_ERROR", "the model crashed"), "INTERNAL_ERROR: the model crashed"),
    ((429, ""), "429"),
])
def test_remote_error(args: tuple[str | int, str], message: str) -> None:
    """RemoteError keeps code, reason and payload; the message is 'code: reason'."""
    exc = RemoteError(*args)
    assert str(exc) == message
    assert (exc.code, exc.reason, exc.payload) == (*args, None)


def test_remote_error_subclasses_keep_payload() -> None:
    """The RemoteError subclasses take the same arguments, payload included."""
    payload = {"type": "x-fal-error", "error": "TIMEOUT", "reason": "idle"}
    exc = RemoteTimeout("TIMEOUT", "idle", payload=payload)
    assert exc.payload is payload
    assert str(Unauthorized(401, "bad key")) == "401: bad key"
    assert str(ServerBusy(429, "queue full")).endswith("queue full")


@pytest.mark.parametrize(("args", "message"), [
    ((1011, "internal error"), "connection closed with code 1011 (internal error)"),
    ((1000,), "connection closed with code 1000"),
    ((None,), "connection closed without a close code"),
    ((None, "lost"), "connection closed without a close code (lost)"),
])
def test_connection_closed(args: tuple[int | None, str], message: str) -> None:
    """ConnectionClosed keeps code and reason and says them in its message."""
    exc = ConnectionClosed(*args)
    assert str(exc) == message
    assert exc.code == args[0]
    assert exc.reason == (args[1] if len(args) > 1 else "")


def test_superseded() -> None:
    """Superseded names the request and, when known, the newer one."""
    exc = Superseded("a1", by="b2")
    assert str(exc) == ("request a1 was superseded by request b2; only the newest request is "
                        "answered")
    assert (exc.request_id, exc.by) == ("a1", "b2")
    assert str(Superseded("a1")) == ("request a1 was superseded; only the newest request is "
                                     "answered")
    assert Superseded("a1").by is None


@pytest.mark.parametrize("exc", [
    LCMWidgetsError("plain"),
    InvalidInput("steps: bad", field="steps"),
    InvalidImage("image_url: bad", field="image_url"),
    BackendUnavailable("no torch"),
    GenerationFailed("oops"),
    GenerationTimeout("generation: took longer than 2 s", timeout=2.0),
    RemoteError(500, "boom", payload={"detail": [1, 2]}),
    RemoteTimeout("TIMEOUT", "idle"),
    ConnectionClosed(1011, "crash"),
    ConnectionClosed(None),
    Superseded("req-1", by="req-2"),
], ids=lambda e: type(e).__name__)
def test_pickle_and_copy_round_trip(exc: LCMWidgetsError) -> None:
    """Errors survive pickling (process pools) and copy with their message and attributes."""
    for clone in (pickle.loads(pickle.dumps(exc)), copy.copy(exc)):
        assert type(clone) is type(exc)
        assert str(clone) == str(exc)
        assert clone.args == exc.args
        assert vars(clone) == vars(exc)
