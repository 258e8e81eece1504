"""assets/template.yaml deployed into moto's CloudFormation, then the resources read back
through the services' APIs: table and index, bucket, function and its S3 permission,
topic and e-mail subscription, log group, the Lambda's role and the two managed policies
for people. Policies are checked as deployed: the viewer's actions only read, the
operator adds only invoking the function and writing raw/ and Athena results, and the
Lambda's role names only this stack's bucket, table, topic and log group.

moto's CloudFormation skips AWS::S3::BucketPolicy, AWS::SNS::Subscription, AWS::Glue::* and
AWS::Athena::* (with a warning) and ignores the bucket's notification and public access block, the table's
point-in-time recovery and the function's architecture: test_template.py checks those as
written."""

import io
import re
import zipfile

import pytest

from conftest import ACCOUNT, REGION, TEMPLATE, as_list, policy_document, statements, unique

READ_VERBS = ("Get", "List", "Describe", "Query", "Filter", "BatchGet", "Scan")
WRITE_WORDS = ("Put", "Update", "Delete", "Invoke", "Create", "Start", "Stop", "Publish", "Write", "Upload", "Abort")

VIEWER_ACTIONS = {
    "dynamodb:Query",
    "dynamodb:GetItem",
    "dynamodb:DescribeTable",
    "logs:FilterLogEvents",
    "logs:GetLogEvents",
    "logs:DescribeLogStreams",
    "s3:GetObject",
    "s3:ListBucket",
}


def upload_code(aws, bucket, key="gridwatch-lambda.zip"):
    """A zip with a `bootstrap` (moto never runs it)."""
    s3 = aws("s3")
    s3.create_bucket(Bucket=bucket)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("bootstrap", "#!/bin/sh\necho not a real function\n")
    s3.put_object(Bucket=bucket, Key=key, Body=buf.getvalue())


def params(**kw):
    return [{"ParameterKey": k, "ParameterValue": str(v)} for k, v in kw.items()]


def delete_stack(aws, name, bucket):
    s3 = aws("s3")
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for o in page.get("Contents", []):
                s3.delete_object(Bucket=bucket, Key=o["Key"])
    except s3.exceptions.NoSuchBucket:
        pass
    aws("cloudformation").delete_stack(StackName=name)


@pytest.fixture(scope="module")
def stack(aws):
    """The template with its defaults (bucket name from account and region) and an
    e-mail subscription, created with CreateStack."""
    name, code = unique("gwdeploy"), unique("gwcode")
    upload_code(aws, code)
    cfn = aws("cloudformation")
    cfn.create_stack(
        StackName=name,
        TemplateBody=TEMPLATE.read_text(),
        Capabilities=["CAPABILITY_IAM"],
        Parameters=params(CodeBucket=code, AlertEmail="ops@example.com"),
    )
    st = cfn.describe_stacks(StackName=name)["Stacks"][0]
    assert st["StackStatus"] == "CREATE_COMPLETE", st.get("StackStatusReason")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in st.get("Outputs", [])}
    resources = {
        r["LogicalResourceId"]: r.get("PhysicalResourceId")
        for r in cfn.describe_stack_resources(StackName=name)["StackResources"]
        if "LogicalResourceId" in r
    }
    yield {"name": name, "outputs": outputs, "resources": resources}
    delete_stack(aws, name, outputs.get("BucketName", ""))
    s3 = aws("s3")
    s3.delete_object(Bucket=code, Key="gridwatch-lambda.zip")
    s3.delete_bucket(Bucket=code)


def test_outputs_name_every_resource(stack):
    o = stack["outputs"]
    assert o["BucketName"] == f"gridwatch-{ACCOUNT}-{REGION}", "default bucket name"
    assert o["TableName"] == "GridAnalysis"
    assert o["FunctionName"] == "gridwatch-analyze"
    assert o["FunctionArn"] == f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:gridwatch-analyze"
    assert o["LogGroupName"] == "/aws/lambda/gridwatch-analyze"
    assert o["TopicArn"] == f"arn:aws:sns:{REGION}:{ACCOUNT}:gridwatch-analyze-alerts"
    assert o["ViewerPolicyArn"].startswith(f"arn:aws:iam::{ACCOUNT}:policy/")
    assert o["OperatorPolicyArn"].startswith(f"arn:aws:iam::{ACCOUNT}:policy/")
    assert o["DashboardCommand"].startswith("gridwatch dashboard --backend aws ")
    assert f"--bucket {o['BucketName']}" in o["DashboardCommand"]


