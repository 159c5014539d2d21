"""Report validation for podsec's tests, with independent implementations: jsonschema for
SARIF and PolicyReport, the standard library's XML parser for JUnit.

    reports.py schema SCHEMA.json REPORT        # REPORT: JSON, or JSON documents split by ---
    reports.py crd CRD.yaml VERSION REPORT      # against a CRD's openAPIV3Schema
    reports.py junit REPORT.xml                 # prints the parsed structure as JSON

Exits 1 with every error listed when a report is invalid.
"""
import json
import sys


def documents(path):
    text = open(path, encoding="utf-8").read()
    if text.lstrip().startswith("---") or "\n---\n" in text:
        return [json.loads(d) for d in text.split("---\n") if d.strip()]
    return [json.loads(text)]


def validate(schema, docs, label):
    import jsonschema

    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    validator = cls(schema)
    errors = []
    for i, doc in enumerate(docs):
        for e in validator.iter_errors(doc):
            where = "/".join(str(p) for p in e.absolute_path)
            errors.append(f"{label} document {i}: /{where}: {e.message}")
    if errors:
        print("\n".join(errors))
        sys.exit(1)
    print(f"{len(docs)} valid")


def crd_schema(path, version, kind):
    import yaml

    for crd in yaml.safe_load_all(open(path, encoding="utf-8")):
        if crd and crd.get("spec", {}).get("names", {}).get("kind") == kind:
            for v in crd["spec"]["versions"]:
                if v["name"] == version:
                    return v["schema"]["openAPIV3Schema"]
    sys.exit(f"{path}: no {kind} at {version}")


def junit(path):
    import xml.etree.ElementTree as ET

    root = ET.parse(path).getroot()
    out = {"tag": root.tag, "attrib": root.attrib, "suites": []}
    for suite in root.findall("testsuite"):
        cases = []
        for case in suite.findall("testcase"):
            cases.append({
                "name": case.get("name"),
                "classname": case.get("classname"),
                "failures": [f.get("message") for f in case.findall("failure")],
                "texts": [f.text for f in case.findall("failure")],
            })
        out["suites"].append({"attrib": suite.attrib, "cases": cases})
    print(json.dumps(out))


def main():
    command = sys.argv[1]
    if command == "schema":
        validate(json.load(open(sys.argv[2], encoding="utf-8")), documents(sys.argv[3]), sys.argv[3])
    elif command == "crd":
        docs = documents(sys.argv[4])
        for kind in sorted({d.get("kind") for d in docs}):
            schema = crd_schema(sys.argv[2], sys.argv[3], kind)
            validate(schema, [d for d in docs if d.get("kind") == kind], kind)
    elif command == "junit":
        junit(sys.argv[2])
    else:
        sys.exit(f"unknown command {command}")


if __name__ == "__main__":
    main()
