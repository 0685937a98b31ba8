"""IAM, enforced in the embedded AWS: moto does not, so a permission missing from template.yaml would pass every
local run and fail in AWS with AccessDenied.

Each handler invocation runs with the credentials of its own role (the runtime gives every function an access key
of its own, as Lambda gives it its role's session credentials), and each Step Functions execution calls with its
state machine's role. Every AWS call reaches moto through `moto_patches` (the request hook), which asks this
module whether the caller's role allows it, exactly as IAM would:

- the role's policies are the translated template's: inline `Policies` and `ManagedPolicyArns` (the stack's own
  `AWS::IAM::ManagedPolicy` resources and AWS managed policies), their intrinsic functions resolved by moto's
  CloudFormation with the deployment's physical ids and conditions (`principals`);
- each call is one or more authorizations (`authorizations`): the IAM action, the resource ARN the request names
  (derived from its parameters, per operation: `_TABLE`; the ARN formats of AWS's service authorization reference)
  and the condition keys of the request (`aws:RequestedRegion`, the resource's tags as `aws:ResourceTag/...` and
  `<service>:ResourceTag/...`, `iam:PassedToService`, `ecs:cluster`, `kms:ViaService`...). Some calls carry
  authorizations of their own: `iam:PassRole` for a role passed to a service, `rds:AddTagsToResource` for tags on
  create, the KMS key of an encrypted SNS topic, SQS queue, S3 bucket or SecureString parameter;
- a statement applies when its Action/NotAction, Resource/NotResource (wildcards `*` and `?`) and every condition
  match (`_OPERATORS`: String*, Arn*, Bool, Null, Numeric*, with IfExists and ForAnyValue/ForAllValues); an
  explicit Deny wins, then an Allow, otherwise the call is implicitly denied;
- a denied call fails as AWS fails it: the service's own error code and shape (AccessDeniedException for JSON
  services, AccessDenied for query and S3, AuthorizationError for SNS, UnauthorizedOperation for EC2) with AWS's
  message ("User: arn:aws:sts::...:assumed-role/... is not authorized to perform: ... on resource: ...").

KMS keys are authorised by their key policy first, as KMS does: a key policy statement naming the role allows by
itself, one naming the account (`:root`) delegates to the role's IAM policies, an explicit Deny in either refuses.
Not modelled: other resource-based policies (same-account calls need only the identity's allow, and the stack's
topic, queue and bucket policies deny only requests without TLS, which boto3 never makes), SCPs and permission
boundaries (the stack has none), KMS on DynamoDB tables (DynamoDB uses the table's grant, not the caller's) and on
secrets (their keys' policies name the reader, workload/template.yaml).
An operation missing from `_TABLE` fails the call loudly (`UnmappedOperation`): a new AWS call in Deckwatch gets
its ARN rule here in the same change.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Effect = Literal["Allow", "Deny"]
_TARGET_ARN = "arn:aws:application-autoscaling:{}:{}:scalable-target/"
ContextValue = str | list[str]

# botocore's service name -> IAM's service prefix, where they differ
PREFIX = {"stepfunctions": "states", "elbv2": "elasticloadbalancing"}
# API operation -> IAM action, where they differ
ACTION_NAMES = {
    ("lambda", "Invoke"): "InvokeFunction",
    ("lambda", "InvokeAsync"): "InvokeFunction",
    ("s3", "HeadObject"): "GetObject",
    ("s3", "ListObjectsV2"): "ListBucket",
    ("s3", "ListObjects"): "ListBucket",
    ("s3", "HeadBucket"): "ListBucket",
}


class UnmappedOperation(RuntimeError):  # noqa: N818 - names the condition
    """A checked caller made a call whose resource this module cannot derive (add it to `_TABLE`)."""


# ------------------------------------------------------------------ policies --------------------------------------
@dataclass(frozen=True)
class Condition:
    operator: str  # as written, e.g. "StringEqualsIfExists", "ForAnyValue:StringLike"
    key: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Statement:
    source: str  # "<role or managed policy>/<policy name>#<sid or index>", for reports
    effect: Effect
    actions: tuple[str, ...] = ()
    not_actions: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    not_resources: tuple[str, ...] = ()
    conditions: tuple[Condition, ...] = ()
    principals: tuple[str, ...] = ()  # resource-based policies: the AWS principals named ("*": anyone)

    def applies(self, action: str, resource: str, context: Mapping[str, ContextValue]) -> bool:
        if self.actions and not any(_action_matches(p, action) for p in self.actions):
            return False
        if self.not_actions and any(_action_matches(p, action) for p in self.not_actions):
            return False
        if self.resources and not any(_glob(p, resource) for p in self.resources):
            return False
        if self.not_resources and any(_glob(p, resource) for p in self.not_resources):
            return False
        return all(_condition_holds(c, context) for c in self.conditions)


def parse_document(document: Any, source: str, resource_based: bool = False) -> list[Statement]:
    """The statements of a policy document (a dict, or its JSON text); a resource-based one names principals."""
    doc = json.loads(document) if isinstance(document, str) else document
    if not isinstance(doc, dict):
        raise ValueError(f"{source}: a policy document is an object")
    raw = doc.get("Statement", [])
    out = []
    for i, st in enumerate(raw if isinstance(raw, list) else [raw]):
        if ("Principal" in st or "NotPrincipal" in st) != resource_based:
            raise ValueError(f"{source}: a Principal belongs in resource-based policies only")
        if "NotPrincipal" in st:
            raise ValueError(f"{source}: NotPrincipal is not supported by the embedded AWS's IAM")
        effect = st.get("Effect")
        if effect not in ("Allow", "Deny"):
            raise ValueError(f"{source}: statement {i} has Effect {effect!r}")
        conditions = tuple(
            Condition(operator, key, tuple(str(v).lower() if isinstance(v, bool) else str(v) for v in _list(values)))
            for operator, block in (st.get("Condition") or {}).items()
            for key, values in block.items()
        )
        for c in conditions:
            _operator(c.operator)  # unknown -> ValueError now, not a silent mismatch later
        out.append(
            Statement(
                source=f"{source}#{st.get('Sid') or i}",
                effect=effect,
                actions=tuple(_list(st.get("Action"))),
                not_actions=tuple(_list(st.get("NotAction"))),
                resources=tuple(_list(st.get("Resource"))),
                not_resources=tuple(_list(st.get("NotResource"))),
                conditions=conditions,
                principals=tuple(_aws_principals(st.get("Principal"))),
            )
        )
    return out


def _aws_principals(principal: Any) -> list[str]:
    if principal is None:
        return []
    if principal == "*":
        return ["*"]
    return [str(p) for p in _list(principal.get("AWS"))] if isinstance(principal, dict) else []


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    return [str(v) if not isinstance(v, bool) else v for v in value] if isinstance(value, list) else [value]


def _action_matches(pattern: str, action: str) -> bool:
    """Actions compare case-insensitively, `*` and `?` as wildcards."""
    return fnmatch.fnmatchcase(action.lower(), pattern.lower())


def _glob(pattern: str, value: str) -> bool:
    """Resource ARNs (and String/ArnLike values) compare case-sensitively; `*` spans ':' and '/'."""
    return fnmatch.fnmatchcase(value, pattern.replace("[", "[[]"))


def _arn_like(pattern: str, value: str) -> bool:
    """ArnLike: each of the six colon-separated parts matched separately (the last one may hold colons)."""
    p, v = pattern.split(":", 5), value.split(":", 5)
    if len(p) != 6 or len(v) != 6:
        return _glob(pattern, value)
    return all(_glob(a, b) for a, b in zip(p, v, strict=True))


# ------------------------------------------------------------------ conditions ------------------------------------
def _numeric(compare: Callable[[float, float], bool]) -> Callable[[str, str], bool]:
    def check(value: str, wanted: str) -> bool:
        try:
            return compare(float(value), float(wanted))
        except ValueError:
            return False

    return check


# operator -> (match one context value against one policy value, negated)
_OPERATORS: dict[str, tuple[Callable[[str, str], bool], bool]] = {
    "StringEquals": (lambda v, w: v == w, False),
    "StringNotEquals": (lambda v, w: v == w, True),
    "StringEqualsIgnoreCase": (lambda v, w: v.lower() == w.lower(), False),
    "StringNotEqualsIgnoreCase": (lambda v, w: v.lower() == w.lower(), True),
    "StringLike": (lambda v, w: _glob(w, v), False),
    "StringNotLike": (lambda v, w: _glob(w, v), True),
    "ArnEquals": (lambda v, w: _arn_like(w, v), False),
    "ArnLike": (lambda v, w: _arn_like(w, v), False),
    "ArnNotEquals": (lambda v, w: _arn_like(w, v), True),
    "ArnNotLike": (lambda v, w: _arn_like(w, v), True),
    "Bool": (lambda v, w: v.lower() == w.lower(), False),
    "NumericEquals": (_numeric(lambda a, b: a == b), False),
    "NumericNotEquals": (_numeric(lambda a, b: a == b), True),
    "NumericLessThan": (_numeric(lambda a, b: a < b), False),
    "NumericLessThanEquals": (_numeric(lambda a, b: a <= b), False),
    "NumericGreaterThan": (_numeric(lambda a, b: a > b), False),
    "NumericGreaterThanEquals": (_numeric(lambda a, b: a >= b), False),
}


def _operator(name: str) -> tuple[str, str, bool]:
    """(set qualifier, base operator, IfExists) of a condition operator; ValueError if this module cannot judge it."""
    qualifier, _, base = name.rpartition(":")
    if_exists = base.endswith("IfExists")
    base = base.removesuffix("IfExists")
    if qualifier not in ("", "ForAnyValue", "ForAllValues") or (base not in _OPERATORS and base != "Null"):
        raise ValueError(f"condition operator {name} is not supported by the embedded AWS's IAM")
    return qualifier, base, if_exists


def _condition_holds(cond: Condition, context: Mapping[str, ContextValue]) -> bool:
    qualifier, base, if_exists = _operator(cond.operator)
    present = cond.key.lower() in context
    if base == "Null":  # "true": the key is absent
        return any((w.lower() == "true") != present for w in cond.values)
    if not present:
        negated = _OPERATORS[base][1]
        # AWS: a missing key matches nothing; a negated operator then holds, and so does ...IfExists
        return if_exists or negated or qualifier == "ForAllValues"
    raw = context[cond.key.lower()]
    values = raw if isinstance(raw, list) else [raw]
    match, negated = _OPERATORS[base]
    if qualifier == "ForAllValues":
        return all(any(match(v, w) for w in cond.values) != negated for v in values)
    hit = any(match(v, w) for v in values for w in cond.values)
    return hit != negated


# ------------------------------------------------------------------ principals ------------------------------------
@dataclass(frozen=True)
class Decision:
    allowed: bool
    explicit_deny: bool = False
    statement: str = ""  # the statement that decided (its source)
    also: tuple[str, ...] = ()  # the other statements that allow it too (for usage reports)


@dataclass(frozen=True)
class Principal:
    """A role of the stack, as the function or state machine that uses it."""

    name: str  # logical id of the function or state machine
    role_arn: str
    session: str  # the role session name AWS shows in messages (the function's or state machine's name)
    statements: tuple[Statement, ...]

    @property
    def caller_arn(self) -> str:
        account = self.role_arn.split(":")[4]
        return f"arn:aws:sts::{account}:assumed-role/{self.role_arn.rsplit('/', 1)[-1]}/{self.session}"

    def decide(self, action: str, resource: str, context: Mapping[str, ContextValue]) -> Decision:
        allowing: list[str] = []
        for st in self.statements:
            if not st.applies(action, resource, context):
                continue
            if st.effect == "Deny":
                return Decision(False, explicit_deny=True, statement=st.source)
            allowing.append(st.source)
        if not allowing:
            return Decision(False)
        return Decision(True, statement=allowing[0], also=tuple(allowing[1:]))


def principals(
    cfn: Mapping[str, Any], resolve: Callable[[Any], Any], account: str, aws_managed: Mapping[str, Any]
) -> dict[str, Principal]:
    """Role ARN -> the principal of every function and state machine of a translated template. `resolve` resolves
    intrinsic functions with the deployment's physical ids (moto's CloudFormation); `aws_managed` maps AWS managed
    policy names to their documents."""
    resources = cfn["Resources"]
    managed: dict[str, list[Statement]] = {}
    for logical, res in resources.items():
        if res["Type"] == "AWS::IAM::ManagedPolicy":
            arn = str(resolve({"Ref": logical}))
            managed[arn] = parse_document(resolve(res["Properties"]["PolicyDocument"]), logical)
    out: dict[str, Principal] = {}
    for logical, res in resources.items():
        props = res.get("Properties", {})
        if res["Type"] == "AWS::Lambda::Function":
            role_ref, session = props.get("Role"), str(resolve({"Ref": logical}))
        elif res["Type"] == "AWS::StepFunctions::StateMachine":
            role_ref, session = props.get("RoleArn"), str(props.get("StateMachineName") or logical)
            session = str(resolve(session)) if not isinstance(session, str) else session
        else:
            continue
        role_logical = _get_att_target(role_ref)
        if role_logical is None or resources.get(role_logical, {}).get("Type") != "AWS::IAM::Role":
            continue  # a role from outside the stack: not the stack's to check
        role = resources[role_logical]["Properties"]
        role_arn = str(resolve(role_ref))
        statements: list[Statement] = []
        for policy in resolve(role.get("Policies", [])) or []:
            if isinstance(policy, dict) and policy.get("PolicyDocument"):
                statements += parse_document(policy["PolicyDocument"], f"{role_logical}/{policy['PolicyName']}")
        for arn in resolve(role.get("ManagedPolicyArns", [])) or []:
            if arn in managed:
                statements += managed[arn]
            elif str(arn).startswith("arn:aws:iam::aws:policy/"):
                name = str(arn).rsplit("/", 1)[-1]
                if name not in aws_managed:
                    raise ValueError(f"{role_logical}: AWS managed policy {name} is unknown to the embedded AWS")
                statements += parse_document(aws_managed[name], name)
            else:
                raise ValueError(f"{role_logical}: managed policy {arn} is not the stack's nor AWS's")
        out[role_arn] = Principal(logical, role_arn, session, tuple(statements))
    return out


def _get_att_target(ref: Any) -> str | None:
    if isinstance(ref, dict) and "Fn::GetAtt" in ref:
        att = ref["Fn::GetAtt"]
        return str(att[0] if isinstance(att, list) else str(att).split(".")[0])
    return None


# ------------------------------------------------------------------ requests --------------------------------------
@dataclass(frozen=True)
class Authorization:
    """One check IAM makes for a call: an action on a resource, with the request's condition keys."""

    action: str
    resource: str
    context: Mapping[str, ContextValue] = field(default_factory=dict)


