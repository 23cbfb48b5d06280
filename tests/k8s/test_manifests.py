"""k8s/: every manifest validates as the API server would validate it (unknown fields rejected),
the RayService against the KubeRay CRD, and its serveConfigV2 is configs/production.yaml."""

import copy
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "k8s"
# The project's own copy of the KubeRay CRD (k8s/crds/README.md says which release).
CRD_PATH = K8S / "crds" / "ray.io_rayservices.yaml"
KUBERNETES_VERSION = "1.33.0"


def manifests() -> list[tuple[str, dict]]:
    found = []
    for path in sorted(K8S.glob("*.yaml")):
        found.extend((path.name, doc) for doc in yaml.safe_load_all(path.read_text()) if doc)
    return found


BUILTIN = [(name, doc) for name, doc in manifests() if doc["apiVersion"] != "ray.io/v1"]


def strict_schema(schema: Any) -> Any:
    """The CRD schema as the API server applies it with strict field validation: an object
    schema listing `properties` rejects any other field unless it preserves unknown fields,
    and `nullable` admits null."""
    if isinstance(schema, list):
        return [strict_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    result = {key: strict_schema(value) for key, value in schema.items()}
    if (
        "properties" in result
        and "additionalProperties" not in result
        and not result.get("x-kubernetes-preserve-unknown-fields")
    ):
        result["additionalProperties"] = False
    if result.pop("nullable", False) and "type" in result:
        result["type"] = [result["type"], "null"]
    return result


@pytest.fixture(scope="module")
def crd_validator() -> jsonschema.Validator:
    crd = yaml.load(CRD_PATH.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    schema = strict_schema(version["schema"]["openAPIV3Schema"])
    return jsonschema.Draft7Validator(schema)


@pytest.fixture(scope="module")
def rayservice() -> dict:
    (doc,) = [doc for _, doc in manifests() if doc["kind"] == "RayService"]
    return doc


def crd_errors(validator: jsonschema.Validator, doc: dict) -> list[str]:
    return sorted(f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc))


@pytest.mark.parametrize(
    ("filename", "doc"), BUILTIN, ids=[f"{n}:{d['kind']}/{d['metadata']['name']}" for n, d in BUILTIN]
)
def test_builtin_manifest_validates_strictly_against_the_kubernetes_schema(filename, doc):
    import kubernetes_validate

    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_kubernetes_validation_rejects_an_unknown_field():
    import kubernetes_validate

    (statefulset,) = [d for _, d in BUILTIN if d["kind"] == "StatefulSet" and "postgres" in d["metadata"]["name"]]
    typo = copy.deepcopy(statefulset)
    typo["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(typo, KUBERNETES_VERSION, strict=True)


def test_rayservice_validates_against_the_kuberay_crd(crd_validator, rayservice):
    assert rayservice["apiVersion"] == "ray.io/v1"
    assert set(rayservice["metadata"]) <= {"name", "namespace", "labels", "annotations"}
    assert crd_errors(crd_validator, rayservice) == []


def test_crd_validation_rejects_unknown_and_misplaced_fields(crd_validator, rayservice):
    typo = copy.deepcopy(rayservice)
    typo["spec"]["rayClusterConfig"]["enableInTreeAutoscalng"] = True
    typo["spec"]["rayClusterConfig"]["workerGroupSpecs"][1]["maxReplica"] = 3
    errors = crd_errors(crd_validator, typo)
    assert any("enableInTreeAutoscalng" in e for e in errors)
    assert any("maxReplica'" in e for e in errors)


def test_serve_config_v2_is_configs_production_yaml(rayservice):
    production = yaml.safe_load((ROOT / "configs" / "production.yaml").read_text())
    assert yaml.safe_load(rayservice["spec"]["serveConfigV2"]) == production, (
        "k8s/rayservice.yaml's serveConfigV2 differs from configs/production.yaml: paste the file "
        "into the block, indented four spaces"
    )


def test_head_has_no_gpus_and_a_gpu_group_autoscales(rayservice):
    cluster = rayservice["spec"]["rayClusterConfig"]
    assert cluster["enableInTreeAutoscaling"] is True
    head = cluster["headGroupSpec"]
    assert head["rayStartParams"]["num-gpus"] == "0"
    for container in head["template"]["spec"]["containers"]:
        assert "nvidia.com/gpu" not in container.get("resources", {}).get("limits", {})
    gpu_groups = [
        group
        for group in cluster["workerGroupSpecs"]
        if any("nvidia.com/gpu" in c["resources"]["limits"] for c in group["template"]["spec"]["containers"])
    ]
    assert gpu_groups
    for group in gpu_groups:
        assert 1 <= group["minReplicas"] < group["maxReplicas"]
        assert group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]


def test_ray_version_matches_the_pinned_ray(rayservice):
    from importlib.metadata import version

    assert rayservice["spec"]["rayClusterConfig"]["rayVersion"] == version("ray")


def secret_refs(node: Any) -> list[tuple[str, str]]:
    if isinstance(node, dict):
        refs = [(node["secretKeyRef"]["name"], node["secretKeyRef"]["key"])] if "secretKeyRef" in node else []
        return refs + [ref for value in node.values() for ref in secret_refs(value)]
    if isinstance(node, list):
        return [ref for item in node for ref in secret_refs(item)]
    return []


def test_every_secret_reference_is_in_the_example_with_placeholders_only():
    examples = yaml.safe_load_all((K8S / "secrets.example.yaml").read_text())
    defined = {}
    for secret in examples:
        for key, value in secret["stringData"].items():
            defined[(secret["metadata"]["name"], key)] = value
    referenced = {ref for _, doc in manifests() for ref in secret_refs(doc)}
    assert referenced and referenced <= set(defined)
    passwords = {ref: value for ref, value in defined.items() if ref[1] != "username"}
    assert all(value == "CHANGE_ME" for value in passwords.values()), passwords


def test_migration_runs_as_a_job_with_the_production_config():
    (job,) = [d for _, d in BUILTIN if d["kind"] == "Job" and "migrate" in d["metadata"]["name"]]
    command = job["spec"]["template"]["spec"]["containers"][0]["command"]
    assert command[-2:] == ["db", "upgrade"] and "/app/configs/production.yaml" in command
