#!/usr/bin/env python3
"""Differential fuzzing of sigward's AiSOC canonical form against PyYAML and
Python's json. Writes random manifests and what Python makes of them:

    python3 fuzz.py OUT.json [COUNT] [SEED]
    AISOC_FUZZ=OUT.json cargo test -p sigward-policy aisoc -- --ignored

Each case is {"kind": "yaml"|"json", "text": ..., "canonical": ...} or
{..., "error": "<exception type>"}; the Rust test requires the same bytes
or an error in the same cases. Not part of the committed vectors (the output
is large); make.py holds the fixed table.
"""

import json
import random
import sys

import yaml

from make import case_result

SCALARS = [
    "yes", "No", "ON", "off", "true", "False", "y", "~", "null", "NULL", "", "0", "-0", "+1", "007", "08",
    "0o7", "0x1F", "0xg", "0b101", "0b2", "1_000", "1:30", "1:60", "-1:2:3", "1.0", "1.", ".5", "-.5", "1e3",
    "1.0e+3", "1.0e3", "1_0.0_1", ".inf", "-.Inf", ".NaN", ".nan", "2024-01-01", "2024-1-1",
    "2024-01-01 10:00:00", "2024-01-01T10:00:00Z", "2024-02-30", "<<", "=", "a b", "a:b", "a #b", "x:",
    "-x", "?x", ":x", "é", "😀", "\u2028", "a\u0085b", "12e3", "1.2.3", "123456789012345678901234567890",
    "3.14159", "1e-7", "0.1", "1:30.5", "hello world", "it's", 'say "hi"', "tab\there", "back\\slash",
    "#", "&", "*", "!", "|", ">", "%", "@", "`", ",", "[", "]", "{", "}", "-", "?", ":",
]

TAGS = ["", "", "", "", "!!str ", "!!int ", "!!float ", "!!bool ", "!!null ", "! ", "!!binary ",
        "!!timestamp ", "!foo "]


def yaml_scalar(r):
    s = r.choice(SCALARS)
    style = r.random()
    tag = r.choice(TAGS) if r.random() < 0.08 else ""
    risky = s[:1] in "#&*!|>%@`,[]{}-?:'\"" or ": " in s or " #" in s or "\t" in s or s.endswith(":")
    if style < 0.55 and risky and r.random() < 0.8:
        style = 0.6
    if style < 0.55:
        text = s
    elif style < 0.75:
        text = "'" + s.replace("'", "''") + "'"
    elif style < 0.95:
        esc = s.replace("\\", "\\\\").replace('"', '\\"').replace("\t", "\\t")
        if r.random() < 0.2:
            esc += r.choice(["\\x41", "\\u00e9", "\\U0001F600", "\\ud800", "\\n", "\\0", "\\_", "\\N"])
        text = '"' + esc + '"'
    else:
        text = r.choice(["|", ">", "|-", ">+", "|2"]) + "\n"
        return tag + text, True
    return tag + text, False


class Gen:
    def __init__(self, r):
        self.r = r
        self.anchors = []
        self.n = 0

    def anchor(self):
        if self.r.random() < 0.08:
            self.n += 1
            a = "a%d" % self.n
            self.anchors.append(a)
            return "&" + a + " "
        return ""

    def alias(self):
        if self.anchors and self.r.random() < 0.08:
            return "*" + self.r.choice(self.anchors)
        return None

    def flow(self, depth):
        r = self.r
        al = self.alias()
        if al:
            return al
        if depth > 3 or r.random() < 0.6:
            s, block = yaml_scalar(r)
            if block:
                s, _ = yaml_scalar(r)
                if s.startswith(("|", ">")):
                    s = "x"
            return s
        if r.random() < 0.5:
            items = [self.flow(depth + 1) for _ in range(r.randint(0, 4))]
            return self.anchor() + "[" + ", ".join(items) + "]"
        items = []
        for _ in range(r.randint(0, 4)):
            k = self.flow(depth + 1)
            items.append(k + ": " + self.flow(depth + 1) if r.random() < 0.9 else k)
        return self.anchor() + "{" + ", ".join(items) + "}"

    def block_map(self, indent, depth):
        r = self.r
        lines = []
        for _ in range(r.randint(1, 5)):
            k, kb = yaml_scalar(r)
            if kb:
                k = "key"
            if r.random() < 0.05:
                k = "<<"
            lines.append(" " * indent + k + ":" + self.block_value(indent, depth))
            if r.random() < 0.1:
                lines.append(" " * indent + r.choice(["# comment", "", "  # indented comment"]))
        return "\n".join(lines)

    def block_value(self, indent, depth):
        r = self.r
        al = self.alias()
        if al:
            return " " + al
        x = r.random()
        if depth > 3 or x < 0.5:
            s, block = yaml_scalar(r)
            if block:
                body = "\n".join(" " * (indent + 2) + r.choice(["text", "more  text", "", " lead", "x: y"])
                                 for _ in range(r.randint(1, 3)))
                return " " + s + body
            tail = r.choice(["", "", "", " # c", "  ", "\t"]) if r.random() < 0.1 else ""
            return " " + s + tail
        if x < 0.7:
            return " " + self.anchor() + self.flow(depth + 1)
        if x < 0.85:
            step = r.choice([0, 2, 2, 4])
            items = []
            for _ in range(r.randint(1, 3)):
                items.append(" " * (indent + step) + "-" + self.block_value(indent + step + 2, depth + 1))
            return " " + self.anchor().strip() + "\n" + "\n".join(items)
        step = r.choice([1, 2, 2, 4])
        return " " + self.anchor().strip() + "\n" + self.block_map(indent + step, depth + 1)