class World:
    """What the ARN rules read from the embedded AWS (tags, encryption keys, full ARNs), straight from moto's
    backends: these are IAM's own look-ups, not calls of the caller."""

    def __init__(self, account: str) -> None:
        self.account = account

    def tags(self, arn: str) -> dict[str, str]:
        parts = arn.split(":", 5)
        if len(parts) < 6:
            return {}
        service, region = parts[2], parts[3]
        try:
            return self._tags(service, region, arn)
        except Exception:  # noqa: BLE001 - a resource that does not exist has no tags; the call itself will say so
            return {}

    def _tags(self, service: str, region: str, arn: str) -> dict[str, str]:
        if service == "ecs":
            from moto.ecs.models import ecs_backends

            return {t["key"]: t["value"] for t in ecs_backends[self.account][region].list_tags_for_resource(arn)}
        if service == "rds":
            from moto.rds.models import rds_backends

            return {t["Key"]: t["Value"] for t in rds_backends[self.account][region].list_tags_for_resource(arn)}
        if service == "secretsmanager":
            from moto.secretsmanager.models import secretsmanager_backends

            secret = secretsmanager_backends[self.account][region].describe_secret(arn)
            return {t["Key"]: t["Value"] for t in (secret.tags or [])}
        if service == "lambda":
            from moto.awslambda.models import lambda_backends

            return dict(lambda_backends[self.account][region].list_tags(arn))
        return {}

    def secret_arn(self, region: str, secret_id: str) -> str:
        if secret_id.startswith("arn:"):
            return secret_id
        try:
            from moto.secretsmanager.models import secretsmanager_backends

            return str(secretsmanager_backends[self.account][region].describe_secret(secret_id).arn)
        except Exception:  # noqa: BLE001 - no such secret: IAM checks the name AWS would report
            return f"arn:aws:secretsmanager:{region}:{self.account}:secret:{secret_id}"

    def topic_key(self, topic_arn: str) -> str | None:
        try:
            from moto.sns.models import sns_backends

            region = topic_arn.split(":")[3]
            return sns_backends[self.account][region].topics[topic_arn].kms_master_key_id or None
        except Exception:  # noqa: BLE001
            return None

    def queue_key(self, region: str, name: str) -> str | None:
        try:
            from moto.sqs.models import sqs_backends

            return getattr(sqs_backends[self.account][region].queues[name], "kms_master_key_id", None) or None
        except Exception:  # noqa: BLE001
            return None

    def bucket_key(self, bucket: str) -> str | None:
        try:
            from moto.s3.models import s3_backends

            enc = s3_backends[self.account]["aws"].buckets[bucket].encryption or {}
            rule = enc.get("Rule", {})
            rule = rule[0] if isinstance(rule, list) else rule
            default = rule.get("ApplyServerSideEncryptionByDefault", {})
            if default.get("SSEAlgorithm") == "aws:kms":
                return default.get("KMSMasterKeyID") or None
        except Exception:  # noqa: BLE001
            return None
        return None

    def parameter_key(self, region: str, name: str) -> str | None:
        try:
            from moto.ssm.models import ssm_backends

            param = ssm_backends[self.account][region].get_parameter(name)
            if param is None or param.parameter_type != "SecureString":
                return None
            return str(param.keyid) if param.keyid and param.keyid != "alias/aws/ssm" else None
        except Exception:  # noqa: BLE001
            return None

    def key_arn(self, region: str, key: str) -> str:
        """A KMS key id, alias or ARN as the key's ARN."""
        if key.startswith("arn:") and ":key/" in key:
            return key
        try:
            from moto.kms.models import kms_backends

            backend = kms_backends[self.account][region]
            return str(backend.describe_key(backend.get_key_id(key)).arn)
        except Exception:  # noqa: BLE001
            return f"arn:aws:kms:{region}:{self.account}:key/{key}"

    def key_policy(self, key_arn: str) -> list[Statement] | None:
        """The statements of a KMS key's policy (None: a key the embedded AWS does not have)."""
        try:
            from moto.kms.models import kms_backends

            region, key_id = key_arn.split(":")[3], key_arn.rsplit("/", 1)[-1]
            key = kms_backends[self.account][region].keys[key_id]
        except Exception:  # noqa: BLE001
            return None
        return parse_document(key.policy, f"key/{key_id}", resource_based=True)

    def scalable_target_arn(self, region: str, namespace: str, resource_id: str, dimension: str) -> str:
        from moto.applicationautoscaling.models import applicationautoscaling_backends

        backend = applicationautoscaling_backends[self.account][region]
        for target in list(getattr(backend, "targets", {}).get(dimension, {}).values()):
            if target.service_namespace == namespace and target.resource_id == resource_id:
                return str(getattr(target, "arn", "") or f"{_TARGET_ARN.format(region, self.account)}{resource_id}")
        # a target registered for the first time: its ARN does not exist yet
        return f"{_TARGET_ARN.format(region, self.account)}*"


