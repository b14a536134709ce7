#!/usr/bin/env python3
"""Prepares a moto S3 server started with INITIAL_NO_AUTH_ACTION_COUNT=3 for the tests:
its first three (unauthenticated) requests make a user allowed to do anything and its
keys; everything after is signed with them, so moto checks every signature from then on.
Then: a user with no permissions, bucket "snaps", bucket "versioned" with versioning on.
Prints: ALLOWED_KEY_ID ALLOWED_SECRET DENIED_KEY_ID DENIED_SECRET
"""

import json
import os
import sys

os.environ.setdefault("AWS_REQUEST_CHECKSUM_CALCULATION", "when_required")
import boto3  # noqa: E402

endpoint = sys.argv[1]
anonymous = dict(endpoint_url=endpoint, region_name="us-east-1",
                 aws_access_key_id="setup", aws_secret_access_key="setup")
iam = boto3.client("iam", **anonymous)
iam.create_user(UserName="lazysnap")
key = iam.create_access_key(UserName="lazysnap")["AccessKey"]
iam.put_user_policy(UserName="lazysnap", PolicyName="all", PolicyDocument=json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))

signed = dict(endpoint_url=endpoint, region_name="us-east-1",
              aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"])
iam = boto3.client("iam", **signed)
iam.create_user(UserName="nobody")
denied = iam.create_access_key(UserName="nobody")["AccessKey"]
s3 = boto3.client("s3", **signed)
s3.create_bucket(Bucket="snaps")
s3.create_bucket(Bucket="versioned")
s3.put_bucket_versioning(Bucket="versioned", VersioningConfiguration={"Status": "Enabled"})
print(key["AccessKeyId"], key["SecretAccessKey"], denied["AccessKeyId"],
      denied["SecretAccessKey"], flush=True)
