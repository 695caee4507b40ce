#!/usr/bin/env python3
"""Recreates the AiSOC interop vectors with the real tools (PyYAML's
yaml.safe_load, Python's json, cryptography's Ed25519), computing the signed
message exactly as AiSOC's loader and `aisoc plugin sign` do
(app/services/plugin_manager.py: _read_manifest, _canonical_plugin_digest,
_read_signature).

    pip install pyyaml cryptography
    python3 make.py            # rewrites plugins/, keys and cases.json here

Everything is deterministic (fixed key seeds, Ed25519 is deterministic), so
running it again reproduces the same bytes.
"""

import hashlib
import json
import os
import shutil
import sys

import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

HERE = os.path.dirname(os.path.abspath(__file__))
MANIFEST_YAML = "plugin.yaml"
MANIFEST_JSON = "aisoc-plugin.json"


# ---- AiSOC's own code (plugin_manager.py), unchanged in substance ---------

def read_manifest(plugin_dir):
    yaml_path = os.path.join(plugin_dir, MANIFEST_YAML)
    json_path = os.path.join(plugin_dir, MANIFEST_JSON)
    if os.path.exists(yaml_path):
        with open(yaml_path, encoding="utf-8") as f:  # Path.read_text()
            raw = yaml.safe_load(f.read())
        if not isinstance(raw, dict):
            raise ValueError("YAML root must be a mapping")
        return raw
    with open(json_path, encoding="utf-8") as f:
        return json.loads(f.read())


def canonical_from(manifest_raw, file_hashes):
    sanitized = {k: v for k, v in manifest_raw.items() if k not in {"signature", "trust"}}
    payload = {"manifest": sanitized, "files": file_hashes}
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode("utf-8")


def canonical_plugin(plugin_dir):
    from pathlib import Path
    root = Path(plugin_dir)
    file_hashes = {}
    for path in sorted(root.rglob("*.py")):
        if not path.is_file():
            continue
        rel = path.relative_to(root).as_posix()
        file_hashes[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return canonical_from(read_manifest(plugin_dir), file_hashes)


# ---- keys -------------------------------------------------------------------

def key(name):
    seed = hashlib.sha256(b"sigward aisoc vector key " + name.encode()).digest()
    return Ed25519PrivateKey.from_private_bytes(seed)


SIGNER = key("signer")
OTHER = key("other")


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode("utf-8"))


def pem(k):
    return k.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


# ---- plugin directories -----------------------------------------------------

PLUGINS = {
    # A typical YAML manifest with YAML 1.1 typing surprises.
    "yaml_typing": {
        MANIFEST_YAML: """\
id: acme.enricher
name: Acme Enricher
version: 1.10          # the float 1.1
plugin_type: enricher
enabled: yes           # true
legacy: Off            # false
port: 0x1F             # 31
mode: 010              # octal: 8
ratio: .5
timeout: 1:30          # sexagesimal: 90
big: 123_456_789_012_345_678_901_234_567_890
exp: 1.0e+3
not_exp: 1e3           # a string in YAML 1.1
nothing: ~
empty:
tags: [threat-intel, "quoted: yes", 'single ''quoted''']
config_schema:
  api_key: {type: string, required: true}
  retries: 3
description: >
  Folded text
  over two lines.
literal: |
  keep
    this
signature: ignored-by-the-signer
trust: {level: high}
""",
        "plugin.py": "class Plugin:\n    async def run(self, payload, context):\n        return payload\n",
        "lib/helper.py": "HELPER = 1\n",
        ".hidden/secret.py": "SECRET = 2\n",
        "pkg/__init__.py": "",
        "pkg/sub/deep_mod.py": "DEEP = 3\n",
        "README.md": "not hashed\n",
        "data.pyc": "not hashed either\n",
    },
    # A JSON manifest with everything json.loads accepts.
    "json_manifest": {
        MANIFEST_JSON: """\
{
  "id": "acme.json",
  "name": "Caf\\u00e9 \\ud83d\\ude00 plug-in",
  "version": "2.0.0",
  "plugin_type": "connector",
  "weights": [1.0, 1E5, -0.0, 1e400, NaN, -Infinity, 0.1, 1e-7, 123456789012345678901234567890],
  "dup": 1, "dup": 2,
  "lone": "\\udc00",
  "escapes": "tab\\t nl\\n quote\\" slash\\/ ctrl\\u0001 del\\u007f",
  "nested": {"b": [true, false, null], "a": {}},
  "signature": "ignored",
  "trust": "ignored"
}
""",
        "plugin.py": "class Plugin:\n    pass\n",
        "\u00e9t\u00e9/caf\u00e9.py": "# unicode path\n",
    },
    # Unicode keys: Python sorts by code point (astral after U+E000..U+FFFF).
    "yaml_unicode": {
        MANIFEST_YAML: """\
id: acme.unicode
name: "Ünïcödé \\U0001F600"
keys:
  "\\U0001F600": astral
  "\\uFF21": fullwidth A
  "\\u00e9": e-acute
  Z: upper
  a: lower
  "": empty key
list: [ä, ö, ü, "\\u2028", "\\x85", "\\ud83d"]
""",
        "plugin.py": "X = '\u00e4'\n",
    },
    # Anchors, aliases, merge keys, explicit tags, ordered maps.
    "yaml_anchors": {
        MANIFEST_YAML: """\
id: acme.anchors
base: &base {host: localhost, port: 80}
extra: &extra {port: 8080, tls: on}
server:
  <<: [*extra, *base]
  name: main
again: *base
pairs: !!omap [{b: 1}, {a: 2}]
forced: !!str 123
typed: !!float 3
nonspecific: ! 42
intkeys: {10: ten, 9: nine, 1.5: one-and-half, true: yes}
value_key: {=: eq}
""",
        "plugin.py": "",
        "a/b/c/d.py": "D = 4\n",
    },
    # No *.py file at all: files is {}.
    "no_python": {
        MANIFEST_YAML: "id: acme.nopy\nname: no python\n",
        "notes.txt": "nothing to hash\n",
    },
    # CRLF line endings and a BOM (read_text() normalises newlines; PyYAML
    # skips the BOM).
    "yaml_crlf_bom": {
        MANIFEST_YAML: "\ufeffid: acme.crlf\r\nname: >\r\n  folded\r\n  text\r\nflag: NO\r\n",
        "plugin.py": "print('crlf')\r\n",
    },
}

