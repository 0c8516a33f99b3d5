"""S3 clients (boto3, the aws CLI, s3fs, rclone) against `shoal server`'s S3
port, and the namespace shared with the Python SDK (docs/s3.md)."""

import filecmp
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import pytest

import shoal

from conftest import _free_port, _wait_port

boto3 = pytest.importorskip("boto3")
from botocore.client import Config  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402
from boto3.s3.transfer import TransferConfig  # noqa: E402

AK, SK = "shoaltestaccess", "shoaltestsecret0123456789"
OTHER_AK, OTHER_SK = "shoalotheraccess", "shoalothersecret0123456789"  # uid 1001, from --s3-keys


@pytest.fixture(scope="module")
def s3srv(env):
    """A `shoal server` of its own with a known key pair and a free S3 port
    (the session's server may run in local mode, without S3)."""
    tmp = tempfile.mkdtemp(prefix="shoal-s3-")
    port, wport, s3port = _free_port(), _free_port(), _free_port()
    e = dict(os.environ, SHOAL_S3_ACCESS_KEY=AK, SHOAL_S3_SECRET_KEY=SK)
    log = open(os.path.join(tmp, "server.log"), "wb")
    keys = os.path.join(tmp, "keys")
    with open(keys, "w") as f:
        f.write("%s %s 1001 1001\n" % (OTHER_AK, OTHER_SK))
    proc = subprocess.Popen(
        [env["bin"], "server", "--data", os.path.join(tmp, "data"), "--listen", "127.0.0.1:%d" % port,
         "--worker-listen", "127.0.0.1:%d" % wport, "--s3-listen", "127.0.0.1:%d" % s3port, "--s3-keys", keys],
        stdout=log, stderr=log, env=e, start_new_session=True)
    _wait_port(port, proc)
    _wait_port(s3port, proc)
    info = {"endpoint": "http://127.0.0.1:%d" % s3port, "mds": "127.0.0.1:%d" % port, "tmp": tmp}
    yield info
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
    shutil.rmtree(tmp, ignore_errors=True)


def _s3(srv, secret=SK):
    # boto3 presigns with SigV2 unless told s3v4; Shoal verifies SigV4 only
    return boto3.client("s3", endpoint_url=srv["endpoint"], aws_access_key_id=AK, aws_secret_access_key=secret,
                        region_name="us-east-1",
                        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))


@pytest.fixture(scope="module")
def s3(s3srv):
    return _s3(s3srv)


@pytest.fixture(scope="module")
def sdk(s3srv, env):
    c = shoal.Client.build(mds_addrs=s3srv["mds"])
    yield c
    c.stop()


@pytest.fixture
def bucket(s3, request):
    name = request.node.name.replace("_", "-").lower()[:50]
    s3.create_bucket(Bucket=name)
    yield name
    _empty(s3, name)
    s3.delete_bucket(Bucket=name)


def _empty(s3, b):
    for up in s3.list_multipart_uploads(Bucket=b).get("Uploads", []):
        s3.abort_multipart_upload(Bucket=b, Key=up["Key"], UploadId=up["UploadId"])
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=b):
        keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if keys:
            s3.delete_objects(Bucket=b, Delete={"Objects": keys})


def _code(ei):
    return ei.value.response["Error"]["Code"]


# ---- boto3 ----

def test_buckets(s3):
    s3.create_bucket(Bucket="bk-one")
    assert "bk-one" in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    s3.head_bucket(Bucket="bk-one")
    assert s3.get_bucket_location(Bucket="bk-one").get("LocationConstraint") in (None, "", "us-east-1")
    s3.create_bucket(Bucket="bk-one")  # the owner's repeated create succeeds in us-east-1, as in S3
    s3.put_bucket_tagging(Bucket="bk-one", Tagging={"TagSet": [{"Key": "team", "Value": "ml"}]})
    assert s3.get_bucket_tagging(Bucket="bk-one")["TagSet"] == [{"Key": "team", "Value": "ml"}]
    s3.delete_bucket_tagging(Bucket="bk-one")
    s3.put_object(Bucket="bk-one", Key="x", Body=b"1")
    with pytest.raises(ClientError) as ei:
        s3.delete_bucket(Bucket="bk-one")
    assert _code(ei) == "BucketNotEmpty"
    s3.delete_object(Bucket="bk-one", Key="x")
    s3.delete_bucket(Bucket="bk-one")
    with pytest.raises(ClientError) as ei:
        s3.head_bucket(Bucket="bk-one")
    assert ei.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    with pytest.raises(ClientError) as ei:
        s3.list_objects_v2(Bucket="bk-one")
    assert _code(ei) == "NoSuchBucket"
    with pytest.raises(ClientError) as ei:
        s3.create_bucket(Bucket="Bad_Name")
    assert _code(ei) == "InvalidBucketName"


def test_objects(s3, bucket):
    body = os.urandom(100_000)
    r = s3.put_object(Bucket=bucket, Key="dir/obj.bin", Body=body, ContentType="application/x-test",
                      Metadata={"owner": "alice", "n": "1"}, CacheControl="no-cache")
    assert r["ETag"] == '"%s"' % hashlib.md5(body).hexdigest()
    g = s3.get_object(Bucket=bucket, Key="dir/obj.bin")
    assert g["Body"].read() == body
    assert g["ContentType"] == "application/x-test" and g["Metadata"] == {"owner": "alice", "n": "1"}
    assert g["CacheControl"] == "no-cache" and g["ETag"] == r["ETag"]
    h = s3.head_object(Bucket=bucket, Key="dir/obj.bin")
    assert h["ContentLength"] == len(body) and h["Metadata"]["owner"] == "alice"
    g = s3.get_object(Bucket=bucket, Key="dir/obj.bin", Range="bytes=10-19")
    assert g["Body"].read() == body[10:20] and g["ContentRange"] == "bytes 10-19/%d" % len(body)
    assert g["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert s3.get_object(Bucket=bucket, Key="dir/obj.bin", Range="bytes=-5")["Body"].read() == body[-5:]
    with pytest.raises(ClientError) as ei:
        s3.get_object(Bucket=bucket, Key="dir/obj.bin", Range="bytes=%d-" % (len(body) + 10))
    assert _code(ei) == "InvalidRange"
    g = s3.get_object(Bucket=bucket, Key="dir/obj.bin", ResponseContentType="text/plain",
                      ResponseContentDisposition="attachment")
    assert g["ContentType"] == "text/plain" and g["ContentDisposition"] == "attachment"
    # conditionals
    with pytest.raises(ClientError) as ei:
        s3.get_object(Bucket=bucket, Key="dir/obj.bin", IfNoneMatch=r["ETag"])
    assert ei.value.response["ResponseMetadata"]["HTTPStatusCode"] == 304
    with pytest.raises(ClientError) as ei:
        s3.get_object(Bucket=bucket, Key="dir/obj.bin", IfMatch='"0000"')
    assert _code(ei) == "PreconditionFailed"
    with pytest.raises(ClientError) as ei:
        s3.put_object(Bucket=bucket, Key="dir/obj.bin", Body=b"x", IfNoneMatch="*")
    assert ei.value.response["ResponseMetadata"]["HTTPStatusCode"] in (409, 412)
    # errors
    with pytest.raises(ClientError) as ei:
        s3.get_object(Bucket=bucket, Key="missing")
    assert _code(ei) == "NoSuchKey"
    assert ei.value.response["Error"].get("Key") in (None, "missing")
    rid = ei.value.response["ResponseMetadata"]["RequestId"]
    assert rid
    with pytest.raises(ClientError) as ei:
        s3.put_object(Bucket=bucket, Key="dir", Body=b"x")  # a directory
    assert ei.value.response["ResponseMetadata"]["HTTPStatusCode"] in (400, 409)
    with pytest.raises(ClientError):
        s3.put_object(Bucket=bucket, Key="a//b", Body=b"x")
    s3.delete_object(Bucket=bucket, Key="dir/obj.bin")
    s3.delete_object(Bucket=bucket, Key="dir/obj.bin")  # deleting a missing key succeeds
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="dir/obj.bin")


