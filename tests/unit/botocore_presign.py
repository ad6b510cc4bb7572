#!/usr/bin/python3
"""Presigned S3 URLs from botocore, for tests/unit/test_sigv4.c.

Usage: botocore_presign.py [--crt] CASES.json

CASES.json is a list of objects:
    {"op": "get_object" | "put_object" | "head_object" | "delete_object"
           | "upload_part",
     "endpoint": "http://127.0.0.1:9000", "region": "us-east-1",
     "bucket": "bucket", "key": "a b", "expires": 60, "now": 1440938160,
     "access_key": "...", "secret_key": "...", "token": null or "...",
     "part_number": 3, "upload_id": "..."}          (upload_part only)
Prints one URL per case, in order, on stdout.  Exit status 0 on success.

The clock is fixed per case to "now" (Unix seconds, UTC) by replacing the
`datetime` module that botocore's signer reads utcnow() from.  The client is
path-style with signature_version s3v4, like objfs's s3 provider against a
local server.

Without --crt, awscrt is hidden so botocore uses its pure-Python signer
(botocore.auth.S3SigV4QueryAuth), whose URL order objfs matches byte for
byte.  With --crt the CRT signer is used (when awscrt is importable; else
the script prints NO-CRT and exits 3): an independent implementation whose
parameter order differs but whose signature must be the same.
"""
import datetime
import json
import os
import sys

USE_CRT = len(sys.argv) > 1 and sys.argv[1] == "--crt"
if not USE_CRT:
    sys.modules["awscrt"] = None          # import awscrt -> ImportError

# No user configuration may leak in.
for var in list(os.environ):
    if var.startswith("AWS_"):
        del os.environ[var]
os.environ["AWS_CONFIG_FILE"] = os.devnull
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull

import botocore.auth  # noqa: E402
import botocore.session  # noqa: E402
from botocore.config import Config  # noqa: E402

if USE_CRT:
    try:
        import botocore.crt.auth as crt_auth  # noqa: E402
        if not botocore.compat.HAS_CRT:
            raise ImportError
    except ImportError:
        print("NO-CRT")
        sys.exit(3)
else:
    crt_auth = None

_NOW = [0]
_timedelta = datetime.timedelta
_timezone = datetime.timezone


class _FixedDatetime(datetime.datetime):
    @classmethod
    def utcnow(cls):
        t = datetime.datetime.fromtimestamp(_NOW[0], datetime.timezone.utc)
        return cls(t.year, t.month, t.day, t.hour, t.minute, t.second)


class _FixedDatetimeModule:
    datetime = _FixedDatetime
    timedelta = _timedelta
    timezone = _timezone


botocore.auth.datetime = _FixedDatetimeModule
if crt_auth is not None:
    crt_auth.datetime = _FixedDatetimeModule

OPS = {
    "get_object": "GET",
    "put_object": "PUT",
    "head_object": "HEAD",
    "delete_object": "DELETE",
    "upload_part": "PUT",
}


def presign(case, session):
    _NOW[0] = case["now"]
    client = session.create_client(
        "s3",
        endpoint_url=case["endpoint"],
        region_name=case.get("region", "us-east-1"),
        aws_access_key_id=case["access_key"],
        aws_secret_access_key=case["secret_key"],
        aws_session_token=case.get("token"),
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )
    params = {"Bucket": case["bucket"], "Key": case["key"]}
    if case["op"] == "upload_part":
        params["PartNumber"] = case["part_number"]
        params["UploadId"] = case["upload_id"]
    return client.generate_presigned_url(
        case["op"], Params=params, ExpiresIn=case["expires"],
        HttpMethod=OPS[case["op"]])


def main():
    path = sys.argv[-1]
    with open(path, encoding="utf-8") as f:
        cases = json.load(f)
    session = botocore.session.get_session()
    for case in cases:
        print(presign(case, session))
    return 0


if __name__ == "__main__":
    sys.exit(main())