def test_table_and_status_index(stack, aws):
    t = aws("dynamodb").describe_table(TableName=stack["outputs"]["TableName"])["Table"]
    assert t["TableStatus"] == "ACTIVE"
    assert t["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert t["KeySchema"] == [
        {"AttributeName": "location", "KeyType": "HASH"},
        {"AttributeName": "timestamp", "KeyType": "RANGE"},
    ]
    (gsi,) = t["GlobalSecondaryIndexes"]
    assert gsi["IndexName"] == "status-index"
    assert gsi["KeySchema"] == [
        {"AttributeName": "status_key", "KeyType": "HASH"},
        {"AttributeName": "status_ts", "KeyType": "RANGE"},
    ]
    assert gsi["Projection"]["ProjectionType"] == "ALL"
    assert {a["AttributeName"]: a["AttributeType"] for a in t["AttributeDefinitions"]} == {
        "location": "S",
        "timestamp": "S",
        "status_key": "S",
        "status_ts": "S",
    }


def test_bucket_exists_encrypted(stack, aws):
    s3 = aws("s3")
    bucket = stack["outputs"]["BucketName"]
    s3.head_bucket(Bucket=bucket)
    rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"


def test_function_configuration_and_s3_permission(stack, aws):
    lam = aws("lambda")
    o = stack["outputs"]
    f = lam.get_function_configuration(FunctionName=o["FunctionName"])
    assert (f["Runtime"], f["Handler"], f["MemorySize"], f["Timeout"]) == ("provided.al2023", "bootstrap", 1769, 900)
    env = f["Environment"]["Variables"]
    assert env["TABLE_NAME"] == o["TableName"]
    assert env["ALERT_TOPIC_ARN"] == o["TopicArn"]
    assert (env["VOLTAGE_LOW_KV"], env["VOLTAGE_HIGH_KV"], env["FREQUENCY_DEVIATION_HZ"]) == ("13.5", "14.1", "0.05")
    role_name = stack["resources"]["FunctionRole"]
    assert f["Role"] == f"arn:aws:iam::{ACCOUNT}:role/{role_name}"
    (perm,) = statements(lam.get_policy(FunctionName=o["FunctionName"])["Policy"])
    assert perm["Principal"] == {"Service": "s3.amazonaws.com"}
    assert perm["Action"] == "lambda:InvokeFunction"
    assert perm["Condition"]["ArnLike"]["AWS:SourceArn"] == f"arn:aws:s3:::{o['BucketName']}"
    assert perm["Condition"]["StringEquals"]["AWS:SourceAccount"] == ACCOUNT


def test_the_email_filter_policy_passes_only_the_priorities_asked_for(stack, aws, template):
    """moto's CloudFormation does not create AWS::SNS::Subscription (test_template.py checks
    the resource as written), so the template's filter policy is applied here through the
    API, on an SQS queue standing in for the mailbox, and messages shaped like the
    handler's (a "priority" attribute) go through it."""
    import json

    sns, sqs = aws("sns"), aws("sqs")
    props = template["Resources"]["AlertEmailSubscription"]["Properties"]
    wanted = template["Parameters"]["AlertEmailPriorities"]["Default"].split(",")
    assert props["FilterPolicy"] == {"priority": {"Ref": "AlertEmailPriorities"}}
    queue = sqs.create_queue(QueueName=unique("mailbox"))["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    topic = stack["outputs"]["TopicArn"]
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=arn,
        Attributes={"FilterPolicyScope": props["FilterPolicyScope"], "FilterPolicy": json.dumps({"priority": wanted})},
    )
    for p in ("low", "medium", "high", "critical"):
        sns.publish(TopicArn=topic, Message=p, MessageAttributes={"priority": {"DataType": "String", "StringValue": p}})
    got = []
    for _ in range(5):
        got += [json.loads(m["Body"])["Message"] for m in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])]
    assert sorted(got) == sorted(wanted), got