@dataclass
class Call:
    """An API call as the caller made it (service and operation as botocore names them, its parameters)."""

    service: str
    operation: str
    params: Mapping[str, Any]
    region: str
    account: str
    world: World

    def arn(self, service: str, resource: str, region: str | None = None, account: str | None = None) -> str:
        region = self.region if region is None else region
        account = self.account if account is None else account
        return f"arn:aws:{service}:{region}:{account}:{resource}"

    def p(self, name: str, default: Any = None) -> Any:
        return self.params.get(name, default)


Rule = Callable[[Call], list[Authorization]]


def _action(call: Call, operation: str | None = None) -> str:
    op = operation or call.operation
    prefix = PREFIX.get(call.service, call.service)
    return f"{prefix}:{ACTION_NAMES.get((call.service, op), op)}"


def _on(*resources: str, **context: ContextValue) -> Rule:
    """A rule naming fixed resources (e.g. "*": actions with no resource-level permissions)."""

    def rule(call: Call) -> list[Authorization]:
        return [Authorization(_action(call), r, dict(context)) for r in resources]

    return rule


def _tagged(call: Call, action: str, arn: str, prefix: str, **context: ContextValue) -> Authorization:
    """An authorization whose context carries the resource's tags (aws:ResourceTag/k and <prefix>:ResourceTag/k)."""
    ctx: dict[str, ContextValue] = dict(context)
    for k, v in call.world.tags(arn).items():
        ctx[f"aws:resourcetag/{k}".lower()] = v
        ctx[f"{prefix}:resourcetag/{k}".lower()] = v
    return Authorization(action, arn, ctx)


