"""Decode images fully with Pillow, the way the engine opens them (`--deep` of tasks/prepare.ts).

stdin: one JSON string (an image path) per line. stdout: one JSON object per image, in order:
{"i": <index>, "error": null | "<message>"}.
"""
import json
import sys

from PIL import Image


def decode(path: str) -> None:
    with Image.open(path) as im:
        im.convert("RGB").load()


def main() -> None:
    out = sys.stdout
    for i, line in enumerate(sys.stdin):
        path = json.loads(line)
        try:
            decode(path)
            err = None
        except Exception as exc:  # report every failure, keep going
            err = f"{type(exc).__name__}: {exc}"
        out.write(json.dumps({"i": i, "error": err}) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
