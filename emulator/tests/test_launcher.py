"""The launcher's contract: version guard, patch check, ready line, every service, prompt exit."""

import signal
import sys
import time
from pathlib import Path

import boto3
import pytest

from helpers import free_port, start_emulator

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import gio_emulator  # noqa: E402


def test_version_guard_refuses_any_other_moto(monkeypatch, capsys):
    assert gio_emulator.check_moto_version("5.2.5") is None
    for other in ("5.2.4", "5.2.6", "5.3.0"):
        assert "5.2.5" in gio_emulator.check_moto_version(other)
    monkeypatch.setattr(gio_emulator, "version", lambda package: "5.2.4")
    with pytest.raises(SystemExit) as excinfo:
        gio_emulator.main(["--port", "1"])
    assert excinfo.value.code == 2
    assert "moto 5.2.4 is installed" in capsys.readouterr().err


def test_verify_names_every_patch_not_in_use():
    import patches

    patches.apply()
    assert patches.verify() == []
    from moto.ec2.models import EC2Backend

    patched, EC2Backend.delete_snapshot = EC2Backend.delete_snapshot, lambda *args: None
    try:
        assert patches.verify() == ["EC2Backend.delete_snapshot"]
    finally:
        EC2Backend.delete_snapshot = patched


@pytest.mark.parametrize("port", ["given", "picked"])
def test_starts_serves_every_service_and_stops_on_sigterm(port):
    started = time.monotonic()
    process, endpoint = start_emulator(free_port() if port == "given" else 0)
    try:
        session = boto3.Session(aws_access_key_id="a", aws_secret_access_key="b", region_name="eu-west-1")
        assert session.client("sts", endpoint_url=endpoint).get_caller_identity()["Account"] == "123456789012"
        ready = time.monotonic() - started
        assert session.client("ec2", endpoint_url=endpoint).describe_images(Owners=["self"])["Images"] == []
        assert session.client("autoscaling", endpoint_url=endpoint).describe_auto_scaling_groups()["AutoScalingGroups"] == []
        assert session.client("eks", endpoint_url=endpoint).list_clusters()["clusters"] == []
        assert ready < 10
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=2) == 0