def _kms(call: Call, key: str | None, *actions: str, via: str, region: str | None = None) -> list[Authorization]:
    """The caller's use of a customer managed KMS key made on its behalf by a service (kms:ViaService)."""
    if not key:
        return []
    region = region or call.region
    arn = call.world.key_arn(region, key)
    if ":alias/aws/" in arn:
        return []  # an AWS managed key: its key policy admits every principal of the account through the service
    context: dict[str, ContextValue] = {
        "kms:viaservice": f"{via}.{region}.amazonaws.com",
        "kms:calleraccount": call.account,
    }
    return [Authorization(f"kms:{a}", arn, context) for a in actions]


def _pass_role(call: Call, role: str | None, service: str) -> list[Authorization]:
    if not role:
        return []
    return [Authorization("iam:PassRole", role, {"iam:passedtoservice": service})]


# --- DynamoDB
def _table(call: Call, name: str) -> str:
    return name if name.startswith("arn:") else call.arn("dynamodb", f"table/{name}")


def _ddb_item(call: Call) -> list[Authorization]:
    return [Authorization(_action(call), _table(call, str(call.p("TableName"))))]


def _ddb_read(call: Call) -> list[Authorization]:
    arn = _table(call, str(call.p("TableName")))
    index = call.p("IndexName")
    return [Authorization(_action(call), f"{arn}/index/{index}" if index else arn)]


def _ddb_transact_write(call: Call) -> list[Authorization]:
    names = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem", "ConditionCheck": "ConditionCheckItem"}
    out = []
    for item in call.p("TransactItems", []):
        for kind, body in item.items():
            out.append(Authorization(f"dynamodb:{names[kind]}", _table(call, str(body["TableName"]))))
    return out


def _ddb_transact_get(call: Call) -> list[Authorization]:
    return [
        Authorization("dynamodb:GetItem", _table(call, str(i["Get"]["TableName"]))) for i in call.p("TransactItems", [])
    ]


def _ddb_batch(call: Call) -> list[Authorization]:
    return [Authorization(_action(call), _table(call, str(t))) for t in call.p("RequestItems", {})]


# --- Step Functions
def _by_param(name: str) -> Rule:
    def rule(call: Call) -> list[Authorization]:
        return [Authorization(_action(call), str(call.p(name)))]

    return rule


# --- Lambda
def _function(call: Call, qualified: bool = True) -> str:
    """FunctionName as a name, a partial ARN (123456789012:function:name) or an ARN, with an optional :qualifier
    (or Qualifier): the function's ARN, with the qualifier for invocations of a version or alias."""
    name = str(call.p("FunctionName"))
    if name.startswith("arn:"):
        parts = name.split(":")
        region, account, rest = parts[3], parts[4], parts[6:]
    elif ":function:" in name:
        account, _, tail = name.partition(":function:")
        region, rest = call.region, tail.split(":")
    else:
        region, account, rest = call.region, call.account, name.split(":")
    fn, qualifier = rest[0], (rest[1] if len(rest) > 1 else call.p("Qualifier"))
    suffix = f":{qualifier}" if qualified and qualifier and qualifier != "$LATEST" else ""
    return f"arn:aws:lambda:{region}:{account}:function:{fn}{suffix}"


