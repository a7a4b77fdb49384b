"""In-process patches that make moto's EC2/SSM model behave like AWS.

Each patch module registers its replacements with `replaces`; nothing changes in
moto until `apply()` runs, and `verify()` proves afterwards that every replacement
is what moto actually calls (so a moto upgrade that moves a method fails loudly).
"""

from __future__ import annotations

import inspect
from typing import Any, Callable

_REGISTRY: list[tuple[type, str, Any]] = []


def replaces(owner: type, name: str, *, new: bool = False) -> Callable[[Any], Any]:
    """Register the decorated function (or property) as `owner.name`.

    Patch the concrete class moto dispatches to (EC2Backend, EC2Response...), not a
    base mixin, so that a subclass override can never shadow the patch unnoticed.
    `new=True` adds an attribute moto does not have; otherwise it must exist.
    """

    def register(replacement: Any) -> Any:
        if not new and not hasattr(owner, name):
            raise RuntimeError(f"moto changed: {owner.__name__}.{name} no longer exists")
        _REGISTRY.append((owner, name, replacement))
        return replacement

    return register


def apply() -> None:
    # Importing the modules fills the registry; the order does not matter.
    from . import (allowed_images, architecture, authorization, clock, consistency, deprecation, disabling, eks, eks_versions,  # noqa: F401
                   error_protocol, hooks, idempotency, imagebuilder, images, instances, locks,
                   org_sharing, protection, recycle_bin, references, routes, seed, snapshots,
                   signature, ssm_agent, ssm_history, ssm_image_parameters, sts_trust, tags, tiers, usage_reports,
                   validation)

    for owner, name, replacement in _REGISTRY:
        setattr(owner, name, replacement)


def verify() -> list[str]:
    """Return `Class.name` of every registered patch that is not the one in use."""
    return [
        f"{owner.__name__}.{name}"
        for owner, name, replacement in _REGISTRY
        if inspect.getattr_static(owner, name) is not replacement
    ] + ([] if _REGISTRY else ["no patch registered"])
