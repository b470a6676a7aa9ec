#!/usr/bin/env python3
"""Gathers the models the built-in presets need (`default = true` in models/models.toml) into an
APK's assets folder, laid out as the manifest names them, from the same places the app's store
looks on this machine: DREAMLENS_MODEL_DIRS, then the cache. Each file is checked against the
manifest before it is packaged; the phone checks it again when it installs it. A model that is
not on this machine is left out with a warning: the APK still works, with its layers off.

    python3 scripts/apk_models.py OUT_DIR
"""

import hashlib
import os
import shutil
import sys
import tomllib
from pathlib import Path


def cache_dir():
    if os.environ.get("DREAMLENS_CACHE_DIR"):
        return Path(os.environ["DREAMLENS_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "dreamlens" / "models"


def accepted_hashes(file):
    hashes = {file.get("sha256")}
    if "converted" in file:
        hashes.add(file["converted"]["sha256"])
    return hashes - {None}


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def main():
    out = Path(sys.argv[1])
    manifest = tomllib.loads(Path("models/models.toml").read_text())
    folders = [Path(p) for p in os.environ.get("DREAMLENS_MODEL_DIRS", "").split(":") if p]
    folders.append(cache_dir())
    missing = []
    for model in (m for m in manifest["model"] if m.get("default")):
        for file in model["files"]:
            found = [f / file["path"] for f in folders if (f / file["path"]).is_file()]
            good = next((p for p in found if sha256(p) in accepted_hashes(file)), None)
            if good is None:
                missing.append(f"{model['id']} ({file['path']})")
                continue
            dest = out / file["path"]
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(good, dest)
            print(f"packaged {file['path']} from {good.parent}")
    for name in missing:
        print(f"warning: {name} is not on this machine, so the APK leaves it out; "
              "`dreamlens models fetch` gets it", file=sys.stderr)


if __name__ == "__main__":
    main()
