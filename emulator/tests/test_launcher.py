"""The launcher's contract: version guard, patch check, ready line, every service, prompt exit."""

import re
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



def test_forks_a_fresh_emulator_per_connection_until_it_closes(tmp_path):
    """`--forks`: each connection gets its own emulator, with state and ids of its own, and ends it."""
    import json
    import socket
    import subprocess

    from helpers import EMULATOR

    path = tmp_path / "emulators.sock"
    forks = subprocess.Popen([sys.executable, str(EMULATOR), "--forks", str(path)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert forks.stdout.readline().strip() == f"gio-emulator ready unix:{path}"
        connections, endpoints, volumes = [], [], []
        for n in range(2):
            connection = socket.socket(socket.AF_UNIX)
            connection.connect(str(path))
            connection.sendall(json.dumps({"log": str(tmp_path / f"emulator-{n}.log")}).encode() + b"\n")
            line = connection.makefile().readline().strip()
            assert re.fullmatch(r"gio-emulator ready http://127\.0\.0\.1:\d+", line), line
            connections.append(connection)
            endpoints.append(line.removeprefix("gio-emulator ready "))
            ec2 = boto3.client("ec2", endpoint_url=endpoints[-1], region_name="eu-west-1",
                               aws_access_key_id="a", aws_secret_access_key="b")
            volumes.append(ec2.create_volume(AvailabilityZone="eu-west-1a", Size=1)["VolumeId"])
            assert [v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]] == [volumes[-1]], "state of its own"
        assert volumes[0] != volumes[1], "moto's ids are reseeded in each fork"

        connections[0].close()
        address = ("127.0.0.1", int(endpoints[0].rsplit(":", 1)[1]))
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                socket.create_connection(address, timeout=1).close()
                time.sleep(0.05)
            except ConnectionRefusedError:
                break
        else:
            pytest.fail("the emulator outlived its connection")

        forks.stdin.close()
        assert forks.wait(timeout=5) == 0
        assert not path.exists()
        connections[1].close()
    finally:
        forks.kill()
