"""Load jobs through the agent, with alluxiofs's names and return shapes."""

import time


def test_load_jobs(client, d):
    for i in range(6):
        client.write_file("%s/f%d" % (d, i), b"x" * (50000 + i))
    status, details = client.load_progress(d)
    assert status == "NOT_STARTED" and details == {}
    assert client.submit_load(d) is True
    # Submitting again while it runs returns the same job (or it ended).
    assert client.submit_load(d) is True
    deadline = time.monotonic() + 30
    while True:
        status, details = client.load_progress(d)
        if status != "RUNNING" or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert status == "SUCCEEDED", details
    assert details["files"] == 6 and details["done_files"] == 6
    assert details["done_bytes"] == sum(50000 + i for i in range(6))
    assert details["id"].startswith("load-") and details["path"] == d
    assert client.load_job(details["id"])["state"] == "succeeded"
    # Stopping an ended job changes nothing.
    assert client.stop_load(d) is False
    try:
        client.submit_load(d + "/missing")
    except FileNotFoundError:
        pass
    else:
        raise AssertionError("submit of a missing path")
