"""CodePipeline's artifact store as the cutover reads it: zipped build outputs in the pipeline's S3 bucket.

`seed(runtime)` stores the output artifact that events/pipeline_events/action-build-succeeded.json names (an
imagedefinitions.json for the `web` container), so that replaying that sample runs a real cutover.
`put_artifact(key, files)` stores another one (tests: imageDetail.json, malformed artifacts).
"""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

from deckwatch.local.mock_services import client

BUCKET = "codepipeline-us-east-1-123456789012"
SAMPLE_KEY = "shop-web/ImageDefin/r8Tn3Va"
SAMPLE_IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/web:2026-11-30.1"


def install() -> None:
    return  # moto's S3 is enough; this module only fills it


def zipped(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return buf.getvalue()


def put_artifact(key: str, files: dict[str, str], bucket: str = BUCKET) -> dict[str, str]:

    client("s3").put_object(Bucket=bucket, Key=key, Body=zipped(files))
    return {"bucket": bucket, "key": key}


def image_definitions(image: str, container: str = "web") -> dict[str, str]:
    return {"imagedefinitions.json": json.dumps([{"name": container, "imageUri": image}])}


def seed(runtime: Any) -> None:

    del runtime
    client("s3").create_bucket(Bucket=BUCKET)
    put_artifact(SAMPLE_KEY, image_definitions(SAMPLE_IMAGE))