def test_log_group_has_a_retention(stack, aws):
    (g,) = aws("logs").describe_log_groups(logGroupNamePrefix=stack["outputs"]["LogGroupName"])["logGroups"]
    assert g["retentionInDays"] == 14


def own_arns(o):
    bucket = o["BucketName"]
    table = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{o['TableName']}"
    group = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{o['LogGroupName']}"
    return bucket, table, group


def test_lambda_role_names_only_its_own_resources(stack, aws):
    iam = aws("iam")
    o = stack["outputs"]
    role = stack["resources"]["FunctionRole"]
    trust = statements(iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"])
    assert [(s["Principal"], s["Action"]) for s in trust] == [({"Service": "lambda.amazonaws.com"}, "sts:AssumeRole")]
    # No AWS managed policy (AWSLambdaBasicExecutionRole allows logs:CreateLogGroup on *).
    assert iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"] == []
    names = iam.list_role_policies(RoleName=role)["PolicyNames"]
    assert names, "the role has its inline policy"
    bucket, table, group = own_arns(o)
    allowed = {}
    for name in names:
        for st in statements(iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]):
            assert st["Effect"] == "Allow"
            for action in as_list(st["Action"]):
                assert "*" not in action, f"wildcard action {action}"
                for res in as_list(st["Resource"]):
                    assert res != "*", f"{action} on every resource"
                    ok = (
                        res == f"arn:aws:s3:::{bucket}"
                        or re.fullmatch(rf"arn:aws:s3:::{re.escape(bucket)}/(raw|results|rejected|work)/\*", res)
                        or res in (table, f"{table}/index/*")
                        or res == o["TopicArn"]
                        or res in (group, f"{group}:*")
                    )
                    assert ok, f"{action} on {res} is not this stack's resource"
                    allowed.setdefault(action, set()).add(res)
    # What the handler needs...
    assert {"s3:GetObject", "s3:PutObject", "s3:DeleteObject", "dynamodb:BatchWriteItem", "dynamodb:UpdateItem",
            "dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:Query", "dynamodb:GetItem", "sns:Publish", "logs:CreateLogStream",
            "logs:PutLogEvents"} <= set(allowed)
    # ...and no more: it reads only raw/ and its own work/ (a large object's shard orders and
    # parts), writes only results/, rejected/ and work/ (never raw/: of its own writes only a
    # shard order triggers it again, and a shard writes no order), and never creates log groups.
    assert allowed["s3:GetObject"] == {f"arn:aws:s3:::{bucket}/raw/*", f"arn:aws:s3:::{bucket}/work/*"}
    for write in ("s3:PutObject", "s3:DeleteObject"):
        assert allowed[write] == {f"arn:aws:s3:::{bucket}/results/*", f"arn:aws:s3:::{bucket}/rejected/*", f"arn:aws:s3:::{bucket}/work/*"}
    assert "logs:CreateLogGroup" not in allowed
    assert not any(a.startswith(("iam:", "lambda:", "sts:")) for a in allowed)


def managed_policy(aws, arn):
    iam = aws("iam")
    p = iam.get_policy(PolicyArn=arn)["Policy"]
    doc = iam.get_policy_version(PolicyArn=arn, VersionId=p["DefaultVersionId"])["PolicyVersion"]["Document"]
    return statements(doc)


def actions_of(sts):
    return {a for st in sts for a in as_list(st["Action"])}


def test_viewer_policy_only_reads(stack, aws):
    o = stack["outputs"]
    sts = managed_policy(aws, o["ViewerPolicyArn"])
    actions = actions_of(sts)
    assert actions == VIEWER_ACTIONS, "exactly what the dashboard reads"
    for a in actions:
        verb = a.split(":", 1)[1]
        assert "*" not in a, a
        assert verb.startswith(READ_VERBS), f"{a} is not a read"
        assert not any(w in verb for w in WRITE_WORDS), f"{a} writes"
    bucket, table, group = own_arns(o)
    for st in sts:
        assert st["Effect"] == "Allow"
        for res in as_list(st["Resource"]):
            assert res != "*"
            assert res.startswith((f"arn:aws:s3:::{bucket}", table, group)), res