def test_wrong_secret(s3srv, bucket):
    bad = _s3(s3srv, secret="wrong")
    with pytest.raises(ClientError) as ei:
        bad.list_objects_v2(Bucket=bucket)
    assert _code(ei) == "SignatureDoesNotMatch"
    anon = boto3.client("s3", endpoint_url=s3srv["endpoint"], aws_access_key_id="nobody",
                        aws_secret_access_key="x", region_name="us-east-1")
    with pytest.raises(ClientError) as ei:
        anon.list_buckets()
    assert _code(ei) == "InvalidAccessKeyId"


def test_multipart_upload_file(s3, bucket, tmp_path):
    data = os.urandom(13 << 20)
    p = tmp_path / "big"
    p.write_bytes(data)
    cfg = TransferConfig(multipart_threshold=5 << 20, multipart_chunksize=5 << 20, max_concurrency=4)
    s3.upload_file(str(p), bucket, "big.bin", Config=cfg)
    h = s3.head_object(Bucket=bucket, Key="big.bin")
    assert h["ContentLength"] == len(data) and h["ETag"].endswith('-3"')
    out = tmp_path / "back"
    s3.download_file(bucket, "big.bin", str(out), Config=cfg)
    assert out.read_bytes() == data
    # explicit calls: list parts and uploads, abort
    up = s3.create_multipart_upload(Bucket=bucket, Key="m")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="m", UploadId=up, PartNumber=1, Body=b"a" * (5 << 20))
    assert [p["PartNumber"] for p in s3.list_parts(Bucket=bucket, Key="m", UploadId=up)["Parts"]] == [1]
    assert [u["UploadId"] for u in s3.list_multipart_uploads(Bucket=bucket)["Uploads"]] == [up]
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix="m")  # staging is invisible
    s3.abort_multipart_upload(Bucket=bucket, Key="m", UploadId=up)
    with pytest.raises(ClientError) as ei:
        s3.list_parts(Bucket=bucket, Key="m", UploadId=up)
    assert _code(ei) == "NoSuchUpload"


def test_copy_and_tags(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"hello copy", Metadata={"a": "1"},
                  Tagging="k1=v1&k2=v2")
    assert {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=bucket, Key="src")["TagSet"]} == \
        {"k1": "v1", "k2": "v2"}
    s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"})
    g = s3.get_object(Bucket=bucket, Key="dst")
    assert g["Body"].read() == b"hello copy" and g["Metadata"] == {"a": "1"}
    s3.copy_object(Bucket=bucket, Key="dst2", CopySource="%s/src" % bucket, MetadataDirective="REPLACE",
                   Metadata={"b": "2"}, ContentType="text/x")
    h = s3.head_object(Bucket=bucket, Key="dst2")
    assert h["Metadata"] == {"b": "2"} and h["ContentType"] == "text/x"
    s3.put_object_tagging(Bucket=bucket, Key="dst", Tagging={"TagSet": [{"Key": "x", "Value": "y"}]})
    assert s3.get_object_tagging(Bucket=bucket, Key="dst")["TagSet"] == [{"Key": "x", "Value": "y"}]
    s3.delete_object_tagging(Bucket=bucket, Key="dst")
    assert s3.get_object_tagging(Bucket=bucket, Key="dst")["TagSet"] == []
    with pytest.raises(ClientError) as ei:
        s3.copy_object(Bucket=bucket, Key="d3", CopySource={"Bucket": bucket, "Key": "nope"})
    assert _code(ei) == "NoSuchKey"


def test_listing(s3, bucket):
    keys = ["a/1", "a/2", "a/b/3", "b/4", "c", "d/5"] + ["p/%03d" % i for i in range(25)]
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=k.encode())
    r = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert [c["Prefix"] for c in r["CommonPrefixes"]] == ["a/", "b/", "d/", "p/"]
    assert [o["Key"] for o in r["Contents"]] == ["c"]
    r = s3.list_objects_v2(Bucket=bucket, Prefix="a/", Delimiter="/")
    assert [o["Key"] for o in r["Contents"]] == ["a/1", "a/2"]
    assert [c["Prefix"] for c in r["CommonPrefixes"]] == ["a/b/"]
    got = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, PaginationConfig={"PageSize": 7}):
        assert page["KeyCount"] <= 7
        got += [o["Key"] for o in page.get("Contents", [])]
    assert got == sorted(keys)
    got = []
    for page in s3.get_paginator("list_objects").paginate(Bucket=bucket, PaginationConfig={"PageSize": 4}):
        got += [o["Key"] for o in page.get("Contents", [])]
    assert got == sorted(keys)
    r = s3.list_objects(Bucket=bucket, Marker="p/020", MaxKeys=3)
    assert [o["Key"] for o in r["Contents"]] == ["p/021", "p/022", "p/023"] and r["IsTruncated"]
    r = s3.list_objects_v2(Bucket=bucket, StartAfter="p/022", FetchOwner=True)
    assert [o["Key"] for o in r["Contents"]] == ["p/023", "p/024"] and "Owner" in r["Contents"][0]
    r = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "c"}, {"Key": "zz"}]})
    assert sorted(d["Key"] for d in r["Deleted"]) == ["c", "zz"]


def test_presigned(s3, bucket):
    s3.put_object(Bucket=bucket, Key="p.txt", Body=b"presigned body")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "p.txt"}, ExpiresIn=60)
    with urllib.request.urlopen(url) as r:
        assert r.read() == b"presigned body"
    url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "up.txt"}, ExpiresIn=60)
    req = urllib.request.Request(url, data=b"put by url", method="PUT")
    with urllib.request.urlopen(req) as r:
        assert r.status == 200
    assert s3.get_object(Bucket=bucket, Key="up.txt")["Body"].read() == b"put by url"
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "p.txt"}, ExpiresIn=1)
    time.sleep(2)
    with pytest.raises(urllib.error.HTTPError) as ei:
        urllib.request.urlopen(url)
    assert ei.value.code == 403 and b"AccessDenied" in ei.value.read()
    with pytest.raises(urllib.error.HTTPError) as ei:  # anonymous: the bucket is not public
        urllib.request.urlopen(s3.meta.endpoint_url + "/%s/p.txt" % bucket)
    assert ei.value.code == 403


def test_checksums(s3, bucket):
    r = s3.put_object(Bucket=bucket, Key="ck", Body=b"checksummed", ChecksumAlgorithm="SHA256")
    want = r.get("ChecksumSHA256")
    h = s3.head_object(Bucket=bucket, Key="ck", ChecksumMode="ENABLED")
    assert want and h.get("ChecksumSHA256") == want
    s3.put_object(Bucket=bucket, Key="ck32", Body=b"x" * 1000, ChecksumAlgorithm="CRC32")
    assert s3.get_object(Bucket=bucket, Key="ck32")["Body"].read() == b"x" * 1000


# ---- the Python SDK sees the same namespace ----

def test_sdk_visibility(s3, bucket, sdk):
    s3.put_object(Bucket=bucket, Key="from/s3.txt", Body=b"written by S3")
    assert sdk.read_file("/%s/from/s3.txt" % bucket) == b"written by S3"
    assert [e.name for e in sdk.listdir("/%s/from" % bucket)] == ["s3.txt"]
    sdk.makedirs("/%s/from/sdk" % bucket, exist_ok=True)
    sdk.write_file("/%s/from/sdk/f.bin" % bucket, b"written by the SDK")
    g = s3.get_object(Bucket=bucket, Key="from/sdk/f.bin")
    assert g["Body"].read() == b"written by the SDK"
    # an SDK-written file has no stored MD5: its ETag is no MD5 ("-1") until a
    # full GET computed the MD5, which it keeps
    assert g["ETag"].endswith('-1"')
    assert s3.head_object(Bucket=bucket, Key="from/sdk/f.bin")["ETag"] == '"%s"' % hashlib.md5(b"written by the SDK").hexdigest()
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="from/")["Contents"]]
    assert keys == ["from/s3.txt", "from/sdk/f.bin"]
    sdk.mkdir("/sdk-made-bucket")
    try:
        assert "sdk-made-bucket" in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    finally:
        sdk.rmdir("/sdk-made-bucket")


# ---- the aws CLI ----

