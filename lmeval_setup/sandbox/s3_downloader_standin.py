"""STAND-IN for the job image's /opt/app-root/src/scripts/s3_downloader.py, in sandbox job pods.

With `spec.offline.storage.s3` the real driver runs `python /opt/app-root/src/scripts/s3_downloader.py`
before lm-eval, prints what the script wrote on stdout, and fails the job with "failed to download assets
from S3: exit status N" when it exits non-zero (controllers/lmes/driver/driver.go). The sandbox's job venv
has neither the script nor boto3, so the pod's `python` shim (realoperator.job_python_dir) runs this module
instead. It does what the image's script (red-hat-data-services/lm-evaluation-harness scripts/s3_downloader.py)
does where the driver can tell, i.e. its stdout and its exit code:

- S3_VERIFY_SSL unset or true (the controller writes "true" unless verifySSL: false) needs AWS_CA_BUNDLE
  (offline.storage.s3.caBundle): without it "SSL verification enabled, but no certificate path found", exit 1;
  a bundle path that does not exist: "SSL CA bundle not found at ...", exit 1;
- no bucket: botocore's parameter validation error (a traceback on stderr), exit 1;
- an endpoint it cannot reach (the sandbox's pods reach only loopback; a cluster's, a wrong host): botocore's
  EndpointConnectionError traceback on stderr, exit 1 (after botocore's retries);
- an answer with an S3 error (credentials, bucket): the script only logs "Error: An error occurred (Code) when
  calling the ListObjectsV2 operation: Message" and exits 0, so lm-eval then runs without the assets;
- otherwise it downloads every object under AWS_PATH into /opt/app-root/src/hf_home/ and exits 0.

Not modelled: request signing (no S3 endpoint is reachable from a sandbox pod, so none would check it).
"""

from __future__ import annotations

import logging
import os
import ssl
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path

DESTINATION = Path("/opt/app-root/src/hf_home")
S3_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
# botocore's default: the legacy retry mode makes 5 attempts in all on a connection error.
ATTEMPTS = 5
BACKOFF_SECONDS = 0.5

log = logging.getLogger("s3_downloader")


def _verify() -> bool | str | None:
    """The real script's SSL choice: a CA bundle path, False (verifySSL: false), or None after exit-worthy errors."""
    verify_ssl = os.environ.get("S3_VERIFY_SSL")
    use_certs = verify_ssl.lower() not in ("0", "false") if verify_ssl else True
    if not use_certs:
        return False
    bundle = os.environ.get("AWS_CA_BUNDLE")
    if not bundle:
        log.error("SSL verification enabled, but no certificate path found")
        return None
    if not os.path.exists(bundle):
        log.error(f"SSL CA bundle not found at {bundle}")
        return None
    return bundle


def _endpoint() -> str:
    endpoint = os.environ.get("AWS_S3_ENDPOINT")
    if endpoint:
        return endpoint.rstrip("/")
    return f"https://s3.{os.environ.get('AWS_DEFAULT_REGION') or 'us-east-1'}.amazonaws.com"


def _context(verify: bool | str) -> ssl.SSLContext:
    if verify is False:
        return ssl._create_unverified_context()  # verifySSL: false asks for exactly this
    return ssl.create_default_context(cafile=str(verify))


def _get(url: str, verify: bool | str) -> bytes:
    """One GET with botocore's retries on connection errors; an HTTP error answer is returned as raised."""
    last: Exception | None = None
    for attempt in range(ATTEMPTS):
        try:
            with urllib.request.urlopen(url, timeout=60, context=_context(verify)) as answer:
                return bytes(answer.read())
        except urllib.error.HTTPError:
            raise
        except (TimeoutError, urllib.error.URLError, ConnectionError) as exc:
            last = exc
            if attempt + 1 < ATTEMPTS:
                time.sleep(min(BACKOFF_SECONDS * 2 ** attempt, 2.0))
    raise EndpointConnectionError(f'Could not connect to the endpoint URL: "{url}"') from last


class EndpointConnectionError(Exception):
    """botocore.exceptions.EndpointConnectionError, as the traceback names it."""


EndpointConnectionError.__module__ = "botocore.exceptions"


class ParamValidationError(Exception):
    """botocore.exceptions.ParamValidationError."""


ParamValidationError.__module__ = "botocore.exceptions"


def _client_error(error: urllib.error.HTTPError) -> str:
    try:
        root = ET.fromstring(error.read())
        code, message = root.findtext("Code") or str(error.code), root.findtext("Message") or error.reason
    except ET.ParseError:
        code, message = str(error.code), str(error.reason)
    return f"An error occurred ({code}) when calling the ListObjectsV2 operation: {message}"


def download(bucket: str | None, prefix: str, verify: bool | str) -> None:
    if bucket is None:
        raise ParamValidationError("Parameter validation failed:\nInvalid type for parameter Bucket, value: None, "
                                   "type: <class 'NoneType'>, valid types: <class 'str'>")
    endpoint = _endpoint()
    query = urllib.parse.urlencode({"list-type": "2", "prefix": prefix})
    try:
        listing = ET.fromstring(_get(f"{endpoint}/{urllib.parse.quote(bucket)}?{query}", verify))
    except urllib.error.HTTPError as error:
        log.error(f"Error: {_client_error(error)}")
        return
    keys = [c.findtext(f"{S3_NS}Key") or "" for c in listing.iter(f"{S3_NS}Contents")]
    if not keys:
        log.error(f"No objects found with prefix '{prefix}' in bucket '{bucket}'.")
        return
    directory_prefix = prefix if prefix.endswith("/") else prefix + "/"
    for key in keys:
        if key.endswith("/"):
            continue
        target = DESTINATION / (key[len(directory_prefix):] if key.startswith(directory_prefix) else key)
        target.parent.mkdir(parents=True, exist_ok=True)
        log.info(f"Downloading s3://{bucket}/{key} -> {target}")
        target.write_bytes(_get(f"{endpoint}/{urllib.parse.quote(bucket)}/{urllib.parse.quote(key)}", verify))


def main() -> int:
    # The script's logging.basicConfig(level=INFO, format=..., stream=sys.stdout), on this module's logger only.
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(asctime)s - %(levelname)s - %(message)s"))
    log.handlers[:] = [handler]
    log.setLevel(logging.INFO)
    log.propagate = False
    verify = _verify()
    if verify is None:
        return 1
    download(os.environ.get("AWS_S3_BUCKET"), os.environ.get("AWS_PATH", "").strip("/"), verify)
    return 0


if __name__ == "__main__":
    sys.exit(main())
