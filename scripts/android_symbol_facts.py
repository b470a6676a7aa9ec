#!/usr/bin/env python3
"""Lists the symbols Android platform libraries give apps on arm64, with the API level of each.

Reads AOSP symbol maps (`lib.map.txt`) and keeps what the NDK's stub generator (Soong's
`cc/symbolfile`, run for the NDK on arm64) would put in the library's stubs, at the first API
level it would appear. Prints `library<TAB>symbol<TAB>level<TAB>func|var`, sorted, after `#`
lines naming where each map came from: the table `scripts/android_link.py` reads.

    python3 scripts/android_symbol_facts.py [--first-version LIB=LEVEL ...] \
        [--source LIB=TEXT ...] LIB=path/to/lib.map.txt ... > android/ndk-symbols.tsv

`--first-version` is the library's `first_version` in its `ndk_library` Android.bp module: Soong
makes no stubs below it, and a map's untagged symbols are as old as the library.
"""

import argparse
import sys
from pathlib import Path

ARCH = "arm64"
ALL_ARCHES = {"arm", "arm64", "riscv64", "x86", "x86_64"}
# arm64 arrived at Lollipop: its stubs start there, whatever older level a map names.
FIRST_LEVEL = 21
# Soong numbers preview codenames from 9000 and "current" as 10000: neither is released.
FIRST_UNRELEASED_LEVEL = 9000
# Finalized codenames, as in Soong's android/api_levels.go (getApiLevelsMapReleasedVersions).
CODENAME_LEVELS = {
    "G": 9, "I": 14, "J": 16, "J-MR1": 17, "J-MR2": 18, "K": 19, "L": 21, "L-MR1": 22,
    "M": 23, "N": 24, "N-MR1": 25, "O": 26, "O-MR1": 27, "P": 28, "Q": 29, "R": 30, "S": 31,
    "S-V2": 32, "Tiramisu": 33, "UpsideDownCake": 34, "VanillaIceCream": 35, "Baklava": 36,
    "CinnamonBun": 37,
}
# Symbols for other stub variants (APEX, LL-NDK, system API) or for the platform alone.
NOT_NDK_TAGS = {"apex", "llndk", "systemapi", "platform-only", "draft"}
KNOWN_TAGS = ALL_ARCHES | NOT_NDK_TAGS | {"var", "weak", "artless", "future"}
KNOWN_TAG_PREFIXES = ("introduced=", "introduced-", "versioned=", "llndk-deprecated=")


class MapError(Exception):
    """A map line this parser does not understand; guessing could misstate the API."""


def tags_of(line):
    """The words after the line's first `#`, checked so a new kind of tag is not misread."""
    # Older maps write `# apex # introduced=30`: a lone `#` separates tags, it is not one.
    tags = [word for word in line.partition("#")[2].split() if word != "#"]
    for tag in tags:
        if tag not in KNOWN_TAGS and not tag.startswith(KNOWN_TAG_PREFIXES):
            raise MapError(f"unknown tag {tag!r} in: {line.strip()}")
    return tags


def decode_level(value):
    """The level an `introduced` value names, or None when that level is not released."""
    level = int(value) if value.isdigit() else CODENAME_LEVELS.get(value)
    return level if level is not None and level < FIRST_UNRELEASED_LEVEL else None


def level_of(tags):
    """First arm64 level the tags allow (None: unreleased); `introduced-arm64=` wins."""
    if "future" in tags:
        return None
    values = dict(tag.split("=", 1) for tag in tags if "=" in tag)
    value = values.get(f"introduced-{ARCH}", values.get("introduced"))
    return FIRST_LEVEL if value is None else decode_level(value)


def in_ndk_for_arch(tags):
    """No other variant's tag, and no arch tags or arm64 among them."""
    arches = ALL_ARCHES.intersection(tags)
    return not NOT_NDK_TAGS.intersection(tags) and (not arches or ARCH in arches)


