"""Fixtures: a real `shoal server` on free loopback ports (or, with
SHOAL_TEST_MODE=local, a data directory opened in the agent) and a private
agent socket, for the whole session.

SHOAL_BIN names the binary to use; otherwise it is built from the
repository with `go build`.
"""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

import shoal

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port, proc, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("shoal server exited with %s" % proc.returncode)
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("shoal server did not listen on %d" % port)


@pytest.fixture(scope="session")
def env():
    tmp = tempfile.mkdtemp(prefix="shoal-pytest-")
    binary = os.environ.get("SHOAL_BIN")
    if not binary:
        binary = os.path.join(tmp, "shoal")
        subprocess.check_call(["go", "build", "-o", binary, "./cmd/shoal"], cwd=REPO)
        os.environ["SHOAL_BIN"] = binary
    sockdir = os.path.join(tmp, "agent")
    os.environ["SHOAL_AGENT_SOCKET"] = os.path.join(sockdir, "agent.sock")
    info = {"tmp": tmp, "bin": binary, "sockdir": sockdir, "socket": os.environ["SHOAL_AGENT_SOCKET"]}
    server = None
    if os.environ.get("SHOAL_TEST_MODE") == "local":
        info["build"] = {"data_dir": os.path.join(tmp, "data")}
    else:
        port, wport = _free_port(), _free_port()
        log = open(os.path.join(tmp, "server.log"), "wb")
        server = subprocess.Popen(
            [binary, "server", "--data", os.path.join(tmp, "data"), "--listen", "127.0.0.1:%d" % port,
             "--worker-listen", "127.0.0.1:%d" % wport],
            stdout=log, stderr=log, start_new_session=True)
        _wait_port(port, server)
        info["build"] = {"mds_addrs": "127.0.0.1:%d" % port}
    yield info
    stop_agent(info)
    if server is not None:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
    shutil.rmtree(tmp, ignore_errors=True)


def agent_pid(info):
    try:
        with open(info["socket"] + ".lock") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def stop_agent(info, sig=signal.SIGTERM):
    pid = agent_pid(info)
    if pid is None:
        return
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return
    for _ in range(400):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        # the agent is our grandchild at most: reap it if it is our child
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.025)


@pytest.fixture(scope="session")
def client(env):
    c = shoal.Client.build(**env["build"])
    yield c
    c.stop()


@pytest.fixture
def d(client, request):
    """A fresh directory per test."""
    path = "/t_" + request.node.name.replace("[", "_").replace("]", "").replace("/", "_")
    client.remove(path, recursive=True) if client.exists(path) else None
    client.mkdir(path)
    return path