def _aws(srv, *args, check=True):
    # make test installs the aws CLI in a virtualenv of its own (it pins a
    # botocore the s3fs stack cannot share) and names it in SHOAL_AWS_CLI.
    aws = os.environ.get("SHOAL_AWS_CLI") or os.path.join(os.path.dirname(sys.executable), "aws")
    if not os.path.exists(aws):
        aws = shutil.which("aws")
    if not aws:
        pytest.skip("the aws CLI is not installed (pip install awscli)")
    e = dict(os.environ, AWS_ACCESS_KEY_ID=AK, AWS_SECRET_ACCESS_KEY=SK, AWS_DEFAULT_REGION="us-east-1",
             AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull, AWS_PAGER="")
    return subprocess.run([aws, "--endpoint-url", srv["endpoint"], *args], env=e, capture_output=True,
                          text=True, check=check, timeout=60)


def test_aws_cli(s3srv, s3, bucket, tmp_path):
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("alpha")
    (src / "sub" / "b.bin").write_bytes(os.urandom(300_000))
    _aws(s3srv, "s3", "cp", str(src / "a.txt"), "s3://%s/one/a.txt" % bucket)
    _aws(s3srv, "s3", "sync", str(src), "s3://%s/tree" % bucket)
    out = _aws(s3srv, "s3", "ls", "--recursive", "s3://%s/" % bucket).stdout
    assert "one/a.txt" in out and "tree/sub/b.bin" in out
    back = tmp_path / "back"
    _aws(s3srv, "s3", "sync", "s3://%s/tree" % bucket, str(back))
    assert not filecmp.dircmp(src, back).diff_files and filecmp.cmp(src / "sub" / "b.bin", back / "sub" / "b.bin",
                                                                     shallow=False)
    _aws(s3srv, "s3", "rm", "s3://%s/one/a.txt" % bucket)
    out = _aws(s3srv, "s3api", "head-object", "--bucket", bucket, "--key", "tree/a.txt").stdout
    assert '"ContentLength": 5' in out
    r = _aws(s3srv, "s3api", "get-object", "--bucket", bucket, "--key", "nope", str(tmp_path / "x"), check=False)
    assert r.returncode != 0 and "NoSuchKey" in r.stderr
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == ["tree/a.txt", "tree/sub/b.bin"]


# ---- s3fs (fsspec) ----

def test_s3fs(s3srv, s3, bucket, tmp_path):
    s3fs = pytest.importorskip("s3fs")
    fs = s3fs.S3FileSystem(key=AK, secret=SK, endpoint_url=s3srv["endpoint"], use_listings_cache=False,
                           client_kwargs={"region_name": "us-east-1"})
    fs.pipe("%s/x/one.txt" % bucket, b"one")
    fs.pipe("%s/x/y/two.txt" % bucket, b"two")
    assert fs.cat("%s/x/one.txt" % bucket) == b"one"
    assert sorted(fs.ls("%s/x" % bucket, detail=False)) == ["%s/x/one.txt" % bucket, "%s/x/y" % bucket]
    local = tmp_path / "l.bin"
    local.write_bytes(os.urandom(70_000))
    fs.put(str(local), "%s/x/l.bin" % bucket)
    assert fs.info("%s/x/l.bin" % bucket)["size"] == 70_000
    fs.get("%s/x/l.bin" % bucket, str(tmp_path / "l2.bin"))
    assert (tmp_path / "l2.bin").read_bytes() == local.read_bytes()
    walked = {root: sorted(files) for root, _, files in fs.walk("%s/x" % bucket)}
    assert walked == {"%s/x" % bucket: ["l.bin", "one.txt"], "%s/x/y" % bucket: ["two.txt"]}
    with fs.open("%s/x/one.txt" % bucket, "rb") as f:
        f.seek(1)
        assert f.read() == b"ne"
    fs.rm("%s/x" % bucket, recursive=True)
    assert not fs.exists("%s/x/one.txt" % bucket)


# ---- rclone ----

def test_rclone(s3srv, bucket, tmp_path):
    rclone = shutil.which("rclone")
    if not rclone:
        pytest.skip("rclone is not installed (apt-get install rclone)")
    e = dict(os.environ, RCLONE_CONFIG=os.devnull, RCLONE_CONFIG_SH_TYPE="s3", RCLONE_CONFIG_SH_PROVIDER="Other",
             RCLONE_CONFIG_SH_ACCESS_KEY_ID=AK, RCLONE_CONFIG_SH_SECRET_ACCESS_KEY=SK,
             RCLONE_CONFIG_SH_ENDPOINT=s3srv["endpoint"], RCLONE_CONFIG_SH_REGION="us-east-1",
             RCLONE_CONFIG_SH_FORCE_PATH_STYLE="true")
    e.pop("AWS_CA_BUNDLE", None)  # rclone fails on a CA bundle with its own transport
    src = tmp_path / "src"
    for i in range(12):
        p = src / ("d%d" % (i % 3)) / ("f%02d" % i)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(os.urandom(1000 * i + 1))
    (src / "big").write_bytes(os.urandom(6 << 20))

    def run(*args):
        return subprocess.run([rclone, *args], env=e, capture_output=True, text=True, check=True, timeout=60)
    run("sync", str(src), "sh:%s/r" % bucket)
    run("check", str(src), "sh:%s/r" % bucket)
    back = tmp_path / "back"
    run("sync", "sh:%s/r" % bucket, str(back))
    for root, _, files in os.walk(src):
        for f in files:
            a = os.path.join(root, f)
            assert filecmp.cmp(a, os.path.join(back, os.path.relpath(a, src)), shallow=False)
    listed = run("lsf", "-R", "--files-only", "sh:%s/r" % bucket).stdout.split()
    assert len(listed) == 13



# ---- issue 15: the small AWS behaviours (item 6) ----

def test_unconfigured_subresources(s3, bucket):
    for call, code in [
        (lambda: s3.get_bucket_cors(Bucket=bucket), "NoSuchCORSConfiguration"),
        (lambda: s3.get_bucket_policy(Bucket=bucket), "NoSuchBucketPolicy"),
        (lambda: s3.get_bucket_lifecycle_configuration(Bucket=bucket), "NoSuchLifecycleConfiguration"),
        (lambda: s3.get_bucket_encryption(Bucket=bucket), "ServerSideEncryptionConfigurationNotFoundError"),
        (lambda: s3.get_bucket_website(Bucket=bucket), "NoSuchWebsiteConfiguration"),
        (lambda: s3.get_public_access_block(Bucket=bucket), "NoSuchPublicAccessBlockConfiguration"),
        (lambda: s3.get_bucket_ownership_controls(Bucket=bucket), "OwnershipControlsNotFoundError"),
        (lambda: s3.get_object_lock_configuration(Bucket=bucket), "ObjectLockConfigurationNotFoundError"),
    ]:
        with pytest.raises(ClientError) as ei:
            call()
        assert _code(ei) == code
        assert ei.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)
    acl = s3.get_bucket_acl(Bucket=bucket)
    assert [g["Permission"] for g in acl["Grants"]] == ["FULL_CONTROL"]
    assert s3.get_bucket_request_payment(Bucket=bucket)["Payer"] == "BucketOwner"
    s3.get_bucket_logging(Bucket=bucket)
    s3.get_bucket_notification_configuration(Bucket=bucket)
    s3.delete_bucket_cors(Bucket=bucket)
    s3.delete_bucket_policy(Bucket=bucket)
    s3.delete_bucket_lifecycle(Bucket=bucket)


def test_list_buckets_paginated(s3):
    names = ["pg-%d" % i for i in range(3)]
    for n in names:
        s3.create_bucket(Bucket=n)
    try:
        got, pages = [], 0
        for page in s3.get_paginator("list_buckets").paginate(Prefix="pg-", PaginationConfig={"PageSize": 2}):
            pages += 1
            got += [b["Name"] for b in page["Buckets"]]
        assert got == names and pages == 2
    finally:
        for n in names:
            s3.delete_bucket(Bucket=n)


