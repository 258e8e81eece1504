"""Runs setup_guide.md against moto: every ```sh block preceded by `<!-- test: NAME -->`,
in order, in one `bash -euo pipefail`, with the AWS CLI of the test venv and the gridwatch
binary of the test build, in a scratch directory (a stand-in Lambda zip, the repository's
assets/, a throw-away HOME). The guide ends by deleting everything; the test then checks
that nothing the stack made is left.

Test-only additions (not in the guide), each for something moto does not do:
- before `sql`: create the Athena workgroup (moto's CloudFormation skips AWS::Athena::*),
  and delete it after `cleanup` (the stack's deletion does that on AWS).
"""

import os
import pathlib
import re
import subprocess
import zipfile

import pytest

from conftest import ACCOUNT, REGION, ROOT, python_bin

GUIDE = ROOT / "setup_guide.md"
EXPECTED_BLOCKS = [
    "vars", "code", "deploy", "verify-deploy", "alerts", "config", "upload", "sql", "access", "cleanup", "verify-cleanup",
]
SHIMS_BEFORE = {
    "sql": 'aws athena create-work-group --name gridwatch '
           '--configuration "ResultConfiguration={OutputLocation=s3://$BUCKET/athena-results/}" >/dev/null',
}
SHIMS_AFTER = {
    # the stack's deletion removes the workgroup on AWS
    "cleanup": "aws athena delete-work-group --work-group gridwatch --recursive-delete-option",
}


def guide_blocks(text):
    """[(name, code)] of the blocks marked `<!-- test: NAME -->`, in order."""
    pattern = re.compile(r"<!-- test: ([a-z-]+) -->\n```sh\n(.*?)\n```", re.S)
    return pattern.findall(text)


def test_guide_marks_every_block_tested_or_not():
    text = GUIDE.read_text()
    blocks = re.findall(r"(<!--[^\n]*-->\n)?```sh\n", text)
    unmarked = [i for i, marker in enumerate(blocks) if not marker]
    assert not unmarked, f"sh blocks {unmarked} of setup_guide.md say neither `test:` nor `not tested:`"
    assert [n for n, _ in guide_blocks(text)] == EXPECTED_BLOCKS


def gridwatch_binary():
    exe = ROOT / "target" / "debug" / "gridwatch"
    if not exe.exists():
        msg = f"{exe} is missing: scripts/test.sh builds it (cargo build --all-features)"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    out = subprocess.run([str(exe), "upload", "--help"], capture_output=True, text=True)
    assert out.returncode == 0, f"{exe} was built without the aws feature: {out.stderr}"
    return exe


def test_setup_guide_runs_against_moto(endpoint, aws, tmp_path):
    exe = gridwatch_binary()
    work = tmp_path / "clone"
    (work / "target/lambda/gridwatch-lambda").mkdir(parents=True)
    with zipfile.ZipFile(work / "target/lambda/gridwatch-lambda/bootstrap.zip", "w") as z:
        z.writestr("bootstrap", "#!/bin/sh\n")
    (work / "assets").symlink_to(ROOT / "assets")
    home = tmp_path / "home"
    home.mkdir()
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "gridwatch").symlink_to(exe)
    (bindir / "aws").symlink_to(python_bin("aws"))

    script = ["set -euo pipefail"]
    for name, code in guide_blocks(GUIDE.read_text()):
        script.append(f"echo '>>> block {name}' >&2")
        if name in SHIMS_BEFORE:
            script.append(SHIMS_BEFORE[name])
        script.append(code)
        if name in SHIMS_AFTER:
            script.append(SHIMS_AFTER[name])
    script.append("echo '>>> done' >&2")

    env = {
        "PATH": f"{bindir}:{os.environ['PATH']}",
        "HOME": str(home),
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_EC2_METADATA_DISABLED": "true",
        "NO_COLOR": "1",
        "LANG": "C.UTF-8",
    }
    out = subprocess.run(["bash", "-c", "\n".join(script)], cwd=work, env=env, capture_output=True, text=True, timeout=600)
    log = f"--- stdout\n{out.stdout}\n--- stderr\n{out.stderr}"
    print(log)  # shown by pytest -rA / on failure
    last = re.findall(r">>> (block [a-z-]+|done)", out.stderr)
    assert out.returncode == 0, f"setup_guide.md failed in {last[-1] if last else '?'}:\n{log}"
    assert last[-1] == "done", log

    # What the blocks printed (moto's values where it differs from AWS).
    bucket = f"gridwatch-{ACCOUNT}-{REGION}"
    assert f"account {ACCOUNT}, data bucket {bucket}" in out.stdout, log
    assert "Successfully created/updated stack - gridwatch" in out.stdout, log
    assert "ACTIVE\tPAY_PER_REQUEST\tstatus-index" in out.stdout, log
    assert "/aws/lambda/gridwatch-analyze\t14" in out.stdout, log
    # The e-mail subscription is an AWS::SNS::Subscription (for its filter policy), which
    # moto's CloudFormation does not create: test_deploy.py tests the filter policy instead.
    assert '"MessageId"' in out.stdout, log
    assert "7 uploaded, 0 skipped, 0 failed" in out.stdout + out.stderr, log
    assert "grid_data_2025-01-20.csv" in out.stdout, log
    assert "DELETE_COMPLETE" in out.stdout, log
    cfg = (home / ".config/gridwatch/config.toml").read_text()
    assert f'bucket = "{bucket}"' in cfg

    # And nothing is left.
    assert "GridAnalysis" not in aws("dynamodb").list_tables()["TableNames"]
    names = [b["Name"] for b in aws("s3").list_buckets()["Buckets"]]
    assert bucket not in names and f"gridwatch-code-{ACCOUNT}-{REGION}" not in names
    assert "gridwatch-analyze" not in [f["FunctionName"] for f in aws("lambda").list_functions()["Functions"]]
    assert not [t for t in aws("sns").list_topics()["Topics"] if t["TopicArn"].endswith(":gridwatch-analyze-alerts")]
    assert aws("logs").describe_log_groups(logGroupNamePrefix="/aws/lambda/gridwatch-analyze")["logGroups"] == []
    # moto's CloudFormation does not delete AWS::IAM::ManagedPolicy resources (AWS does, and
    # refuses while a policy is attached): check the guide detached them, then delete them.
    iam = aws("iam")
    for p in iam.list_policies(Scope="Local")["Policies"]:
        if p["PolicyName"].startswith("gridwatch-"):
            entities = iam.list_entities_for_policy(PolicyArn=p["Arn"])
            assert not (entities["PolicyGroups"] or entities["PolicyUsers"] or entities["PolicyRoles"]), p
            iam.delete_policy(PolicyArn=p["Arn"])
    groups = [g["GroupName"] for g in aws("iam").list_groups()["Groups"]]
    assert "gridwatch-viewers" not in groups and "gridwatch-operators" not in groups
    workgroups = [w["Name"] for w in aws("athena").list_work_groups()["WorkGroups"]]
    assert "gridwatch" not in workgroups
