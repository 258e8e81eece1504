"""assets/template.yaml without deploying: cfn-lint, and the properties moto's
CloudFormation does not apply (public access block, bucket notification, bucket policy,
point-in-time recovery, Lambda architecture, Glue/Athena resources), checked as written.
Also that the template agrees with the Rust code (index name and keys, default names,
the Lambda's environment variables)."""

import re
import subprocess

from conftest import ROOT, TEMPLATE, as_list, python_bin


def rust_const(path, name):
    text = (ROOT / path).read_text()
    m = re.search(rf'pub const {name}: &str = "([^"]*)";', text)
    assert m, f"{name} not found in {path}"
    return m.group(1)


def resources_of_type(template, kind):
    return {k: r for k, r in template["Resources"].items() if r["Type"] == kind}


def test_cfn_lint_passes():
    out = subprocess.run([python_bin("cfn-lint"), str(TEMPLATE)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_bucket_is_private_encrypted_and_notifies_the_lambda_on_raw(template):
    (bucket,) = resources_of_type(template, "AWS::S3::Bucket").values()
    p = bucket["Properties"]
    assert p["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    rule = p["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert rule["SSEAlgorithm"] in ("AES256", "aws:kms")
    assert p["OwnershipControls"]["Rules"][0]["ObjectOwnership"] == "BucketOwnerEnforced"
    (notif, orders) = p["NotificationConfiguration"]["LambdaConfigurations"]
    for n in (notif, orders):
        assert n["Event"] == "s3:ObjectCreated:*"
        assert n["Function"] == {"Fn::GetAtt": ["AnalyzeFunction", "Arn"]}
    assert notif["Filter"]["S3Key"]["Rules"] == [{"Name": "prefix", "Value": "raw/"}]
    # A large object's shard orders (src/store/fanout.rs): only those, not the parts beside them.
    fanout = (ROOT / "src/store/fanout.rs").read_text()
    suffix = re.search(r'pub const ORDER_SUFFIX: &str = "([^"]+)";', fanout).group(1)
    work = rust_const("src/store/object_keys.rs", "WORK_PREFIX")
    assert orders["Filter"]["S3Key"]["Rules"] == [{"Name": "prefix", "Value": work}, {"Name": "suffix", "Value": suffix}]
    # Whatever a fan-out leaves behind expires.
    rules = {r["Id"]: r for r in p["LifecycleConfiguration"]["Rules"]}
    assert rules["expire-fan-out-work"]["Prefix"] == work and rules["expire-fan-out-work"]["Status"] == "Enabled"
    # S3 checks the permission when the notification is created.
    assert "S3InvokePermission" in as_list(bucket["DependsOn"])
    # TLS only
    (policy,) = resources_of_type(template, "AWS::S3::BucketPolicy").values()
    (deny,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_table_has_the_sparse_status_index_pitr_and_on_demand(template):
    (table,) = resources_of_type(template, "AWS::DynamoDB::Table").values()
    p = table["Properties"]
    assert p["BillingMode"] == "PAY_PER_REQUEST"
    assert p["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert p["KeySchema"] == [
        {"AttributeName": rust_const("src/aws/attrs.rs", "PK"), "KeyType": "HASH"},
        {"AttributeName": rust_const("src/aws/attrs.rs", "SK"), "KeyType": "RANGE"},
    ]
    (gsi,) = p["GlobalSecondaryIndexes"]
    assert gsi["IndexName"] == rust_const("src/aws/attrs.rs", "STATUS_INDEX")
    assert gsi["KeySchema"] == [
        {"AttributeName": rust_const("src/aws/attrs.rs", "STATUS_KEY"), "KeyType": "HASH"},
        {"AttributeName": rust_const("src/aws/attrs.rs", "STATUS_TS"), "KeyType": "RANGE"},
    ]
    assert gsi["Projection"]["ProjectionType"] == "ALL"
    assert all(a["AttributeType"] == "S" for a in p["AttributeDefinitions"])


def test_lambda_runtime_architecture_size_and_code_come_from_parameters(template):
    params = template["Parameters"]
    fn = template["Resources"]["AnalyzeFunction"]["Properties"]
    assert fn["Runtime"] == "provided.al2023" and fn["Handler"] == "bootstrap"
    assert fn["Architectures"] == [{"Ref": "Architecture"}]
    assert sorted(params["Architecture"]["AllowedValues"]) == ["arm64", "x86_64"]
    assert fn["MemorySize"] == {"Ref": "MemorySize"} and fn["Timeout"] == {"Ref": "Timeout"}
    assert params["Timeout"]["MaxValue"] <= 900
    assert fn["Code"] == {"S3Bucket": {"Ref": "CodeBucket"}, "S3Key": {"Ref": "CodeKey"}}
    assert fn["FunctionName"] == {"Ref": "FunctionName"}
    assert fn["Role"] == {"Fn::GetAtt": ["FunctionRole", "Arn"]}


def test_defaults_match_the_cli_and_the_lambdas_environment(template):
    params = template["Parameters"]
    assert params["FunctionName"]["Default"] == rust_const("src/cli/aws_args.rs", "DEFAULT_FUNCTION")
    assert params["TableName"]["Default"] == rust_const("src/cli/aws_args.rs", "DEFAULT_TABLE")
    # The CLI's default log group is /aws/lambda/<function>: the template's group.
    lg = template["Resources"]["FunctionLogGroup"]["Properties"]
    assert lg["LogGroupName"] == {"Fn::Sub": "/aws/lambda/${FunctionName}"}
    assert lg["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    # Every variable the template sets is one the handler reads.
    handler = (ROOT / "src/aws/handler.rs").read_text()
    known = set(re.findall(r'\("([A-Z_]+)", "[a-z_]+"\)', handler)) | {"TABLE_NAME", "ALERT_TOPIC_ARN", "ALARMS", "RUST_LOG"}
    known |= set(re.findall(r'number\("([A-Z_]+)"\)', handler))  # the invocation's bounds (Limits)
    assert '"TABLE_NAME"' in handler and '"ALERT_TOPIC_ARN"' in handler and '"ALARMS"' in handler and 'envy::from_iter' in handler
    env = template["Resources"]["AnalyzeFunction"]["Properties"]["Environment"]["Variables"]
    assert set(env) <= known, set(env) - known
    assert env["TABLE_NAME"] == {"Ref": "GridAnalysisTable"} and env["ALERT_TOPIC_ARN"] == {"Ref": "AlertTopic"}
    assert env["VOLTAGE_LOW_KV"] == {"Ref": "VoltageLowKv"} and params["VoltageLowKv"]["Default"] == "13.5"
    # The shard size defaults to the handler's default.
    default_mb = re.search(r"pub const DEFAULT_SHARD_MB: f64 = ([0-9.]+);", handler).group(1)
    assert env["SHARD_MB"] == {"Ref": "ShardMegabytes"} and float(params["ShardMegabytes"]["Default"]) == float(default_mb)


def test_email_subscription_is_optional(template):
    assert template["Conditions"]["HasAlertEmail"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlertEmail"}, ""]}]}
    assert template["Parameters"]["AlertEmail"]["Default"] == ""
    sub = template["Resources"]["AlertEmailSubscription"]
    assert sub["Condition"] == "HasAlertEmail"
    p = sub["Properties"]
    assert (p["Protocol"], p["Endpoint"], p["TopicArn"]) == ("email", {"Ref": "AlertEmail"}, {"Ref": "AlertTopic"})


def test_email_gets_only_the_priorities_asked_for(template):
    """The filter policy selects on the attribute the handler sets on every message."""
    p = template["Resources"]["AlertEmailSubscription"]["Properties"]
    assert p["FilterPolicyScope"] == "MessageAttributes"
    assert p["FilterPolicy"] == {"priority": {"Ref": "AlertEmailPriorities"}}
    param = template["Parameters"]["AlertEmailPriorities"]
    assert param["Type"] == "CommaDelimitedList" and param["Default"] == "high,critical"
    handler = (ROOT / "src/aws/handler.rs").read_text()
    assert '("priority", alert.priority.to_string())' in handler
    priorities = re.findall(r'Priority::\w+ => "(\w+)"', (ROOT / "src/model.rs").read_text())
    assert set(param["Default"].split(",")) <= set(priorities), priorities


def test_alarm_checkpoints_expire(template):
    ttl = template["Resources"]["GridAnalysisTable"]["Properties"]["TimeToLiveSpecification"]
    assert ttl == {"AttributeName": "expires_at", "Enabled": True}
    assert 'TTL_ATTRIBUTE: &str = "expires_at"' in (ROOT / "src/aws/attrs.rs").read_text()


def test_athena_table_uses_partition_projection_on_day(template):
    t = template["Resources"]["AthenaHourlyTable"]["Properties"]["TableInput"]
    assert t["Name"] == "hourly" and t["PartitionKeys"] == [{"Name": "day", "Type": "string"}]
    p = t["Parameters"]
    assert p["projection.enabled"] == "true" and p["projection.day.type"] == "date"
    assert p["projection.day.format"] == "yyyy-MM-dd"
    tmpl = p["storage.location.template"]["Fn::Sub"][0]
    assert tmpl.endswith("/results/hourly/day=${!day}/"), tmpl
    assert t["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"] == "org.openx.data.jsonserde.JsonSerDe"
    wg = template["Resources"]["AthenaQueryWorkGroup"]["Properties"]
    assert wg["WorkGroupConfiguration"]["EnforceWorkGroupConfiguration"] is True
    assert wg["WorkGroupConfiguration"]["BytesScannedCutoffPerQuery"] == {"Ref": "AthenaBytesScannedCutoff"}


def test_no_resource_needs_named_iam_capability(template):
    # Roles and managed policies get generated names: CAPABILITY_IAM is enough.
    for kind, prop in (("AWS::IAM::Role", "RoleName"), ("AWS::IAM::ManagedPolicy", "ManagedPolicyName")):
        for name, r in resources_of_type(template, kind).items():
            assert prop not in r.get("Properties", {}), name