def test_delete_bucket_with_abandoned_upload(s3):
    s3.create_bucket(Bucket="abandoned-up")
    s3.create_multipart_upload(Bucket="abandoned-up", Key="k")
    s3.delete_bucket(Bucket="abandoned-up")
    with pytest.raises(ClientError) as ei:
        s3.head_bucket(Bucket="abandoned-up")
    assert ei.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_multipart_repeat_complete_and_attributes(s3, bucket):
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    parts = []
    for n, body in [(1, b"a" * (5 << 20)), (2, b"tail")]:
        e = s3.upload_part(Bucket=bucket, Key="mp", UploadId=up, PartNumber=n, Body=body)["ETag"]
        parts.append({"PartNumber": n, "ETag": e})
    first = s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up, MultipartUpload={"Parts": parts})
    again = s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up, MultipartUpload={"Parts": parts})
    assert again["ETag"] == first["ETag"]
    attrs = s3.get_object_attributes(Bucket=bucket, Key="mp", ObjectAttributes=["ObjectParts", "ETag"])
    assert attrs["ObjectParts"]["TotalPartsCount"] == 2
    assert [p["Size"] for p in attrs["ObjectParts"]["Parts"]] == [5 << 20, 4]


def test_list_v1_prefix_and_empty_token(s3, bucket):
    s3.put_object(Bucket=bucket, Key="a b/c+d", Body=b"1")
    # botocore asks for encoding-type=url itself and decodes what S3
    # encodes: in v1 the keys, not the echoed prefix
    r = s3.list_objects(Bucket=bucket, Prefix="a b/")
    assert r["Prefix"] == "a b/" and [o["Key"] for o in r["Contents"]] == ["a b/c+d"]
    r = s3.list_objects(Bucket=bucket, Prefix="a b/", EncodingType="url")  # asked for: left encoded
    assert r["Prefix"] == "a b/" and [o["Key"] for o in r["Contents"]] == ["a%20b/c%2Bd"]
    r = s3.list_objects_v2(Bucket=bucket, Prefix="a b/")
    assert r["Prefix"] == "a b/" and [o["Key"] for o in r["Contents"]] == ["a b/c+d"]
    r = s3.list_objects_v2(Bucket=bucket, ContinuationToken="")
    assert r["ContinuationToken"] == ""
    assert [o["Key"] for o in r["Contents"]] == ["a b/c+d"]


def test_conditional_writes_with_etag(s3, bucket):
    etag = s3.put_object(Bucket=bucket, Key="c", Body=b"one")["ETag"]
    with pytest.raises(ClientError) as ei:
        s3.put_object(Bucket=bucket, Key="c", Body=b"two", IfNoneMatch=etag)
    assert _code(ei) == "PreconditionFailed"
    s3.put_object(Bucket=bucket, Key="c", Body=b"two", IfNoneMatch='"00000000000000000000000000000000"')
    assert s3.get_object(Bucket=bucket, Key="c")["Body"].read() == b"two"


def test_content_encoding_verbatim(s3, bucket):
    s3.put_object(Bucket=bucket, Key="e", Body=b"x", ContentEncoding="gzip,  br")
    assert s3.head_object(Bucket=bucket, Key="e")["ContentEncoding"] == "gzip,  br"


def test_list_object_versions_unversioned(s3, bucket):
    for k in ["v1", "v2", "w/x"]:
        s3.put_object(Bucket=bucket, Key=k, Body=k.encode())
    seen = []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, PaginationConfig={"PageSize": 2}):
        for v in page.get("Versions", []):
            assert v["VersionId"] == "null" and v["IsLatest"]
            seen.append(v["Key"])
    assert seen == ["v1", "v2", "w/x"]


# ---- issue 15: SigV2, presigned URLs, request checks (item 4) ----

def _s3v2(srv, secret=SK):
    return boto3.client("s3", endpoint_url=srv["endpoint"], aws_access_key_id=AK, aws_secret_access_key=secret,
                        region_name="us-east-1",
                        config=Config(signature_version="s3", s3={"addressing_style": "path"}))


def test_sigv2_boto3(s3srv, s3, bucket, tmp_path):
    v2 = _s3v2(s3srv)
    v2.put_object(Bucket=bucket, Key="dir/a b+c.txt", Body=b"v2 body", ContentType="text/x",
                  Metadata={"color": "blue"})
    got = v2.get_object(Bucket=bucket, Key="dir/a b+c.txt")
    assert got["Body"].read() == b"v2 body" and got["Metadata"] == {"color": "blue"}
    assert [o["Key"] for o in v2.list_objects_v2(Bucket=bucket)["Contents"]] == ["dir/a b+c.txt"]
    v2.put_object_tagging(Bucket=bucket, Key="dir/a b+c.txt", Tagging={"TagSet": [{"Key": "t", "Value": "1"}]})
    assert v2.get_object_tagging(Bucket=bucket, Key="dir/a b+c.txt")["TagSet"] == [{"Key": "t", "Value": "1"}]
    big = tmp_path / "big"
    big.write_bytes(os.urandom(11 << 20))
    v2.upload_file(str(big), bucket, "big", Config=TransferConfig(multipart_threshold=5 << 20, multipart_chunksize=5 << 20))
    assert v2.head_object(Bucket=bucket, Key="big")["ETag"].endswith('-3"')
    v2.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "dir/a b+c.txt"})
    v2.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "copy"}, {"Key": "big"}]})
    # fail closed: a wrong secret stores nothing
    with pytest.raises(ClientError) as ei:
        _s3v2(s3srv, "wrong").put_object(Bucket=bucket, Key="evil", Body=b"x")
    assert _code(ei) == "SignatureDoesNotMatch"
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="evil")


def test_sigv2_presigned(s3srv, s3, bucket):
    s3.put_object(Bucket=bucket, Key="p q.txt", Body=b"presigned v2")
    # the default presign of botocore's "s3" signer, and of a client without any signature setting
    default = boto3.client("s3", endpoint_url=s3srv["endpoint"], aws_access_key_id=AK, aws_secret_access_key=SK,
                           region_name="us-east-1")
    for c in (_s3v2(s3srv), default):
        url = c.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "p q.txt",
                                                             "ResponseContentType": "text/plain"}, ExpiresIn=60)
        with urllib.request.urlopen(url) as r:
            assert r.read() == b"presigned v2" and r.headers["Content-Type"] == "text/plain"
    v2 = _s3v2(s3srv)
    url = v2.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "p q.txt"}, ExpiresIn=60)
    assert "AWSAccessKeyId=" in url
    with pytest.raises(urllib.error.HTTPError) as ei:
        urllib.request.urlopen(url.replace("p%20q", "p%20r"))
    assert ei.value.code == 403
    url = v2.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "up.txt"}, ExpiresIn=60)
    # SigV2 signs Content-Type: urllib's default form type would not match the presign
    req = urllib.request.Request(url, data=b"uploaded v2", method="PUT", headers={"Content-Type": ""})
    with urllib.request.urlopen(req) as r:
        assert r.status == 200
    assert s3.get_object(Bucket=bucket, Key="up.txt")["Body"].read() == b"uploaded v2"
    url = v2.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "p q.txt"}, ExpiresIn=1)
    time.sleep(2.1)
    with pytest.raises(urllib.error.HTTPError) as ei:
        urllib.request.urlopen(url)
    assert ei.value.code == 403


def test_presign_expires_out_of_range(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"1")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=7 * 24 * 3600 + 1)
    with pytest.raises(urllib.error.HTTPError) as ei:
        urllib.request.urlopen(url)
    assert ei.value.code == 403


def test_malformed_checksum_is_bad_digest(s3, bucket):
    with pytest.raises(ClientError) as ei:
        s3.put_object(Bucket=bucket, Key="ck", Body=b"data", ChecksumSHA256="bm90IGEgc2hhMjU2")
    assert _code(ei) == "BadDigest"
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="ck")


