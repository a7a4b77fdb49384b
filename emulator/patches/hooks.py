"""Test hooks: what a test arranges that no AWS API can, under moto's own /moto-api/ prefix.

    GET  /moto-api/gio/clock          {"now": "2026-12-02T10:00:00.000Z", "offset_seconds": 0}
    POST /moto-api/gio/clock          {"offset_seconds": -172800}: the emulator's clock (clock.py) runs
                                      that far from the wall clock (0 sets it back); or
                                      {"advance_seconds": 86400}: a day passes (never negative);
                                      answers as GET
    GET  /moto-api/gio/consistency    {"lag_seconds": 0}
    POST /moto-api/gio/consistency    {"lag_seconds": 2}: EC2 runs that many seconds of the emulator's
                                      clock behind each change from now on (consistency.py; 0: at
                                      once); answers as GET
    POST /moto-api/gio/eks-base       {"image": "/abs/path/disk.raw", "kubernetes": "1.31", "region":
                                      "us-east-1", "arch": "x86_64", "variant": "standard", "name": ...}
                                      (arch, variant and name optional): Amazon publishes in that
                                      region an EKS-optimized AL2023 AMI (public, owned by
                                      602401143452 alias amazon, dated now by the emulator's clock,
                                      named amazon-eks-node-al2023-ARCH-VARIANT-K8S-vYYYYMMDD unless
                                      `name` is given) whose one root snapshot (private, the image's
                                      size rounded up to GiB) holds every non-zero 512 KiB block of
                                      the raw disk image, read now; its recommended parameters
                                      (.../recommended and its image_id, image_name, release_version)
                                      move on to it, one version more (seed.py); answers {"ami": ...,
                                      "snapshot": ..., "blocks": N}. A name taken answers 400
    POST /moto-api/gio/eks-releases   {"release": "20261201", "bottlerocket": "1.27.0-0f1e2d3c"}:
                                      Amazon publishes newer EKS-optimized AMIs (dated now, by the
                                      emulator's clock) and moves the public parameters on to them;
                                      answers {"release": ..., "bottlerocket": ..., "published": ...}
    POST /moto-api/gio/recycle-bin    {"expired_listed_seconds": 600}: a Recycle Bin entry past its exit
                                      time is still listed that long (restoring it answers NotFound);
                                      0, the default, lists none (recycle_bin.py, patch 49); answers
                                      the body

Nothing here imitates AWS: these are the emulator's controls, as moto's /moto-api/reset is.
Errors answer HTTP 400 with {"error": "..."}.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any, Callable

import moto.moto_api._internal.urls
from moto.core.common_types import TYPE_RESPONSE

from . import clock, consistency, recycle_bin, replaces, seed, snapshots

JSON = {"Content-Type": "application/json"}


def _hook(handle: Callable[[dict[str, Any]], dict[str, Any]]) -> Callable[[Any, str, Any], TYPE_RESPONSE]:
    """A moto-api route: JSON body in (POST), JSON out."""

    def route(request: Any, full_url: str, headers: Any) -> TYPE_RESPONSE:
        try:
            body = json.loads(request.get_data() or b"{}") if request.method == "POST" else None
            return 200, JSON, json.dumps(handle(body))
        except (ValueError, KeyError, TypeError, OverflowError) as error:
            return 400, JSON, json.dumps({"error": str(error)})

    route.__name__ = handle.__name__  # Flask names the endpoint after it
    return route


def clock_hook(body: dict[str, Any] | None) -> dict[str, Any]:
    if body is not None:
        moves = {"offset_seconds": clock.set_offset, "advance_seconds": clock.advance}
        if not isinstance(body, dict) or len(body) != 1 or not body.keys() <= moves.keys():
            raise ValueError(f"POST one of {{\"offset_seconds\": N}} or {{\"advance_seconds\": N >= 0}}, not {body}")
        [(name, seconds)] = body.items()
        moves[name](timedelta(seconds=float(seconds)))
    return {"now": clock.iso(clock.now()), "offset_seconds": clock.offset().total_seconds()}


def consistency_hook(body: dict[str, Any] | None) -> dict[str, Any]:
    if body is not None:
        if not isinstance(body, dict) or body.keys() != {"lag_seconds"}:
            raise ValueError(f"POST {{\"lag_seconds\": N >= 0}}, not {body}")
        consistency.set_lag(float(body["lag_seconds"]))
    return {"lag_seconds": consistency.lag().total_seconds()}


def eks_releases_hook(body: dict[str, Any] | None) -> dict[str, Any]:
    if body is None:
        raise ValueError("POST a release: {\"release\": \"YYYYMMDD\", \"bottlerocket\": \"1.27.0-0f1e2d3c\"}")
    release = str(body["release"])
    datetime.strptime(release, "%Y%m%d")  # ValueError names the bad value
    published = clock.now().replace(tzinfo=None, microsecond=0)
    seed.publish(seed.Release(release, str(body["bottlerocket"]), published))
    return {"release": release, "bottlerocket": body["bottlerocket"], "published": f"{published:%Y-%m-%dT%H:%M:%SZ}"}


# The body of POST /moto-api/gio/eks-base: required keys, and the optional ones with their defaults.
EKS_BASE_REQUIRED = {"image", "kubernetes", "region"}
EKS_BASE_OPTIONAL = {"arch": "x86_64", "variant": "standard", "name": None}
GIB = 1024**3


def eks_base_hook(body: dict[str, Any] | None) -> dict[str, Any]:
    known = EKS_BASE_REQUIRED | EKS_BASE_OPTIONAL.keys()
    if not isinstance(body, dict) or not EKS_BASE_REQUIRED <= body.keys() <= known:
        raise ValueError(f"POST {{\"image\": \"/abs/path/disk.raw\", \"kubernetes\": \"1.31\", \"region\": ..., "
                         f"optionally \"arch\", \"variant\", \"name\"}}, not {body}")
    request = {**EKS_BASE_OPTIONAL, **body}
    try:
        blocks, size = snapshots.disk_blocks(str(request["image"]))
    except OSError as error:
        raise ValueError(f"cannot read the disk image: {error}") from None
    published = clock.now().replace(tzinfo=None, microsecond=0)
    base = seed.al2023_base(str(request["region"]), str(request["kubernetes"]), str(request["arch"]),
                            str(request["variant"]), max(1, -(-size // GIB)), published, blocks,
                            None if request["name"] is None else str(request["name"]))
    seed.publish_base(base)
    return {"ami": base.image_id, "snapshot": base.root_snapshot_id, "blocks": len(blocks)}


def recycle_bin_hook(body: dict[str, Any] | None) -> dict[str, Any]:
    if not isinstance(body, dict) or body.keys() != {"expired_listed_seconds"}:
        raise ValueError(f"POST {{\"expired_listed_seconds\": N >= 0}}, not {body}")
    recycle_bin.list_expired_for(timedelta(seconds=float(body["expired_listed_seconds"])))
    return body


# moto builds the moto-api app from this table on the first /moto-api/ request, after apply().
replaces(moto.moto_api._internal.urls, "url_paths")({  # type: ignore[arg-type]
    **moto.moto_api._internal.urls.url_paths,
    "{0}/moto-api/gio/clock$": _hook(clock_hook),
    "{0}/moto-api/gio/eks-releases$": _hook(eks_releases_hook),
    "{0}/moto-api/gio/eks-base$": _hook(eks_base_hook),
    "{0}/moto-api/gio/recycle-bin$": _hook(recycle_bin_hook),
    "{0}/moto-api/gio/consistency$": _hook(consistency_hook),
})