def _lambda(qualified: bool) -> Rule:
    def rule(call: Call) -> list[Authorization]:
        return [_tagged(call, _action(call), _function(call, qualified), "lambda")]

    return rule


# --- SNS, SQS, SSM, S3, KMS
def _publish(call: Call) -> list[Authorization]:
    topic = str(call.p("TopicArn") or call.p("TargetArn"))
    keys = _kms(call, call.world.topic_key(topic), "GenerateDataKey", "Decrypt", via="sns", region=topic.split(":")[3])
    return [Authorization("sns:Publish", topic), *keys]


def _queue(call: Call) -> tuple[str, str, str]:
    """(region, account, name) of QueueUrl (https://sqs.<region>.amazonaws.com/<account>/<name>)."""
    url = str(call.p("QueueUrl"))
    account, name = url.rstrip("/").split("/")[-2:]
    host = url.split("/")[2]
    region = host.split(".")[1] if host.startswith("sqs.") else call.region
    return region, account, name


def _sqs(call: Call) -> list[Authorization]:
    if call.operation == "GetQueueUrl":
        account = str(call.p("QueueOwnerAWSAccountId") or call.account)
        return [Authorization("sqs:GetQueueUrl", call.arn("sqs", str(call.p("QueueName")), account=account))]
    region, account, name = _queue(call)
    out = [Authorization(_action(call), f"arn:aws:sqs:{region}:{account}:{name}")]
    if call.operation in ("SendMessage", "SendMessageBatch"):
        out += _kms(call, call.world.queue_key(region, name), "GenerateDataKey", "Decrypt", via="sqs", region=region)
    if call.operation == "ReceiveMessage":
        out += _kms(call, call.world.queue_key(region, name), "Decrypt", via="sqs", region=region)
    return out


def _parameter(call: Call, name: str) -> str:
    if name.startswith("arn:"):
        return name
    return call.arn("ssm", f"parameter/{name.lstrip('/')}")


def _ssm_get(call: Call) -> list[Authorization]:
    names = [str(call.p("Name"))] if call.operation == "GetParameter" else [str(n) for n in call.p("Names", [])]
    out = [Authorization(_action(call), _parameter(call, n)) for n in names]
    if call.p("WithDecryption"):
        for n in names:
            out += _kms(call, call.world.parameter_key(call.region, n), "Decrypt", via="ssm")
    return out


def _ssm_put(call: Call) -> list[Authorization]:
    out = [Authorization("ssm:PutParameter", _parameter(call, str(call.p("Name"))))]
    if call.p("Type") == "SecureString":
        out += _kms(call, call.p("KeyId"), "Encrypt", via="ssm")
    return out


def _s3_object(call: Call) -> list[Authorization]:
    bucket, key = str(call.p("Bucket")), str(call.p("Key"))
    out = [Authorization(_action(call), f"arn:aws:s3:::{bucket}/{key}")]
    if call.operation == "PutObject":
        explicit = call.p("SSEKMSKeyId") if call.p("ServerSideEncryption") == "aws:kms" else None
        out += _kms(call, explicit or call.world.bucket_key(bucket), "GenerateDataKey", via="s3")
    elif call.operation in ("GetObject", "HeadObject"):
        out += _kms(call, call.world.bucket_key(bucket), "Decrypt", via="s3")
    return out


def _s3_bucket(call: Call) -> list[Authorization]:
    return [Authorization(_action(call), f"arn:aws:s3:::{call.p('Bucket')}")]


def _kms_direct(call: Call) -> list[Authorization]:
    key = call.p("KeyId")
    if key is None:  # Decrypt of a symmetric ciphertext names no key: IAM checks the key inside the blob
        return [Authorization(_action(call), call.arn("kms", "key/*"))]
    return [Authorization(_action(call), call.world.key_arn(call.region, str(key)))]


# --- ECS
def _cluster_arn(call: Call) -> str:
    cluster = str(call.p("cluster") or "default")
    return cluster if cluster.startswith("arn:") else call.arn("ecs", f"cluster/{cluster}")


def _ecs_child(call: Call, kind: str, ident: str) -> str:
    if ident.startswith("arn:"):
        return ident
    return call.arn("ecs", f"{kind}/{_cluster_arn(call).rsplit('/', 1)[-1]}/{ident}")


def _ecs_services(call: Call) -> list[Authorization]:
    names = call.p("services") if call.operation == "DescribeServices" else [call.p("service")]
    cluster = _cluster_arn(call)
    return [
        _tagged(call, _action(call), _ecs_child(call, "service", str(n)), "ecs", **{"ecs:cluster": cluster})
        for n in names
    ]


def _ecs_tasks(call: Call) -> list[Authorization]:
    names = call.p("tasks") if call.operation == "DescribeTasks" else [call.p("task")]
    cluster = _cluster_arn(call)
    return [
        _tagged(call, _action(call), _ecs_child(call, "task", str(n)), "ecs", **{"ecs:cluster": cluster}) for n in names
    ]


def _ecs_cluster_scoped(call: Call) -> list[Authorization]:
    """ListTasks, ListServices: no resource (a container instance only when one is named), scoped by ecs:cluster."""
    instance = call.p("containerInstance")
    resource = _ecs_child(call, "container-instance", str(instance)) if instance else "*"
    return [Authorization(_action(call), resource, {"ecs:cluster": _cluster_arn(call)})]


def _ecs_register(call: Call) -> list[Authorization]:
    out = [Authorization("ecs:RegisterTaskDefinition", "*")]
    for role in {call.p("taskRoleArn"), call.p("executionRoleArn")} - {None}:
        out += _pass_role(call, str(role), "ecs-tasks.amazonaws.com")
    if call.p("tags"):
        family = str(call.p("family"))
        out.append(Authorization("ecs:TagResource", call.arn("ecs", f"task-definition/{family}:*")))
    return out


