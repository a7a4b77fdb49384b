"""What the emulator serves on its one port besides moto's services: the Recycle Bin and EC2 Image
Builder image recipes (moto 5.2.5 has no `rbin` nor `imagebuilder` service). The test hooks (the
clock, EKS releases) are moto-api routes: hooks.py.

moto's dispatcher picks a service from the SigV4 credential scope of each request. The SDKs (boto3,
the AWS SDK for Rust) sign Recycle Bin requests with the signing name `rbin` (endpoint prefix
`rbin`, protocol REST-JSON: POST /rules, GET /rules/{identifier}, POST /list-rules, ...) and Image
Builder requests with `imagebuilder` (REST-JSON: PUT /CreateImageRecipe, GET /GetImageRecipe, ...),
which moto routes nowhere; those requests go to the stand-ins, everything else to moto as before.
https://docs.aws.amazon.com/ebs/latest/userguide/rbin-service-endpoints.html
https://docs.aws.amazon.com/recyclebin/latest/APIReference/Welcome.html
https://docs.aws.amazon.com/imagebuilder/latest/APIReference/Welcome.html
"""

from __future__ import annotations

import functools
from typing import Any

from flask import Flask
from moto.core.utils import convert_to_flask_response
from moto.moto_server.werkzeug_app import BackendRequest, DomainDispatcherApplication

from . import imagebuilder, rbin, replaces

_moto_get_application = DomainDispatcherApplication.get_application

# Signing name -> the stand-in's response class.
SERVICES = {"rbin": rbin.RecycleBinResponse, "imagebuilder": imagebuilder.ImageBuilderResponse}
METHODS = ["GET", "POST", "PATCH", "DELETE", "PUT"]


def signing_name(environ: dict[str, Any]) -> str | None:
    """The service of a SigV4 request's credential scope (Credential=AKID/DATE/REGION/SERVICE/aws4_request)."""
    auth = environ.get("HTTP_AUTHORIZATION") or ""
    try:
        return auth.split(",")[0].split()[1].split("/")[3].lower()
    except IndexError:
        return None


@functools.lru_cache(maxsize=None)
def service_app(service: str) -> Flask:
    """A Flask app like the ones moto makes per service: every path to the stand-in's handler, which
    finds the operation from the method and path with the service's API model, as moto's REST
    services do."""
    app = Flask(f"gio-{service}")
    app.request_class = BackendRequest
    view = convert_to_flask_response(SERVICES[service].dispatch)
    app.add_url_rule("/", endpoint=service, view_func=view, methods=METHODS)
    app.add_url_rule("/<path:route>", endpoint=f"{service}-path", view_func=view, methods=METHODS)
    return app


@replaces(DomainDispatcherApplication, "get_application")
def get_application(self: DomainDispatcherApplication, environ: dict[str, Any]) -> Any:
    service = signing_name(environ)
    if service in SERVICES:
        return service_app(service)
    return _moto_get_application(self, environ)