# Signature file variants (all accepted by AiSOC's _read_signature).
SIG_STYLES = {
    "yaml_typing": "hex_newline",
    "json_manifest": "hex_upper_spaced",
    "yaml_unicode": "raw",
    "yaml_anchors": "hex_plain",
    "no_python": "hex_newline",
    "yaml_crlf_bom": "hex_newline",
}


def make_plugins():
    base = os.path.join(HERE, "plugins")
    shutil.rmtree(base, ignore_errors=True)
    for name, files in PLUGINS.items():
        d = os.path.join(base, name)
        for rel, content in files.items():
            write(os.path.join(d, rel), content)
        canonical = canonical_plugin(d)
        write(os.path.join(d, "expected_canonical.json"), canonical)
        sig = SIGNER.sign(hashlib.sha256(canonical).digest())
        style = SIG_STYLES[name]
        if style == "raw":
            data = sig
        elif style == "hex_upper_spaced":
            data = " " + sig.hex(" ").upper() + " \n"
        elif style == "hex_plain":
            data = sig.hex()  # as AiSOC's own tests write it
        else:
            data = sig.hex() + "\n"
        write(os.path.join(d, "plugin.sig"), data)
        # What the caller hands over: the .py files and their hashes.
        listing = {}
        from pathlib import Path
        for p in sorted(Path(d).rglob("*.py")):
            if p.is_file():
                listing[p.relative_to(d).as_posix()] = hashlib.sha256(p.read_bytes()).hexdigest()
        write(os.path.join(d, "files.json"), json.dumps(listing, indent=1, sort_keys=True) + "\n")


# ---- typing table -----------------------------------------------------------

