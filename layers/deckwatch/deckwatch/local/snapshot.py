"""Snapshots of the embedded AWS: the deployed control plane and its world, built once, restored in milliseconds.

Deploying is most of a replay's cost (the SAM translation, moto's CloudFormation, parsing five state machines,
creating the world the policy describes). Its result depends only on the inputs named in the snapshot's key (the
template and everything it points to, the state machine definitions, the policy, the environment, Deckwatch's and
moto's versions), so it is built once per key and then restored: moto's backends are pickled as they are after the
deployment, with the runtime's own deployment facts beside them.

- In a process, snapshots are kept in memory (the test suite deploys each environment once per worker).
- On disk, under `$DECKWATCH_CACHE_DIR` (default `~/.cache/deckwatch`), for the next process (`deckwatch replay`).
  A file is written once, atomically, and only ever read back by the user who wrote it (mode 0600 in a 0700
  folder): it is a pickle, trusted the way a virtual environment's files are. `DECKWATCH_CACHE_DIR=off` disables it.

moto keeps a few things pickle cannot write (locks, RSA keys, X.509 certificates, weak references, lambdas as
dictionary factories);
`_Pickler` writes each as what rebuilds it.
"""

from __future__ import annotations

import collections
import hashlib
import importlib
import io
import os
import pickle
import sys
import tempfile
import threading
import weakref
from pathlib import Path
from typing import Any

from deckwatch.local import collector

FORMAT = 5
_memory: dict[str, bytes] = {}
_LOCK_TYPES = (type(threading.Lock()), type(threading.RLock()))


def key(*parts: bytes | str) -> str:
    digest = hashlib.sha256()
    for part in (str(FORMAT), sys.version, *parts):
        data = part.encode() if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "big") + data)
    return digest.hexdigest()[:32]


def cache_dir() -> Path | None:
    configured = os.environ.get("DECKWATCH_CACHE_DIR", "")
    if configured.lower() == "off":
        return None
    base = Path(configured) if configured else Path.home() / ".cache" / "deckwatch"
    return base / "snapshots"


def load(snapshot_key: str) -> Any | None:
    """The snapshot stored under `snapshot_key` (memory first, then disk), unpickled; None if there is none."""
    blob = _memory.get(snapshot_key)
    if blob is None:
        folder = cache_dir()
        path = folder / f"{snapshot_key}.pickle" if folder else None
        if path is None or not path.is_file():
            return None
        blob = path.read_bytes()
        _memory[snapshot_key] = blob
    try:
        with collector.paused():  # every object the snapshot makes is alive: no collection while they are made
            return pickle.loads(blob)  # noqa: S301 - written by this user's own runtime (see the module docstring)
    except Exception:  # noqa: BLE001 - a stale or broken file is rebuilt, never trusted
        _memory.pop(snapshot_key, None)
        return None


def save(snapshot_key: str, value: Any) -> None:
    buffer = io.BytesIO()
    _Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(value)
    blob = buffer.getvalue()
    _memory[snapshot_key] = blob
    folder = cache_dir()
    if folder is None:
        return
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
        with os.fdopen(fd, "wb") as fh:
            fh.write(blob)
        os.replace(tmp, folder / f"{snapshot_key}.pickle")
    except OSError:
        return  # a read-only home: the snapshot stays in memory


# ------------------------------------------------------------------ moto's backends -----------------------------
# A BackendDict's own attributes; anything else on one is service state kept beside its backends (S3's map of
# bucket names to accounts), saved, restored and cleared with them.
_BACKEND_DICT_ATTRIBUTES = frozenset({"backend", "service_name", "_use_boto3_regions", "_additional_regions", "_id"})


def backends() -> dict[tuple[str, str], tuple[dict[str, Any], dict[str, Any]]]:
    """Every moto backend in use: (module, attribute) of its BackendDict -> (its accounts and regions, its extra
    attributes)."""
    from moto.core.base_backend import BackendDict

    out: dict[tuple[str, str], tuple[dict[str, Any], dict[str, Any]]] = {}
    for backend_dict in list(_instances(BackendDict)):
        where = _address(backend_dict)
        if where is not None and len(backend_dict):
            out[where] = (dict(backend_dict), _extras(backend_dict))
    return out


