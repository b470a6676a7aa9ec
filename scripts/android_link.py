#!/usr/bin/env python3
"""Links the phone app without the Android NDK, and checks what was linked.

`stubs` writes, for each platform library in `android/ndk-symbols.tsv`, a stub `.so` that exports
the symbols the library gives apps at a given API level, the way the NDK makes its own stubs from
the same symbol maps. Linking against them with `-z defs` fails on any symbol the phone would not
have.

`check` reads the linked library itself and fails unless:
- it needs only the platform libraries in the table (ONNX Runtime is opened at run time);
- every symbol it takes from them exists at the API level (weak ones may be newer: the code
  checks for them at run time);
- every loadable segment is aligned for 16 KB pages, as Android 15 requires.
"""

import argparse
import struct
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

PAGE_ALIGNMENT = 16 * 1024
TARGET = "aarch64-linux-android"

# ELF constants (System V ABI).
SHT_DYNAMIC = 6
SHT_DYNSYM = 11
DT_NEEDED = 1
PT_LOAD = 1
STB_WEAK = 2
SHN_UNDEF = 0


def read_facts(path):
    """{library: {symbol: (level, kind)}} from the symbol table."""
    facts = defaultdict(dict)
    for line in Path(path).read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        library, symbol, level, kind = line.split("\t")
        facts[library][symbol] = (int(level), kind)
    return facts


def write_stubs(facts, api, out):
    """One stub library per platform library, exporting what it has at `api`; also an empty
    `libunwind.a`, because the app brings its own unwinder (the `unwinding` crate) where the NDK
    would link LLVM's."""
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        for library, symbols in sorted(facts.items()):
            source = Path(scratch) / f"{library}.S"
            source.write_text(stub_assembly(symbols, api))
            subprocess.run(
                ["clang", f"--target={TARGET}{api}", "-fuse-ld=lld", "-shared", "-nostdlib",
                 f"-Wl,-soname,{library}.so", "-o", str(out / f"{library}.so"), str(source)],
                check=True)
    (out / "libunwind.a").write_bytes(b"!<arch>\n")


def stub_assembly(symbols, api):
    lines = []
    for symbol, (level, kind) in sorted(symbols.items()):
        if level > api:
            continue
        if kind == "var":
            lines += [".data", f".globl {symbol}", f".type {symbol}, %object",
                      f".size {symbol}, 8", f"{symbol}:", ".quad 0"]
        else:
            lines += [".text", f".globl {symbol}", f".type {symbol}, %function",
                      f"{symbol}:", "ret"]
    return "\n".join(lines) + "\n"


class Elf:
    """The parts of a 64-bit little-endian ELF shared library the check reads."""

    def __init__(self, data):
        if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
            raise ValueError("not a 64-bit little-endian ELF file")
        self.data = data
        (self.phoff, self.shoff) = struct.unpack_from("<QQ", data, 0x20)
        (self.phentsize, self.phnum, self.shentsize, self.shnum) = struct.unpack_from(
            "<HHHH", data, 0x36)

    def sections(self):
        for i in range(self.shnum):
            yield struct.unpack_from("<IIQQQQIIQQ", self.data, self.shoff + i * self.shentsize)

    def string(self, table, offset):
        start = table[4] + offset
        return self.data[start:self.data.index(b"\0", start)].decode()

    def needed(self):
        sections = list(self.sections())
        for section in sections:
            if section[1] != SHT_DYNAMIC:
                continue
            strings = sections[section[6]]
            for at in range(section[4], section[4] + section[5], 16):
                tag, value = struct.unpack_from("<qQ", self.data, at)
                if tag == DT_NEEDED:
                    yield self.string(strings, value)

    def undefined_symbols(self):
        """(name, weak) for every symbol the library takes from others."""
        sections = list(self.sections())
        for section in sections:
            if section[1] != SHT_DYNSYM:
                continue
            strings = sections[section[6]]
            for at in range(section[4] + 24, section[4] + section[5], 24):
                name, info, _other, shndx = struct.unpack_from("<IBBH", self.data, at)
                if shndx == SHN_UNDEF and name:
                    yield self.string(strings, name), (info >> 4) == STB_WEAK

    def load_alignments(self):
        for i in range(self.phnum):
            at = self.phoff + i * self.phentsize
            if struct.unpack_from("<I", self.data, at)[0] == PT_LOAD:
                yield struct.unpack_from("<Q", self.data, at + 0x30)[0]


def problems(elf, facts, api):
    """Everything that would stop the library loading, or running, on a phone at `api`."""
    found = []
    needed = list(elf.needed())
    for library in needed:
        if library.removesuffix(".so") not in facts:
            found.append(f"needs {library}, which is not a platform library apps may use")
    exporters = {}
    for library in needed:
        for symbol, (level, _kind) in facts.get(library.removesuffix(".so"), {}).items():
            exporters.setdefault(symbol, (library, level))
    for symbol, weak in sorted(elf.undefined_symbols()):
        library, level = exporters.get(symbol, (None, None))
        if library is None:
            found.append(f"{symbol} is exported by none of its libraries ({', '.join(needed)})")
        elif level > api and not weak:
            found.append(f"{symbol} ({library}) exists only from API {level}; the app's minSdk is {api}")
    for alignment in elf.load_alignments():
        if alignment < PAGE_ALIGNMENT:
            found.append(f"a loadable segment is aligned to {alignment} bytes; 16 KB pages need {PAGE_ALIGNMENT}")
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    stubs = commands.add_parser("stubs", help="write the stub libraries")
    check = commands.add_parser("check", help="check a linked library")
    for command in (stubs, check):
        command.add_argument("--facts", required=True, help="android/ndk-symbols.tsv")
        command.add_argument("--api", type=int, required=True, help="the app's minSdk")
    stubs.add_argument("--out", type=Path, required=True)
    check.add_argument("library", type=Path)
    args = parser.parse_args()
    facts = read_facts(args.facts)
    if args.command == "stubs":
        write_stubs(facts, args.api, args.out)
        return 0
    elf = Elf(args.library.read_bytes())
    found = problems(elf, facts, args.api)
    for problem in found:
        print(f"{args.library}: {problem}", file=sys.stderr)
    if found:
        return 1
    print(f"{args.library}: needs {', '.join(elf.needed())}; every symbol exists at API {args.api};"
          f" segments aligned for 16 KB pages")
    return 0


if __name__ == "__main__":
    sys.exit(main())
