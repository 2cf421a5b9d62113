"""One AWS call through boto3 for the browser tests: `glue.py URL KEY SECRET Operation JSON`.

`Operation` is a Glue method (`create_table`) or `s3.<method>` (`s3.put_object`, path-style).
Prints the response as JSON; exits 1 with the error code on stderr on a client error.
"""

import json
import sys

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError


def main() -> int:
    url, key, secret, operation, args = sys.argv[1:6]
    service, _, method = operation.rpartition(".")
    client = boto3.client(
        service or "glue",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"}),
    )
    try:
        result = getattr(client, method)(**json.loads(args))
    except ClientError as e:
        print(e.response["Error"]["Code"], file=sys.stderr)
        return 1
    result.pop("ResponseMetadata", None)
    print(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