def mutate(r, text):
    chars = list(text)
    for _ in range(r.randint(1, 3)):
        op = r.random()
        i = r.randint(0, len(chars))
        if op < 0.4 and chars:
            del chars[min(i, len(chars) - 1)]
        elif op < 0.8:
            chars.insert(i, r.choice(" \t\n:-?,[]{}#&*!|>'\"%@`~.0123456789abyn\\"))
        elif chars:
            chars[min(i, len(chars) - 1)] = r.choice(" \n:-'\"0a")
    return "".join(chars)


def json_value(r, depth):
    x = r.random()
    if depth > 3 or x < 0.6:
        return r.choice([
            "1", "-0", "0.5", "1E5", "1e-7", "-1.5e300", "1e400", "NaN", "Infinity", "-Infinity", "true",
            "false", "null", '"s"', '"\\u00e9"', '"\\ud83d\\ude00"', '"\\ud800"', '"\\n\\t"', '"é😀"',
            "123456789012345678901234567890", "0.1", "100000000000000000000.0", "1.7976931348623157e308",
            "5e-324", "2.5e-5", "12.5e15",
        ])
    if x < 0.8:
        return "[" + ", ".join(json_value(r, depth + 1) for _ in range(r.randint(0, 4))) + "]"
    keys = ['"a"', '"b"', '"B"', '"é"', '"\\ud83d\\ude00"', '"\\uffff"', '"signature"', '"trust"', '""']
    return "{" + ", ".join(r.choice(keys) + ": " + json_value(r, depth + 1) for _ in range(r.randint(0, 4))) + "}"


def py_value(r, depth):
    x = r.random()
    if depth > 4 or x < 0.55:
        return r.choice([
            lambda: r.randint(-10**30, 10**30), lambda: r.randint(-100, 100), lambda: r.random() * 10 ** r.randint(-30, 30),
            lambda: r.choice([True, False, None, float("inf"), -0.0, 1e16, 1e-5]),
            lambda: "".join(r.choice("ab :#-'\"\\\t\n\r\x00\x85\u2028é😀\ufeff\x7f ") for _ in range(r.randint(0, 30))),
            lambda: r.choice(SCALARS),
        ])()
    if x < 0.75:
        return [py_value(r, depth + 1) for _ in range(r.randint(0, 5))]
    return {r.choice(SCALARS + ["k%d" % i for i in range(9)]): py_value(r, depth + 1) for _ in range(r.randint(0, 5))}


def dumped(r):
    obj = {"k%d" % i: py_value(r, 1) for i in range(r.randint(1, 6))}
    return yaml.safe_dump(
        obj,
        default_flow_style=r.choice([None, True, False]),
        allow_unicode=r.random() < 0.5,
        width=r.choice([80, 20, 1000]),
        indent=r.choice([2, 4]),
        canonical=r.random() < 0.1,
        explicit_start=r.random() < 0.2,
        default_style=r.choice([None, None, None, "'", '"', "|"]),
        sort_keys=r.random() < 0.5,
    )


def random_float(r):
    import struct
    x = r.random()
    if x < 0.4:
        v = struct.unpack("<d", struct.pack("<Q", r.getrandbits(64)))[0]
    elif x < 0.7:
        # exact ties between two shortest candidates (k + j/8 near 2^46 ...)
        e = r.randint(-60, 60)
        v = (r.randint(2**52, 2**53 - 1) + r.choice([0.5, 0.25, 0.75])) * 2.0 ** e
    elif x < 0.9:
        v = float("%de%d" % (r.randint(1, 10**r.randint(1, 17)), r.randint(-330, 310)))
    else:
        v = r.choice([5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, 1e16, 1e15, 1e-5, 1e-4, 0.1])
    if v != v or v in (float("inf"), float("-inf")):
        return "NaN"
    return repr(v)


def main():
    out = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
    r = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 1)
    cases = []
    for i in range(count):
        if i % 10 == 8:
            alphabet = " ab:-?,[]{}#&*!|>'\"%@`\t\n\n\n  01.e+_~<=\\xu\u00e9\u2028\x85"
            text = "k: " + "".join(r.choice(alphabet) for _ in range(r.randint(0, 40)))
            kind = "yaml"
        elif i % 10 == 9:
            text = "{" + ", ".join('"f%d": %s' % (j, random_float(r)) for j in range(20)) + "}"
            kind = "json"
        elif i % 5 == 4:
            text = "{" + ", ".join('"k%d": %s' % (j, json_value(r, 1)) for j in range(r.randint(0, 4))) + "}"
            if r.random() < 0.3:
                text = mutate(r, text)
            kind = "json"
        elif i % 5 == 3:
            text = dumped(r)
            if r.random() < 0.2:
                text = mutate(r, text)
            kind = "yaml"
        else:
            g = Gen(r)
            text = g.block_map(0, 0) if r.random() < 0.8 else g.flow(0)
            if r.random() < 0.1:
                text = r.choice(["---\n", "%YAML 1.1\n---\n", "--- !!map\n", "\ufeff"]) + text
            if r.random() < 0.3:
                text = mutate(r, text)
            kind = "yaml"
        entry = {"kind": kind, "text": text}
        entry.update(case_result(kind, text))
        cases.append(entry)
    with open(out, "w") as f:
        json.dump(cases, f)
    print(len(cases), "cases,", sum("error" in c for c in cases), "errors, PyYAML", yaml.__version__)


if __name__ == "__main__":
    main()