# --- ELB, CloudWatch, Application Auto Scaling, EventBridge
def _alarms(call: Call) -> list[Authorization]:
    names = call.p("AlarmNames") or ([call.p("AlarmName")] if call.p("AlarmName") else [])
    if not names:
        return [Authorization(_action(call), call.arn("cloudwatch", "alarm:*"))]
    return [Authorization(_action(call), call.arn("cloudwatch", f"alarm:{n}")) for n in names]


def _register_scalable_target(call: Call) -> list[Authorization]:
    arn = call.world.scalable_target_arn(
        call.region, str(call.p("ServiceNamespace")), str(call.p("ResourceId")), str(call.p("ScalableDimension"))
    )
    context: dict[str, ContextValue] = {
        "application-autoscaling:service-namespace": str(call.p("ServiceNamespace")),
        "application-autoscaling:scalable-dimension": str(call.p("ScalableDimension")),
    }
    return [Authorization("application-autoscaling:RegisterScalableTarget", arn, context)]


def _put_events(call: Call) -> list[Authorization]:
    out = []
    for entry in call.p("Entries", []):
        bus = str(entry.get("EventBusName") or "default")
        arn = bus if bus.startswith("arn:") else call.arn("events", f"event-bus/{bus}")
        context: dict[str, ContextValue] = {
            "events:source": str(entry.get("Source", "")),
            "events:detail-type": str(entry.get("DetailType", "")),
        }
        out.append(Authorization("events:PutEvents", arn, context))
    return out


# --- RDS
def _rds(call: Call, kind: str, ident: Any) -> str:
    text = str(ident)
    return text if text.startswith("arn:") else call.arn("rds", f"{kind}:{text}")


def _rds_on(kind: str, param: str, *, listing: bool = False) -> Rule:
    def rule(call: Call) -> list[Authorization]:
        ident = call.p(param)
        if ident is None and listing:
            return [Authorization(_action(call), call.arn("rds", f"{kind}:*"))]
        return [_tagged(call, _action(call), _rds(call, kind, ident), "rds")]

    return rule


def _rds_create_instance(call: Call) -> list[Authorization]:
    db = _rds(call, "db", call.p("DBInstanceIdentifier"))
    out = [Authorization("rds:CreateDBInstance", db)]
    for kind, param in (
        ("cluster", "DBClusterIdentifier"),
        ("subgrp", "DBSubnetGroupName"),
        ("pg", "DBParameterGroupName"),
        ("og", "OptionGroupName"),
    ):
        if call.p(param):
            out.append(_tagged(call, "rds:CreateDBInstance", _rds(call, kind, call.p(param)), "rds"))
    if call.p("Tags"):
        out.append(Authorization("rds:AddTagsToResource", db))
    return out


def _rds_tags(call: Call) -> list[Authorization]:
    name = str(call.p("ResourceName"))
    kind = "cluster" if name.startswith("arn:") and ":cluster:" in name else "db"
    return [_tagged(call, _action(call), _rds(call, kind, name), "rds")]


# --- Backup, Secrets Manager, CodePipeline
def _recovery_point(call: Call) -> str:
    return str(call.p("RecoveryPointArn"))


def _backup_point(call: Call) -> list[Authorization]:
    return [Authorization(_action(call), _recovery_point(call))]


def _start_restore(call: Call) -> list[Authorization]:
    return [
        Authorization("backup:StartRestoreJob", _recovery_point(call)),
        *_pass_role(call, call.p("IamRoleArn"), "backup.amazonaws.com"),
    ]


def _secret(call: Call) -> list[Authorization]:
    arn = call.world.secret_arn(call.region, str(call.p("SecretId")))
    return [_tagged(call, _action(call), arn, "secretsmanager", **{"secretsmanager:secretid": arn})]


def _pipeline(call: Call) -> list[Authorization]:
    name = str(call.p("pipelineName") or call.p("name"))
    resource = call.arn("codepipeline", name)
    if call.operation == "PutApprovalResult":
        resource = f"{resource}/{call.p('stageName')}/{call.p('actionName')}"
    return [Authorization(_action(call), resource)]


def _no_authorization(call: Call) -> list[Authorization]:
    return []  # sts:GetCallerIdentity needs no permission


