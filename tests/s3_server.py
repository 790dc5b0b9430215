"""A real S3 protocol on loopback for the tests: moto's standalone server in its own process on 127.0.0.1.

raysym talks to object stores only through pyarrow (and Ray Tune's storage, which also goes through
pyarrow), so the tests point the standard AWS environment variables at this server and the code under
test runs unchanged: no mock of our code, nothing but loopback. The server checks credentials (moto's
IAM authentication, switched on after the few unauthenticated calls that create the test user), so a
wrong secret key is refused as it would be by AWS.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass

from tests.fake_cluster import free_ports

#: The unauthenticated calls the server allows: create the user, give it a policy, make its key.
SETUP_CALLS = 3


@dataclass
class S3Server:
    """A running server: its endpoint, the environment that reaches it, and the process to stop."""

    endpoint: str
    env: dict[str, str]
    process: subprocess.Popen

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=self.env["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=self.env["AWS_SECRET_ACCESS_KEY"], region_name="us-east-1")

    def bucket(self, prefix: str = "raysym") -> str:
        """A new, empty bucket; its name."""
        name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        """Every object key in ``bucket`` under ``prefix``."""
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return [item["Key"] for page in pages for item in page.get("Contents", [])]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_s3_server() -> S3Server:
    """Start moto's server on a free loopback port, make a user with full rights, return the server."""
    import boto3

    (port,) = free_ports(1)
    endpoint = f"http://127.0.0.1:{port}"
    env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": str(SETUP_CALLS)}
    process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1)
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"moto server on {endpoint} did not start")
            time.sleep(0.1)
    iam = boto3.client("iam", endpoint_url=endpoint, aws_access_key_id="setup", aws_secret_access_key="setup",
                       region_name="us-east-1")
    iam.create_user(UserName="raysym-tests")
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    iam.put_user_policy(UserName="raysym-tests", PolicyName="everything", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName="raysym-tests")["AccessKey"]
    return S3Server(endpoint, {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }, process)
