"""Development launcher: serve ONNX graphs on a real Triton Inference Server.

Reads a Triton model repository laid out as stock Triton reads it
(REPO/<name>/config.pbtxt, REPO/<name>/<version>/model.onnx), runs each model with
onnxruntime on the CPU behind the Triton server bundled in nvidia-pytriton, and serves
them over the Open Inference Protocol (KServe v2 REST with the binary tensor extension,
and gRPC), so that dreamlens' remote-inference client can be tested against Triton itself.

Run it with the venv python that scripts/install-triton.sh prints:

    python scripts/serve_triton.py --model-repository REPO [--host 127.0.0.1]
        [--http-port 8000] [--grpc-port 8001] [--metrics-port 8002] [--delay-ms 0]
        [--delay-prefix slow-] [--stop-when-stdin-closes]

Prints `ready http://HOST:PORT` on stdout once Triton reports ready, then serves until
SIGTERM or SIGINT. Logs go to stderr.
"""

import argparse
import logging
import pathlib
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
import urllib.request

import numpy as np
import onnxruntime as ort
from pytriton.model_config import ModelConfig, Tensor
from pytriton.triton import Triton, TritonConfig

# ONNX element types we serve; Triton's datatype follows from the numpy dtype
# (float32 -> FP32, float16 -> FP16, int64 -> INT64, int32 -> INT32, uint8 -> UINT8).
ONNX_TYPES = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(uint8)": np.uint8,
}


class RepositoryError(Exception):
    pass


def find_models(repo):
    """Returns [(name, version, onnx path)], serving each model's highest version like
    stock Triton's default version policy (latest 1)."""
    if not repo.is_dir():
        raise RepositoryError(f"{repo}: not a directory")
    models = []
    for folder in sorted(p for p in repo.iterdir() if p.is_dir() and not p.name.startswith(".")):
        versions = [int(v.name) for v in folder.iterdir()
                    if v.name.isdigit() and (v / "model.onnx").is_file()]
        if not versions:
            raise RepositoryError(f"{folder}: no <version>/model.onnx in this model folder")
        version = max(versions)
        models.append((folder.name, version, folder / str(version) / "model.onnx"))
    if not models:
        raise RepositoryError(f"{repo}: no model folders found")
    return models


def tensors(folder, args):
    """Describes ONNX inputs or outputs as pytriton tensors; dynamic dims become -1."""
    result = []
    for arg in args:
        dtype = ONNX_TYPES.get(arg.type)
        if dtype is None:
            raise RepositoryError(f"{folder}: {arg.name} has unsupported type {arg.type}")
        shape = tuple(d if isinstance(d, int) and d >= 0 else -1 for d in arg.shape)
        result.append(Tensor(name=arg.name, dtype=dtype, shape=shape))
    return result


def make_infer(session, delay_s):
    output_names = [o.name for o in session.get_outputs()]

    def infer(requests):
        if delay_s:
            time.sleep(delay_s)
        # Arrays go to onnxruntime as Triton delivered them, and come back in the
        # model's own dtypes (fp16 stays fp16): this server must not hide type mismatches.
        return [dict(zip(output_names, session.run(output_names, dict(request.items()))))
                for request in requests]

    return infer


def port_in_use(host, port):
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError:
            return True
    return False


def wait_ready(url, timeout_s=120):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/v2/health/ready", timeout=2) as response:
                if response.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-repository", required=True, type=pathlib.Path)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--http-port", type=int, default=8000)
    parser.add_argument("--grpc-port", type=int, default=8001)
    parser.add_argument("--metrics-port", type=int, default=8002)
    parser.add_argument("--delay-ms", type=int, default=0, help="sleep this long in every infer call")
    parser.add_argument("--delay-prefix", default="",
                        help="apply --delay-ms only to models whose name starts with this")
    parser.add_argument("--stop-when-stdin-closes", action="store_true",
                        help="stop when stdin reaches its end (a test harness that exits)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # pytriton print()s Triton's own log to stdout; keep stdout for the ready line alone.
    ready_out, sys.stdout = sys.stdout, sys.stderr

    # Open every graph before starting Triton, so a bad repository fails fast and by name.
    try:
        bindings = []
        for name, version, path in find_models(args.model_repository):
            try:
                session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            except Exception as e:
                raise RepositoryError(f"{path.parent.parent}: cannot load {path}: {e}") from e
            bindings.append((name, version, session,
                             tensors(path.parent.parent, session.get_inputs()),
                             tensors(path.parent.parent, session.get_outputs())))
    except RepositoryError as e:
        print(f"serve_triton: {e}", file=sys.stderr)
        return 2
    # A busy port must stop us here: pytriton would otherwise load and unload its models
    # on whichever server already listens there.
    for port in (args.http_port, args.grpc_port, args.metrics_port):
        if port_in_use(args.host, port):
            print(f"serve_triton: port {port} on {args.host} is in use", file=sys.stderr)
            return 2

    # pytriton copies the server into its workspace and keeps its model store and sockets
    # there; a private temp dir keeps runs apart and is removed on exit.
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="dreamlens-triton-"))
    config = TritonConfig(http_address=args.host, http_port=args.http_port,
                          grpc_address=args.host, grpc_port=args.grpc_port,
                          metrics_address=args.host, metrics_port=args.metrics_port)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    triton = Triton(config=config, workspace=tmp / "workspace")
    try:
        for name, version, session, inputs, outputs in bindings:
            triton.bind(model_name=name, model_version=version,
                        infer_func=make_infer(
                            session,
                            args.delay_ms / 1000 if name.startswith(args.delay_prefix) else 0),
                        inputs=inputs, outputs=outputs, config=ModelConfig(batching=False))
        triton.run()
        url = f"http://{args.host}:{args.http_port}"
        if not wait_ready(url):
            print(f"serve_triton: Triton at {url} never became ready", file=sys.stderr)
            return 1
        print(f"ready {url}", file=ready_out, flush=True)
        if args.stop_when_stdin_closes:
            # The parent holds our stdin open; when it exits, however abruptly, we stop too.
            threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
        while not stop.wait(1.0):
            if not triton.is_alive():
                print("serve_triton: Triton stopped unexpectedly", file=sys.stderr)
                return 1
        return 0
    finally:
        try:
            triton.stop()
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
