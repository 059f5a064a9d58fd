"""Render a kustomization the way ``kubectl kustomize`` does, for the subset deploy/k8s uses.

No kustomize binary is packaged on the registries this project installs from, so the deploy
tests render the overlays with this loader and validate the result. It refuses any field or
form it does not implement (rather than silently skipping what real kustomize would apply):
``resources`` (files and folders), ``namespace``, ``images``, ``replicas``, inline JSON 6902
``patches`` with a kind/name ``target``, and ``configMapGenerator`` with name hashing off.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

SUPPORTED_FIELDS = frozenset(
    {
        "apiVersion",
        "kind",
        "resources",
        "namespace",
        "images",
        "replicas",
        "patches",
        "configMapGenerator",
        "generatorOptions",
    }
)
CLUSTER_SCOPED_KINDS = frozenset(
    {
        "Namespace",
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "PersistentVolume",
        "StorageClass",
        "PriorityClass",
    }
)
POD_TEMPLATE_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"})
SCALABLE_KINDS = frozenset({"Deployment", "StatefulSet", "ReplicaSet"})


class UnsupportedKustomization(ValueError):
    """The kustomization uses something this loader does not implement."""


def render(folder: Path) -> list[dict[str, Any]]:
    """Every resource the kustomization in ``folder`` produces, transformed."""
    spec = yaml.safe_load((folder / "kustomization.yaml").read_text())
    unknown = set(spec) - SUPPORTED_FIELDS
    if unknown:
        raise UnsupportedKustomization(f"{folder}: unsupported fields {sorted(unknown)}")
    resources: list[dict[str, Any]] = []
    for entry in spec.get("resources", []):
        path = (folder / entry).resolve()
        if path.is_dir():
            resources.extend(render(path))
        else:
            resources.extend(doc for doc in yaml.safe_load_all(path.read_text()) if doc)
    resources.extend(_generated_config_maps(folder, spec))
    for patch in spec.get("patches", []):
        _apply_patch(resources, patch, folder)
    if "namespace" in spec:
        for resource in resources:
            if resource["kind"] not in CLUSTER_SCOPED_KINDS:
                resource["metadata"]["namespace"] = spec["namespace"]
    for image in spec.get("images", []):
        _set_image(resources, image)
    for replicas in spec.get("replicas", []):
        _set_replicas(resources, replicas)
    _refuse_duplicates(resources)
    return resources


def pod_spec(resource: dict[str, Any]) -> dict[str, Any] | None:
    """The pod spec inside a workload, or None for kinds without one."""
    if resource["kind"] in POD_TEMPLATE_KINDS:
        return resource["spec"]["template"]["spec"]  # type: ignore[no-any-return]
    if resource["kind"] == "CronJob":
        return resource["spec"]["jobTemplate"]["spec"]["template"]["spec"]  # type: ignore[no-any-return]
    if resource["kind"] == "Pod":
        return resource["spec"]  # type: ignore[no-any-return]
    return None


def _generated_config_maps(folder: Path, spec: dict[str, Any]) -> list[dict[str, Any]]:
    generators = spec.get("configMapGenerator", [])
    if generators and not spec.get("generatorOptions", {}).get("disableNameSuffixHash"):
        raise UnsupportedKustomization(f"{folder}: name suffix hashes are not emulated")
    maps = []
    for generator in generators:
        if set(generator) - {"name", "files", "literals"}:
            raise UnsupportedKustomization(f"{folder}: generator fields {sorted(generator)}")
        data: dict[str, str] = {}
        for item in generator.get("files", []):
            key, _, relative = item.rpartition("=")
            path = (folder / relative).resolve()
            if not path.is_relative_to(folder.resolve()):
                raise UnsupportedKustomization(f"{item}: kustomize refuses files outside {folder}")
            data[key or path.name] = path.read_text()
        for literal in generator.get("literals", []):
            key, _, value = literal.partition("=")
            data[key] = value
        maps.append(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": generator["name"]},
                "data": data,
            }
        )
    return maps


def _apply_patch(resources: list[dict[str, Any]], patch: dict[str, Any], folder: Path) -> None:
    if set(patch) - {"target", "patch", "path"} or set(patch["target"]) - {"kind", "name"}:
        raise UnsupportedKustomization(f"{folder}: patch form {patch}")
    text = patch["patch"] if "patch" in patch else (folder / patch["path"]).read_text()
    operations = yaml.safe_load(text)
    if not isinstance(operations, list):
        raise UnsupportedKustomization(f"{folder}: only JSON 6902 patches are emulated")
    kind, name = patch["target"]["kind"], patch["target"].get("name")
    targets = [
        resource
        for resource in resources
        if resource["kind"] == kind and name in (None, resource["metadata"]["name"])
    ]
    if not targets:
        raise UnsupportedKustomization(f"{folder}: patch target {patch['target']} matches nothing")
    for resource in targets:
        for operation in operations:
            _json_patch(resource, operation)


def _json_patch(document: dict[str, Any], operation: dict[str, Any]) -> None:
    *parents, last = [
        part.replace("~1", "/").replace("~0", "~") for part in operation["path"].split("/")[1:]
    ]
    node: Any = document
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    op = operation["op"]
    if isinstance(node, list):
        index = len(node) if last == "-" else int(last)
        if op == "add":
            node.insert(index, copy.deepcopy(operation["value"]))
        elif op == "replace":
            node[index] = copy.deepcopy(operation["value"])
        elif op == "remove":
            del node[index]
        else:
            raise UnsupportedKustomization(f"JSON patch op {op}")
        return
    if op in ("replace", "remove") and last not in node:
        raise KeyError(f"JSON patch {op} of a missing path {operation['path']}")
    if op in ("add", "replace"):
        node[last] = copy.deepcopy(operation["value"])
    elif op == "remove":
        del node[last]
    else:
        raise UnsupportedKustomization(f"JSON patch op {op}")


def _set_image(resources: list[dict[str, Any]], image: dict[str, Any]) -> None:
    if set(image) - {"name", "newName", "newTag", "digest"}:
        raise UnsupportedKustomization(f"image transform {image}")
    name = image["name"]
    for resource in resources:
        spec = pod_spec(resource)
        if spec is None:
            continue
        for container in spec.get("containers", []) + spec.get("initContainers", []):
            current = container["image"]
            if current != name and not current.startswith((f"{name}:", f"{name}@")):
                continue
            new = image.get("newName", name)
            if "digest" in image:
                container["image"] = f"{new}@{image['digest']}"
            elif "newTag" in image:
                container["image"] = f"{new}:{image['newTag']}"
            else:
                container["image"] = new + current[len(name) :]


def _set_replicas(resources: list[dict[str, Any]], replicas: dict[str, Any]) -> None:
    matched = [
        resource
        for resource in resources
        if resource["kind"] in SCALABLE_KINDS and resource["metadata"]["name"] == replicas["name"]
    ]
    if not matched:
        raise UnsupportedKustomization(f"replicas for {replicas['name']} match nothing")
    for resource in matched:
        resource["spec"]["replicas"] = replicas["count"]


def _refuse_duplicates(resources: list[dict[str, Any]]) -> None:
    seen = set()
    for resource in resources:
        key = (
            resource["kind"],
            resource["metadata"].get("namespace", ""),
            resource["metadata"]["name"],
        )
        if key in seen:
            raise UnsupportedKustomization(f"duplicate resource {key}")
        seen.add(key)
