#!/usr/bin/env python3
"""Validates Istio objects against the openAPIV3Schema of their CustomResourceDefinition.

    validate-istio-crds.py CRD_FILE MANIFEST...      (a manifest may hold several documents)

For each object: the CRD whose group and kind match, the version named by its apiVersion
(which must be served), and that version's structural schema, checked the way the API server
does it:
  - JSON Schema keywords (type, properties, required, enum, oneOf/anyOf, pattern, ...) with the
    `jsonschema` package;
  - unknown fields are errors (kubectl's strict field validation) except under
    `x-kubernetes-preserve-unknown-fields: true`; `nullable: true` admits null;
    `x-kubernetes-int-or-string` admits both;
  - every `x-kubernetes-validations` CEL rule the object reaches is evaluated with cel-python,
    with Kubernetes' `isURL`/`url().getScheme()` supplied here. A rule that cannot be evaluated is
    an error, never a silent pass.
Prints one line per object and exits 1 if any object fails. Needs PyYAML, jsonschema, cel-python
(all in the project venv: `make deps`).
"""

import copy
import sys
import urllib.parse

import celpy
import jsonschema
import yaml
from celpy import celtypes


def to_json_schema(node):
    """A plain JSON Schema equivalent of a structural schema node (x-kubernetes-* handled)."""
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key in ("properties", "patternProperties"):
            out[key] = {k: to_json_schema(v) for k, v in value.items()}
        elif key in ("items", "additionalProperties", "not") and isinstance(value, dict):
            out[key] = to_json_schema(value)
        elif key in ("oneOf", "anyOf", "allOf"):
            out[key] = [to_json_schema(v) for v in value]
        elif key.startswith("x-kubernetes-") or key in ("nullable", "description", "format"):
            continue
        else:
            out[key] = value
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    preserve = node.get("x-kubernetes-preserve-unknown-fields", False)
    if node.get("type") == "object" and "additionalProperties" not in node and not preserve:
        out["additionalProperties"] = False
    return out


def is_url(value):
    parts = urllib.parse.urlsplit(str(value))
    return celtypes.BoolType(bool(parts.scheme) and (bool(parts.netloc) or parts.scheme == "file"))


def url_scheme(value):
    return celtypes.StringType(urllib.parse.urlsplit(str(value)).scheme)


CEL_FUNCTIONS = {
    "isURL": is_url,
    "url": lambda v: celtypes.StringType(str(v)),
    "getScheme": url_scheme,
}
CEL_ENV = celpy.Environment()


def cel_rules(schema, value, path, results):
    """Evaluates every x-kubernetes-validations rule that `value` reaches under `schema`."""
    if not isinstance(schema, dict) or value is None:
        return
    for rule in schema.get("x-kubernetes-validations", []):
        try:
            program = CEL_ENV.program(CEL_ENV.compile(rule["rule"]), functions=CEL_FUNCTIONS)
            ok = program.evaluate({"self": celpy.json_to_cel(value)})
        except Exception as err:  # noqa: BLE001 - any failure to evaluate is reported
            results.append((path, f"rule {rule['rule']!r} could not be evaluated: {err}"))
            continue
        results.append((path, None if ok is True or ok == celtypes.BoolType(True)
                        else rule.get("message", rule["rule"])))
    if isinstance(value, dict):
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for key, child in value.items():
            sub = props.get(key, extra if isinstance(extra, dict) else None)
            cel_rules(sub, child, f"{path}.{key}", results)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, child in enumerate(value):
            cel_rules(schema["items"], child, f"{path}[{i}]", results)


def load_crds(path):
    crds = {}
    with open(path, encoding="utf-8") as f:
        for doc in yaml.safe_load_all(f):
            if not doc or doc.get("kind") != "CustomResourceDefinition":
                continue
            spec = doc["spec"]
            for version in spec["versions"]:
                key = (spec["group"], version["name"], spec["names"]["kind"])
                crds[key] = version
    return crds


def validate(obj, crds):
    """(ok, message) for one object."""
    group, _, version = obj.get("apiVersion", "").rpartition("/")
    kind = obj.get("kind", "")
    name = f"{kind}/{obj.get('metadata', {}).get('name', '?')}"
    crd_version = crds.get((group, version, kind))
    if crd_version is None:
        return False, f"{name}: no CRD for {obj.get('apiVersion')} {kind}"
    if not crd_version.get("served", False):
        return False, f"{name}: {group}/{version} is not served"
    structural = crd_version["schema"]["openAPIV3Schema"]
    schema = to_json_schema(copy.deepcopy(structural))
    # apiVersion, kind and metadata (ObjectMeta) are the API server's, not described by the CRD.
    props = schema.setdefault("properties", {})
    props["apiVersion"] = props["kind"] = {"type": "string"}
    props["metadata"] = {"type": "object"}
    errors = [
        f"{'.'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}"
        for e in jsonschema.Draft7Validator(schema).iter_errors(obj)
    ]
    rules = []
    cel_rules(structural, obj, "", rules)
    errors += [f"{p or '(root)'}: {m}" for p, m in rules if m]
    if errors:
        return False, f"{name}: " + "; ".join(errors)
    return True, f"{name} valid against {group}/{version} ({len(rules)} CEL rules evaluated)"


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    crds = load_crds(argv[1])
    failed = 0
    for path in argv[2:]:
        with open(path, encoding="utf-8") as f:
            for obj in yaml.safe_load_all(f):
                if not obj:
                    continue
                ok, message = validate(obj, crds)
                print(("ok   " if ok else "FAIL ") + f"{path}: {message}")
                failed += not ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