YAML_CASES = [
    # booleans (YAML 1.1: yes/no/on/off in three spellings each)
    "a: yes", "a: Yes", "a: YES", "a: yEs", "a: y", "a: n", "a: no", "a: No", "a: NO", "a: on", "a: On",
    "a: ON", "a: off", "a: Off", "a: OFF", "a: true", "a: True", "a: TRUE", "a: tRue", "a: false",
    "a: False", "a: FALSE",
    # null
    "a: ~", "a: null", "a: Null", "a: NULL", "a: nULL", "a:", "a: ''", 'a: ""',
    # ints
    "a: 0", "a: -0", "a: +0", "a: 00", "a: 010", "a: 0_10", "a: 08", "a: 0o17", "a: 0x1F", "a: 0X1F",
    "a: 0x_1f", "a: 0x_", "a: 0b1010", "a: 0b_", "a: 0b", "a: -0b11", "a: +0x10", "a: 1_000",
    "a: 1__0", "a: 1_", "a: _1", "a: 1:30", "a: 1:30:59", "a: 1:60", "a: -1:30", "a: 1:5", "a: 190:20:30",
    "a: 99999999999999999999999999999999999999", "a: -12345678901234567890",
    # floats
    "a: 1.0", "a: 1.10", "a: 1.", "a: .5", "a: -.5", "a: +.5", "a: 1e3", "a: 1.0e3", "a: 1.0e+3",
    "a: 1.0E-3", "a: 12e03", "a: 1e400", "a: 1.0e+400", "a: 1_000.5_5", "a: 1.2.3", "a: ._5",
    "a: 1._", "a: 190:20:30.15", "a: 1:30.5", "a: -1:30.5", "a: .inf", "a: -.inf", "a: +.inf",
    "a: .Inf", "a: .INF", "a: .iNf", "a: .nan", "a: .NaN", "a: .NAN", "a: -.nan", "a: -0.0",
    "a: 0.1", "a: 1.5e-07", "a: 123456789.123456789", "a: 1e16", "a: 10000000000000000.0",
    "a: 0.0001", "a: 0.00001", "a: 3.141592653589793238462643383279",
    # exact ties between two shortest representations: repr() picks the even digit
    "a: 95423670389358.125", "a: 95423670389358.375", "a: 1.0e+23", "a: 9007199254740993.0",
    "a: 4.9406564584124654e-324", "a: 2.2250738585072014e-308", "a: 1.7976931348623157e+308",
    # timestamps -> date/datetime objects json.dumps cannot write
    "a: 2024-01-01", "a: 2024-1-1", "a: 2024-01-01T12:30:00Z", "a: 2024-01-01 12:30:00.5 +01:00",
    "a: 2024-02-30", "a: 2024-13-01", "a: 2001-12-14t21:59:43.10-05:00", "a: 2024-01-01T25:00:00",
    "trust: 2024-01-01\nb: 1", "signature: 2024-01-01T00:00:00Z\nb: 1", "trust: 2024-02-30\nb: 1",
    "a: '2024-01-01'",
    # strings and quoting
    "a: 'yes'", 'a: "1.0"', "a: plain text here", "a: text # comment", "a: 'it''s'",
    'a: "\\t\\n\\r\\\\\\"\\/\\0\\a\\b\\e\\f\\v\\N\\_\\L\\P\\ "', 'a: "\\x41\\u00e9\\U0001F600"',
    'a: "\\ud83d\\ude00"', 'a: "\\udc00x"', 'a: "\\q"', "a: é", "a: 😀", "a: \"\\u007f\"",
    "a: -", "a: -x", "a: :x", "a: ?x", "a: a:b", "a: a :b", "a: x#y", "a: '#'", "a: @x", "a: `x",
    "a: %x", "a: |\n  line1\n  line2\n", "a: |-\n  line1\n\n", "a: |+\n  line1\n\n", "a: >\n  a\n  b\n\n  c\n",
    "a: >-\n  folded\n   more\n  end\n", "a: |2\n    indented\n", "a: |0\n  x\n",
    "a: multi\n  line\n  plain", "a: 'multi\n  line\n\n  single'", 'a: "multi\\\n  line"',
    "a: \"x\ty\"", "a: x\ty", "a:\tb", "a: b\t", "a: b ",
    # explicit tags
    "a: !!str 123", "a: !!str", "a: !!int '12'", "a: !!int ' 12 '", "a: !!int 0o7", "a: !!int 1.5",
    "a: !!int", "a: !!int 1:-30", "a: !!float 3", "a: !!float ' 1e3'", "a: !!float nan", "a: !!float -inf",
    "a: !!float 1:2:3", "a: !!bool yes", "a: !!bool 'TRUE'", "a: !!bool y", "a: !!null anything",
    "a: !!null [1]", "a: !!str [1]", "a: !!seq [1]", "a: !!seq {a: 1}", "a: !!map {a: 1}",
    "a: !!map [1]", "a: !!binary aGVsbG8=", "a: !!binary '!!!'", "trust: !!binary aGVsbG8=\nb: 1",
    "trust: !!binary aGVsbG8\nb: 1", "a: !!timestamp 2024-01-01", "a: !!set {x, y}",
    "trust: !!set {x, y}\nb: 1", "a: !!omap [x: 1, y: 2]", "a: !!pairs [x: 1, x: 2]",
    "a: !!omap [x: 1, {y: 2, z: 3}]", "a: !!omap {x: 1}", "a: !foo bar", "a: !<tag:yaml.org,2002:str> 5",
    "%TAG !e! tag:yaml.org,2002:\n---\na: !e!str 5", "a: !!python/object:os.system x",
    "a: ! 123", "a: ! '123'", "a: ! \"yes\\n\"", "a: ! \"12\\n\"", "a: ! '!'", "a: =", "a: <<",
    "a: !!str {=: x}", "a: !!int {=: 7}", "{=: 1}", "a: !!value x",
    # keys
    "1: a", "{1: a, 2: b}", "{2: a, 10: b}", "{1: a, 1.0: b, true: c}", "{0: a, false: b, -0.0: c}",
    "{a: 1, 2: b}", "{null: 1}", "{null: 1, a: 2}", "{~: 1, 1: 2}", "{.nan: 1}", "{.nan: 1, .nan: 2}",
    "{.nan: 1, 1: 2, 0: 3}", "{3: a, .nan: b, 1: c, 2: d}", "{!!float nan: a, !!float nan: b, 1: c}",
    "{3: a, !!float nan: b, 1: c, !!float nan: d, 0: e, 2: f}", "{!!float nan: a, 2: b, 1: c}",
    "{2: a, 1: b, !!float nan: c, 0: d}", "{1: a, !!float NaN: b, 0: c, .nan: d}", "{.inf: 1, -.inf: 2, 0: 3}", "{1.5: a, 1: b, 2: c}",
    "{[1]: a}", "{{a: 1}: b}", "? [1, 2]\n: x", "{2024-01-01: x}", "trust: {2024-01-01: x}\nb: 1",
    "{!!binary aGk=: x}", "{yes: 1, no: 2}", "{true: 1, 1: 2}", "{'1': a, 1: b}",
    "{99999999999999999999999: a, 1: b}", "{1e3: a}", "{0x10: a, 16: b}",
    # anchors, aliases, merges
    "a: &x 1\nb: *x", "a: &x [1, 2]\nb: *x\nc: *x", "a: *x", "a: &x 1\nb: &x 2",
    "a: &x [*x]", "trust: &x [*x]\nb: 1", "a: &x {k: *x}", "&r {a: 1, self: *r}",
    "&r {a: 1, signature: *r}", "a: &n .nan\nb: {*n : 1, *n : 2}",
    "base: &b {x: 1, y: 2}\nd:\n  <<: *b\n  y: 3", "a: &a {x: 1}\nb: &b {x: 2, y: 2}\nc: {<<: [*a, *b]}",
    "a: {<<: 1}", "a: {<<: [1]}", "a: {<<: {x: 1}, <<: {y: 2}}", "a: &a {<<: *a, x: 1}",
    "a: &a {x: &b {<<: *a}}", "x: &s {=: v}\ny: !!str *s\nz: *s", "x: &s {=: v}\ny: *s\nz: !!str {=: w}",
    # structure and documents
    "", "# only a comment", "---", "--- \n...", "a: 1\n---\nb: 2", "a: 1\n...\n", "- 1\n- 2", "just a string",
    "[1, 2]", "{a: [1, {b: c}], d: {}}", "a:\n  - 1\n  -\n  - 3", "a:\n- 1\n- 2", "a: [1, [2, [3, []]]]",
    "a: {b: {c: {d: {}}}}", "a: [a, b, ]", "a: {x: 1,}", "a: [,]", "a: {,}", "? a\n: b", "? a", "a: b: c",
    "a: 1\n a: 2", "a: 1\nb", "a: 'unterminated", "a: \"bad \\q\"", "a: [1, 2", "a: ]", "a: }",
    "%YAML 1.1\n---\na: 1", "%YAML 1.2\n---\na: 1", "%YAML 2.0\n---\na: 1", "%YAML 1.1\n%YAML 1.1\n---\na: 1",
    "%FOO bar baz\n---\na: 1", "a: 1 # c\n# c2\nb: 2 #c3", "a: \"x\" # c", "a: [1, 2] # c",
    "key with spaces: v", "'quoted key': v", "\"dq key\\t\": v", "? |\n  block key\n: v",
    "a: - b", "- a: 1\n  b: 2\n- c: 3", "a:\n  b:\n    c: 1\n  d: 2", "a: !!str &x 1\nb: *x",
    "a: &x !!str 1\nb: *x", "a: [&x 1, *x]", "{a: b, c: d}: e", "a: {? x : y}", "a: [x: y, z]",
    "a: [? x : y]", "a: {x}", "a: {x, y: 1}", "a: [a: 1, b: 2]", "a: \"\\\n  cont\"",
    "a: 'x\n\n\n  y'", "a: x\n\n\n  y", "a: |\n\n  leading blank\n", "a: >\n\n  leading blank\n",
    "a: |\n  trailing\n\n\n", "a: |+\n  trailing\n\n\n", "a: |-\n  trailing\n\n\n",
    "a: >\n  a\n\n   b\n  c\n", "a: >+\n  x\n", "a: |1\n  two spaces\n", "a: text\n---",
    "a: \u2028", "a: x\u2028y", "a: x\u0085y", "a: \u00a0x", "a: x\u00a0", "\ufeffa: 1", "a: \ufeffx",
    "a: \u0007", "a: \"\u0007\"", "a: \ufffe", "a: x\r\nb: y", "a: x\rb: y", "a: 'x\r\n  y'",
    "a: " + "x" * 1100, "'" + "k" * 1100 + "': v", "a: [" + ", ".join(["1"] * 50) + "]",
    "a: " + "[" * 40 + "]" * 40, "a: !!int " + "1" * 4301, "a: " + "1" * 4300,
    "a: 0x" + "f" * 3600, "trust: 0x" + "f" * 3600 + "\nb: 1", "a: " + "1" + ":0" * 200 + ".0",
    "a: 1" + ":1" * 173 + ".5", "a: 1" + ":1" * 174 + ".5", "a: 1" + ":1" * 20,
]