def test_operator_policy_is_the_viewer_plus_reprocess_upload_and_sql(stack, aws):
    o = stack["outputs"]
    viewer = managed_policy(aws, o["ViewerPolicyArn"])
    operator = managed_policy(aws, o["OperatorPolicyArn"])
    grants = {(a, r) for st in operator for a in as_list(st["Action"]) for r in as_list(st["Resource"])}
    for st in viewer:
        for a in as_list(st["Action"]):
            for r in as_list(st["Resource"]):
                assert (a, r) in grants, f"operator lacks the viewer's {a} on {r}"
    extra = {(a, r) for a, r in grants if a not in VIEWER_ACTIONS}
    bucket = o["BucketName"]
    invokes = {r for a, r in extra if a == "lambda:InvokeFunction"}
    assert invokes == {o["FunctionArn"]}
    puts = {r for a, r in extra if a == "s3:PutObject"}
    assert puts == {f"arn:aws:s3:::{bucket}/raw/*", f"arn:aws:s3:::{bucket}/athena-results/*"}
    for a, r in extra:
        assert r != "*" and "*" not in a, (a, r)
        assert a.split(":")[0] in ("lambda", "s3", "athena", "glue"), a
        if a.startswith(("athena:", "glue:")):
            assert re.search(r":(workgroup/gridwatch|catalog|database/gridwatch|table/gridwatch/\*)$", r), r
        assert not a.endswith(("DeleteObject", "DeleteItem", "PutItem", "UpdateItem", "BatchWriteItem")), a


def test_deploy_with_a_change_set_x86_and_no_email(aws):
    """What `aws cloudformation deploy` does (CreateChangeSet + ExecuteChangeSet), with
    explicit names, x86_64 and no subscription."""
    name, code = unique("gwcs"), unique("gwcode")
    upload_code(aws, code, "fn.zip")
    fn, table, bucket = unique("gw-fn"), unique("GW"), unique("gw-data")
    cfn = aws("cloudformation")
    cs = cfn.create_change_set(
        StackName=name,
        ChangeSetName="deploy-1",
        ChangeSetType="CREATE",
        TemplateBody=TEMPLATE.read_text(),
        Capabilities=["CAPABILITY_IAM"],
        Parameters=params(
            CodeBucket=code, CodeKey="fn.zip", Architecture="x86_64", FunctionName=fn, TableName=table,
            BucketName=bucket, AthenaDatabase="gw_cs", AthenaWorkGroup=name, MemorySize=1024, Timeout=900,
            LogRetentionDays=30,
        ),
    )
    cfn.execute_change_set(ChangeSetName=cs["Id"], StackName=name)
    try:
        st = cfn.describe_stacks(StackName=name)["Stacks"][0]
        assert st["StackStatus"] in ("CREATE_COMPLETE", "UPDATE_COMPLETE"), st
        assert {p["ParameterKey"]: p["ParameterValue"] for p in st["Parameters"]}["Architecture"] == "x86_64"
        f = aws("lambda").get_function_configuration(FunctionName=fn)
        assert (f["MemorySize"], f["Timeout"]) == (1024, 900)
        assert f["Environment"]["Variables"]["TABLE_NAME"] == table
        topic = f"arn:aws:sns:{REGION}:{ACCOUNT}:{fn}-alerts"
        assert aws("sns").list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"] == []
        (g,) = aws("logs").describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{fn}")["logGroups"]
        assert g["retentionInDays"] == 30
        aws("s3").head_bucket(Bucket=bucket)
    finally:
        delete_stack(aws, name, bucket)
    # Deleting the stack removes what it created.
    assert table not in aws("dynamodb").list_tables()["TableNames"]
    assert fn not in [f["FunctionName"] for f in aws("lambda").list_functions()["Functions"]]
    assert aws("logs").describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{fn}")["logGroups"] == []
