"""The error taxonomy and the status codes: one enum for errors and models."""

import importlib
import inspect
import pkgutil
import subprocess
import sys

import connectors
from commerce_sync import errors
from commerce_sync.core.models import SyncRun
from commerce_sync.errors import ApplicationError, StatusCode


def _subclasses(cls: type) -> set[type]:
    found = set()
    for sub in cls.__subclasses__():
        found |= {sub, *_subclasses(sub)}
    return found


def _every_application_error() -> set[type]:
    """The taxonomy's classes and every subclass the connectors define."""
    for module in pkgutil.walk_packages(connectors.__path__, "connectors."):
        importlib.import_module(module.name)
    return {ApplicationError, *_subclasses(ApplicationError)}


def test_every_application_error_ends_with_a_status_code_member() -> None:
    classes = _every_application_error()
    assert len(classes) > 10  # the taxonomy's nine and the connectors' own
    for cls in classes:
        assert isinstance(cls.status_code, StatusCode), cls
        assert type(cls.status_code) is StatusCode, cls


def test_the_taxonomy_names_its_codes() -> None:
    expected = {
        "ApplicationError": 5000,
        "ConfigurationError": 4000,
        "CredentialsRevoked": 4040,
        "SubscriptionExpired": 4260,
        "DataProcessingError": 5120,
        "DocumentRejected": 5130,
        "DuplicateSync": 5080,
        "TransientError": 5000,
        "RateLimited": 5000,
        "PlatformUnavailable": 5000,
    }
    assert {name: getattr(errors, name).status_code for name in expected} == expected


def test_every_exception_in_the_taxonomy_says_when_it_is_raised() -> None:
    classes = [
        cls
        for _, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, Exception) and cls.__module__ == errors.__name__
    ]
    assert classes
    for cls in classes:
        assert (cls.__dict__.get("__doc__") or "").strip(), cls  # its own, not inherited


def test_the_model_field_takes_its_choices_from_the_enum() -> None:
    field = SyncRun._meta.get_field("status_code")
    assert SyncRun.StatusCode is StatusCode
    assert field.choices == StatusCode.choices() == [(c.value, c.label) for c in StatusCode]
    assert field.default == StatusCode.IN_PROGRESS
    assert StatusCode(2040).label == "Success, nothing to write"


def test_the_taxonomy_imports_neither_django_nor_our_code() -> None:
    probe = (
        "import sys; import commerce_sync.errors; "
        "ours = ('django', 'connectors', 'mapping', 'commerce_sync.'); "
        "print(sorted(m for m in sys.modules if m.startswith(ours) "
        "and m != 'commerce_sync.errors'))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"