JSON_CASES = [
    '{"a": 1}', '{"a": 1.0}', '{"a": 1E5}', '{"a": 1e-7}', '{"a": -0}', '{"a": -0.0}', '{"a": 0.1}',
    '{"a": 1e400}', '{"a": -1e400}', '{"a": NaN}', '{"a": Infinity}', '{"a": -Infinity}',
    '{"a": 12345678901234567890123456789}', '{"a": 1.5e300}', '{"a": 5e-324}', '{"a": 1e16}',
    '{"a": 123456789012345678}', '{"a": 0.0001}', '{"a": 1.0000000000000002}',
    '{"a": 01}', '{"a": 1.}', '{"a": .5}', '{"a": +1}', '{"a": 1e}', '{"a": 1e+}', '{"a": -}',
    '{"a": nan}', '{"a": infinity}', '{"a": true, "b": false, "c": null}', '{"a": tru}',
    '{"a": [1, 2, 3]}', '{"a": []}', '{"a": {}}', '{"a": [1, 2,]}', '{"a": 1,}', '{"a" 1}',
    '{a: 1}', "{'a': 1}", '{"a": 1} x', '{"a": 1}\n', ' \t\n{"a": 1} \r\n', '[1, 2]', '"string"', '1', 'null',
    '', '{"a": 1, "a": 2}', '{"b": 1, "a": 2, "B": 3}', '{"\\ud83d\\ude00": 1, "\\uffff": 2, "\\ue000": 3}',
    '{"a": "\\ud83d"}', '{"a": "\\ud83d\\u0041"}', '{"a": "\\ude00\\ud83d"}', '{"a": "\\u00E9"}',
    '{"a": "\\uZZZZ"}', '{"a": "\\x41"}', '{"a": "\\/"}', '{"a": "\t"}', '{"a": "\u007f"}',
    '{"a": "é😀"}', '{"a": "x', '\ufeff{"a": 1}', '{"a": "\\u0000"}', '{"a": "\\b\\f\\n\\r\\t"}',
    '{"signature": 1, "trust": 2, "x": 3}', '{"x": {"signature": 1}}', '{"a": ' + "1" * 4301 + '}',
    '{"a": ' + "1" * 4300 + '}', '{"a": ' + "[" * 50 + "]" * 50 + '}',
]