def read_blocks(lines):
    """Yields (block name, block tags, symbol, symbol tags) for each global C symbol."""
    block = None
    exported = in_cpp = False
    for line in lines:
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        if block is None:
            if "{" not in text:
                raise MapError(f"expected a version block: {text}")
            block = (text.partition("{")[0].strip(), tags_of(text))
            exported, in_cpp = True, False
        elif "}" in text:
            if in_cpp:
                in_cpp = False
            else:
                block = None
        elif 'extern "C++"' in text:
            # Mangled C++ patterns: Soong leaves them out of stubs too.
            in_cpp = True
        elif in_cpp:
            continue
        elif ":" in text:
            scope = text.partition(":")[0].strip()
            if scope not in ("global", "local"):
                raise MapError(f"unknown scope {scope!r}: {text}")
            exported = scope == "global"
        elif exported:
            name = text.partition(";")[0].strip()
            if ";" not in text or "*" in name:
                raise MapError(f"expected `symbol; # tags`: {text}")
            yield block[0], block[1], name, tags_of(text)
    if block is not None:
        raise MapError(f"version block {block[0]} is not closed")


def ndk_symbols(lines, first_version):
    """{symbol: (level, kind)} for the NDK on arm64, and how many were left out as unreleased."""
    symbols, unreleased = {}, 0
    for block, block_tags, name, tags in read_blocks(lines):
        # _PRIVATE and _PLATFORM blocks are for the platform's own libraries.
        if block.endswith(("_PRIVATE", "_PLATFORM")):
            continue
        if not (in_ndk_for_arch(block_tags) and in_ndk_for_arch(tags)):
            continue
        levels = (first_version, level_of(block_tags), level_of(tags))
        if None in levels:
            unreleased += 1
            continue
        if name in symbols:
            raise MapError(f"{name} is exported by more than one version block")
        # Soong makes stubs from first_version on and checks the block and the symbol
        # separately, so the latest of the three counts.
        symbols[name] = (max(FIRST_LEVEL, *levels), "var" if "var" in tags else "func")
    return symbols, unreleased


def pairs(texts, what):
    """{LIB: VALUE} from `LIB=VALUE` arguments."""
    result = {}
    for text in texts:
        library, sep, value = text.partition("=")
        if not sep or not library or not value:
            sys.exit(f"expected LIB={what}, got {text!r}")
        result[library] = value
    return result


def parse_args():
    """({LIB: map path}, {LIB: source text}, {LIB: first_version})."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("maps", nargs="+", metavar="LIB=PATH", help="a library's symbol map")
    parser.add_argument("--source", action="append", default=[], metavar="LIB=TEXT",
                        help="where LIB's map came from, for the header (default: its path)")
    parser.add_argument("--first-version", action="append", default=[], metavar="LIB=LEVEL",
                        help="LIB's ndk_library first_version (default: 9)")
    args = parser.parse_args()
    maps = pairs(args.maps, "PATH")
    sources = pairs(args.source, "TEXT")
    first_versions = pairs(args.first_version, "LEVEL")
    for option, named in (("--source", sources), ("--first-version", first_versions)):
        if unknown := named.keys() - maps.keys():
            sys.exit(f"{option} names libraries with no map: {', '.join(sorted(unknown))}")
    for library in maps:
        first_versions.setdefault(library, "9")
        if decode_level(first_versions[library]) is None:
            sys.exit(f"--first-version {library}={first_versions[library]} is not released")
    return maps, sources, first_versions


def main():
    maps, sources, first_versions = parse_args()
    rows = []
    for library, path in maps.items():
        try:
            lines = Path(path).read_text().splitlines()
            symbols, unreleased = ndk_symbols(lines, decode_level(first_versions[library]))
        except MapError as error:
            sys.exit(f"{path}: {error}")
        if unreleased:
            print(f"{library}: left out {unreleased} unreleased symbols", file=sys.stderr)
        rows += [(library, name, level, kind) for name, (level, kind) in symbols.items()]

    # Printed only once every map has parsed, so a failure leaves no partial table behind.
    print("# Symbols Android platform libraries export to apps on arm64, and the API level each")
    print("# appeared at, filtered as the NDK's stub generator filters the AOSP symbol maps.")
    print("# Written by scripts/android_symbol_facts.py from these maps")
    print("# (library, its ndk_library first_version, repository@commit:path):")
    for library in sorted(maps):
        print(f"#   {library}\t{first_versions[library]}\t{sources.get(library, maps[library])}")
    print("# library\tsymbol\tintroduced_level\tfunc|var")
    for row in sorted(rows):
        print("\t".join(map(str, row)))


if __name__ == "__main__":
    main()
