#!/usr/bin/env python3
"""Serves the browser app (target/web/, made by scripts/build-web.sh) on localhost with the
headers it needs: COOP/COEP make the page cross-origin isolated, so onnxruntime-web can use wasm
threads. A camera needs a secure context: localhost is one; elsewhere serve it over https."""
import argparse
import functools
import http.server
import pathlib
import sys


class Handler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map,
                      ".wasm": "application/wasm", ".mjs": "text/javascript",
                      ".js": "text/javascript", ".webmanifest": "application/manifest+json"}

    def end_headers(self):
        self.send_header("Cross-Origin-Opener-Policy", "same-origin")
        self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        self.send_header("Cross-Origin-Resource-Policy", "same-origin")
        super().end_headers()

    def log_message(self, format, *args):
        if self.server.verbose:
            super().log_message(format, *args)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8080, help="port on 127.0.0.1 (0: any free one)")
    parser.add_argument("--dir", default=str(pathlib.Path(__file__).resolve().parent.parent / "target" / "web"))
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args()
    site = pathlib.Path(args.dir)
    if not (site / "index.html").is_file():
        sys.exit(f"error: {site} holds no built app; run scripts/build-web.sh first")
    handler = functools.partial(Handler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), handler)
    server.verbose = args.verbose
    # The port on one line, so a test can start it with --port 0 and read where it listens.
    print(f"serving {site} on http://127.0.0.1:{server.server_address[1]}/", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