def _s3cmd(srv, tmp_path, *args):
    s3cmd = shutil.which("s3cmd")
    if not s3cmd:
        pytest.skip("s3cmd is not installed (apt-get install s3cmd)")
    host = srv["endpoint"].split("//", 1)[1]
    cfg = tmp_path / "s3cfg"
    cfg.write_text("[default]\naccess_key = %s\nsecret_key = %s\nhost_base = %s\nhost_bucket = %s\n"
                   "use_https = False\nsignature_v2 = True\nbucket_location = us-east-1\n" % (AK, SK, host, host))
    p = subprocess.run([s3cmd, "-c", str(cfg), *args], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, "s3cmd %s: %s%s" % (" ".join(args), p.stdout, p.stderr)
    return p


def test_s3cmd_sigv2(s3srv, s3, tmp_path):
    b = "s3cmd-v2"
    _s3cmd(s3srv, tmp_path, "mb", "s3://" + b)
    try:
        small, big = tmp_path / "small.txt", tmp_path / "big.bin"
        small.write_text("s3cmd small")
        big.write_bytes(os.urandom(11 << 20))
        _s3cmd(s3srv, tmp_path, "put", str(small), "s3://%s/d/small.txt" % b)
        _s3cmd(s3srv, tmp_path, "put", "--multipart-chunk-size-mb=5", str(big), "s3://%s/big.bin" % b)
        out = _s3cmd(s3srv, tmp_path, "ls", "-r", "s3://%s/" % b).stdout
        assert "d/small.txt" in out and "big.bin" in out
        _s3cmd(s3srv, tmp_path, "info", "s3://" + b)  # reads the bucket's location, ACL, policy, CORS...
        back = tmp_path / "back.bin"
        _s3cmd(s3srv, tmp_path, "get", "s3://%s/big.bin" % b, str(back))
        assert filecmp.cmp(big, back, shallow=False)
        url = _s3cmd(s3srv, tmp_path, "signurl", "s3://%s/d/small.txt" % b, "+60").stdout.strip()
        with urllib.request.urlopen(url) as r:
            assert r.read() == b"s3cmd small"
        _s3cmd(s3srv, tmp_path, "del", "-r", "--force", "s3://%s/" % b)
    finally:
        _empty(s3, b)
        s3.delete_bucket(Bucket=b)


def test_aws_cli_presign(s3srv, s3, bucket):
    s3.put_object(Bucket=bucket, Key="cli p.txt", Body=b"cli presigned")
    url = _aws(s3srv, "s3", "presign", "s3://%s/cli p.txt" % bucket, "--expires-in", "60").stdout.strip()
    with urllib.request.urlopen(url) as r:
        assert r.read() == b"cli presigned"


# ---- issue 15: browsers, CORS and POST forms (item 3) ----

def _preflight(srv, bucket, origin, method, headers=None):
    req = urllib.request.Request("%s/%s/obj" % (srv["endpoint"], bucket), method="OPTIONS")
    req.add_header("Origin", origin)
    req.add_header("Access-Control-Request-Method", method)
    if headers:
        req.add_header("Access-Control-Request-Headers", headers)
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, r.headers
    except urllib.error.HTTPError as e:
        return e.code, e.headers


def test_cors(s3srv, s3, bucket):
    with pytest.raises(ClientError) as ei:
        s3.get_bucket_cors(Bucket=bucket)
    assert _code(ei) == "NoSuchCORSConfiguration"
    assert _preflight(s3srv, bucket, "https://a.example", "PUT")[0] == 403
    rules = [{"AllowedMethods": ["PUT", "POST"], "AllowedOrigins": ["https://*.example"],
              "AllowedHeaders": ["*"], "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 60}]
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": rules})
    got = s3.get_bucket_cors(Bucket=bucket)["CORSRules"]
    assert got[0]["AllowedOrigins"] == ["https://*.example"] and got[0]["MaxAgeSeconds"] == 60
    status, h = _preflight(s3srv, bucket, "https://a.example", "PUT", "content-type,x-amz-meta-x")
    assert status == 200 and h["Access-Control-Allow-Origin"] == "https://a.example"
    assert h["Access-Control-Allow-Methods"] == "PUT, POST" and h["Access-Control-Max-Age"] == "60"
    assert _preflight(s3srv, bucket, "https://a.example", "DELETE")[0] == 403
    assert _preflight(s3srv, bucket, "https://evil.org", "PUT")[0] == 403
    s3.delete_bucket_cors(Bucket=bucket)
    assert _preflight(s3srv, bucket, "https://a.example", "PUT")[0] == 403


def _post_form(url, fields, filename, data):
    boundary = "----shoaltest%d" % os.getpid()
    parts = []
    for k, v in fields.items():
        parts.append('--%s\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n' % (boundary, k, v))
    head = "".join(parts).encode()
    head += ('--%s\r\nContent-Disposition: form-data; name="file"; filename="%s"\r\n'
             'Content-Type: application/octet-stream\r\n\r\n' % (boundary, filename)).encode()
    body = head + data + ("\r\n--%s--\r\n" % boundary).encode()
    req = urllib.request.Request(url, data=body, method="POST",
                                 headers={"Content-Type": "multipart/form-data; boundary=" + boundary})

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *a, **k):
            return None
    try:
        with urllib.request.build_opener(NoRedirect).open(req) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def test_post_object(s3srv, s3, bucket):
    for client in (s3, _s3v2(s3srv)):  # SigV4 and SigV2 policy signatures
        post = client.generate_presigned_post(
            bucket, "forms/${filename}", Fields={"success_action_status": "201", "Content-Type": "text/plain"},
            Conditions=[{"success_action_status": "201"}, ["starts-with", "$Content-Type", "text/"],
                        ["content-length-range", 1, 1000]], ExpiresIn=60)
        status, _, body = _post_form(post["url"], post["fields"], "a.txt", b"form body")
        assert status == 201 and b"<Key>forms/a.txt</Key>" in body, body
        got = s3.get_object(Bucket=bucket, Key="forms/a.txt")
        assert got["Body"].read() == b"form body" and got["ContentType"] == "text/plain"
        status, _, body = _post_form(post["url"], post["fields"], "big.txt", b"x" * 1001)
        assert status == 403 and b"AccessDenied" in body
        fields = dict(post["fields"], **{"x-amz-meta-extra": "1"})
        status, _, body = _post_form(post["url"], fields, "c.txt", b"x")
        assert status == 403 and b"Extra input fields" in body
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="forms/big.txt")
    # a redirect after success
    post = s3.generate_presigned_post(bucket, "r.txt", Fields={"success_action_redirect": "https://app.example/done"},
                                      Conditions=[{"success_action_redirect": "https://app.example/done"}])
    status, h, _ = _post_form(post["url"], post["fields"], "r.txt", b"r")
    assert status == 303 and h["Location"].startswith("https://app.example/done?")
    assert "key=r.txt" in h["Location"]


# ---- issue 15: versioning (item 1) ----

def test_versioning(s3, sdk):
    b = "versioned-bkt"
    s3.create_bucket(Bucket=b)
    s3.put_object(Bucket=b, Key="k", Body=b"before")
    s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
    assert s3.get_bucket_versioning(Bucket=b)["Status"] == "Enabled"
    ids = [s3.put_object(Bucket=b, Key="k", Body=body)["VersionId"] for body in (b"one", b"two")]
    assert len(set(ids)) == 2 and "null" not in ids
    assert s3.get_object(Bucket=b, Key="k")["Body"].read() == b"two"
    assert s3.get_object(Bucket=b, Key="k", VersionId=ids[0])["Body"].read() == b"one"
    assert s3.get_object(Bucket=b, Key="k", VersionId="null")["Body"].read() == b"before"
    vs = s3.list_object_versions(Bucket=b)["Versions"]
    assert [(v["VersionId"], v["IsLatest"]) for v in vs] == [(ids[1], True), (ids[0], False), ("null", False)]
    # the SDK sees the latest version only
    assert [e.name for e in sdk.listdir("/" + b)] == ["k"]
    with sdk.open("/%s/k" % b, "rb") as f:
        assert f.read() == b"two"
    d = s3.delete_object(Bucket=b, Key="k")
    assert d["DeleteMarker"] and d["VersionId"]
    with pytest.raises(ClientError) as ei:
        s3.head_object(Bucket=b, Key="k")
    assert ei.value.response["ResponseMetadata"]["HTTPHeaders"].get("x-amz-delete-marker") == "true"
    assert list(sdk.listdir("/" + b)) == []
    r = s3.list_object_versions(Bucket=b)
    assert r["DeleteMarkers"][0]["IsLatest"] and r["DeleteMarkers"][0]["VersionId"] == d["VersionId"]
    s3.delete_object(Bucket=b, Key="k", VersionId=d["VersionId"])  # undelete
    assert s3.get_object(Bucket=b, Key="k")["Body"].read() == b"two"
    s3.copy_object(Bucket=b, Key="old", CopySource={"Bucket": b, "Key": "k", "VersionId": ids[0]})
    assert s3.get_object(Bucket=b, Key="old")["Body"].read() == b"one"
    # the clean-up conformance suites do: delete every version, then the bucket
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=b, PaginationConfig={"PageSize": 2}):
        objs = [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
        if objs:
            s3.delete_objects(Bucket=b, Delete={"Objects": objs})
    assert "Versions" not in s3.list_object_versions(Bucket=b)
    s3.delete_bucket(Bucket=b)


# ---- issue 15: ETags of files written outside S3 (item 5) ----

def test_sdk_written_etags_with_rclone_and_s3cmd(s3srv, s3, sdk, env, tmp_path):
    rclone = shutil.which("rclone")
    if not rclone:
        pytest.skip("rclone is not installed (apt-get install rclone)")
    b = "etags-outside"
    s3.create_bucket(Bucket=b)
    try:
        files = {"py.bin": os.urandom(300_000), "cli.bin": os.urandom(2 << 20), "s3cmd.bin": os.urandom(100_000)}
        sdk.write_file("/%s/py.bin" % b, files["py.bin"])       # the Python SDK
        sdk.write_file("/%s/s3cmd.bin" % b, files["s3cmd.bin"])
        local = tmp_path / "cli.bin"
        local.write_bytes(files["cli.bin"])
        subprocess.run([env["bin"], "fs", "put", "--addr", s3srv["mds"], str(local), "/%s/cli.bin" % b],  # the CLI (Go SDK)
                       check=True, capture_output=True, timeout=60)
        for k in files:
            etag = s3.head_object(Bucket=b, Key=k)["ETag"].strip('"')
            assert etag.endswith("-1"), (k, etag)  # not taken for an MD5
        e = dict(os.environ, RCLONE_CONFIG=os.devnull, RCLONE_CONFIG_SH_TYPE="s3", RCLONE_CONFIG_SH_PROVIDER="Other",
                 RCLONE_CONFIG_SH_ACCESS_KEY_ID=AK, RCLONE_CONFIG_SH_SECRET_ACCESS_KEY=SK,
                 RCLONE_CONFIG_SH_ENDPOINT=s3srv["endpoint"], RCLONE_CONFIG_SH_REGION="us-east-1",
                 RCLONE_CONFIG_SH_FORCE_PATH_STYLE="true")
        e.pop("AWS_CA_BUNDLE", None)
        back = tmp_path / "back"
        subprocess.run([rclone, "copy", "--include", "{py,cli}.bin", "sh:%s" % b, str(back)], env=e, check=True,
                       capture_output=True, text=True, timeout=120)
        for k in ("py.bin", "cli.bin"):
            assert (back / k).read_bytes() == files[k]
        out = _s3cmd(s3srv, tmp_path, "get", "s3://%s/s3cmd.bin" % b, str(tmp_path / "s3cmd.bin"))
        assert "MD5" not in out.stderr + out.stdout, out.stderr
        assert (tmp_path / "s3cmd.bin").read_bytes() == files["s3cmd.bin"]
        # each full download computed and kept the MD5
        for k, data in files.items():
            assert s3.head_object(Bucket=b, Key=k)["ETag"].strip('"') == hashlib.md5(data).hexdigest()
        # now rclone checks the bytes against the MD5, and agrees
        subprocess.run([rclone, "check", str(back), "sh:%s" % b, "--include", "{py,cli}.bin"], env=e, check=True,
                       capture_output=True, text=True, timeout=120)
    finally:
        _empty(s3, b)
        s3.delete_bucket(Bucket=b)


# ---- issue 15: access control (item 2, canned ACLs) ----

def test_private_by_default_and_canned_acls(s3srv, s3, bucket):
    other = boto3.client(
        "s3", endpoint_url=s3srv["endpoint"], aws_access_key_id=OTHER_AK, aws_secret_access_key=OTHER_SK,
        region_name="us-east-1", config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))
    s3.put_object(Bucket=bucket, Key="secret", Body=b"s")
    for call in (lambda: other.list_objects_v2(Bucket=bucket),
                 lambda: other.get_object(Bucket=bucket, Key="secret"),
                 lambda: other.create_multipart_upload(Bucket=bucket, Key="intruder"),
                 lambda: other.put_object(Bucket=bucket, Key="intruder", Body=b"x")):
        with pytest.raises(ClientError) as ei:
            call()
        assert ei.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    with pytest.raises(ClientError) as ei:
        other.get_object(Bucket="no-such-bucket-here", Key="k")
    assert _code(ei) == "NoSuchBucket"  # 404 before 403
    s3.put_bucket_acl(Bucket=bucket, ACL="authenticated-read")
    grants = s3.get_bucket_acl(Bucket=bucket)["Grants"]
    assert {"Type": "Group", "URI": "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"} in [g["Grantee"] for g in grants]
    assert other.get_object(Bucket=bucket, Key="secret")["Body"].read() == b"s"
    with pytest.raises(ClientError) as ei:
        other.put_object(Bucket=bucket, Key="intruder", Body=b"x")
    assert ei.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    with pytest.raises(urllib.error.HTTPError) as ei:
        urllib.request.urlopen("%s/%s/secret" % (s3srv["endpoint"], bucket))
    assert ei.value.code == 403
    s3.put_bucket_acl(Bucket=bucket, ACL="public-read")
    with urllib.request.urlopen("%s/%s/secret" % (s3srv["endpoint"], bucket)) as r:
        assert r.read() == b"s"
    s3.put_object(Bucket=bucket, Key="pub", Body=b"p", ACL="public-read")
    s3.put_bucket_acl(Bucket=bucket, ACL="private")
    # Objects have ACLs of their own: a public-read object in a private bucket.
    s3.put_object(Bucket=bucket, Key="pub2", Body=b"p", ACL="public-read")
    with urllib.request.urlopen("%s/%s/pub2" % (s3srv["endpoint"], bucket)) as r:
        assert r.read() == b"p"


