"""Report validation for podsec's tests, with independent implementations: jsonschema for
SARIF and PolicyReport, the standard library's XML parser for JUnit.

    reports.py schema SCHEMA.json REPORT        # REPORT: JSON, or JSON documents split by ---
    reports.py crd CRD.yaml VERSION REPORT      # against a CRD's openAPIV3Schema
    reports.py junit REPORT.xml                 # prints the parsed structure as JSON
    reports.py pixels SHOT.png RRGGBB...        # per colour, how many pixels (and in which
                                                # rows) are that colour; and the dark (text) ones

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


def png_rows(path):
    """Decodes an 8-bit RGB or RGBA PNG (what Chromium writes) into rows of (r, g, b)."""
    import struct
    import zlib

    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        sys.exit(f"{path}: not a PNG")
    pos, idat, width, height, channels = 8, b"", 0, 0, 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", chunk[:10])
            if depth != 8 or colour not in (2, 6):
                sys.exit(f"{path}: bit depth {depth}, colour type {colour}: only 8-bit RGB(A)")
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += chunk
    raw = zlib.decompress(idat)
    stride = width * channels
    previous = bytearray(stride)
    rows = []
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b = previous[i]
            c = previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + a) & 255
            elif kind == 2:
                line[i] = (line[i] + b) & 255
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append([tuple(line[x * channels:x * channels + 3]) for x in range(width)])
        previous = line
    return rows


def pixels(path, colours):
    rows = png_rows(path)
    wanted = {c: tuple(int(c[i:i + 2], 16) for i in (0, 2, 4)) for c in colours}
    out = {c: {"pixels": 0, "rows": []} for c in colours}
    out["dark"] = {"pixels": 0, "rows": []}
    for y, row in enumerate(rows):
        for c, rgb in wanted.items():
            n = sum(1 for p in row if all(abs(p[i] - rgb[i]) <= 6 for i in range(3)))
            if n:
                out[c]["pixels"] += n
                out[c]["rows"].append(y)
        n = sum(1 for p in row if max(p) < 90)
        if n:
            out["dark"]["pixels"] += n
            out["dark"]["rows"].append(y)
    for v in out.values():
        v["first_row"] = v["rows"][0] if v["rows"] else None
        v["rows"] = len(v["rows"])
    print(json.dumps({"width": len(rows[0]) if rows else 0, "height": len(rows), "colours": out}))


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
    elif command == "pixels":
        pixels(sys.argv[2], sys.argv[3:])
    else:
        sys.exit(f"unknown command {command}")


if __name__ == "__main__":
    main()