_TABLE: dict[tuple[str, str], Rule] = {
    # DynamoDB: tables and their indexes; a transaction is authorised item by item
    **{("dynamodb", op): _ddb_item for op in ("GetItem", "PutItem", "UpdateItem", "DeleteItem", "DescribeTable")},
    ("dynamodb", "Query"): _ddb_read,
    ("dynamodb", "Scan"): _ddb_read,
    ("dynamodb", "TransactWriteItems"): _ddb_transact_write,
    ("dynamodb", "TransactGetItems"): _ddb_transact_get,
    ("dynamodb", "BatchGetItem"): _ddb_batch,
    ("dynamodb", "BatchWriteItem"): _ddb_batch,
    # Step Functions: task tokens name no resource
    ("stepfunctions", "StartExecution"): _by_param("stateMachineArn"),
    ("stepfunctions", "ListExecutions"): _by_param("stateMachineArn"),
    ("stepfunctions", "DescribeStateMachine"): _by_param("stateMachineArn"),
    ("stepfunctions", "DescribeExecution"): _by_param("executionArn"),
    ("stepfunctions", "StopExecution"): _by_param("executionArn"),
    ("stepfunctions", "GetExecutionHistory"): _by_param("executionArn"),
    **{("stepfunctions", op): _on("*") for op in ("SendTaskSuccess", "SendTaskFailure", "SendTaskHeartbeat")},
    # Lambda: invocations of a version or alias name it; alias and code operations the function
    ("lambda", "Invoke"): _lambda(qualified=True),
    ("lambda", "GetFunctionConfiguration"): _lambda(qualified=True),
    ("lambda", "GetFunction"): _lambda(qualified=True),
    **{
        ("lambda", op): _lambda(qualified=False)
        for op in ("GetAlias", "UpdateAlias", "UpdateFunctionCode", "PublishVersion", "ListVersionsByFunction")
    },
    ("sns", "Publish"): _publish,
    **{("sqs", op): _sqs for op in ("SendMessage", "SendMessageBatch", "ReceiveMessage", "GetQueueUrl")},
    ("ssm", "GetParameter"): _ssm_get,
    ("ssm", "GetParameters"): _ssm_get,
    ("ssm", "PutParameter"): _ssm_put,
    **{("kms", op): _kms_direct for op in ("Decrypt", "Encrypt", "GenerateDataKey", "DescribeKey")},
    ("s3", "GetObject"): _s3_object,
    ("s3", "HeadObject"): _s3_object,
    ("s3", "PutObject"): _s3_object,
    ("s3", "ListObjectsV2"): _s3_bucket,
    # ECS: services and tasks by ARN, scoped by ecs:cluster; task definitions have no resource-level permissions
    ("ecs", "DescribeServices"): _ecs_services,
    ("ecs", "UpdateService"): _ecs_services,
    ("ecs", "DescribeTasks"): _ecs_tasks,
    ("ecs", "StopTask"): _ecs_tasks,
    ("ecs", "ListTasks"): _ecs_cluster_scoped,
    ("ecs", "ListServices"): _ecs_cluster_scoped,
    ("ecs", "DescribeTaskDefinition"): _on("*"),
    ("ecs", "RegisterTaskDefinition"): _ecs_register,
    # ELB: Describe* have no resource-level permissions
    **{
        ("elbv2", op): _on("*")
        for op in (
            "DescribeLoadBalancers",
            "DescribeListeners",
            "DescribeTargetGroups",
            "DescribeTargetHealth",
            "DescribeRules",
        )
    },
    ("elbv2", "ModifyListener"): _by_param("ListenerArn"),
    ("elbv2", "ModifyRule"): _by_param("RuleArn"),
    ("cloudwatch", "DescribeAlarms"): _alarms,
    ("cloudwatch", "SetAlarmState"): _alarms,
    ("cloudwatch", "ListTagsForResource"): _by_param("ResourceARN"),
    ("cloudwatch", "PutMetricData"): _on("*"),
    ("cloudwatch", "GetMetricData"): _on("*"),  # no resource-level permissions (service authorization reference)
    ("application-autoscaling", "DescribeScalableTargets"): _on("*"),
    ("application-autoscaling", "RegisterScalableTarget"): _register_scalable_target,
    ("events", "PutEvents"): _put_events,
    # RDS: instances and clusters by ARN (listing without an identifier: all of the kind)
    ("rds", "DescribeDBInstances"): _rds_on("db", "DBInstanceIdentifier", listing=True),
    ("rds", "DescribeDBClusters"): _rds_on("cluster", "DBClusterIdentifier", listing=True),
    **{
        ("rds", op): _rds_on("db", "DBInstanceIdentifier")
        for op in ("RebootDBInstance", "ModifyDBInstance", "StopDBInstance", "StartDBInstance", "DeleteDBInstance")
    },
    **{("rds", op): _rds_on("cluster", "DBClusterIdentifier") for op in ("FailoverDBCluster", "DeleteDBCluster")},
    ("rds", "CreateDBInstance"): _rds_create_instance,
    ("rds", "AddTagsToResource"): _rds_tags,
    ("rds", "ListTagsForResource"): _rds_tags,
    # AWS Backup: jobs and listings have no resource-level permissions; recovery points do
    **{
        ("backup", op): _on("*")
        for op in (
            "DescribeBackupJob",
            "DescribeRestoreJob",
            "PutRestoreValidationResult",
            "ListBackupVaults",
            "ListRecoveryPointsByResource",
            "ListRestoreJobs",
        )
    },
    ("backup", "DescribeRecoveryPoint"): _backup_point,
    ("backup", "GetRecoveryPointRestoreMetadata"): _backup_point,
    ("backup", "StartRestoreJob"): _start_restore,
    **{("ec2", op): _on("*") for op in ("DescribeSecurityGroups", "DescribeSubnets", "DescribeVpcs")},
    ("secretsmanager", "GetSecretValue"): _secret,
    ("secretsmanager", "DescribeSecret"): _secret,
    # Cost Explorer reads have no resource-level permissions
    **{("ce", op): _on("*") for op in ("GetCostAndUsage", "GetCostForecast", "GetAnomalies", "GetDimensionValues")},
    **{
        ("codepipeline", op): _pipeline
        for op in ("GetPipeline", "GetPipelineExecution", "GetPipelineState", "PutApprovalResult")
    },
    ("sts", "GetCallerIdentity"): _no_authorization,
}


def authorizations(call: Call) -> list[Authorization]:
    """Every authorization IAM makes for `call`, with the condition keys every request carries."""
    rule = _TABLE.get((call.service, call.operation))
    if rule is None:
        raise UnmappedOperation(
            f"the embedded AWS's IAM does not know which resource {call.service}:{call.operation} names "
            "(add its rule to deckwatch/local/iam.py)"
        )
    base: dict[str, ContextValue] = {
        "aws:requestedregion": call.region,
        "aws:securetransport": "true",
        "aws:principalaccount": call.account,
    }
    return [Authorization(a.action, a.resource, {**base, **a.context}) for a in rule(call)]


def operations() -> set[tuple[str, str]]:
    """(botocore service, operation) of every call this module can authorise."""
    return set(_TABLE)


# ------------------------------------------------------------------ denials ---------------------------------------
@dataclass(frozen=True)
class Denial:
    principal: str
    action: str
    resource: str
    explicit: bool
    message: str

    def to_json(self) -> dict[str, str]:
        return {"principal": self.principal, "action": self.action, "resource": self.resource, "message": self.message}