def test_object_acl_grants(s3srv, s3, bucket):
    """Issue 15 round 2 through boto3: grants to a single user (Shoal's
    canonical id is the uid) and to groups, on objects and buckets, with
    their error codes, PublicAccessBlock and BucketOwnerEnforced."""
    other = boto3.client(
        "s3", endpoint_url=s3srv["endpoint"], aws_access_key_id=OTHER_AK, aws_secret_access_key=OTHER_SK,
        region_name="us-east-1", config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))
    owner = s3.get_bucket_acl(Bucket=bucket)["Owner"]
    s3.put_object(Bucket=bucket, Key="shared", Body=b"s", GrantRead='id="1001"')
    s3.put_object(Bucket=bucket, Key="mine", Body=b"m")
    assert other.get_object(Bucket=bucket, Key="shared")["Body"].read() == b"s"
    with pytest.raises(ClientError) as ei:
        other.get_object(Bucket=bucket, Key="mine")
    assert _code(ei) == "AccessDenied"
    acl = s3.get_object_acl(Bucket=bucket, Key="shared")
    assert acl["Owner"] == owner
    assert {"Grantee": {"Type": "CanonicalUser", "ID": "1001", "DisplayName": OTHER_AK}, "Permission": "READ"} in acl["Grants"]

    # Bad input: the S3 codes, and the grants unchanged.
    for kw, code in ((dict(GrantRead='id="nobody"'), "InvalidArgument"),
                     (dict(GrantRead='emailAddress="a@example.com"'), "UnresolvableGrantByEmailAddress"),
                     (dict(GrantRead='id="1001"', ACL="public-read"), "InvalidRequest"),
                     (dict(AccessControlPolicy={"Owner": owner, "Grants": [
                         {"Grantee": {"Type": "CanonicalUser", "ID": "1001"}, "Permission": "ALL"}]}), "MalformedACLError")):
        with pytest.raises(ClientError) as ei:
            s3.put_object_acl(Bucket=bucket, Key="shared", **kw)
        assert _code(ei) == code, kw
    assert other.get_object(Bucket=bucket, Key="shared")["Body"].read() == b"s"

    # An AccessControlPolicy body: READ_ACP and WRITE_ACP only.
    s3.put_object_acl(Bucket=bucket, Key="shared", AccessControlPolicy={"Owner": owner, "Grants": [
        {"Grantee": {"Type": "CanonicalUser", "ID": "1001"}, "Permission": "READ_ACP"},
        {"Grantee": {"Type": "CanonicalUser", "ID": "1001"}, "Permission": "WRITE_ACP"}]})
    with pytest.raises(ClientError) as ei:
        other.get_object(Bucket=bucket, Key="shared")
    assert _code(ei) == "AccessDenied"
    assert len(other.get_object_acl(Bucket=bucket, Key="shared")["Grants"]) == 3
    other.put_object_acl(Bucket=bucket, Key="shared", GrantRead='id="1001"')
    assert other.get_object(Bucket=bucket, Key="shared")["Body"].read() == b"s"

    # Copies get the request's ACL, uploads theirs at completion.
    s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "shared"})
    with pytest.raises(ClientError) as ei:
        other.get_object(Bucket=bucket, Key="copy")
    assert _code(ei) == "AccessDenied"
    s3.copy_object(Bucket=bucket, Key="copy2", CopySource={"Bucket": bucket, "Key": "mine"},
                   GrantRead='uri="http://acs.amazonaws.com/groups/global/AuthenticatedUsers"')
    assert other.get_object(Bucket=bucket, Key="copy2")["Body"].read() == b"m"
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp", GrantRead='uri="http://acs.amazonaws.com/groups/global/AllUsers"')
    p = s3.upload_part(Bucket=bucket, Key="mp", UploadId=up["UploadId"], PartNumber=1, Body=b"part")
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up["UploadId"],
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": p["ETag"]}]})
    with urllib.request.urlopen("%s/%s/mp" % (s3srv["endpoint"], bucket)) as r:
        assert r.read() == b"part"

    # Bucket grants: WRITE lets the other key put.
    s3.put_bucket_acl(Bucket=bucket, GrantWrite='id="1001"', GrantFullControl='id="%s"' % owner["ID"])
    other.put_object(Bucket=bucket, Key="theirs", Body=b"t")
    grants = s3.get_bucket_acl(Bucket=bucket)["Grants"]
    assert {"Grantee": {"Type": "CanonicalUser", "ID": "1001", "DisplayName": OTHER_AK}, "Permission": "WRITE"} in grants
    s3.put_bucket_acl(Bucket=bucket, ACL="private")
    with pytest.raises(ClientError) as ei:
        other.put_object(Bucket=bucket, Key="theirs2", Body=b"t")
    assert _code(ei) == "AccessDenied"

    # IgnorePublicAcls, BlockPublicAcls, then BucketOwnerEnforced.
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={"BlockPublicAcls": True, "IgnorePublicAcls": True})
    with pytest.raises(urllib.error.HTTPError) as ei:
        urllib.request.urlopen("%s/%s/mp" % (s3srv["endpoint"], bucket))
    assert ei.value.code == 403
    with pytest.raises(ClientError) as ei:
        s3.put_object_acl(Bucket=bucket, Key="mine", ACL="public-read")
    assert _code(ei) == "AccessDenied"
    s3.delete_public_access_block(Bucket=bucket)
    s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})
    with pytest.raises(ClientError) as ei:
        s3.put_object(Bucket=bucket, Key="y", Body=b"y", GrantRead='id="1001"')
    assert _code(ei) == "AccessControlListNotSupported"
    with pytest.raises(ClientError) as ei:
        other.get_object(Bucket=bucket, Key="shared")
    assert _code(ei) == "AccessDenied"
    s3.delete_bucket_ownership_controls(Bucket=bucket)


