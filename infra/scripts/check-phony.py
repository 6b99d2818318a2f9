#!/usr/bin/env python3
"""check-phony.py [MAKEFILE] - fails when a target is declared .PHONY twice, or a .PHONY name has no
rule in the Makefile (a renamed target left behind). Prints each finding, then `phony: N targets, N
problems`."""
import re
import sys

path = sys.argv[1] if len(sys.argv) > 1 else "Makefile"
with open(path, encoding="utf-8") as f:
    text = f.read().replace("\\\n", " ")  # join continuation lines
phony = []
for m in re.finditer(r"^\.PHONY\s*:(.*)$", text, re.M):
    phony += m.group(1).split()
rules = set()
for m in re.finditer(r"^([A-Za-z0-9_.%$()/ -]+?)\s*:(?!=)", text, re.M):
    rules.update(m.group(1).split())
problems = 0
seen = set()
for name in phony:
    if name in seen:
        print(f"{path}: .PHONY lists '{name}' more than once")
        problems += 1
    seen.add(name)
    if name not in rules:
        print(f"{path}: .PHONY names '{name}', which has no rule")
        problems += 1
print(f"phony: {len(seen)} targets, {problems} problems")
sys.exit(1 if problems else 0)
