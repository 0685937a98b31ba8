"""Resource types template.yaml uses that moto's CloudFormation cannot create, as CloudFormation models over moto's
own backends (so the API sees them as AWS would):

- AWS::SecretsManager::Secret (the approval links' HMAC key): a secret in moto's Secrets Manager, its value
  generated as GenerateSecretString asks; Ref is the secret's ARN.
- AWS::Lambda::Url (the approval links' function URL, template.yaml ApprovalLinksFunctionUrl): moto's function
  URL configuration of the target function; Ref is the function's ARN, GetAtt FunctionUrl its URL (with the
  trailing slash AWS gives it, which moto's own URLs lack).

moto finds resource types among the subclasses of its CloudFormationModel; these are not subclasses, so that
they never leak into moto used without an embedded AWS (tests/workload checks moto's own gaps): `install()` wraps
moto's `get_model_map` to add them only while an embedded AWS runs.
"""

from __future__ import annotations

import json
import secrets
import string
from typing import Any


class _Secret:
    def __init__(self, arn: str, name: str) -> None:
        self.arn = arn
        self.name = name

    @staticmethod
    def cloudformation_name_type() -> str:
        return "Name"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SecretsManager::Secret"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in ("Id",)

    @property
    def physical_resource_id(self) -> str:
        return self.arn

    def get_cfn_attribute(self, attribute_name: str) -> str:
        return self.arn

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kwargs: Any
    ) -> _Secret:
        from moto.secretsmanager.models import secretsmanager_backends

        props = cloudformation_json.get("Properties", {})
        value = props.get("SecretString")
        if value is None:
            value = _generate(props.get("GenerateSecretString") or {})
        created = secretsmanager_backends[account_id][region_name].create_secret(
            name=props.get("Name", resource_name),
            secret_string=str(value),
            secret_binary=None,
            description=props.get("Description"),
            tags=props.get("Tags"),
            kms_key_id=props.get("KmsKeyId"),
            client_request_token=None,
            replica_regions=[],
            force_overwrite=False,
        )
        short = json.loads(created)
        return cls(short["ARN"], short["Name"])

    def is_created(self) -> bool:
        return True


def _generate(spec: dict[str, Any]) -> str:
    """GenerateSecretString's options that template.yaml uses (length, no punctuation), with `secrets`."""
    alphabet = string.ascii_letters + string.digits
    if not spec.get("ExcludePunctuation"):
        alphabet += "!#$%&()*+,-.:;<=>?@[]^_{|}~"
    length = int(spec.get("PasswordLength", 32))
    text = "".join(secrets.choice(alphabet) for _ in range(length))
    template, key = spec.get("SecretStringTemplate"), spec.get("GenerateStringKey")
    return json.dumps({**json.loads(template), key: text}) if template and key else text


class _FunctionUrl:
    def __init__(self, function_arn: str, url: str) -> None:
        self.function_arn = function_arn
        self.url = url

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Lambda::Url"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in ("FunctionArn", "FunctionUrl")

    @property
    def physical_resource_id(self) -> str:
        return self.function_arn

    def get_cfn_attribute(self, attribute_name: str) -> str:
        return self.url if attribute_name == "FunctionUrl" else self.function_arn

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kwargs: Any
    ) -> _FunctionUrl:
        from moto.awslambda.models import lambda_backends

        props = cloudformation_json["Properties"]
        config = {k: v for k, v in props.items() if k in ("AuthType", "Cors", "InvokeMode")}
        made = lambda_backends[account_id][region_name].create_function_url_config(props["TargetFunctionArn"], config)
        made.url = made.url.rstrip("/") + "/"  # as AWS gives it, to GetFunctionUrlConfig too
        return cls(made.function.function_arn, made.url)

    def is_created(self) -> bool:
        return True


MODELS = (_Secret, _FunctionUrl)


def install() -> None:
    from moto.cloudformation import parsing

    if getattr(parsing.get_model_map, "deckwatch", False):
        return
    moto_models = parsing.get_model_map

    def get_model_map() -> dict[str, Any]:
        from deckwatch.local import moto_patches

        models = moto_models()
        if moto_patches.HOOKS.runtime is None:
            return models
        return {**models, **{m.cloudformation_type(): m for m in MODELS}}

    get_model_map.deckwatch = True  # type: ignore[attr-defined]
    parsing.get_model_map = get_model_map  # type: ignore[assignment]