def test_bucket_policy(s3srv, s3, bucket):
    import json
    s3.put_object(Bucket=bucket, Key="pub/a", Body=b"a")
    s3.put_object(Bucket=bucket, Key="priv/b", Body=b"b")
    with pytest.raises(ClientError) as ei:
        s3.put_bucket_policy(Bucket=bucket, Policy="{not json")
    assert _code(ei) == "MalformedPolicy"
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::%s/pub/*" % bucket},
        {"Effect": "Deny", "Principal": "*", "Action": "s3:DeleteObject", "Resource": "arn:aws:s3:::%s/priv/*" % bucket}]}
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    assert json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"]) == policy
    assert s3.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"]["IsPublic"]
    with urllib.request.urlopen("%s/%s/pub/a" % (s3srv["endpoint"], bucket)) as r:
        assert r.read() == b"a"
    with pytest.raises(urllib.error.HTTPError) as ei:
        urllib.request.urlopen("%s/%s/priv/b" % (s3srv["endpoint"], bucket))
    assert ei.value.code == 403
    with pytest.raises(ClientError) as ei:
        s3.delete_object(Bucket=bucket, Key="priv/b")
    assert _code(ei) == "AccessDenied"
    s3.delete_bucket_policy(Bucket=bucket)
    with pytest.raises(ClientError) as ei:
        s3.get_bucket_policy(Bucket=bucket)
    assert _code(ei) == "NoSuchBucketPolicy"


def test_multipart_composite_checksum(s3, bucket):
    import base64
    up = s3.create_multipart_upload(Bucket=bucket, Key="ck", ChecksumAlgorithm="SHA256")
    assert up.get("ChecksumAlgorithm") == "SHA256"
    bodies, parts, raws = [os.urandom(5 << 20), b"tail"], [], b""
    for n, body in enumerate(bodies, 1):
        r = s3.upload_part(Bucket=bucket, Key="ck", UploadId=up["UploadId"], PartNumber=n, Body=body,
                           ChecksumAlgorithm="SHA256")
        raws += hashlib.sha256(body).digest()
        parts.append({"PartNumber": n, "ETag": r["ETag"], "ChecksumSHA256": r["ChecksumSHA256"]})
    s3.complete_multipart_upload(Bucket=bucket, Key="ck", UploadId=up["UploadId"], MultipartUpload={"Parts": parts})
    want = base64.b64encode(hashlib.sha256(raws).digest()).decode() + "-2"
    h = s3.head_object(Bucket=bucket, Key="ck", ChecksumMode="ENABLED")
    assert h["ChecksumSHA256"] == want and h.get("ChecksumType") == "COMPOSITE"
    a = s3.get_object_attributes(Bucket=bucket, Key="ck", ObjectAttributes=["Checksum"])
    assert a["Checksum"]["ChecksumSHA256"] == want
    got = s3.get_object(Bucket=bucket, Key="ck", ChecksumMode="ENABLED")["Body"].read()
    assert got == b"".join(bodies)


def test_object_lock(s3):
    """Issue 15 item 6: object lock through boto3."""
    import datetime

    b = "lock-bkt"
    s3.create_bucket(Bucket=b, ObjectLockEnabledForBucket=True)
    assert s3.get_bucket_versioning(Bucket=b)["Status"] == "Enabled"
    cfg = s3.get_object_lock_configuration(Bucket=b)["ObjectLockConfiguration"]
    assert cfg["ObjectLockEnabled"] == "Enabled" and "Rule" not in cfg
    with pytest.raises(ClientError) as ei:
        s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Suspended"})
    assert _code(ei) == "InvalidBucketState"
    s3.put_object_lock_configuration(Bucket=b, ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}}})
    rule = s3.get_object_lock_configuration(Bucket=b)["ObjectLockConfiguration"]["Rule"]
    assert rule["DefaultRetention"] == {"Mode": "GOVERNANCE", "Days": 1}

    # Default retention on every new version; an overwrite adds a version.
    v1 = s3.put_object(Bucket=b, Key="g", Body=b"one")["VersionId"]
    v2 = s3.put_object(Bucket=b, Key="g", Body=b"two")["VersionId"]
    assert v1 != v2
    h = s3.head_object(Bucket=b, Key="g", VersionId=v1)
    assert h["ObjectLockMode"] == "GOVERNANCE"
    left = h["ObjectLockRetainUntilDate"] - datetime.datetime.now(datetime.timezone.utc)
    assert datetime.timedelta(hours=23) < left < datetime.timedelta(hours=25)
    assert s3.get_object_retention(Bucket=b, Key="g", VersionId=v1)["Retention"]["Mode"] == "GOVERNANCE"
    with pytest.raises(ClientError) as ei:
        s3.delete_object(Bucket=b, Key="g", VersionId=v1)
    assert _code(ei) == "AccessDenied"
    # A delete without a version id adds a delete marker.
    assert s3.delete_object(Bucket=b, Key="g")["DeleteMarker"]
    r = s3.delete_objects(Bucket=b, Delete={"Objects": [{"Key": "g", "VersionId": v2}]})
    assert [e["Code"] for e in r.get("Errors", [])] == ["AccessDenied"]
    s3.delete_object(Bucket=b, Key="g", VersionId=v1, BypassGovernanceRetention=True)
    r = s3.delete_objects(Bucket=b, BypassGovernanceRetention=True,
                          Delete={"Objects": [{"Key": "g", "VersionId": v2}]})
    assert not r.get("Errors") and [d["VersionId"] for d in r["Deleted"]] == [v2]

    # Compliance: no bypass, no shortening, only extending.
    s3.put_object_lock_configuration(Bucket=b, ObjectLockConfiguration={"ObjectLockEnabled": "Enabled"})
    until = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)).replace(microsecond=0)
    vc = s3.put_object(Bucket=b, Key="c", Body=b"kept", ObjectLockMode="COMPLIANCE",
                       ObjectLockRetainUntilDate=until)["VersionId"]
    got = s3.get_object_retention(Bucket=b, Key="c", VersionId=vc)["Retention"]
    assert got["Mode"] == "COMPLIANCE" and got["RetainUntilDate"] == until
    with pytest.raises(ClientError) as ei:
        s3.delete_object(Bucket=b, Key="c", VersionId=vc, BypassGovernanceRetention=True)
    assert _code(ei) == "AccessDenied"
    for mode, when in (("COMPLIANCE", until - datetime.timedelta(minutes=1)),
                       ("GOVERNANCE", until + datetime.timedelta(hours=1))):
        with pytest.raises(ClientError) as ei:
            s3.put_object_retention(Bucket=b, Key="c", VersionId=vc, BypassGovernanceRetention=True,
                                    Retention={"Mode": mode, "RetainUntilDate": when})
        assert _code(ei) == "AccessDenied"
    s3.put_object_retention(Bucket=b, Key="c", VersionId=vc,
                            Retention={"Mode": "COMPLIANCE", "RetainUntilDate": until + datetime.timedelta(hours=1)})

    # Legal hold.
    vh = s3.put_object(Bucket=b, Key="h", Body=b"held", ObjectLockLegalHoldStatus="ON")["VersionId"]
    assert s3.get_object_legal_hold(Bucket=b, Key="h", VersionId=vh)["LegalHold"]["Status"] == "ON"
    assert s3.head_object(Bucket=b, Key="h")["ObjectLockLegalHoldStatus"] == "ON"
    with pytest.raises(ClientError) as ei:
        s3.delete_object(Bucket=b, Key="h", VersionId=vh, BypassGovernanceRetention=True)
    assert _code(ei) == "AccessDenied"
    s3.put_object_legal_hold(Bucket=b, Key="h", VersionId=vh, LegalHold={"Status": "OFF"})
    assert s3.get_object_legal_hold(Bucket=b, Key="h", VersionId=vh)["LegalHold"]["Status"] == "OFF"
    s3.delete_object(Bucket=b, Key="h", VersionId=vh)

    # Without a lock configuration: 404 for the configuration, 400 for retention.
    s3.create_bucket(Bucket="nolock-bkt")
    with pytest.raises(ClientError) as ei:
        s3.get_object_lock_configuration(Bucket="nolock-bkt")
    assert _code(ei) == "ObjectLockConfigurationNotFoundError"
    s3.put_object(Bucket="nolock-bkt", Key="k", Body=b"x")
    with pytest.raises(ClientError) as ei:
        s3.put_object_legal_hold(Bucket="nolock-bkt", Key="k", LegalHold={"Status": "ON"})
    assert _code(ei) == "InvalidRequest"
    s3.delete_object(Bucket="nolock-bkt", Key="k")
    s3.delete_bucket(Bucket="nolock-bkt")


def test_issue15_leftovers(s3):
    """Issue 15, what the last session left, through boto3: tags and
    UploadPartCopy of an older version, object lock headers on
    CreateMultipartUpload, and a FULL_OBJECT CRC32 multipart upload."""
    import base64
    import datetime
    import zlib

    b = "left-bkt"
    s3.create_bucket(Bucket=b, ObjectLockEnabledForBucket=True)
    big = bytes(range(256)) * (6 << 12)  # 6 MiB
    v1 = s3.put_object(Bucket=b, Key="k", Body=big)["VersionId"]
    s3.put_object(Bucket=b, Key="k", Body=b"new")
    s3.put_object_tagging(Bucket=b, Key="k", VersionId=v1, Tagging={"TagSet": [{"Key": "a", "Value": "1"}]})
    assert s3.get_object_tagging(Bucket=b, Key="k", VersionId=v1)["TagSet"] == [{"Key": "a", "Value": "1"}]
    assert s3.get_object_tagging(Bucket=b, Key="k")["TagSet"] == []

    up = s3.create_multipart_upload(Bucket=b, Key="c")["UploadId"]
    p = s3.upload_part_copy(Bucket=b, Key="c", UploadId=up, PartNumber=1,
                            CopySource={"Bucket": b, "Key": "k", "VersionId": v1})
    assert p["CopySourceVersionId"] == v1
    s3.complete_multipart_upload(Bucket=b, Key="c", UploadId=up, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": p["CopyPartResult"]["ETag"]}]})
    assert s3.get_object(Bucket=b, Key="c")["Body"].read() == big

    until = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)).replace(microsecond=0)
    up = s3.create_multipart_upload(Bucket=b, Key="m", ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=until,
                                    ChecksumAlgorithm="CRC32", ChecksumType="FULL_OBJECT")
    assert up["ChecksumType"] == "FULL_OBJECT"
    pieces = [big[:5 << 20], big[5 << 20:]]
    parts = []
    for i, piece in enumerate(pieces, 1):
        r = s3.upload_part(Bucket=b, Key="m", UploadId=up["UploadId"], PartNumber=i, Body=piece, ChecksumAlgorithm="CRC32")
        parts.append({"PartNumber": i, "ETag": r["ETag"], "ChecksumCRC32": r["ChecksumCRC32"]})
    full = base64.b64encode((zlib.crc32(big) & 0xFFFFFFFF).to_bytes(4, "big")).decode()
    with pytest.raises(ClientError) as ei:
        s3.complete_multipart_upload(Bucket=b, Key="m", UploadId=up["UploadId"], ChecksumCRC32="AAAAAA==",
                                     ChecksumType="FULL_OBJECT", MultipartUpload={"Parts": parts})
    assert _code(ei) == "BadDigest"
    done = s3.complete_multipart_upload(Bucket=b, Key="m", UploadId=up["UploadId"], ChecksumCRC32=full,
                                        ChecksumType="FULL_OBJECT", MultipartUpload={"Parts": parts})
    h = s3.head_object(Bucket=b, Key="m", ChecksumMode="ENABLED")
    assert h["ChecksumCRC32"] == full and h["ChecksumType"] == "FULL_OBJECT"
    assert h["ObjectLockMode"] == "GOVERNANCE" and h["ObjectLockRetainUntilDate"] == until
    with pytest.raises(ClientError) as ei:
        s3.delete_object(Bucket=b, Key="m", VersionId=done["VersionId"])
    assert _code(ei) == "AccessDenied"
    # The owner's bypass (no policy says otherwise) removes it.
    s3.delete_object(Bucket=b, Key="m", VersionId=done["VersionId"], BypassGovernanceRetention=True)
