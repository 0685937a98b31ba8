"""The names a policy gives AWS resources, each constrained exactly as the AWS API that creates (or reads) that kind
of resource constrains it: everything AWS accepts is accepted (an alarm named "EC2 CPU Utilization Anomaly", a
budget or a DB subnet group with spaces), and only what AWS rejects is rejected. Each type's description cites the
API reference it follows (the constraints of the AWS SDK's service models, which the API references publish).

Constraints that a JSON Schema pattern cannot say (no look-around in pydantic's regex engine) are validators; the
descriptions state them all.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated

from pydantic import AfterValidator, Field

_ARN = r"arn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:(\d{12})?:\S+"


def _rule(check: Callable[[str], bool], message: str) -> AfterValidator:
    def validate(value: str) -> str:
        if not check(value):
            raise ValueError(message)
        return value

    return AfterValidator(validate)


def _ref(api: str, url: str) -> str:
    return f"{api} ({url})"


# ---------------------------------------------------------------- CloudWatch ---------------------------------------
_NO_CONTROL = r"^[^\x00-\x1f\x7f]+$"
ALARM_REF = _ref(
    "CloudWatch API Reference, PutMetricAlarm AlarmName: 1 to 255 UTF-8 characters, no ASCII control characters",
    "https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html",
)
AlarmName = Annotated[
    str, Field(min_length=1, max_length=255, pattern=_NO_CONTROL, description=f"A CloudWatch alarm name. {ALARM_REF}")
]

# ---------------------------------------------------------------- Budgets, Cost Explorer ---------------------------
BUDGET_REF = _ref(
    "AWS Budgets API Reference, Budget BudgetName: 1 to 100 characters, neither ':' nor '\\', no '/action/' and no "
    "'<script>...</script>' (pattern ^(?![^:\\\\]*/action/|(?i).*<script>.*</script>.*)[^:\\\\]+$)",
    "https://docs.aws.amazon.com/aws-cost-management/latest/APIReference/API_budgets_Budget.html",
)
_SCRIPT = re.compile(r"<script>.*</script>", re.IGNORECASE | re.DOTALL)
BudgetName = Annotated[
    str,
    Field(min_length=1, max_length=100, pattern=r"^[^:\\]+$", description=f"An AWS Budgets budget name. {BUDGET_REF}"),
    _rule(lambda v: "/action/" not in v and not _SCRIPT.search(v), "must not contain '/action/' nor <script> tags"),
]
MONITOR_REF = _ref(
    "Cost Explorer API Reference, AnomalyMonitor MonitorName and MonitorArn: up to 1024 characters, any",
    "https://docs.aws.amazon.com/aws-cost-management/latest/APIReference/API_AnomalyMonitor.html",
)
MonitorName = Annotated[
    str, Field(min_length=1, max_length=1024, description=f"A cost anomaly monitor's name or ARN. {MONITOR_REF}")
]

# ---------------------------------------------------------------- CodePipeline -------------------------------------
PIPELINE_REF = _ref(
    "CodePipeline API Reference, PipelineDeclaration name and ActionDeclaration name: 1 to 100 of A-Z a-z 0-9 . @ - _",
    "https://docs.aws.amazon.com/codepipeline/latest/APIReference/API_PipelineDeclaration.html",
)
PipelineName = Annotated[
    str,
    Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9.@_-]+$", description=f"A pipeline name. {PIPELINE_REF}"),
]
ActionName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=100,
        pattern=r"^[A-Za-z0-9.@_-]+$",
        description=f"A pipeline action name. {PIPELINE_REF}",
    ),
]

# ---------------------------------------------------------------- ECS, ELB -----------------------------------------
ECS_REF = _ref(
    "Amazon ECS API Reference, CreateCluster clusterName and CreateService serviceName: up to 255 letters, numbers, "
    "underscores and hyphens; the API also takes the cluster's or service's ARN",
    "https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_CreateService.html",
)
EcsName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=1600,
        pattern=rf"^([A-Za-z0-9_-]{{1,255}}|{_ARN})$",
        description=f"An ECS cluster or service name (or ARN). {ECS_REF}",
    ),
]
SQS_REF = _ref(
    "Amazon SQS API Reference, CreateQueue QueueName: up to 80 alphanumeric characters, hyphens and underscores; a "
    "FIFO queue's name ends in .fifo",
    "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_CreateQueue.html",
)
QueueName = Annotated[
    str,
    Field(pattern=r"^([A-Za-z0-9_-]{1,80}|[A-Za-z0-9_-]{1,75}\.fifo)$", description=f"An SQS queue name. {SQS_REF}"),
]
CW_NAMESPACE_REF = _ref(
    "Amazon CloudWatch API Reference, PutMetricData Namespace: 1 to 255 characters, no colon at the start and no "
    "'AWS/' prefix (reserved for AWS's own)",
    "https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricData.html",
)
MetricNamespace = Annotated[
    str,
    Field(
        min_length=1,
        max_length=255,
        pattern=r"^[^:\x00-\x1f\x7f][^\x00-\x1f\x7f]*$",
        description=f"A custom CloudWatch metric namespace (not AWS/...). {CW_NAMESPACE_REF}",
    ),
    _rule(lambda v: not v.startswith("AWS/"), "namespaces starting with AWS/ are AWS's own"),
]


ELB_REF = _ref(
    "Elastic Load Balancing API Reference, CreateLoadBalancer Name and CreateTargetGroup Name: up to 32 alphanumeric "
    "characters or hyphens, not beginning or ending with a hyphen; a load balancer's not beginning with 'internal-'",
    "https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_CreateLoadBalancer.html",
)
_ELB = r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,30}[A-Za-z0-9])?$"
LoadBalancerName = Annotated[
    str,
    Field(pattern=_ELB, description=f"An Application Load Balancer name. {ELB_REF}"),
    _rule(lambda v: not v.lower().startswith("internal-"), "must not begin with 'internal-'"),
]
TargetGroupName = Annotated[str, Field(pattern=_ELB, description=f"A target group name. {ELB_REF}")]

# ---------------------------------------------------------------- Lambda -------------------------------------------
LAMBDA_REF = _ref(
    "Lambda API Reference, Invoke FunctionName: a name, a partial or full ARN, optionally with :version or :alias "
    "(up to 256 characters); CreateAlias Name: 1 to 128 of letters, numbers, - and _, not only digits",
    "https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html",
)
FunctionName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=256,
        pattern=r"^(arn:(aws[a-zA-Z-]*)?:lambda:)?((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?(\d{12}:)?"
        r"(function:)?([a-zA-Z0-9-_\.]+)(:(\$LATEST(\.PUBLISHED)?|[a-zA-Z0-9-_]+))?$",
        description=f"A Lambda function name or ARN. {LAMBDA_REF}",
    ),
]
AliasName = Annotated[
    str,
    Field(min_length=1, max_length=128, pattern=r"^[a-zA-Z0-9_-]+$", description=f"A Lambda alias. {LAMBDA_REF}"),
    _rule(lambda v: not v.isdigit(), "must not be only digits (that is a version)"),
]

# ---------------------------------------------------------------- RDS, EC2 -----------------------------------------
RDS_REF = _ref(
    "Amazon RDS API Reference, CreateDBInstance DBInstanceIdentifier and CreateDBCluster DBClusterIdentifier: 1 to 63 "
    "letters, numbers or hyphens, beginning with a letter, neither ending with a hyphen nor containing two "
    "consecutive hyphens (stored lowercase); the API also takes the ARN",
    "https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CreateDBInstance.html",
)
DbIdentifier = Annotated[
    str,
    Field(
        min_length=1,
        max_length=1600,
        pattern=rf"^([A-Za-z][A-Za-z0-9-]{{0,62}}|{_ARN})$",
        description=f"A DB instance or cluster identifier (or its ARN). {RDS_REF}",
    ),
    _rule(lambda v: v.startswith("arn:") or ("--" not in v and not v.endswith("-")), "no '--' and no trailing '-'"),
]
SUBNET_GROUP_REF = _ref(
    "Amazon RDS API Reference, CreateDBSubnetGroup DBSubnetGroupName: up to 255 letters, numbers, periods, "
    "underscores, spaces or hyphens, beginning with a letter, not 'default'",
    "https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CreateDBSubnetGroup.html",
)
DbSubnetGroupName = Annotated[
    str,
    Field(pattern=r"^[A-Za-z][A-Za-z0-9._ -]{0,254}$", description=f"A DB subnet group name. {SUBNET_GROUP_REF}"),
    _rule(lambda v: v.lower() != "default", "must not be 'default'"),
]
SECURITY_GROUP_REF = _ref(
    "Amazon EC2 API Reference, CreateSecurityGroup GroupName: up to 255 of a-z A-Z 0-9, spaces and "
    "._-:/()#,@[]+=&;{}!$*, not beginning with 'sg-'",
    "https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateSecurityGroup.html",
)
SecurityGroupName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=255,
        pattern=r"^[A-Za-z0-9 ._\-:/()#,@\[\]+=&;{}!$*]+$",
        description=f"A security group name. {SECURITY_GROUP_REF}",
    ),
    _rule(lambda v: not v.lower().startswith("sg-"), "must not begin with 'sg-'"),
]

# ---------------------------------------------------------------- Secrets Manager ----------------------------------
SECRET_REF = _ref(
    "Secrets Manager API Reference, CreateSecret Name: 1 to 512 ASCII letters, numbers and /_+=.@- ; "
    "GetSecretValue SecretId also takes the secret's ARN (up to 2048 characters)",
    "https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_CreateSecret.html",
)
SecretName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=2048,
        pattern=rf"^([A-Za-z0-9/_+=.@-]{{1,512}}|{_ARN})$",
        description=f"A Secrets Manager secret name (or ARN). {SECRET_REF}",
    ),
]