def check(
    principal: Principal, auths: Iterable[Authorization], world: World | None = None
) -> tuple[Denial | None, list[tuple[Authorization, str]]]:
    """(the first denial, or None; (authorization, statement) for every statement that allowed one)."""
    used: list[tuple[Authorization, str]] = []
    for a in auths:
        context = {"aws:principalarn": principal.role_arn, **a.context}
        key_policy = world.key_policy(a.resource) if world is not None and a.action.startswith("kms:") else None
        if key_policy is None:
            decision = principal.decide(a.action, a.resource, context)
        else:
            decision = _decide_key(principal, key_policy, a.action, a.resource, context)
        if not decision.allowed:
            why = (
                "with an explicit deny in an identity-based policy"
                if decision.explicit_deny
                else f"because no identity-based policy allows the {a.action} action"
            )
            message = (
                f"User: {principal.caller_arn} is not authorized to perform: {a.action} on resource: {a.resource} {why}"
            )
            return Denial(principal.name, a.action, a.resource, decision.explicit_deny, message), used
        used += [(a, source) for source in (decision.statement, *decision.also)]
    return None, used


def _decide_key(
    principal: Principal, policy: list[Statement], action: str, resource: str, context: Mapping[str, ContextValue]
) -> Decision:
    """KMS: the key policy decides; a statement for the account's root delegates to the role's IAM policies."""
    account = principal.role_arn.split(":")[4]
    root = {f"arn:aws:iam::{account}:root", account}
    delegated, granted = False, ""
    for st in policy:
        if not st.applies(action, resource, context):
            continue
        names = set(st.principals)
        if not names & ({"*", principal.role_arn} | root):
            continue
        if st.effect == "Deny":
            return Decision(False, explicit_deny=True, statement=st.source)
        if names & root:
            delegated = True
        else:
            granted = granted or st.source
    identity = principal.decide(action, resource, context)
    if identity.explicit_deny:
        return identity
    if granted:
        return Decision(True, statement=granted)
    if delegated and identity.allowed:
        return identity
    return Decision(False)


# service (botocore name) -> the code AWS returns for a call IAM denies, where it is not AccessDeniedException
_DENIED_CODES = {
    "sns": "AuthorizationError",
    "sqs": "AccessDenied",
    "rds": "AccessDenied",
    "elbv2": "AccessDenied",
    "cloudwatch": "AccessDenied",
    "iam": "AccessDenied",
    "s3": "AccessDenied",
    "ec2": "UnauthorizedOperation",
    "sts": "AccessDenied",
}


def denied_code(service: str) -> str:
    return _DENIED_CODES.get(service, "AccessDeniedException")


def error_response(service_model: Any, request: Any, denial: Denial) -> Any:
    """The HTTP response AWS sends for a denied call, in the service's protocol, so that botocore raises the
    ClientError it raises in AWS."""
    from botocore.awsrequest import AWSResponse
    from moto.core.botocore_stubber import MockRawResponse

    service = str(service_model.service_name)
    code = denied_code(service)
    protocol = str(getattr(service_model, "resolved_protocol", None) or service_model.protocol)
    request_id = "deckwatch-local-iam"
    headers: dict[str, str] = {"x-amzn-requestid": request_id}
    status = 403
    message = _xml_escape(denial.message)
    if protocol == "json":
        query_compatible = "awsQueryCompatible" in service_model.metadata
        body = json.dumps({"__type": code, "message": denial.message})
        headers |= {"content-type": f"application/x-amz-json-{service_model.metadata.get('jsonVersion', '1.0')}"}
        if query_compatible:
            headers["x-amzn-query-error"] = f"{code};Sender"
        status = 400
    elif protocol == "rest-json":
        body = json.dumps({"Message": denial.message, "message": denial.message})
        headers |= {"x-amzn-errortype": code, "content-type": "application/json"}
    elif protocol == "ec2":
        body = (
            f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors>"
            f"<RequestID>{request_id}</RequestID></Response>"
        )
        headers["content-type"] = "text/xml"
    elif protocol == "rest-xml":
        body = f"<Error><Code>{code}</Code><Message>{message}</Message><RequestId>{request_id}</RequestId></Error>"
        headers["content-type"] = "application/xml"
    else:  # query
        body = (
            f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        )
        headers["content-type"] = "text/xml"
    return AWSResponse(request.url, status, headers, MockRawResponse(body))  # type: ignore[arg-type]


def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_AKID = re.compile(r"Credential=([^/,\s]+)/")


def access_key(headers: Any) -> str | None:
    """The access key id a SigV4-signed request was signed with."""
    auth = headers.get("Authorization") if headers is not None else None
    if isinstance(auth, bytes):
        auth = auth.decode()
    found = _AKID.search(auth or "")
    return found.group(1) if found else None


# ------------------------------------------------------------------ usage report -----------------------------------
def usage(lines: Iterable[str]) -> dict[str, Any]:
    """From DECKWATCH_IAM_LOG lines (one per runtime): every call refused, and every (action, resource) a statement
    grants that no call used in any runtime that had it (physical ids differ between deployments: a grant is
    compared with its own runtime's calls, then the runtimes are merged)."""
    denied: dict[tuple[str, str], set[str]] = {}
    unused: dict[tuple[str, str, str, int], str] | None = None
    for line in lines:
        doc = json.loads(line)
        for d in doc["denied"]:
            denied.setdefault((d["principal"], d["action"]), set()).add(d["resource"])
        used = [(str(p), str(a), str(s), str(r)) for p, a, s, r in doc["used"]]
        here: dict[tuple[str, str, str, int], str] = {}
        for principal, statements in doc.get("granted", {}).items():
            for source, actions, resources in statements:
                for pattern in actions:
                    for i, where in enumerate(resources or ["*"]):
                        if not any(
                            p == principal and s == source and _action_matches(pattern, a) and _glob(where, r)
                            for p, a, s, r in used
                        ):
                            here[(principal, source, pattern, i)] = where
        unused = here if unused is None else {k: v for k, v in unused.items() if k in here}
    return {
        "denied": [{"principal": p, "action": a, "resources": sorted(r)} for (p, a), r in sorted(denied.items())],
        "unused": [
            {"principal": p, "statement": s, "action": a, "resource": where}
            for (p, s, a, _), where in sorted((unused or {}).items())
        ],
    }


if __name__ == "__main__":  # python -m deckwatch.local.iam LOG...: what a run refused and never used
    import sys

    report = usage(line for path in sys.argv[1:] for line in open(path, encoding="utf-8"))  # noqa: SIM115
    sys.stdout.write(json.dumps(report, indent=2) + "\n")