def case_result(kind, text):
    text = text.replace("\r\n", "\n").replace("\r", "\n")  # read_text()
    try:
        if kind == "yaml":
            raw = yaml.safe_load(text)
            if not isinstance(raw, dict):
                raise ValueError("YAML root must be a mapping")
        else:
            raw = json.loads(text)
        return {"canonical": canonical_from(raw, {}).decode("ascii")}
    except Exception as exc:  # what AiSOC's loader turns into PluginError
        return {"error": type(exc).__name__}


def make_cases():
    out = []
    for kind, texts in (("yaml", YAML_CASES), ("json", JSON_CASES)):
        for text in texts:
            entry = {"kind": kind, "text": text}
            entry.update(case_result(kind, text))
            out.append(entry)
    with open(os.path.join(HERE, "cases.json"), "w", encoding="ascii") as f:
        json.dump(out, f, indent=0, ensure_ascii=True)
        f.write("\n")
    return out


def main():
    write(os.path.join(HERE, "signer.pem"), pem(SIGNER))
    write(os.path.join(HERE, "other.pem"), pem(OTHER))
    make_plugins()
    cases = make_cases()
    print("PyYAML", yaml.__version__, "Python", sys.version.split()[0], "-", len(cases), "typing cases")


if __name__ == "__main__":
    main()
