"""API keys, the per-key limit and TLS on a real `qa serve` (issue 32): a certificate made here, real keys."""

from __future__ import annotations

import datetime
import ipaddress
import os
import stat
import subprocess
import sys
import time

import httpx
import pytest
from typer.testing import CliRunner

from qa.cli import app
from conftest import free_port, stop_server

runner = CliRunner()
QUESTION = "Which country is the protecting power for the US in North Korea?"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1 and its key, as PEM files (cert, key)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    folder = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    return folder / "cert.pem", folder / "key.pem"


def trusting(cert):
    """A TLS context that trusts the test's own certificate."""
    import ssl

    return ssl.create_default_context(cafile=str(cert))


def start(index_dir, log, extra, scheme="http", verify=True, host="127.0.0.1", timeout=120):
    """`qa serve` with `extra` options on a free port; (process, base URL) once /health answers."""
    port = free_port()
    url = f"{scheme}://127.0.0.1:{port}"
    process = subprocess.Popen([sys.executable, "-m", "qa.cli", "serve", "--host", host, "--port", str(port),
                                "--index-dir", str(index_dir), *extra], stdout=open(log, "wb"),
                               stderr=subprocess.STDOUT, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text(errors="replace")
        try:
            if httpx.get(f"{url}/health", timeout=2, verify=verify).status_code in (200, 503):
                return process, url
        except httpx.TransportError:
            time.sleep(0.2)
    stop_server(process)
    raise AssertionError(f"no answer within {timeout} s:\n{log.read_text(errors='replace')}")


def test_keys_are_shown_once_and_stored_as_hashes_in_a_private_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    added = runner.invoke(app, ["keys", "add", "alice"])
    assert added.exit_code == 0, added.output
    key = added.stdout.strip()
    assert key.startswith("qa_") and len(key) > 40
    path = tmp_path / "index.keys.json"  # beside the default index folder, not in it
    text = path.read_text()
    assert key not in text and "alice" in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert runner.invoke(app, ["keys", "add", "bob", "--keys", "other.json"]).exit_code == 0
    listed = runner.invoke(app, ["keys", "list"]).stdout
    assert listed.startswith("alice\t") and "bob" not in listed and key not in listed
    again = runner.invoke(app, ["keys", "add", "alice"])
    assert again.exit_code == 2 and again.stderr.startswith("Error: a key named 'alice' exists")
    assert runner.invoke(app, ["keys", "revoke", "alice"]).exit_code == 0
    assert runner.invoke(app, ["keys", "list"]).stdout == ""
    assert [p.name for p in tmp_path.iterdir()] and not list(tmp_path.glob(".index.keys.json.*"))  # no temporaries


def test_serving_beyond_loopback_without_a_key_is_refused(tmp_path, seed_index_dir):
    result = subprocess.run([sys.executable, "-m", "qa.cli", "serve", "--host", "0.0.0.0", "--port", str(free_port()),
                             "--index-dir", str(seed_index_dir), "--keys", str(tmp_path / "none.json")],
                            capture_output=True, text=True, timeout=60, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"Error: --host 0.0.0.0 answers other machines, and {tmp_path}/none.json holds no API key: add one with "
        "`qa keys add NAME` (then send `Authorization: Bearer KEY`), or serve without keys with --no-auth"]


def test_keys_rate_limit_and_tls_on_a_real_server(tmp_path, seed_index_dir, certificate):
    keys = tmp_path / "keys.json"
    alice = runner.invoke(app, ["keys", "add", "alice", "--keys", str(keys)]).stdout.strip()
    bob = runner.invoke(app, ["keys", "add", "bob", "--keys", str(keys)]).stdout.strip()
    cert, key = certificate
    process, url = start(seed_index_dir, tmp_path / "serve.log", ["--keys", str(keys), "--rate-limit", "5/minute",
                         "--tls-cert", str(cert), "--tls-key", str(key)], scheme="https", verify=trusting(cert))
    try:
        with httpx.Client(base_url=url, timeout=60, verify=trusting(cert)) as client:
            health = client.get("/health")
            missing = client.get("/ask", params={"q": QUESTION})
            wrong = client.get("/ask", params={"q": QUESTION}, headers={"Authorization": "Bearer " + alice[:-1] + "x"})
            asked = [client.get("/ask", params={"q": QUESTION, "k": 1}, headers={"Authorization": f"Bearer {alice}"})
                     for _ in range(6)]
            other = client.get("/passages/nothing", headers={"Authorization": f"Bearer {bob}"})  # bob has his own
            page = client.get("/")
            text = client.get("/documents/north-korea-diplomacy.txt/text")
            runner.invoke(app, ["keys", "revoke", "bob", "--keys", str(keys)])
            time.sleep(1.5)  # the server looks at the keys file at most once a second
            revoked = client.get("/passages/nothing", headers={"Authorization": f"Bearer {bob}"})
        with pytest.raises(httpx.TransportError):  # TLS only: plain HTTP on that port is not answered
            httpx.get(url.replace("https:", "http:") + "/health", timeout=10)
    finally:
        stop_server(process)
    assert health.status_code == 200 and health.json()["passage_count"] is None and health.json()["model"] is None
    for refused in (missing, wrong, text):
        assert refused.status_code == 401 and refused.headers["www-authenticate"] == 'Bearer realm="qa"'
        assert refused.json() == {"error": {"status": 401, "message": (
            "this server needs an API key: send `Authorization: Bearer KEY` (a key is made with `qa keys add NAME`)")}}
    assert [r.status_code for r in asked] == [200] * 5 + [429]
    assert "Sweden" in asked[0].json()["passages"][0]["text"]
    assert 1 <= int(asked[5].headers["retry-after"]) <= 60
    assert asked[5].json()["error"]["message"].startswith("over this key's limit of 5 per 1 minute")
    assert other.status_code == 404 and page.status_code == 200 and revoked.status_code == 401


def test_bad_tls_files_are_one_error_line(tmp_path, seed_index_dir, certificate):
    cert, key = certificate
    (tmp_path / "bad.pem").write_text("not a PEM file\n")
    for pair, said in [((tmp_path / "bad.pem", key), "cannot serve TLS"), ((cert, tmp_path / "none.pem"), "no TLS file"),
                       ((key, cert), "cannot serve TLS")]:
        result = subprocess.run([sys.executable, "-m", "qa.cli", "serve", "--port", str(free_port()), "--index-dir",
                                 str(seed_index_dir), "--tls-cert", str(pair[0]), "--tls-key", str(pair[1])],
                                capture_output=True, text=True, timeout=60, env={**os.environ, "HF_HUB_OFFLINE": "1"})
        lines = result.stderr.splitlines()
        assert result.returncode == 2 and len(lines) == 1 and lines[0].startswith("Error: ") and said in lines[0], \
            result.stderr
