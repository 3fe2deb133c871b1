#!/usr/bin/env python3
"""Validates every lesson file (lessons/*.json, docs/examples/*.json) with the
schema `bnstep ops --format schema` prints, using python3's jsonschema.
tests/CMakeLists.txt adds this test only when jsonschema is installed.

Usage: validate_lessons.py BNSTEP SOURCE_DIR
"""
import glob
import json
import os
import subprocess
import sys

import jsonschema


def main():
    bnstep, source = sys.argv[1], sys.argv[2]
    text = subprocess.run([bnstep, "ops", "--format", "schema"], check=True, capture_output=True, text=True).stdout
    schema = json.loads(text)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    files = sorted(glob.glob(os.path.join(source, "lessons", "*.json")))
    files += sorted(glob.glob(os.path.join(source, "docs", "examples", "*.json")))
    files = [f for f in files if not f.endswith("lesson.schema.json")]
    failed = 0
    for path in files:
        with open(path, encoding="utf-8") as f:
            lesson = json.load(f)
        for error in validator.iter_errors(lesson):
            failed += 1
            where = "/" + "/".join(str(p) for p in error.absolute_path)
            print(f"{os.path.relpath(path, source)}: {where}: {error.message}")
    print(f"{len(files)} lesson files, {failed} schema errors")
    return 1 if failed or not files else 0


if __name__ == "__main__":
    sys.exit(main())
