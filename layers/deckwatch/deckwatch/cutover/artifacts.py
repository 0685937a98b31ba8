"""The image a build produced, from its output artifact in S3: a zip (as CodePipeline stores artifacts) or a
plain file holding `imagedefinitions.json` ([{"name", "imageUri"}], the ECS standard deploy format) or
`imageDetail.json` ({"ImageURI"}, the ECS blue/green format)."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

from deckwatch.cutover.errors import ArtifactError

MAX_BYTES = 5 * 1024 * 1024
NAMES = ("imagedefinitions.json", "imageDetail.json")


def image_from_s3(s3: Any, bucket: str, key: str, container: str) -> str:
    client = s3
    try:
        obj = client.get_object(Bucket=bucket, Key=key)
    except (client.exceptions.NoSuchKey, client.exceptions.NoSuchBucket):
        raise ArtifactError(f"artifact s3://{bucket}/{key} not found") from None
    if int(obj.get("ContentLength", 0)) > MAX_BYTES:
        raise ArtifactError(f"artifact s3://{bucket}/{key} is larger than {MAX_BYTES} bytes")
    return image_from_bytes(obj["Body"].read(), container, f"s3://{bucket}/{key}")


def image_from_bytes(body: bytes, container: str, where: str = "artifact") -> str:
    docs: dict[str, bytes] = {}
    if zipfile.is_zipfile(io.BytesIO(body)):
        with zipfile.ZipFile(io.BytesIO(body)) as zf:
            for info in zf.infolist():
                base = info.filename.rsplit("/", 1)[-1]
                if base in NAMES and info.file_size <= MAX_BYTES:
                    docs[base] = zf.read(info)
        if not docs:
            raise ArtifactError(f"{where}: the zip holds neither {' nor '.join(NAMES)}")
    else:
        docs["inline"] = body
    for name, raw in docs.items():
        try:
            doc = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ArtifactError(f"{where}: {name} is not valid JSON ({exc})") from None
        return _image(doc, container, f"{where} ({name})")
    raise ArtifactError(f"{where}: empty")


def _image(doc: Any, container: str, where: str) -> str:
    if isinstance(doc, dict) and isinstance(doc.get("ImageURI"), str) and doc["ImageURI"]:
        return str(doc["ImageURI"])
    if isinstance(doc, list) and doc and all(isinstance(d, dict) for d in doc):
        named = [d for d in doc if d.get("name") == container]
        pick = named[0] if named else (doc[0] if len(doc) == 1 else None)
        if pick is None:
            names = ", ".join(str(d.get("name")) for d in doc)
            raise ArtifactError(f"{where}: no entry for container {container} (has {names})")
        uri = pick.get("imageUri")
        if isinstance(uri, str) and uri:
            return uri
        raise ArtifactError(f"{where}: entry {pick.get('name')} has no imageUri")
    raise ArtifactError(
        f"{where}: expected imagedefinitions.json [{{name, imageUri}}] or imageDetail.json {{ImageURI}}"
    )
