"""Shared set-up of the deployment tests: moto's server on 127.0.0.1 (started by
scripts/test.sh, which exports GRIDWATCH_TEST_AWS_ENDPOINT), boto3 clients for it, and
the CloudFormation template parsed with its short-form intrinsic functions."""

import ast
import json
import os
import pathlib
import sys
import uuid
from urllib.parse import urlparse

import boto3
import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "assets" / "template.yaml"
ACCOUNT = "123456789012"  # moto's default account
REGION = "us-east-1"


class CfnLoader(yaml.SafeLoader):
    """YAML loader that turns `!Ref x` into {"Ref": x} and `!Sub ...` into {"Fn::Sub": ...}."""


def _intrinsic(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {"Fn::" + suffix: value}


CfnLoader.add_multi_constructor("!", _intrinsic)


def load_template():
    return yaml.load(TEMPLATE.read_text(), Loader=CfnLoader)


def endpoint_or_skip():
    url = os.environ.get("GRIDWATCH_TEST_AWS_ENDPOINT", "").strip().rstrip("/")
    if not url:
        note = "GRIDWATCH_TEST_AWS_ENDPOINT is not set: run scripts/test.sh to start moto on 127.0.0.1"
        if os.environ.get("CI"):
            pytest.fail(note + " (CI is set, so skipping is a failure)")
        pytest.skip(note)
    host = urlparse(url).hostname
    assert host in ("127.0.0.1", "localhost"), f"{url}: the deployment tests only talk to 127.0.0.1"
    return url


@pytest.fixture(scope="session")
def template():
    return load_template()


@pytest.fixture(scope="session")
def endpoint():
    return endpoint_or_skip()


@pytest.fixture(scope="session")
def aws(endpoint):
    """aws("s3") -> a boto3 client for moto with test credentials."""

    def client(service):
        return boto3.client(
            service,
            endpoint_url=endpoint,
            region_name=REGION,
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )

    return client


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def policy_document(doc):
    """IAM documents come back as JSON, URL-decoded dicts, or (moto, inline role
    policies created by CloudFormation) a Python repr of a dict."""
    if isinstance(doc, dict):
        return doc
    try:
        return json.loads(doc)
    except ValueError:
        return ast.literal_eval(doc)


def statements(doc):
    st = policy_document(doc)["Statement"]
    return st if isinstance(st, list) else [st]


def as_list(v):
    return v if isinstance(v, list) else [v]


def python_bin(name):
    """A console script of the test venv (cfn-lint, aws)."""
    return str(pathlib.Path(sys.executable).parent / name)