def restore_backends(saved: dict[tuple[str, str], tuple[dict[str, Any], dict[str, Any]]]) -> None:
    """Put saved backends in place of moto's (which `mock_aws().start()` has just emptied)."""
    from moto.core.base_backend import BackendDict, backend_lock

    with backend_lock:
        for (module, attribute), (accounts, extras) in saved.items():
            live = getattr(importlib.import_module(module), attribute)
            dict.clear(live)
            dict.update(live, accounts)
            vars(live).update(extras)
            if live not in _instances(BackendDict):
                _instances(BackendDict).append(live)


def _instances(backend_dict_class: Any) -> list[Any]:
    """The BackendDicts in use (moto's own registry)."""
    return backend_dict_class._instances  # type: ignore[no-any-return]


def _extras(backend_dict: Any) -> dict[str, Any]:
    return {k: v for k, v in vars(backend_dict).items() if k not in _BACKEND_DICT_ATTRIBUTES}


def clear_backends() -> None:
    """Forget every backend at once. moto's own reset re-creates each backend before dropping it (EC2's loads
    its thousand default images again), which costs more than the whole replay."""
    from moto.core.base_backend import BackendDict, backend_lock
    from moto.core.model_instances import reset_model_data

    with backend_lock:
        for backend_dict in _instances(BackendDict):
            dict.clear(backend_dict)
            for name, value in _extras(backend_dict).items():
                setattr(backend_dict, name, type(value)())
        _instances(BackendDict).clear()
    reset_model_data()


def _address(backend_dict: Any) -> tuple[str, str] | None:
    module_name = backend_dict.backend.__module__
    while module_name:
        module = sys.modules.get(module_name)
        for attribute, value in vars(module or object()).items():
            if value is backend_dict:
                return module_name, attribute
        module_name = module_name.rpartition(".")[0]
    return None


# ------------------------------------------------------------------ what pickle cannot write --------------------
def _new_lock(reentrant: bool) -> Any:
    return threading.RLock() if reentrant else threading.Lock()


def _rsa_key(pem: bytes) -> Any:
    from cryptography.hazmat.primitives import serialization

    # our own key, written by _Pickler a moment ago: its consistency checks (most of the cost) are not needed
    return serialization.load_pem_private_key(pem, password=None, unsafe_skip_rsa_key_validation=True)


def _certificate(pem: bytes) -> Any:
    from cryptography import x509

    return x509.load_pem_x509_certificate(pem)


def _weak_values(items: dict[Any, Any]) -> weakref.WeakValueDictionary[Any, Any]:
    out: weakref.WeakValueDictionary[Any, Any] = weakref.WeakValueDictionary()
    out.update(items)
    return out


def _nested_dict() -> collections.defaultdict[Any, Any]:
    return collections.defaultdict(dict)


def _default_dict(cls: type, factory: Any) -> Any:
    out: Any = collections.defaultdict.__new__(cls)
    out.default_factory = factory
    return out


class _Pickler(pickle.Pickler):
    def reducer_override(self, obj: Any) -> Any:
        kind = type(obj)
        if kind in _LOCK_TYPES:
            return _new_lock, (kind is _LOCK_TYPES[1],)
        if kind is weakref.WeakValueDictionary:
            return _weak_values, (dict(obj),)
        if isinstance(obj, collections.defaultdict):
            factory = obj.default_factory
            if getattr(factory, "__name__", "") == "<lambda>":
                factory = _nested_dict  # moto's SSM: defaultdict(lambda: defaultdict(dict))
            return _default_dict, (kind, factory), getattr(obj, "__dict__", None) or None, None, iter(obj.items())
        if kind.__module__.startswith("cryptography") and hasattr(obj, "private_bytes"):
            from cryptography.hazmat.primitives import serialization

            pem = obj.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            return _rsa_key, (pem,)
        if kind.__module__.startswith("cryptography") and hasattr(obj, "serial_number"):  # ACM's certificates
            from cryptography.hazmat.primitives import serialization

            return _certificate, (obj.public_bytes(serialization.Encoding.PEM),)
        return NotImplemented
