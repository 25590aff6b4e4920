"""Joining a Ray cluster for `qa index --ray ADDRESS`: a new one on this machine, a running one, or one named.

Ray is imported here only, and only when `--ray` is given: `qa ask` never loads it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from pathlib import Path

from ..errors import QAError

PROBE_SECONDS = 5.0  # a head that does not accept a connection within this is unreachable


@contextlib.contextmanager
def joined(address: str, warn=None):
    """Ray connected to the cluster `address` names (`local`: a new one on this machine, ended after;
    `auto`: the one running here or at $RAY_ADDRESS; else host:port of a head's GCS or ray://host:port
    of its client server), disconnected after. A cluster that cannot be reached is a QAError (exit 2).

    On a cluster this process did not start, the workers are given this process's qa package
    (Ray's `py_modules`), so every node reads and embeds with the code the driver plans with; its
    dependencies (the `ray` extra's and qa's own) must be installed on every node.
    """
    try:
        import ray
    except ImportError:
        raise QAError("--ray needs Ray: pip install 'qa[ray]' (or pip install ray)") from None
    target = address.strip()
    if not target:
        raise QAError("--ray needs local, auto or a cluster's address (host:port or ray://host:port)")
    # "local" always starts a new instance here, even with $RAY_ADDRESS set or another one running
    options = {"address": "local", "logging_level": logging.ERROR, "log_to_driver": False, "include_dashboard": False}
    if target != "local":
        target = _resolved(target)
        _probe(target)
        options["runtime_env"] = {"py_modules": [str(Path(__file__).resolve().parents[1])]}
        options["address"] = target
    try:
        ray.init(**options)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise QAError(f"cannot join the Ray cluster at {address}: {str(exc).splitlines()[0][:200]}") from None
    try:
        if not ray.cluster_resources().get("CPU"):
            raise QAError(f"the Ray cluster at {address} has no CPU to run tasks on")
        yield ray
    finally:
        ray.shutdown()


def _resolved(address: str) -> str:
    """`auto` as the address of the cluster running here (or $RAY_ADDRESS); any other as given."""
    if address != "auto":
        return address
    found = os.environ.get("RAY_ADDRESS")
    if not found:
        try:  # Ray keeps the address of the cluster last started on this machine in its temp folder
            from ray._private.services import get_ray_address_from_environment

            found = get_ray_address_from_environment("auto", None)
        except (ConnectionError, ImportError, AttributeError, TypeError):
            found = None
    if not found or found == "auto":
        raise QAError("--ray auto found no running Ray cluster here (start one with `ray start --head`, "
                      "set $RAY_ADDRESS, or use --ray local)")
    return found


def _probe(address: str) -> None:
    """A QAError unless the head at `address` accepts a TCP connection: Ray itself waits minutes for
    an address where nothing listens (measured here: ray.init gave up after over 120 s)."""
    host_port = address.split("://", 1)[-1].rsplit("/", 1)[0]
    host, _, port = host_port.rpartition(":")
    if not host or not port.isdigit():
        raise QAError(f"--ray must be local, auto, host:port or ray://host:port, not {address!r}")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=PROBE_SECONDS).close()
    except OSError as exc:
        raise QAError(f"cannot reach the Ray cluster at {address} ({exc.strerror or exc})") from None


def failure(what: str, exc: BaseException) -> QAError:
    """A Ray error as qa's: a QAError raised on a worker keeps its message (Ray wraps it), anything
    else (retries spent, a lost node) is said in one line."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, QAError):
        return QAError(cause.message, cause.status)
    return QAError(f"{what} failed on the Ray cluster: {str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__}")


def node_names(ray) -> dict[str, str]:
    """Each live node's id → a short name for progress lines: its address and the id's first digits
    (nodes of one machine share an address)."""
    return {n["NodeID"]: f"{n['NodeManagerAddress']}/{n['NodeID'][:6]}" for n in ray.nodes() if n.get("Alive")}
